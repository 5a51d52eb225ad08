//! Forking the container process and what runs inside it until `execve`.
//!
//! * [`spawn`]: the parent side — enter pid/time namespaces for children, clone3
//!   with the new namespaces (and straight into the v2 cgroup), with an
//!   intermediate process only when a user namespace must be joined first.
//! * [`init`]: the container's first process — mounts, pivot_root, hostname,
//!   console, then the common [`finalize`] steps and the wait for `start`.
//! * [`exec`]: a process joining a running container.
//! * [`finalize`]: what both share: rlimits, user, capabilities, seccomp, the
//!   executable lookup and the final `execve`.
//! * [`foreground`]: supervising a process in the foreground (`run`, `exec`):
//!   signal forwarding, the terminal proxy, the exit status.

pub mod exec;
pub mod finalize;
pub mod foreground;
pub mod init;
pub mod spawn;
