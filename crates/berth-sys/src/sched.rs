//! Scheduling: `sched_setattr(2)`, `ioprio_set(2)`, `personality(2)`.

use std::io;

use crate::cvt;

/// `struct sched_attr` as the kernel defines it (version 1, 56 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// Apply a scheduling policy to the calling thread.
pub fn sched_setattr(mut attr: SchedAttr) -> io::Result<()> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: attr is a valid sched_attr of the declared size.
    cvt(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) })
        .map(drop)
}

const IOPRIO_WHO_PROCESS: libc::c_int = 1;

/// Set the I/O priority of the calling process.
pub fn ioprio_set(class: u32, level: u32) -> io::Result<()> {
    let prio = ((class as libc::c_int) << 13) | (level as libc::c_int & 0x1fff);
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) }).map(drop)
}

/// Set the execution domain (`personality(2)`), e.g. `PER_LINUX32`.
pub fn personality(persona: u64) -> io::Result<()> {
    // SAFETY: integer argument only.
    let ret = unsafe { libc::personality(persona as libc::c_ulong) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
