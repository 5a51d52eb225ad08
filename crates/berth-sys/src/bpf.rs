//! `bpf(2)` for cgroup v2 device programs: load, attach, query, detach.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::cvt;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
pub const BPF_CGROUP_DEVICE: u32 = 6;
pub const BPF_F_ALLOW_MULTI: u32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    /// dst register in the low nibble, src register in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// The `union bpf_attr`, as a zero-padded byte area large enough for every command.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Attr([0; 128])
    }
    fn put_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn put_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().unwrap())
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: attr is a 128-byte, 8-aligned buffer laid out as the kernel expects
    // for `cmd`; pointers inside it refer to live buffers of the caller.
    cvt(unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut Attr, 128usize) })
}

/// Load a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
pub fn load_cgroup_device_program(insns: &[BpfInsn]) -> io::Result<OwnedFd> {
    let license = c"Apache";
    let mut log = vec![0u8; 4096];
    let mut attr = Attr::new();
    attr.put_u32(0, BPF_PROG_TYPE_CGROUP_DEVICE);
    attr.put_u32(4, insns.len() as u32);
    attr.put_u64(8, insns.as_ptr() as u64);
    attr.put_u64(16, license.as_ptr() as u64);
    let fd = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd,
        Err(e)
            if e.raw_os_error() == Some(libc::EACCES) || e.raw_os_error() == Some(libc::EINVAL) =>
        {
            // Retry with the verifier log to explain the failure.
            attr.put_u32(24, 1);
            attr.put_u32(28, log.len() as u32);
            attr.put_u64(32, log.as_mut_ptr() as u64);
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            return Err(io::Error::new(e.kind(), format!("{e}: {text}")));
        }
        Err(e) => return Err(e),
    };
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach `prog` to the cgroup directory `cgroup` as a device filter.
pub fn attach_device_program(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = Attr::new();
    attr.put_u32(0, cgroup.as_raw_fd() as u32);
    attr.put_u32(4, prog.as_raw_fd() as u32);
    attr.put_u32(8, BPF_CGROUP_DEVICE);
    attr.put_u32(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detach a device program from a cgroup.
pub fn detach_device_program(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = Attr::new();
    attr.put_u32(0, cgroup.as_raw_fd() as u32);
    attr.put_u32(4, prog.as_raw_fd() as u32);
    attr.put_u32(8, BPF_CGROUP_DEVICE);
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the device programs attached directly to a cgroup.
pub fn query_device_programs(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = Attr::new();
    attr.put_u32(0, cgroup.as_raw_fd() as u32);
    attr.put_u32(4, BPF_CGROUP_DEVICE);
    attr.put_u64(16, ids.as_mut_ptr() as u64);
    attr.put_u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.get_u32(24) as usize);
    Ok(ids)
}

/// Open a program by id.
pub fn program_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, id);
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
