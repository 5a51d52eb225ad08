//! The default bridge with the docker CLI: busybox httpd published with
//! `-p`, reached from the host (127.0.0.1) and from another container
//! through the gateway; `-P` with `berth port`; a taken port refused before
//! anything is set up; kill -9 of the daemon keeps the published port
//! answering with its rule once; afterwards no veth, address or rule is left.
//! Traffic stays on this machine: loopback, the test's bridge, its containers.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{code, err, free_port, out};

/// GET / from 127.0.0.1:port, retrying while httpd comes up.
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(b) if b.contains("200 OK") => return b,
            other => assert!(
                Instant::now() < deadline,
                "127.0.0.1:{port} does not answer: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dnat_rules(port: u16) -> usize {
    let table = format!("berth-{}", common::bridge_name());
    let o = Command::new("nft")
        .args(["list", "table", "inet", &table])
        .output()
        .unwrap();
    out(&o)
        .lines()
        .filter(|l| l.contains(&format!("dport {port} dnat")))
        .count()
}

/// Interfaces enslaved to this test's bridge.
fn bridge_ports() -> Vec<String> {
    std::fs::read_dir(format!("/sys/class/net/{}/brif", common::bridge_name()))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bridge_and_published_ports() {
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
    d.load_busybox();
    let www = d.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from berth\n").unwrap();
    let vol = format!("{}:/www:ro", www.display());
    let port = free_port();
    let publish = format!("{port}:80");

    // -p: from the host, through 127.0.0.1.
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-test-web",
        "-p",
        &publish,
        "-v",
        &vol,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(http_get(port).contains("hello from berth"));
    let ps = out(&d.docker(&["ps", "--format", "{{.Ports}}"]));
    assert_eq!(ps.trim(), format!("0.0.0.0:{port}->80/tcp"));
    let p = out(&d.docker(&["port", "berth-test-web"]));
    assert_eq!(p.trim(), format!("80/tcp -> 0.0.0.0:{port}"));
    let ip = out(&d.docker(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}}",
        "berth-test-web",
    ]));
    let (ip, gw) = ip.trim().split_once(' ').expect("address and gateway");
    assert!(
        common::bridge_bip().starts_with(&gw[..gw.rfind('.').unwrap()]),
        "{ip} {gw}"
    );

    // From a second container: through the gateway's published port, and
    // directly by address.
    for (host, p) in [(gw.to_string(), port), (ip.to_string(), 80)] {
        let o = d.docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {p}"),
        ]);
        assert!(
            out(&o).contains("hello from berth"),
            "{host}:{p}: {}{}",
            out(&o),
            err(&o)
        );
    }

    // -P: every exposed port gets a free host port; `port` says which.
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-test-any",
        "-P",
        "--expose",
        "80",
        "-v",
        &vol,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let p = out(&d.docker(&["port", "berth-test-any", "80"]));
    let any: u16 = p
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // `berth port` says the same.
    let b = Command::new(common::Daemon::berth_bin())
        .args(["-H", &d.sock(), "port", "berth-test-any", "80"])
        .output()
        .unwrap();
    assert_eq!(out(&b), p, "{}", err(&b));
    assert!(http_get(any).contains("hello from berth"));

    // A taken port: docker's words, nothing set up for the loser.
    let before = bridge_ports().len();
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-test-loser",
        "-p",
        &publish,
        "busybox",
        "true",
    ]);
    assert_eq!(code(&o), 125);
    assert!(
        err(&o).contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{}",
        err(&o)
    );
    assert_eq!(bridge_ports().len(), before);
    assert_eq!(dnat_rules(port), 1);

    // kill -9 and restart: the port still answers, its rule is there once.
    d.kill9();
    assert!(
        http_get(port).contains("hello from berth"),
        "served while berthd is down"
    );
    d.restart();
    assert!(http_get(port).contains("hello from berth"));
    assert_eq!(dnat_rules(port), 1);

    // Removal takes everything along.
    let o = d.docker(&[
        "rm",
        "-f",
        "berth-test-web",
        "berth-test-any",
        "berth-test-loser",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    // The kernel removes a veth with its namespace, a moment after the exit.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !bridge_ports().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        bridge_ports().is_empty(),
        "veths left: {:?}",
        bridge_ports()
    );
    assert_eq!(dnat_rules(port), 0);
    assert_eq!(dnat_rules(any), 0);
    for e in std::fs::read_dir(d.dir.join("data/network"))
        .unwrap()
        .flatten()
    {
        let pool = std::fs::read_to_string(e.path()).unwrap();
        assert!(pool.contains("\"allocated\":{}"), "addresses left: {pool}");
    }
}

