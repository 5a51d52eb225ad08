//! Seccomp for a container process: compile (cached) in the runtime, load in the
//! container process, hand a notification listener to the seccomp agent.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use berth_seccomp::Compiled;
use oci_spec::runtime::LinuxSeccomp;
use serde::Serialize;

use crate::state::OciState;
use crate::{Error, Result};

/// A filter ready to load, and the agent connection if it notifies.
pub struct Prepared {
    pub compiled: Compiled,
    listener: Option<UnixStream>,
    metadata: String,
}

/// Compile (or reuse) the profile. Connects to `listenerPath` now, while the
/// runtime still sees the host's filesystem.
pub fn prepare(s: &LinuxSeccomp, cache: &Path) -> Result<Prepared> {
    let compiled = berth_seccomp::compile_cached(s, cache)?;
    let listener = if compiled.notifies() {
        let path = s.listener_path().as_ref().expect("validated");
        Some(UnixStream::connect(path).map_err(|e| {
            Error::Config(format!(
                "linux.seccomp.listenerPath: cannot connect to the seccomp agent at {}: {e}",
                path.display()
            ))
        })?)
    } else {
        None
    };
    Ok(Prepared {
        compiled,
        listener,
        metadata: s.listener_metadata().clone().unwrap_or_default(),
    })
}

#[derive(Serialize)]
struct ContainerProcessState<'a> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    fds: [&'a str; 1],
    pid: i32,
    metadata: &'a str,
    state: &'a OciState,
}

impl Prepared {
    /// Load the filter into the calling process; send the listener, if any.
    pub fn load(&self, state: &OciState) -> Result<()> {
        let fd = berth_sys::seccomp::load_filter(&self.compiled.program, self.compiled.flags)
            .map_err(|e| Error::Other(format!("load seccomp filter: {e}")))?;
        if let (Some(fd), Some(sock)) = (fd, &self.listener) {
            let msg = ContainerProcessState {
                oci_version: crate::OCI_VERSION,
                fds: ["seccompFd"],
                pid: std::process::id() as i32,
                metadata: &self.metadata,
                state,
            };
            let payload = serde_json::to_vec(&msg).expect("serialises");
            berth_sys::scm::send_fds(sock.as_fd(), &payload, &[fd.as_raw_fd()]).map_err(|e| {
                Error::Other(format!("send the seccomp listener to the agent: {e}"))
            })?;
        }
        Ok(())
    }
}
