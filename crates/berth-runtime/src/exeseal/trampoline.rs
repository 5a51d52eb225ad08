//! The exec trampoline: a static ELF of a few hundred bytes, run from a sealed
//! memfd. Called as `berth-exec <fd> <program> <argv0> <argv…>`, it sets
//! close-on-exec on `fd`, executes `<program>` with the rest as its argv and the
//! environment unchanged; if that fails it sends the errno (4 bytes) on `fd` and
//! exits 127. The source is `trampoline_x86_64.s` next to this file.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::{Context, Result};

#[cfg(target_arch = "x86_64")]
const CODE: &[u8] = &[
    0x4c, 0x8b, 0x2c, 0x24, 0x48, 0x8b, 0x74, 0x24, 0x10, 0x31, 0xff, 0x0f, 0xb6, 0x06, 0x84, 0xc0,
    0x74, 0x0c, 0x6b, 0xff, 0x0a, 0x8d, 0x7c, 0x07, 0xd0, 0x48, 0xff, 0xc6, 0xeb, 0xed, 0x41, 0x89,
    0xfc, 0xbe, 0x02, 0x00, 0x00, 0x00, 0xba, 0x01, 0x00, 0x00, 0x00, 0xb8, 0x48, 0x00, 0x00, 0x00,
    0x0f, 0x05, 0x48, 0x8b, 0x7c, 0x24, 0x18, 0x48, 0x8d, 0x74, 0x24, 0x20, 0x4a, 0x8d, 0x54, 0xec,
    0x10, 0xb8, 0x3b, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xf7, 0xd8, 0x50, 0x44, 0x89, 0xe7, 0x48, 0x89,
    0xe6, 0xba, 0x04, 0x00, 0x00, 0x00, 0x41, 0xba, 0x00, 0x40, 0x00, 0x00, 0x45, 0x31, 0xc0, 0x45,
    0x31, 0xc9, 0xb8, 0x2c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xbf, 0x7f, 0x00, 0x00, 0x00, 0xb8, 0xe7,
    0x00, 0x00, 0x00, 0x0f, 0x05,
];

#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 0x3e;

/// Wrap the code in a minimal ELF64 executable: the header, a PT_LOAD of the
/// whole file (read + execute) and a non-executable PT_GNU_STACK.
#[cfg(target_arch = "x86_64")]
fn elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let code_off = EHDR + 2 * PHDR;
    let total = code_off + CODE.len() as u64;
    let mut e = Vec::with_capacity(total as usize);
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&MACHINE.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + code_off).to_le_bytes()); // entry
    e.extend_from_slice(&EHDR.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    e.extend_from_slice(&(EHDR as u16).to_le_bytes());
    e.extend_from_slice(&(PHDR as u16).to_le_bytes());
    e.extend_from_slice(&2u16.to_le_bytes()); // phnum
    e.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
    // PT_LOAD, R+X
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&5u32.to_le_bytes());
    e.extend_from_slice(&0u64.to_le_bytes());
    e.extend_from_slice(&BASE.to_le_bytes());
    e.extend_from_slice(&BASE.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&0x1000u64.to_le_bytes());
    // PT_GNU_STACK, R+W
    e.extend_from_slice(&0x6474_e551u32.to_le_bytes());
    e.extend_from_slice(&6u32.to_le_bytes());
    e.extend_from_slice(&[0; 48]);
    e.extend_from_slice(CODE);
    e
}

#[cfg(not(target_arch = "x86_64"))]
fn elf() -> Vec<u8> {
    Vec::new()
}

/// The trampoline in a sealed, executable memfd; `None` on architectures
/// without one.
pub fn create() -> Result<Option<OwnedFd>> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let image = elf();
    if image.is_empty() {
        return Ok(None);
    }
    let base = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) says so explicitly where memfds default to noexec.
    let fd = memfd_create(c"berth-exec", base | MFdFlags::from_bits_retain(0x10))
        .or_else(|_| memfd_create(c"berth-exec", base))
        .context(|| "memfd_create".into())?;
    let mut f = std::fs::File::from(fd);
    f.write_all(&image)
        .context(|| "write the exec trampoline".into())?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    nix::fcntl::fcntl(
        &f,
        nix::fcntl::FcntlArg::F_ADD_SEALS(nix::fcntl::SealFlag::from_bits_truncate(seals)),
    )
    .context(|| "seal the exec trampoline".into())?;
    Ok(Some(OwnedFd::from(f)))
}

/// Execute `program` with `args` through the trampoline; `report` is the channel
/// on which a failure's errno travels. Returns only on failure to start the
/// trampoline itself.
pub fn exec_via(
    trampoline: BorrowedFd<'_>,
    report: BorrowedFd<'_>,
    min_fd: i32,
    program: &CString,
    args: &[CString],
    env: &[CString],
) -> nix::Error {
    // A descriptor above the preserved ones, inherited by the trampoline.
    let fd = match nix::fcntl::fcntl(report, nix::fcntl::FcntlArg::F_DUPFD(min_fd)) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let mut argv = Vec::with_capacity(args.len() + 3);
    argv.push(CString::new("berth-exec").expect("no NUL"));
    argv.push(CString::new(fd.to_string()).expect("no NUL"));
    argv.push(program.clone());
    argv.extend(args.iter().cloned());
    let e = match nix::unistd::execveat(
        trampoline,
        c"",
        &argv,
        env,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    ) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = nix::unistd::close(fd);
    let _ = trampoline.as_fd().as_raw_fd();
    e
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn trampoline_executes_and_reports_errors() {
        let tramp = super::create().unwrap().unwrap();
        let path = format!("/proc/self/fd/{}", tramp.as_raw_fd());
        for (prog, want_errno) in [("/bin/true", None), ("/nonexistent", Some(libc::ENOENT))] {
            let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
            berth_sys::fd::set_cloexec(b.as_raw_fd(), false).unwrap();
            let status = std::process::Command::new(&path)
                .arg0("berth-exec")
                .args([
                    b.as_raw_fd().to_string(),
                    prog.to_string(),
                    prog.to_string(),
                ])
                .status()
                .unwrap();
            drop(b);
            a.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 8];
            let n = a.recv(&mut buf).unwrap_or(0);
            match want_errno {
                None => {
                    assert!(status.success(), "{status}");
                    assert_eq!(n, 0);
                }
                Some(e) => {
                    assert_eq!(status.code(), Some(127));
                    assert_eq!(n, 4);
                    assert_eq!(i32::from_ne_bytes(buf[..4].try_into().unwrap()), e);
                }
            }
        }
    }
}
