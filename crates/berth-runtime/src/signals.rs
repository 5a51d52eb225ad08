//! Signal names, as `kill` and `--stop-signal` accept them.

use crate::{Error, Result};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parse `9`, `KILL`, `SIGKILL`, `sigkill`, `RTMIN+3`, `SIGRTMAX-1`.
pub fn parse(s: &str) -> Result<i32> {
    let bad = || Error::Config(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(&(_, n)) = NAMES.iter().find(|(k, _)| *k == name) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str| -> Result<i32> {
        let n = if rest.is_empty() {
            base
        } else if let Some(off) = rest.strip_prefix('+') {
            base + off.parse::<i32>().map_err(|_| bad())?
        } else if let Some(off) = rest.strip_prefix('-') {
            base - off.parse::<i32>().map_err(|_| bad())?
        } else {
            return Err(bad());
        };
        if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), rest);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(libc::SIGRTMAX(), rest);
    }
    Err(bad())
}

/// The conventional name of a signal number (`SIGTERM`).
pub fn name(n: i32) -> String {
    NAMES
        .iter()
        .find(|(_, v)| *v == n)
        .map(|(k, _)| format!("SIG{k}"))
        .unwrap_or_else(|| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGTERM").unwrap(), 15);
        assert_eq!(parse("sigusr1").unwrap(), 10);
        assert_eq!(parse("RTMIN+2").unwrap(), libc::SIGRTMIN() + 2);
        assert!(parse("NOPE").is_err());
        assert!(parse("0").is_err());
        assert_eq!(name(15), "SIGTERM");
    }
}
