//! Keep the runtime's own binary out of reach of the container (CVE-2019-5736).
//!
//! The container process is forked from the runtime, so until its final `execve`
//! its `/proc/self/exe` is the runtime binary on the host. Two ways a container
//! could reach that file:
//!
//! 1. the entrypoint is (or its `#!` interpreter is) `/proc/self/exe`: the kernel
//!    resolves that during the final `execve`, in the runtime's process, and runs
//!    the host binary *inside* the container, where another process can open it;
//! 2. a process already in the container's pid namespace (`exec`, shared pid
//!    namespaces) opens `/proc/<pid>/exe` of the process being set up.
//!
//! Against (1) the final `execve` goes through a tiny trampoline executed from a
//! sealed memfd: at the moment the container's program is executed, the calling
//! process image is that sealed copy, never the host file. Against (2) the
//! process is non-dumpable during setup, so only CAP_SYS_PTRACE could open it.
//! Where no trampoline exists for the architecture, the runtime instead
//! re-executes itself from an unwritable copy before forking ([`reexec`]).

pub mod reexec;
mod trampoline;

use std::os::fd::OwnedFd;
use std::path::Path;

use crate::Result;

/// How the container's final `execve` is made safe.
pub enum Sealing {
    /// The runtime already runs from an unwritable binary: exec directly.
    Direct,
    /// Exec through this sealed trampoline.
    Trampoline(OwnedFd),
}

/// Decide, before any side effect (it may re-execute the current process).
pub fn prepare(scratch: &Path) -> Result<Sealing> {
    if reexec::is_sealed() {
        return Ok(Sealing::Direct);
    }
    match trampoline::create() {
        Ok(Some(fd)) => return Ok(Sealing::Trampoline(fd)),
        Ok(None) => {}
        Err(e) => tracing::debug!("exec trampoline unavailable ({e}); re-executing sealed"),
    }
    reexec::ensure_sealed(scratch)?;
    Ok(Sealing::Direct)
}

pub use trampoline::exec_via;
