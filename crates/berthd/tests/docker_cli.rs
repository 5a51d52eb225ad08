//! Acceptance: the official docker CLI drives berthd through a Docker user's
//! everyday commands (tests/common/scenario.rs), with docker's outputs and
//! exit codes.
//!
//! Needs root, the docker CLI (/usr/local/bin/docker), busybox-static and
//! util-linux `script`; `berth-runc` must be built next to berthd.

mod common;

#[test]
fn docker_cli_drives_berthd() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let Some(docker) = common::docker_bin() else {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    };
    let mut d = common::Daemon::start();
    d.cli = docker;
    common::scenario::run(&d);
}