/// `--link`, `--add-host` (with host-gateway), `--dns*`, `--mac-address`,
/// `--hostname`/`--domainname`, `--ip` with the docker CLI.
#[test]
fn container_network_options() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let Some(docker) = common::docker_bin() else {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    };
    let mut d = common::Daemon::start_with(
        std::path::PathBuf::from(format!("/tmp/berth-test-netopts-{}", std::process::id())),
        true,
        &[],
    );
    d.cli = docker;
    d.load_busybox();
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-test-db",
        "-e",
        "DBPASS=secret",
        "--expose",
        "5432",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let db_ip = out(&d.docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.IPAddress}}",
        "berth-test-db",
    ]));
    let db_ip = db_ip.trim();
    let gw = out(&d.docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Gateway}}",
        "berth-test-db",
    ]));
    let o = d.docker(&[
        "run", "--rm", "--link", "berth-test-db:database", "--add-host", "foo:10.1.2.3",
        "--add-host", "gw:host-gateway", "--dns", "127.0.0.9", "--dns-search", "example.test",
        "--dns-option", "ndots:2", "--mac-address", "02:42:0a:0b:0c:0d", "--hostname", "hh",
        "--domainname", "dd.test", "busybox", "sh", "-c",
        "cat /etc/hosts /etc/resolv.conf; env | sort; ip link show eth0; hostname; ping -c1 -W2 database",
    ]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    let t = out(&o);
    for want in [
        "10.1.2.3\tfoo\n".to_string(),
        format!("{}\tgw\n", gw.trim()),
        format!("{db_ip}\tdatabase "),
        "\thh.dd.test hh\n".into(),
        "nameserver 127.0.0.9\n".into(),
        "search example.test\n".into(),
        "options ndots:2\n".into(),
        "DATABASE_ENV_DBPASS=secret\n".into(),
        "DATABASE_NAME=/".into(),
        format!("DATABASE_PORT_5432_TCP=tcp://{db_ip}:5432\n"),
        "link/ether 02:42:0a:0b:0c:0d".into(),
        "\nhh\n".into(),
        "1 packets received".into(),
    ] {
        assert!(t.contains(&want), "{want:?} in {t}");
    }
    // --network container:<name>: the same namespace (its loopback too).
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-test-srv",
        "busybox",
        "sh",
        "-c",
        "while true; do nc -l -p 7777 -e echo from-srv; done",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:berth-test-db",
        "busybox",
        "ip",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(
        out(&o).contains(&format!("inet {db_ip}/")),
        "{}{}",
        out(&o),
        err(&o)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = d.docker(&[
            "run",
            "--rm",
            "--network",
            "container:berth-test-srv",
            "busybox",
            "nc",
            "-w",
            "2",
            "127.0.0.1",
            "7777",
        ]);
        if out(&o).contains("from-srv") {
            break;
        }
        assert!(Instant::now() < deadline, "{}{}", out(&o), err(&o));
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = d.docker(&["rm", "-f", "berth-test-srv"]);
    assert_eq!(code(&o), 0, "{}", err(&o));

    // A fixed address on a user network.
    let p = std::process::id();
    let subnet = format!("10.{}.{}.0/24", 150 + (p >> 8) % 50, p & 0xff);
    let fixed = format!("{}.77", &subnet[..subnet.rfind('.').unwrap()]);
    let o = d.docker(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "-o",
        &format!("com.docker.network.bridge.name=bo{p}"),
        "berth-test-fixed",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "berth-test-fixed",
        "--ip",
        &fixed,
        "busybox",
        "ip",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(
        out(&o).contains(&format!("inet {fixed}/24")),
        "{}{}",
        out(&o),
        err(&o)
    );
    // Linking to a stopped container is refused.
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-test-stopped",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&o), 0);
    let _ = d.docker(&["wait", "berth-test-stopped"]);
    let o = d.docker(&[
        "run",
        "--rm",
        "--link",
        "berth-test-stopped:s",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains("Cannot link to a non running container"),
        "{}",
        err(&o)
    );
    let o = d.docker(&["rm", "-f", "berth-test-db", "berth-test-stopped"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = d.docker(&["network", "rm", "berth-test-fixed"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
}

/// The addresses allocated on the default bridge, from its state file.
fn allocated(d: &common::Daemon) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d.dir.join("data/network"))
        .unwrap()
        .flatten()
    {
        if e.path().extension().is_none_or(|x| x != "json") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        if let Some(m) = v["pool"]["allocated"].as_object() {
            out.extend(m.values().filter_map(|o| o.as_str().map(String::from)));
        }
    }
    out
}

/// The order a client can rely on (ARCHITECTURE.md, "address release"):
/// a container's addresses are free — in memory and on disk — before its
/// exit is observable, so `wait` returning, `rm -f` returning and
/// `run --rm` returning each mean its address is free. Checked at once,
/// without polling, for several containers exiting together.
#[test]
fn addresses_are_free_when_exit_is_observable() {
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
    d.load_busybox();
    // wait: four containers exiting at once.
    let mut ids = Vec::new();
    for _ in 0..4 {
        let o = d.docker(&["run", "-d", "busybox", "sleep", "1000"]);
        assert_eq!(code(&o), 0, "{}", err(&o));
        ids.push(out(&o).trim().to_string());
    }
    assert_eq!(allocated(&d).len(), 4);
    let mut args = vec!["kill"];
    args.extend(ids.iter().map(String::as_str));
    assert_eq!(code(&d.docker(&args)), 0);
    let mut args = vec!["wait"];
    args.extend(ids.iter().map(String::as_str));
    let o = d.docker(&args);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(allocated(&d), Vec::<String>::new(), "after wait");
    // rm -f of several running containers (the CLI removes them in parallel).
    let o = d.docker(&["start", &ids[0], &ids[1], &ids[2], &ids[3]]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(allocated(&d).len(), 4);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    let o = d.docker(&args);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(allocated(&d), Vec::<String>::new(), "after rm -f");
    // run --rm: returns after the removal.
    let o = d.docker(&["run", "--rm", "busybox", "true"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(allocated(&d), Vec::<String>::new(), "after run --rm");
}
