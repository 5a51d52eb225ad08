//! Load: berthd under many clients, then as idle as before.
//!
//! 1. 50 clients for `BERTH_LOAD_SECS` (default 60) s over the unix socket,
//!    each repeating create, start, exec, logs, stats, inspect, network
//!    connect and disconnect, image list, stop and rm of its own container.
//! 2. 500 connections at once on the tcp+TLS listener for
//!    `BERTH_LOAD_TLS_SECS` (default 20) s: 400 idle after their handshake,
//!    50 active clients (a new TLS connection per request, as the docker CLI
//!    does), 25 slowloris clients dripping header lines, 25 that ask for an
//!    8 MB log and never read it.
//!
//! It fails on any error (none of these requests has a reason to fail on
//! Docker either), on growth of berthd's fds, threads or memory between
//! before and after (both measured once the daemon is idle), and on any
//! mount, cgroup, veth, network or container state left. It prints the
//! number of requests, errors and p50/p99 per operation.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_api::container::{Config, CreateRequest};
use berth_api::query::{container as cq, image as iq};
use berth_api::{exec, network};
use berth_client::{Client, Host, TlsOptions};

const CLIENTS: usize = 50;
const IDLE_TLS: usize = 400;
const ACTIVE_TLS: usize = 50;
const SLOWLORIS: usize = 25;
const NEVER_READING: usize = 25;
/// Growth tolerated between the idle daemon before and after.
const SLACK_FDS: i64 = 4;
const SLACK_THREADS: i64 = 2;
const SLACK_RSS_KB: i64 = 16 * 1024;

fn secs(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Latencies per operation, and every error with its operation.
#[derive(Default)]
struct Record {
    lat: BTreeMap<&'static str, Vec<Duration>>,
    errors: Vec<String>,
}

impl Record {
    fn merge(&mut self, o: Record) {
        for (k, v) in o.lat {
            self.lat.entry(k).or_default().extend(v);
        }
        self.errors.extend(o.errors);
    }

    /// Time `f` as `op`; an error is recorded and ends the round.
    fn time<T>(&mut self, op: &'static str, f: impl FnOnce() -> Result<T, String>) -> Option<T> {
        let t = Instant::now();
        let r = f();
        self.lat.entry(op).or_default().push(t.elapsed());
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(format!("{op}: {e}"));
                None
            }
        }
    }

    fn report(&self, title: &str) {
        println!("{title}");
        println!(
            "  {:<12} {:>8} {:>10} {:>10} {:>10}",
            "operation", "requests", "p50 ms", "p99 ms", "max ms"
        );
        let mut all = Vec::new();
        for (op, v) in &self.lat {
            let mut v = v.clone();
            v.sort();
            println!(
                "  {:<12} {:>8} {:>10.2} {:>10.2} {:>10.2}",
                op,
                v.len(),
                ms(pct(&v, 50)),
                ms(pct(&v, 99)),
                ms(*v.last().unwrap())
            );
            all.extend(v);
        }
        all.sort();
        println!(
            "  {:<12} {:>8} {:>10.2} {:>10.2}   errors: {}",
            "all",
            all.len(),
            ms(pct(&all, 50)),
            ms(pct(&all, 99)),
            self.errors.len()
        );
    }
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// berthd's open fds, threads and resident memory (KiB).
#[derive(Clone, Copy, Debug)]
struct Usage {
    fds: i64,
    threads: i64,
    rss_kb: i64,
}

fn usage(pid: i32) -> Usage {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as i64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Usage {
        fds,
        threads: field("Threads:"),
        rss_kb: field("VmRSS:"),
    }
}

/// Wait for the daemon to be idle: blocking-pool threads end after 10 s
/// without work, and freed memory is given back every 10 s.
fn settle() {
    std::thread::sleep(Duration::from_secs(12));
}

fn unix_client(d: &common::Daemon) -> Client {
    Client::new(
        Host::parse(&d.sock(), false).unwrap(),
        &TlsOptions::default(),
    )
    .unwrap()
}

