//! User-defined networks with the docker CLI: containers find each other by
//! name and alias through the embedded DNS (127.0.0.11), another network can
//! neither resolve nor reach them, `network disconnect` cuts a container off
//! live; network create/ls/inspect/connect/disconnect/rm/prune; bad input in
//! docker's words; 100 containers on one network started, pinged by name and
//! removed without leaking a veth, an address or a rule.
//! Traffic stays on this machine: the test's bridges and containers only
//! (the daemon's `--dns` is 127.0.0.1, so no query leaves the host).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, code, err, link_exists, ok, out};

/// A bridge name for this test: short, unique to the process.
fn br(tag: &str) -> String {
    format!("bn{}{tag}", std::process::id())
}

fn bridge_ports(name: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{name}/brif"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

fn wait_no_ports(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while bridge_ports(name) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(bridge_ports(name), 0, "veths left on {name}");
}

fn nft_has_table(table: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", table])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn user_networks_dns_and_isolation() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let Some(docker) = common::docker_bin() else {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    };
    let mut d = Daemon::start();
    d.cli = docker;
    d.load_busybox();
    let p = std::process::id();
    let (s1, s2) = (
        format!("10.{}.{}.0/24", 20 + (p >> 8) % 40, p & 0xff),
        format!("10.{}.{}.0/24", 60 + (p >> 8) % 40, p & 0xff),
    );
    let (b1, b2) = (br("a"), br("b"));
    let id = ok(
        &d,
        &[
            "network",
            "create",
            "--subnet",
            &s1,
            "--label",
            "berth.test=1",
            "-o",
            &format!("com.docker.network.bridge.name={b1}"),
            "berth-test-front",
        ],
    );
    assert_eq!(id.trim().len(), 64);
    ok(
        &d,
        &[
            "network",
            "create",
            "--subnet",
            &s2,
            "-o",
            &format!("com.docker.network.bridge.name={b2}"),
            "berth-test-back",
        ],
    );
    assert!(link_exists(&b1) && link_exists(&b2));
    let ls = ok(&d, &["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for want in [
        "bridge bridge",
        "host host",
        "none null",
        "berth-test-front bridge",
        "berth-test-back bridge",
    ] {
        assert!(ls.lines().any(|l| l == want), "{want} in {ls}");
    }
    let f = ok(
        &d,
        &["network", "ls", "-q", "--filter", "label=berth.test=1"],
    );
    assert_eq!(f.trim(), &id.trim()[..12]);
    let sub = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}} {{.Driver}}",
            "berth-test-front",
        ],
    );
    assert_eq!(sub.trim(), format!("{s1} bridge"));

    // By name and alias, ping and HTTP (nc).
    let www = d.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "front page\n").unwrap();
    let vol = format!("{}:/www:ro", www.display());
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-web",
            "--network",
            "berth-test-front",
            "--network-alias",
            "www",
            "-v",
            &vol,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ],
    );
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-client",
            "--network",
            "berth-test-front",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let o = ok(
        &d,
        &["exec", "berth-test-client", "cat", "/etc/resolv.conf"],
    );
    assert!(o.starts_with("nameserver 127.0.0.11\n"), "{o}");
    for name in ["berth-test-web", "www"] {
        let o = d.docker(&["exec", "berth-test-client", "ping", "-c1", "-W2", name]);
        assert_eq!(code(&o), 0, "ping {name}: {}{}", out(&o), err(&o));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = d.docker(&[
                "exec",
                "berth-test-client",
                "sh",
                "-c",
                &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {name} 80"),
            ]);
            if out(&o).contains("front page") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "http {name}: {}{}",
                out(&o),
                err(&o)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let web_ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{(index .NetworkSettings.Networks \"berth-test-front\").IPAddress}}",
            "berth-test-web",
        ],
    );
    let web_ip = web_ip.trim().to_string();
    assert!(
        web_ip.starts_with(&s1[..s1.rfind('.').unwrap()]),
        "{web_ip}"
    );
    let members = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
            "berth-test-front",
        ],
    );
    assert!(
        members.contains("berth-test-web") && members.contains("berth-test-client"),
        "{members}"
    );

    // Another network can neither resolve nor reach them.
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-other",
            "--network",
            "berth-test-back",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let o = d.docker(&[
        "exec",
        "berth-test-other",
        "nslookup",
        "berth-test-web",
        "127.0.0.11",
    ]);
    assert!(
        !out(&o).contains(&web_ip),
        "resolved across networks: {}",
        out(&o)
    );
    let o = d.docker(&["exec", "berth-test-other", "ping", "-c1", "-W1", &web_ip]);
    assert_ne!(code(&o), 0, "reached across networks");
    // Connected to both, it can; disconnected from the first, not any more.
    ok(
        &d,
        &[
            "network",
            "connect",
            "--alias",
            "other",
            "berth-test-front",
            "berth-test-other",
        ],
    );
    let o = d.docker(&[
        "exec",
        "berth-test-other",
        "ping",
        "-c1",
        "-W2",
        "berth-test-web",
    ]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    let o = d.docker(&["exec", "berth-test-client", "ping", "-c1", "-W2", "other"]);
    assert_eq!(
        code(&o),
        0,
        "alias given at connect: {}{}",
        out(&o),
        err(&o)
    );
    ok(
        &d,
        &[
            "network",
            "disconnect",
            "berth-test-front",
            "berth-test-web",
        ],
    );
    let o = d.docker(&["exec", "berth-test-client", "ping", "-c1", "-W1", &web_ip]);
    assert_ne!(code(&o), 0, "still reachable after disconnect");
    let o = d.docker(&[
        "exec",
        "berth-test-client",
        "nslookup",
        "berth-test-web",
        "127.0.0.11",
    ]);
    assert!(
        !out(&o).contains(&web_ip),
        "still resolvable after disconnect: {}",
        out(&o)
    );

    // kill -9 of the daemon: names still resolve (the DNS servers come back
    // in the containers' namespaces), the tables are rebuilt once.
    d.kill9();
    d.restart();
    let o = d.docker(&["exec", "berth-test-other", "ping", "-c1", "-W2", "other"]);
    assert_eq!(code(&o), 0, "after restart: {}{}", out(&o), err(&o));
    let o = d.docker(&[
        "exec",
        "berth-test-client",
        "ping",
        "-c1",
        "-W2",
        "berth-test-other",
    ]);
    assert_eq!(code(&o), 0, "after restart: {}{}", out(&o), err(&o));

    // Bad input: docker's words, nothing half-made.
    let o = d.docker(&["network", "create", "--subnet", &s1, "berth-test-overlap"]);
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains("Pool overlaps with other one on this address space"),
        "{}",
        err(&o)
    );
    let o = d.docker(&[
        "network",
        "create",
        "--subnet",
        "10.1.2.0/33",
        "berth-test-cidr",
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).to_lowercase().contains("invalid cidr"),
        "{}",
        err(&o)
    );
    let o = d.docker(&[
        "network",
        "create",
        "--subnet",
        "10.3.4.0/24",
        "--gateway",
        "10.3.5.1",
        "berth-test-gw",
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains("no matching subnet for gateway 10.3.5.1"),
        "{}",
        err(&o)
    );
    let o = d.docker(&["network", "create", "berth-test-front"]);
    assert_ne!(code(&o), 0);
    assert!(err(&o).contains("already exists"), "{}", err(&o));
    let o = d.docker(&[
        "network",
        "connect",
        "berth-test-front",
        "berth-test-client",
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains("already exists in network berth-test-front"),
        "{}",
        err(&o)
    );
    let o = d.docker(&["network", "rm", "berth-test-front"]);
    assert_ne!(code(&o), 0);
    assert!(err(&o).contains("has active endpoints"), "{}", err(&o));
    let ls = ok(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !ls.contains("berth-test-overlap")
            && !ls.contains("berth-test-cidr")
            && !ls.contains("berth-test-gw"),
        "{ls}"
    );

    // 100 containers on one network: started, pinged by name, removed.
    let names: Vec<String> = (0..100).map(|i| format!("berth-test-n{i}")).collect();
    for n in &names {
        ok(
            &d,
            &[
                "run",
                "-d",
                "--name",
                n,
                "--network",
                "berth-test-back",
                "busybox",
                "sleep",
                "300",
            ],
        );
    }
    let script = names
        .iter()
        .map(|n| format!("ping -c1 -W2 {n} >/dev/null || echo FAIL {n}"))
        .collect::<Vec<_>>()
        .join("; ");
    let o = ok(&d, &["exec", "berth-test-other", "sh", "-c", &script]);
    assert!(!o.contains("FAIL"), "{o}");
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    rm.extend(["berth-test-web", "berth-test-client", "berth-test-other"]);
    ok(&d, &rm);
    wait_no_ports(&b1);
    wait_no_ports(&b2);
    // No name outlives its container.
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "berth-test-back",
        "busybox",
        "nslookup",
        "berth-test-n5",
        "127.0.0.11",
    ]);
    assert!(
        !out(&o).contains("Address: 10."),
        "a removed container still resolves: {}",
        out(&o)
    );
    let pools: String = std::fs::read_dir(d.dir.join("data/network"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        !pools.contains("\"allocated\":{\"1"),
        "addresses left: {pools}"
    );

    // --internal: containers reach each other, nothing else (no default
    // route, and the bridge's table keeps traffic inside).
    let s3 = format!("10.{}.{}.0/24", 250 + (p >> 8) % 5, p & 0xff);
    ok(
        &d,
        &[
            "network",
            "create",
            "--internal",
            "--subnet",
            &s3,
            "-o",
            &format!("com.docker.network.bridge.name={}", br("c")),
            "berth-test-internal",
        ],
    );
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-in1",
            "--network",
            "berth-test-internal",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let o = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "berth-test-internal",
            "busybox",
            "sh",
            "-c",
            "ip route; ping -c1 -W2 berth-test-in1 >/dev/null && echo reached",
        ],
    );
    assert!(!o.contains("default"), "{o}");
    assert!(o.contains("reached"), "{o}");
    let internal = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{.Internal}}",
            "berth-test-internal",
        ],
    );
    assert_eq!(internal.trim(), "true");
    ok(&d, &["rm", "-f", "berth-test-in1"]);

    // rm and prune take bridges and tables along.
    ok(&d, &["network", "rm", "berth-test-front"]);
    assert!(!link_exists(&b1) && !nft_has_table(&format!("berth-{b1}")));
    // prune's filters: a label no network has keeps them all; unknown keys
    // are refused.
    let o = ok(
        &d,
        &["network", "prune", "-f", "--filter", "label=berth.nosuch"],
    );
    assert!(!o.contains("berth-test-back"), "{o}");
    let o = d.docker(&["network", "prune", "-f", "--filter", "bogus=1"]);
    assert_ne!(code(&o), 0);
    assert!(err(&o).contains("invalid filter 'bogus'"), "{}", err(&o));
    let dangling = ok(
        &d,
        &[
            "network",
            "ls",
            "--filter",
            "dangling=true",
            "--format",
            "{{.Name}}",
        ],
    );
    assert!(
        dangling.contains("berth-test-back") && !dangling.contains("bridge\n"),
        "{dangling}"
    );
    let o = ok(&d, &["network", "prune", "-f"]);
    assert!(
        o.contains("berth-test-back") && o.contains("berth-test-internal"),
        "{o}"
    );
    assert!(!link_exists(&br("c")));
    assert!(!link_exists(&b2) && !nft_has_table(&format!("berth-{b2}")));
    let ls = ok(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls.lines().count(), 3, "{ls}");
}
