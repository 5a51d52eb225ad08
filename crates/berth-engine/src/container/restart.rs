//! The restart policy as one unit, with Docker's rules (moby's
//! restartmanager): whether an exit restarts the container, and after how
//! long. The delay starts at 100 ms and doubles on each restart in a row,
//! at most one minute; a run that lasted 10 s or more resets it. A manual
//! stop cancels restarts until the next start; a user's start resets the
//! count.

use std::time::Duration;

use berth_api::container::{RestartPolicy, RestartPolicyMode};

pub const BACKOFF_START: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run at least this long resets the backoff.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// What the policy says about an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Restart after this delay.
    Restart(Duration),
    /// Leave it exited.
    Stay,
}

/// The restart state kept per container across its runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manager {
    /// Restarts so far (Docker's RestartCount).
    pub count: u32,
    /// The delay of the last restart (zero: none yet).
    pub delay: Duration,
}

impl Manager {
    /// Decide about an exit with `exit_code` after a run of `ran`.
    /// `manually_stopped`: the user stopped it (stop, kill, rm -f).
    pub fn on_exit(
        &mut self,
        policy: &RestartPolicy,
        exit_code: i32,
        manually_stopped: bool,
        ran: Duration,
    ) -> Decision {
        if manually_stopped {
            return Decision::Stay;
        }
        let restart = match policy.name {
            RestartPolicyMode::Always | RestartPolicyMode::UnlessStopped => true,
            RestartPolicyMode::OnFailure => {
                exit_code != 0
                    && (policy.maximum_retry_count <= 0
                        || i64::from(self.count) < policy.maximum_retry_count)
            }
            _ => false,
        };
        if !restart {
            return Decision::Stay;
        }
        if ran >= RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            BACKOFF_START
        } else {
            (self.delay * 2).min(BACKOFF_MAX)
        };
        self.count += 1;
        Decision::Restart(self.delay)
    }

    /// A start by the user: the count and the backoff begin again.
    pub fn reset(&mut self) {
        self.count = 0;
        self.delay = Duration::ZERO;
    }
}

/// Whether the daemon starts the container again when it starts itself.
pub fn restart_on_daemon_start(policy: &RestartPolicy, manually_stopped: bool) -> bool {
    !manually_stopped
        && matches!(
            policy.name,
            RestartPolicyMode::Always | RestartPolicyMode::UnlessStopped
        )
}

/// Docker's validation of a policy (at create and update).
pub fn validate(policy: &RestartPolicy, auto_remove: bool) -> crate::Result<()> {
    let n = policy.maximum_retry_count;
    match &policy.name {
        RestartPolicyMode::Other(name) => {
            return Err(crate::Error::invalid(format!(
                "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )));
        }
        RestartPolicyMode::OnFailure if n < 0 => {
            return Err(crate::Error::invalid(
                "invalid restart policy: maximum retry count cannot be negative",
            ));
        }
        RestartPolicyMode::OnFailure => {}
        _ if n != 0 => {
            let mut m =
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                    .to_string();
            if n < 0 {
                m.push_str(" and cannot be negative");
            }
            return Err(crate::Error::invalid(m));
        }
        _ => {}
    }
    if auto_remove && !policy.name.is_none() {
        return Err(crate::Error::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: RestartPolicyMode::parse(name),
            maximum_retry_count: max,
        }
    }

    const QUICK: Duration = Duration::from_millis(50);

    #[test]
    fn backoff_doubles_caps_at_a_minute_and_resets_after_ten_seconds() {
        let p = policy("always", 0);
        let mut m = Manager::default();
        let mut delays = Vec::new();
        for _ in 0..12 {
            match m.on_exit(&p, 0, false, QUICK) {
                Decision::Restart(d) => delays.push(d.as_millis()),
                Decision::Stay => panic!("always restarts"),
            }
        }
        assert_eq!(
            delays,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000
            ]
        );
        assert_eq!(m.count, 12);
        // A long run resets the backoff, not the count.
        assert_eq!(
            m.on_exit(&p, 0, false, RESET_AFTER),
            Decision::Restart(BACKOFF_START)
        );
        assert_eq!(m.count, 13);
        m.reset();
        assert_eq!(m, Manager::default());
    }

    #[test]
    fn policies() {
        let mut m = Manager::default();
        assert_eq!(m.on_exit(&policy("no", 0), 1, false, QUICK), Decision::Stay);
        assert_eq!(m.on_exit(&policy("", 0), 1, false, QUICK), Decision::Stay);
        assert!(matches!(
            m.on_exit(&policy("unless-stopped", 0), 0, false, QUICK),
            Decision::Restart(_)
        ));
        // A manual stop wins over every policy.
        assert_eq!(
            m.on_exit(&policy("always", 0), 1, true, QUICK),
            Decision::Stay
        );
        // on-failure: only non-zero exits, at most the maximum.
        let mut m = Manager::default();
        let p = policy("on-failure", 2);
        assert_eq!(m.on_exit(&p, 0, false, QUICK), Decision::Stay);
        assert!(matches!(
            m.on_exit(&p, 3, false, QUICK),
            Decision::Restart(_)
        ));
        assert!(matches!(
            m.on_exit(&p, 3, false, QUICK),
            Decision::Restart(_)
        ));
        assert_eq!(m.on_exit(&p, 3, false, QUICK), Decision::Stay);
        // No maximum: forever.
        let mut m = Manager::default();
        for _ in 0..50 {
            assert!(matches!(
                m.on_exit(&policy("on-failure", 0), 1, false, QUICK),
                Decision::Restart(_)
            ));
        }
    }

    #[test]
    fn daemon_start() {
        assert!(restart_on_daemon_start(&policy("always", 0), false));
        assert!(restart_on_daemon_start(&policy("unless-stopped", 0), false));
        assert!(!restart_on_daemon_start(&policy("unless-stopped", 0), true));
        assert!(!restart_on_daemon_start(&policy("on-failure", 0), false));
    }

    #[test]
    fn validation_in_dockers_words() {
        assert!(validate(&policy("always", 0), false).is_ok());
        assert!(validate(&policy("on-failure", 5), false).is_ok());
        assert_eq!(
            validate(&policy("sometimes", 0), false)
                .unwrap_err()
                .message,
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        );
        assert_eq!(
            validate(&policy("always", 3), false).unwrap_err().message,
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert!(
            validate(&policy("on-failure", -1), false)
                .unwrap_err()
                .message
                .contains("cannot be negative")
        );
        assert_eq!(
            validate(&policy("always", 0), true).unwrap_err().message,
            "can't create 'AutoRemove' container with restart policy"
        );
        assert!(validate(&policy("no", 0), true).is_ok());
    }
}
