//! The one network operation the runtime does itself: bringing up `lo`.

use std::io;

use crate::cvt;

/// Set the `IFF_UP` flag on the loopback interface of the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket() with constant arguments.
    let sock = cvt(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }
            as libc::c_long,
    )? as libc::c_int;
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills ifr_flags of a valid ifreq.
    let res = cvt(unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) } as libc::c_long)
        .and_then(|_| {
            // SAFETY: the union member written by SIOCGIFFLAGS.
            unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
            // SAFETY: SIOCSIFFLAGS reads a valid ifreq.
            cvt(unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) } as libc::c_long)
        });
    // SAFETY: closing the socket we opened above.
    unsafe { libc::close(sock) };
    res.map(drop)
}
