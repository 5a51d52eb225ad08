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
//! process is non-dumpable during setup, so only CAP_SYS_PTRACE (in the host's
//! user namespace, which owns the runtime's memory) could open it. When the
//! container may hold that capability, or shares a pid namespace it does not
//! own, the runtime re-executes itself from a read-only copy before forking
//! ([`reexec`]), so that even a ptrace-capable process finds nothing writable.
//! Where no trampoline exists for the architecture, the runtime re-executes
//! that way too.

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
/// `ptrace_exposed`: a process of the container may hold CAP_SYS_PTRACE over
/// the runtime's processes (see [`ptrace_exposed`]).
pub fn prepare(scratch: &Path, ptrace_exposed: bool) -> Result<Sealing> {
    if reexec::is_sealed() {
        return Ok(Sealing::Direct);
    }
    if ptrace_exposed {
        reexec::ensure_sealed(scratch)?;
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

/// Whether processes of a container with this configuration could open the
/// runtime's processes' `/proc/<pid>/exe` despite their being non-dumpable:
/// CAP_SYS_PTRACE in a bounding set (`also` is that of an `exec`'d process),
/// or a pid namespace joined by path (other processes there are not ours).
/// Without a new user namespace; inside one, the capability does not reach the
/// runtime's memory, which belongs to the host's user namespace.
pub fn ptrace_exposed(
    spec: &oci_spec::runtime::Spec,
    also: Option<&oci_spec::runtime::Process>,
) -> bool {
    use oci_spec::runtime::{Capability, LinuxNamespaceType};
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let has = |t: LinuxNamespaceType| namespaces.iter().find(|n| n.typ() == t);
    if has(LinuxNamespaceType::User).is_some() {
        return false;
    }
    let shared_pid = match has(LinuxNamespaceType::Pid) {
        None => true,
        Some(n) => n.path().is_some(),
    };
    let ptrace = |p: Option<&oci_spec::runtime::Process>| {
        p.and_then(|p| p.capabilities().as_ref())
            .and_then(|c| c.bounding().as_ref())
            .is_some_and(|b| b.contains(&Capability::SysPtrace))
    };
    shared_pid || ptrace(spec.process().as_ref()) || ptrace(also)
}
