//! Supervising a container process in the foreground: forward signals, proxy the
//! terminal, return the exit status.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::{Context, Result};

/// Signals passed on to the container process.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGPWR,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
];

/// The shell convention for an exit status: the code, or 128 + the signal.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Block the forwarded signals (and SIGWINCH) and read them from a signalfd.
pub fn signal_fd() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGWINCH);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context(|| "block signals".into())?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context(|| "signalfd".into())
}

/// Write everything, retrying on EINTR/EAGAIN; false on any other error.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => continue,
            Err(_) => return false,
        }
    }
    true
}

/// Wait for `pid` to exit while forwarding signals (read from `sfd`, made by
/// [`signal_fd`] before the process started), with a terminal proxy between our
/// stdin/stdout and `master` when given.
pub fn supervise(pid: i32, pidfd: &OwnedFd, master: Option<OwnedFd>, sfd: SignalFd) -> Result<i32> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let _raw = match &master {
        Some(m) if nix::unistd::isatty(stdin.as_fd()).unwrap_or(false) => {
            crate::tty::copy_size(stdin.as_fd(), m.as_fd());
            crate::tty::RawMode::enter(stdin.as_fd()).ok()
        }
        _ => None,
    };
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = vec![0u8; 32 * 1024];
    let mut exited = false;
    while !exited {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        if let (Some(m), true) = (&master, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        let stdin_idx = fds.len();
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context(|| "poll".into()),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, child_ready, master_ready, in_ready) = (
            ready(0),
            ready(1),
            master_open && ready(2),
            stdin_open && ready(stdin_idx),
        );
        drop(fds);
        if sig_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGWINCH {
                    if let Some(m) = &master {
                        crate::tty::copy_size(stdin.as_fd(), m.as_fd());
                    }
                } else if let Ok(s) = Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                }
            }
        }
        if master_ready {
            let m = master.as_ref().expect("open");
            match nix::unistd::read(m.as_fd(), &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => master_open = false,
                Ok(n) => {
                    write_all(stdout.as_fd(), &buf[..n]);
                }
                Err(_) => {}
            }
        }
        if in_ready {
            let m = master.as_ref().expect("open");
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    write_all(m.as_fd(), &buf[..n]);
                }
            }
        }
        exited = child_ready;
    }
    // Drain what the terminal still holds.
    if let (Some(m), true) = (&master, master_open) {
        let _ = nix::fcntl::fcntl(
            m.as_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        while let Ok(n) = nix::unistd::read(m.as_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            write_all(stdout.as_fd(), &buf[..n]);
        }
    }
    let status = loop {
        match waitpid(Pid::from_raw(pid), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.context(|| format!("wait for {pid}"))?,
        }
    };
    let _ = pidfd.as_raw_fd();
    Ok(exit_code(status).unwrap_or(255))
}
