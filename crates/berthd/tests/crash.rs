//! Acceptance: kill -9 berthd while 20 containers run and log; start it
//! again: all 20 still run, are listed once each, their logs have no gap,
//! and exec/stop/rm work on them.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{code, err, out};

const N: usize = 20;

/// The counter lines of a container's log, checked to run 0, 1, 2, … with
/// no gap; returns how many there are.
fn counted(d: &common::Daemon, name: &str) -> usize {
    let o = d.docker(&["logs", name]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    for (i, l) in text.lines().enumerate() {
        assert_eq!(l, i.to_string(), "{name}: log line {i} is {l:?}");
    }
    text.lines().count()
}

#[test]
fn kill9_daemon_keeps_containers() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let mut d = common::Daemon::start();
    d.cli = common::Daemon::berth_bin();
    d.load_busybox();
    let names: Vec<String> = (0..N).map(|i| format!("berth-test-crash-{i}")).collect();
    for n in &names {
        let o = d.docker(&[
            "run",
            "-d",
            "--name",
            n,
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo $i; i=$((i+1)); usleep 20000; done",
        ]);
        assert_eq!(code(&o), 0, "{}", err(&o));
    }
    let before: Vec<usize> = names.iter().map(|n| counted(&d, n)).collect();

    d.kill9();
    // The containers go on logging while no daemon runs.
    std::thread::sleep(Duration::from_millis(1500));
    d.restart();

    let ps = out(&d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]));
    let listed: Vec<&str> = ps.lines().collect();
    assert_eq!(listed.len(), N, "{ps}");
    let unique: HashSet<&str> = listed
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(unique.len(), N, "each container listed once: {ps}");
    assert!(listed.iter().all(|l| l.contains(" Up ")), "{ps}");
    let deadline = Instant::now() + Duration::from_secs(10);
    for (n, b) in names.iter().zip(&before) {
        // More lines than before the crash, all of them in sequence.
        loop {
            let now = counted(&d, n);
            if now > b + 10 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{n} stopped logging ({b} → {now})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let o = d.docker(&["exec", n, "echo", "alive"]);
        assert_eq!((code(&o), out(&o).as_str()), (0, "alive\n"), "{}", err(&o));
    }
    // logs -f of a re-adopted container follows and ends at its exit.
    let o = d.docker(&["stop", "-t", "1", &names[0]]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let st = out(&d.docker(&["inspect", "--format", "{{.State.Status}}", &names[0]]));
    assert_eq!(st.trim(), "exited");
    counted(&d, &names[0]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    let o = d.docker(&rm);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&d.docker(&["ps", "-aq"])).trim().is_empty());
    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
    assert!(d.cgroups().is_empty(), "cgroups left: {:?}", d.cgroups());
}
