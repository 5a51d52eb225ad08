//! Signal dispositions across `execve`.

use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction, sigprocmask,
};

/// Give the calling process default dispositions for every signal and an empty
/// signal mask. Ignored signals and the mask survive `execve`, so a process
/// started from a program that ignores SIGPIPE (as Rust programs do) would
/// otherwise inherit that.
pub fn reset_all() {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for s in Signal::iterator() {
        if s != Signal::SIGKILL && s != Signal::SIGSTOP {
            // SAFETY: SIG_DFL installs no handler, so no code can run in signal context.
            let _ = unsafe { sigaction(s, &dfl) };
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}
