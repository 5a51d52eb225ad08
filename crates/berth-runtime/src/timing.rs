//! Phase timestamps for `--debug`: CLOCK_MONOTONIC microseconds, comparable
//! between the runtime and the container process it forks.

/// Log a phase boundary at debug level.
pub fn mark(phase: &str) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
            .unwrap_or(0);
        tracing::debug!("phase {phase} at {t}us (pid {})", std::process::id());
    }
}