fn e2s(e: berth_client::Error) -> String {
    e.to_string()
}

/// One client's round on its own container; false once an error ended it.
fn round(c: &Client, rec: &mut Record, name: &str, net: &str) -> bool {
    let body = CreateRequest {
        config: Config {
            image: "busybox".into(),
            cmd: Some(
                vec![
                    "sh".into(),
                    "-c".into(),
                    "echo started; exec sleep 3600".into(),
                ]
                .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    let q = cq::Create {
        name: Some(name.to_string()),
        ..Default::default()
    };
    let Some(id) = rec.time("create", || {
        c.container_create(&q, &body).map(|r| r.id).map_err(e2s)
    }) else {
        return false;
    };
    let ok = round_on(c, rec, &id, net);
    // Whatever failed, the container goes.
    let rm = cq::Remove {
        force: !ok,
        ..Default::default()
    };
    rec.time("rm", || c.container_remove(&id, &rm).map_err(e2s))
        .is_some()
        && ok
}

fn round_on(c: &Client, rec: &mut Record, id: &str, net: &str) -> bool {
    rec.time("start", || c.container_start(id).map_err(e2s))
        .and_then(|_| {
            rec.time("exec", || {
                let e = c
                    .exec_create(
                        id,
                        &exec::CreateRequest {
                            attach_stdout: true,
                            attach_stderr: true,
                            cmd: Some(vec!["echo".into(), "exec-ok".into()]),
                            ..Default::default()
                        },
                    )
                    .map_err(e2s)?;
                let mut h = c
                    .exec_start(&e.id, &exec::StartRequest::default())
                    .map_err(e2s)?;
                let mut out = Vec::new();
                h.reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
                if !String::from_utf8_lossy(&out).contains("exec-ok") {
                    return Err(format!("exec output {out:?}"));
                }
                Ok(())
            })
        })
        .and_then(|_| {
            rec.time("logs", || {
                let q = cq::Logs {
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                };
                c.container_logs(id, &q)
                    .and_then(|r| r.bytes())
                    .map_err(e2s)
            })
        })
        .and_then(|_| {
            rec.time("stats", || {
                let q = cq::Stats {
                    stream: Some(false),
                    ..Default::default()
                };
                c.container_stats(id, &q)
                    .and_then(|r| r.bytes())
                    .map_err(e2s)
            })
        })
        .and_then(|_| rec.time("inspect", || c.container_inspect(id, false).map_err(e2s)))
        .and_then(|_| {
            rec.time("connect", || {
                let b = network::ConnectRequest {
                    container: id.to_string(),
                    ..Default::default()
                };
                c.network_connect(net, &b).map_err(e2s)
            })
        })
        .and_then(|_| {
            rec.time("disconnect", || {
                let b = network::DisconnectRequest {
                    container: id.to_string(),
                    ..Default::default()
                };
                c.network_disconnect(net, &b).map_err(e2s)
            })
        })
        .and_then(|_| rec.time("images", || c.image_list(&iq::List::default()).map_err(e2s)))
        .and_then(|_| {
            rec.time("stop", || {
                let q = cq::Stop {
                    t: Some(1),
                    ..Default::default()
                };
                c.container_stop(id, &q).map_err(e2s)
            })
        })
        .is_some()
}

/// Phase 1: CLIENTS threads over the unix socket until `until`.
fn unix_phase(d: &common::Daemon, net: &str, until: Instant) -> Record {
    let total = Arc::new(Mutex::new(Record::default()));
    std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let total = total.clone();
            s.spawn(move || {
                let c = unix_client(d);
                let mut rec = Record::default();
                let mut i = 0;
                while Instant::now() < until {
                    let name = format!("berth-test-load-{t}-{i}");
                    if !round(&c, &mut rec, &name, net) {
                        // Let a failing daemon breathe; the error is recorded.
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    i += 1;
                }
                total.lock().unwrap().merge(rec);
            });
        }
    });
    Arc::into_inner(total).unwrap().into_inner().unwrap()
}

/// Phase 2: 500 connections on the TLS listener at once.
fn tls_phase(
    d: &common::Daemon,
    tcp: &str,
    tls: &TlsOptions,
    chatty: &str,
    hold: Duration,
) -> (Record, Usage) {
    let cfg = tls.client_config().unwrap();
    let host = Host::parse(tcp, true).unwrap();
    let connect = || berth_client::transport::connect(&host, Some(&cfg));
    let mut rec = Record::default();

    // The idle ones, opened 16 handshakes at a time.
    let idle: Vec<_> = std::thread::scope(|s| {
        const PER: usize = IDLE_TLS / 16;
        let hs: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    let mut rec = Record::default();
                    let v: Vec<_> = (0..PER)
                        .filter_map(|_| rec.time("tls-connect", || connect().map_err(e2s)))
                        .collect();
                    (v, rec)
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| {
                let (v, r) = h.join().unwrap();
                rec.merge(r);
                v
            })
            .collect()
    });
    // Never reading: an 8 MB log requested, not one byte read.
    let request = format!(
        "GET /v1.51/containers/{chatty}/logs?stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let stuck: Vec<_> = (0..NEVER_READING)
        .filter_map(|_| {
            rec.time("tls-connect", || {
                let mut c = connect().map_err(e2s)?;
                c.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
                c.flush().map_err(|e| e.to_string())?;
                Ok(c)
            })
        })
        .collect();
    let mut slow: Vec<_> = (0..SLOWLORIS)
        .filter_map(|_| {
            rec.time("tls-connect", || {
                let mut c = connect().map_err(e2s)?;
                c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")
                    .map_err(|e| e.to_string())?;
                Ok(c)
            })
        })
        .collect();
    let open = idle.len() + stuck.len() + slow.len() + ACTIVE_TLS;
    println!("TLS: {open} connections open at once");
    assert_eq!(open, IDLE_TLS + NEVER_READING + SLOWLORIS + ACTIVE_TLS);

    let until = Instant::now() + hold;
    let active = Arc::new(Mutex::new(Record::default()));
    std::thread::scope(|s| {
        for t in 0..ACTIVE_TLS {
            let active = active.clone();
            let (host, cfg) = (&host, &cfg);
            s.spawn(move || {
                let mut rec = Record::default();
                let Some(c) = rec.time("tls-connect", || {
                    Client::new(host.clone(), tls).map_err(e2s)
                }) else {
                    active.lock().unwrap().merge(rec);
                    return;
                };
                let _ = cfg;
                let mut i = t;
                while Instant::now() < until {
                    match i % 4 {
                        0 => rec.time("tls-ping", || c.ping().map_err(e2s)),
                        1 => rec.time("tls-ps", || {
                            c.container_list(&cq::List::default())
                                .map(|_| ())
                                .map_err(e2s)
                        }),
                        2 => rec.time("tls-images", || {
                            c.image_list(&iq::List::default()).map(|_| ()).map_err(e2s)
                        }),
                        _ => rec.time("tls-inspect", || {
                            c.container_inspect(chatty, false).map(|_| ()).map_err(e2s)
                        }),
                    };
                    i += 1;
                }
                active.lock().unwrap().merge(rec);
            });
        }
        // The slowloris clients drip a header line a second meanwhile.
        while Instant::now() < until {
            std::thread::sleep(Duration::from_secs(1));
            for c in &mut slow {
                let _ = c.write_all(b"X-Slow: 1\r\n").and_then(|_| c.flush());
            }
        }
    });
    rec.merge(Arc::into_inner(active).unwrap().into_inner().unwrap());
    // The daemon is still answering on the unix socket with all of them open.
    let u = unix_client(d);
    rec.time("unix-ping", || u.ping().map_err(e2s));
    let peak = usage(d.pid());
    drop((idle, stuck, slow));
    (rec, peak)
}

#[test]
fn load_leaves_berthd_as_it_was() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let dir = std::path::PathBuf::from(format!("/tmp/berth-test-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    common::certs::make_certs(&certs);
    let tcp = format!("tcp://127.0.0.1:{}", common::free_port());
    let d = common::Daemon::start_with(
        dir.join("daemon"),
        true,
        &common::certs::tls_daemon_args(&certs, &tcp),
    );
    d.load_busybox();
    let net = format!("berth-test-load-{}", std::process::id());
    common::ok(&d, &["network", "create", &net]);
    let bridge_links = || {
        std::fs::read_dir(format!("/sys/class/net/{}/brif", common::bridge_name()))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    // The daemon's own files (networks, keys…), to compare at the end.
    let files = || {
        let mut v = walk_files(&d.dir.join("exec"));
        v.extend(walk_files(&d.dir.join("data")));
        v.sort();
        v
    };
    let chatty = "berth-test-load-chatty";
    common::ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            chatty,
            "busybox",
            "sh",
            "-c",
            "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 8000000; exec sleep 3600",
        ],
    );
    // Warm up every path once, then measure the idle daemon.
    let c0 = unix_client(&d);
    let mut warm = Record::default();
    assert!(
        round(&c0, &mut warm, "berth-test-load-warm", &net),
        "{:?}",
        warm.errors
    );
    let tls = TlsOptions {
        tls: true,
        verify: true,
        ca: Some(certs.join("ca.pem")),
        cert: Some(certs.join("client.pem")),
        key: Some(certs.join("client-key.pem")),
    };
    Client::new(Host::parse(&tcp, true).unwrap(), &tls)
        .unwrap()
        .ping()
        .unwrap();
    settle();
    let before = usage(d.pid());
    let files_before = files();

    let t = Instant::now();
    let unix = unix_phase(&d, &net, Instant::now() + secs("BERTH_LOAD_SECS", 60));
    let unix_wall = t.elapsed();
    let (tls_rec, peak) = tls_phase(&d, &tcp, &tls, chatty, secs("BERTH_LOAD_TLS_SECS", 20));
    common::ok(&d, &["rm", "-f", chatty]);
    settle();
    let after = usage(d.pid());

    unix.report(&format!(
        "unix socket: {CLIENTS} clients for {:.0} s",
        unix_wall.as_secs_f64()
    ));
    tls_rec
        .report("tcp+TLS: 500 connections (400 idle, 50 active, 25 slowloris, 25 never reading)");
    println!("berthd before: {before:?}");
    println!("berthd with the 500 TLS connections open: {peak:?}");
    println!("berthd after:  {after:?}");

    let mut errors = unix.errors.clone();
    errors.extend(tls_rec.errors.iter().cloned());
    assert!(
        errors.is_empty(),
        "{} errors, the first: {:#?}",
        errors.len(),
        &errors[..errors.len().min(10)]
    );
    assert!(
        unix.lat.get("rm").map_or(0, Vec::len) >= CLIENTS,
        "fewer rounds than clients"
    );
    assert!(
        after.fds <= before.fds + SLACK_FDS,
        "fds {before:?} → {after:?}"
    );
    assert!(
        after.threads <= before.threads + SLACK_THREADS,
        "threads {before:?} → {after:?}"
    );
    assert!(
        after.rss_kb <= before.rss_kb + SLACK_RSS_KB,
        "memory {before:?} → {after:?}"
    );
    // Nothing of the containers is left.
    assert!(common::out(&d.docker(&["ps", "-aq"])).trim().is_empty());
    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
    assert!(d.cgroups().is_empty(), "cgroups left: {:?}", d.cgroups());
    assert_eq!(bridge_links(), 0, "veths left on the bridge");
    let files_after = files();
    let left: Vec<_> = files_after
        .iter()
        .filter(|f| !files_before.contains(f))
        .collect();
    assert!(left.is_empty(), "state files left: {left:?}");
    common::ok(&d, &["network", "rm", &net]);
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir` (none when it does not exist).
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
