//! `berth network …` against berthd: create, ls (table, -q, --filter,
//! --format), inspect (template, JSON, unknown network), containers finding
//! each other by name and alias, connect/disconnect, rm (in use, then free),
//! prune (prompt and -f); outputs and exit codes as the docker CLI prints them.
//! Traffic stays on this machine: this test's bridges and containers only
//! (the daemon's `--dns` is 127.0.0.1, so no query leaves the host).

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Daemon, code, err, link_exists, ok, out};

/// This process's leftover links (bn<pid>…).
fn our_links() -> Vec<String> {
    let prefix = format!("bn{}", std::process::id());
    std::fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the CLI with `input` on its stdin.
fn with_stdin(d: &Daemon, args: &[&str], input: &str) -> std::process::Output {
    let mut child = d
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const PROMPT: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ";

#[test]
fn berth_network_commands() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let berth = Daemon::berth_bin();
    assert!(
        berth.exists(),
        "{} is missing: cargo build --workspace first",
        berth.display()
    );
    let mut d = Daemon::start();
    d.cli = berth;
    d.load_busybox();

    let p = std::process::id();
    let net_prefix = format!("10.{}.{}", 200 + (p >> 8) % 50, p & 255);
    let subnet = format!("{net_prefix}.0/24");
    let br = format!("bn{p}x");
    let net = "berth-test-net";

    // create: the new id on stdout.
    let id = ok(
        &d,
        &[
            "network",
            "create",
            "--subnet",
            &subnet,
            "--label",
            "berth.test=1",
            "-o",
            &format!("com.docker.network.bridge.name={br}"),
            net,
        ],
    );
    let id = id.strip_suffix('\n').unwrap_or(&id).to_string();
    assert_eq!(id.len(), 64, "{id:?}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert!(link_exists(&br), "bridge {br} missing");
    let o = d.docker(&["network", "create", net]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        format!("Error response from daemon: network with name {net} already exists\n")
    );
    let o = d.docker(&["network", "create"]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with(
            "docker: 'docker network create' requires 1 argument\n\nUsage:  docker network create [OPTIONS] NETWORK\n"
        ),
        "{}",
        err(&o)
    );

    // ls: docker's table, sorted by name.
    let bridge_id = ok(&d, &["network", "inspect", "-f", "{{.Id}}", "bridge"]);
    let ls = ok(&d, &["network", "ls"]);
    let want = format!(
        "NETWORK ID     NAME             DRIVER    SCOPE\n\
         {}   berth-test-net   bridge    local\n\
         {}   bridge           bridge    local\n\
         686f73740000   host             host      local\n\
         6e6f6e650000   none             null      local\n",
        &id[..12],
        &bridge_id[..12]
    );
    assert_eq!(ls, want);
    let ls = ok(&d, &["network", "list", "--filter", "name=berth-test"]);
    assert_eq!(
        ls,
        format!(
            "NETWORK ID     NAME             DRIVER    SCOPE\n{}   berth-test-net   bridge    local\n",
            &id[..12]
        )
    );
    let q = ok(&d, &["network", "ls", "-q"]);
    assert_eq!(q.lines().count(), 4, "{q}");
    assert_eq!(q.lines().next(), Some(&id[..12]), "{q}");
    let q = ok(
        &d,
        &[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            "name=berth-test",
        ],
    );
    assert_eq!(q, format!("{id}\n"));
    let f = ok(
        &d,
        &[
            "network",
            "ls",
            "--filter",
            "label=berth.test=1",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Labels}} {{.Label \"berth.test\"}}",
        ],
    );
    assert_eq!(f, "berth-test-net bridge local false berth.test=1 1\n");
    let j = ok(
        &d,
        &[
            "network",
            "ls",
            "--filter",
            "name=berth-test",
            "--format",
            "json",
        ],
    );
    assert!(
        j.starts_with("{\"CreatedAt\":\"")
            && j.ends_with(&format!(
                "\"Driver\":\"bridge\",\"ID\":\"{}\",\"IPv4\":\"true\",\"IPv6\":\"false\",\"Internal\":\"false\",\"Labels\":\"berth.test=1\",\"Name\":\"berth-test-net\",\"Scope\":\"local\"}}\n",
                &id[..12]
            )),
        "{j}"
    );
    let o = d.docker(&["network", "ls", "--filter", "nope"]);
    assert_eq!(code(&o), 125);
    assert!(
        err(&o).starts_with("invalid argument \"nope\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n"),
        "{}",
        err(&o)
    );

    // inspect: template, JSON array (docker's indentation), unknown network.
    assert_eq!(
        ok(&d, &["network", "inspect", "-f", "{{.Driver}}", net]),
        "bridge\n"
    );
    assert_eq!(
        ok(
            &d,
            &[
                "network",
                "inspect",
                "--format",
                "{{.Name}} {{(index .IPAM.Config 0).Subnet}}",
                net,
                "bridge"
            ]
        ),
        format!("{net} {subnet}\nbridge {}.0/24\n", {
            let bip = common::bridge_bip();
            bip[..bip.rfind('.').unwrap()].to_string()
        })
    );
    let js = ok(&d, &["network", "inspect", net]);
    assert!(js.starts_with("[\n    {\n        \""), "{js}");
    assert!(js.ends_with("\n    }\n]\n"), "{js}");
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{js}");
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Name"], net);
    assert_eq!(v[0]["Driver"], "bridge");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], subnet.as_str());
    assert_eq!(v[0]["Labels"]["berth.test"], "1");
    assert_eq!(
        v[0]["Options"]["com.docker.network.bridge.name"],
        br.as_str()
    );
    let o = d.docker(&["network", "inspect", "berth-test-nope"]);
    assert_eq!(code(&o), 1);
    assert_eq!(out(&o), "[]\n");
    assert_eq!(
        err(&o),
        "Error response from daemon: network berth-test-nope not found\n"
    );
    let o = d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}}",
        net,
        "berth-test-nope",
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(out(&o), format!("{net}\n"));
    assert_eq!(
        err(&o),
        "Error response from daemon: network berth-test-nope not found\n"
    );

    // Containers on the network find each other by name and by alias.
    for (name, alias) in [("berth-test-c1", Some("a")), ("berth-test-c2", None)] {
        let mut args = vec!["run", "-d", "--name", name, "--network", net];
        if let Some(a) = alias {
            args.extend(["--network-alias", a]);
        }
        args.extend(["busybox", "sleep", "300"]);
        ok(&d, &args);
    }
    for target in ["berth-test-c1", "a"] {
        let o = d.docker(&["exec", "berth-test-c2", "ping", "-c1", "-W2", target]);
        assert_eq!(code(&o), 0, "ping {target}: {}{}", out(&o), err(&o));
    }
    let c1_ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
            "berth-test-c1",
        ],
    );
    let c1_ip = c1_ip.trim().to_string();
    assert!(c1_ip.starts_with(&format!("{net_prefix}.")), "{c1_ip}");
    let members = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
            net,
        ],
    );
    assert!(
        members.contains("berth-test-c1 ") && members.contains("berth-test-c2 "),
        "{members}"
    );

    // connect: a container of the default bridge joins with an alias and a
    // fixed address; disconnected, it can reach nobody there any more.
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-c3",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let c3_ip = format!("{net_prefix}.200");
    let o = ok(
        &d,
        &[
            "network",
            "connect",
            "--alias",
            "c3alias",
            "--ip",
            &c3_ip,
            net,
            "berth-test-c3",
        ],
    );
    assert_eq!(o, "");
    let got = ok(
        &d,
        &[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
            "berth-test-c3",
        ],
    );
    assert_eq!(got.trim(), c3_ip);
    let o = d.docker(&["exec", "berth-test-c3", "ping", "-c1", "-W2", &c1_ip]);
    assert_eq!(code(&o), 0, "c3 -> c1: {}{}", out(&o), err(&o));
    let o = d.docker(&["exec", "berth-test-c2", "ping", "-c1", "-W2", "c3alias"]);
    assert_eq!(code(&o), 0, "c2 -> c3alias: {}{}", out(&o), err(&o));
    let o = d.docker(&["network", "connect", net, "berth-test-c3"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        format!(
            "Error response from daemon: endpoint with name berth-test-c3 already exists in network {net}\n"
        )
    );
    let o = ok(&d, &["network", "disconnect", net, "berth-test-c3"]);
    assert_eq!(o, "");
    let o = d.docker(&["exec", "berth-test-c3", "ping", "-c1", "-W1", &c1_ip]);
    assert_ne!(code(&o), 0, "c3 still reaches c1 after disconnect");
    let o = d.docker(&["exec", "berth-test-c2", "ping", "-c1", "-W1", &c3_ip]);
    assert_ne!(code(&o), 0, "c3's address still answers after disconnect");
    let o = d.docker(&["network", "disconnect", "-f", net, "berth-test-c3"]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("Error response from daemon: "),
        "{}",
        err(&o)
    );
    let o = d.docker(&["network", "connect", net]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("docker: 'docker network connect' requires 2 arguments\n"),
        "{}",
        err(&o)
    );

    // rm of a network in use fails; with its containers gone it succeeds.
    let o = d.docker(&["network", "rm", net]);
    assert_eq!(code(&o), 1);
    assert_eq!(out(&o), "");
    assert!(
        err(&o).starts_with("Error response from daemon: ")
            && err(&o).contains("has active endpoints")
            && err(&o).ends_with("\nexit status 1\n"),
        "{}",
        err(&o)
    );
    ok(
        &d,
        &[
            "rm",
            "-f",
            "berth-test-c1",
            "berth-test-c2",
            "berth-test-c3",
        ],
    );
    assert_eq!(ok(&d, &["network", "remove", net]), format!("{net}\n"));
    assert!(!link_exists(&br), "bridge {br} left after network rm");
    let o = d.docker(&["network", "rm", net, "host"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        format!(
            "Error response from daemon: network {net} not found\n\
             Error response from daemon: host is a pre-defined network and cannot be removed\n\
             exit status 1\n"
        )
    );
    let o = d.docker(&["network", "rm", "-f", net]);
    assert_eq!(
        (code(&o), out(&o), err(&o)),
        (0, String::new(), String::new())
    );

    // prune: asks first (no answer, nothing removed), -f does not.
    let halves = [
        (
            "berth-test-p1",
            format!("{net_prefix}.0/25"),
            format!("bn{p}y"),
        ),
        (
            "berth-test-p2",
            format!("{net_prefix}.128/25"),
            format!("bn{p}z"),
        ),
    ];
    for (name, sub, b) in &halves {
        ok(
            &d,
            &[
                "network",
                "create",
                "--subnet",
                sub,
                "-o",
                &format!("com.docker.network.bridge.name={b}"),
                name,
            ],
        );
    }
    let o = d.docker(&["network", "prune"]);
    assert_eq!((code(&o), out(&o)), (0, PROMPT.to_string()));
    let o = with_stdin(&d, &["network", "prune"], "n\n");
    assert_eq!((code(&o), out(&o)), (0, PROMPT.to_string()));
    assert_eq!(
        ok(
            &d,
            &["network", "ls", "-q", "--filter", "name=berth-test-p"]
        )
        .lines()
        .count(),
        2
    );
    let o = with_stdin(&d, &["network", "prune"], "y\n");
    assert_eq!(code(&o), 0, "{}", err(&o));
    let report = out(&o);
    let report = report.strip_prefix(PROMPT).unwrap_or(&report);
    assert!(report.starts_with("Deleted Networks:\n"), "{report}");
    assert!(report.ends_with("\n\n"), "{report:?}");
    let mut gone: Vec<&str> = report.lines().skip(1).filter(|l| !l.is_empty()).collect();
    gone.sort();
    assert_eq!(gone, ["berth-test-p1", "berth-test-p2"], "{report}");
    assert_eq!(ok(&d, &["network", "prune", "-f"]), "");
    ok(
        &d,
        &[
            "network",
            "create",
            "--subnet",
            &subnet,
            "-o",
            &format!("com.docker.network.bridge.name={br}"),
            "berth-test-p3",
        ],
    );
    assert_eq!(
        ok(&d, &["network", "prune", "-f"]),
        "Deleted Networks:\nberth-test-p3\n\n"
    );
    assert_eq!(ok(&d, &["network", "ls", "-q"]).lines().count(), 3);
    assert_eq!(our_links(), Vec::<String>::new(), "links left");
}
