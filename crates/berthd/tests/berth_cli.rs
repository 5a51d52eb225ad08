//! Acceptance: the same scenario as tests/docker_cli.rs with the `berth` CLI
//! (built next to berthd by `cargo build --workspace`).

mod common;

#[test]
fn berth_cli_drives_berthd() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let berth = common::Daemon::berth_bin();
    assert!(
        berth.exists(),
        "{} is missing: cargo build --workspace first",
        berth.display()
    );
    let mut d = common::Daemon::start();
    d.cli = berth;
    common::scenario::run(&d);
}
