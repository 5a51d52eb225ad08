//! Volumes through the docker CLI, against berthd and — as the reference,
//! in the same run — a private dockerd: create/ls/inspect/rm/prune, refusals
//! in Docker's words, copy-up, `nocopy`, `-v /path`, `--mount
//! type=volume`, image `VOLUME`s, `--volumes-from`, `rm -v`, tmpfs- and
//! bind-backed volumes of the local driver, `Mounts` in inspect. Then,
//! berthd only: data and mounts across a kill -9 and restart, prune by API
//! version, and nothing left mounted.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use common::{Daemon, code, err, out};

/// What one daemon answered, normalised (its root, generated names).
type Answers = BTreeMap<String, String>;

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Paths of the daemon's root → `ROOT`, 64-hex names → `ANON`.
fn normalise(s: &str, root: &str) -> String {
    let s = s.replace(root, "ROOT");
    s.split_inclusive(|c: char| !c.is_ascii_hexdigit())
        .map(|w| {
            let (word, rest) =
                w.split_at(w.trim_end_matches(|c: char| !c.is_ascii_hexdigit()).len());
            if is_hex64(word) {
                format!("ANON{rest}")
            } else {
                w.to_string()
            }
        })
        .collect()
}

fn line(o: &Output) -> String {
    format!("{} | {} | {}", code(o), out(o).trim(), err(o).trim())
}

/// The scenario, run through `docker` against one daemon whose files are
/// under `root`.
fn scenario(docker: &dyn Fn(&[&str]) -> Output, root: &str, p: &str, host_dir: &str) -> Answers {
    let mut a = Answers::new();
    let n = |s: &str| format!("{p}{s}");
    let mut put = |k: &str, v: String| {
        a.insert(k.to_string(), normalise(&v, root));
    };
    let run = |args: &[&str]| docker(args);

    put("create", line(&run(&["volume", "create", &n("v1")])));
    put(
        "create_tmpfs",
        line(&run(&[
            "volume",
            "create",
            "--label",
            "a=b",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=2m,uid=1000",
            &n("tmp"),
        ])),
    );
    put(
        "inspect_tmpfs",
        line(&run(&[
            "volume",
            "inspect",
            &n("tmp"),
            "--format",
            "{{json .Options}} {{json .Labels}} {{.Driver}} {{.Scope}} {{.Mountpoint}}",
        ])),
    );
    put(
        "inspect_plain",
        line(&run(&[
            "volume",
            "inspect",
            &n("v1"),
            "--format",
            "{{json .Options}} {{json .Labels}} {{.Name}}",
        ])),
    );
    // Refusals.
    put("bad_name", line(&run(&["volume", "create", "x/y"])));
    put("short_name", line(&run(&["volume", "create", "a"])));
    put(
        "bad_driver",
        line(&run(&["volume", "create", "-d", "nosuch", &n("nd")])),
    );
    put(
        "bad_option",
        line(&run(&["volume", "create", "-o", "foo=1", &n("bo")])),
    );
    put(
        "missing_option",
        line(&run(&["volume", "create", "-o", "device=/x", &n("mo")])),
    );
    put(
        "inspect_missing",
        line(&run(&["volume", "inspect", &n("nosuch")])),
    );
    put("rm_missing", line(&run(&["volume", "rm", &n("nosuch")])));
    put(
        "rm_missing_force",
        line(&run(&["volume", "rm", "-f", &n("nosuch")])),
    );
    put(
        "run_bad_name",
        line(&run(&["run", "--rm", "-v", "a:/x", "busybox", "true"])),
    );
    // Copy-up: the image's /etc into a new volume, owners and modes kept.
    put(
        "copy_up",
        line(&run(&[
            "run",
            "--rm",
            "-v",
            &format!("{p}v1:/etc"),
            "busybox",
            "stat",
            "-c",
            "%u:%g %a %s",
            "/etc/passwd",
            "/etc/group",
        ])),
    );
    put(
        "copy_up_kept",
        line(&run(&[
            "run",
            "--rm",
            "-v",
            &format!("{p}v1:/x"),
            "busybox",
            "stat",
            "-c",
            "%u:%g %a %s %n",
            "/x/passwd",
        ])),
    );
    put(
        "nocopy",
        line(&run(&[
            "run",
            "--rm",
            "-v",
            &format!("{p}nc:/etc:nocopy"),
            "busybox",
            "ls",
            "-A",
            "/etc",
        ])),
    );
    put(
        "mount_nocopy",
        line(&run(&[
            "run",
            "--rm",
            "--mount",
            &format!("type=volume,src={p}mnc,dst=/etc,volume-nocopy"),
            "busybox",
            "ls",
            "-A",
            "/etc",
        ])),
    );
    // Mounts as inspect shows them.
    put(
        "create_mounts",
        line(&run(&[
            "create",
            "--name",
            &n("c2"),
            "-v",
            &format!("{p}v1:/a"),
            "-v",
            "/b",
            "-v",
            &format!("{p}v5:/c:ro"),
            "--mount",
            "type=volume,dst=/d",
            "--mount",
            &format!("type=volume,src={p}v6,dst=/e,readonly"),
            "--mount",
            "type=tmpfs,dst=/f",
            "busybox",
            "true",
        ]))
        .split(" | ")
        .next()
        .unwrap()
        .to_string(),
    );
    // dockerd lists them in map order: compared sorted.
    let mounts = out(&run(&["inspect", &n("c2"), "--format", "{{json .Mounts}}"]));
    let mut mounts: Vec<serde_json::Value> = serde_json::from_str(&mounts).unwrap_or_default();
    mounts.sort_by_key(|m| m["Destination"].as_str().unwrap_or_default().to_string());
    put("mounts", serde_json::to_string(&mounts).unwrap());
    // In use: refused, with the user's id.
    let c2 = out(&run(&["inspect", &n("c2"), "--format", "{{.Id}}"]))
        .trim()
        .to_string();
    let o = run(&["volume", "rm", &n("v1")]);
    put(
        "rm_in_use",
        format!(
            "{} | names c2: {}",
            code(&o),
            err(&o).contains(&format!("remove {p}v1: volume is in use - [{c2}]"))
        ),
    );
    put(
        "dangling",
        line(&run(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            "dangling=true",
            "--filter",
            &format!("name={p}v"),
        ])),
    );
    put(
        "not_dangling",
        line(&run(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            "dangling=false",
            "--filter",
            &format!("name={p}v"),
        ])),
    );
    put(
        "label_filter",
        line(&run(&["volume", "ls", "-q", "--filter", "label=a=b"])),
    );
    // rm -v: the anonymous volumes (/b, /d) go, the named ones stay.
    let anon_before = anonymous(docker);
    put("rm_v", line(&run(&["rm", "-v", &n("c2")])));
    put(
        "rm_v_anonymous_gone",
        (anon_before - anonymous(docker)).to_string(),
    );
    put(
        "rm_v_named_kept",
        line(&run(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={p}v"),
        ])),
    );
    // --volumes-from, read-only.
    run(&[
        "run",
        "--name",
        &n("src"),
        "-v",
        "/anon",
        "-v",
        &format!("{p}v7:/n"),
        "busybox",
        "sh",
        "-c",
        "echo A > /anon/a; echo N > /n/n",
    ]);
    put(
        "volumes_from_ro",
        line(&run(&[
            "run",
            "--rm",
            "--volumes-from",
            &format!("{}:ro", n("src")),
            "busybox",
            "sh",
            "-c",
            "cat /anon/a /n/n; touch /n/x 2>/dev/null; echo $?",
        ])),
    );
    put(
        "volumes_from_rw",
        line(&run(&[
            "run",
            "--rm",
            "--volumes-from",
            &n("src"),
            "busybox",
            "sh",
            "-c",
            "touch /n/x; echo $?",
        ])),
    );
    put(
        "volumes_from_missing",
        line(&run(&[
            "run",
            "--rm",
            "--volumes-from",
            &n("nosuch"),
            "busybox",
            "true",
        ])),
    );
    // An image VOLUME: an anonymous volume per container, filled from the image.
    run(&[
        "run",
        "--name",
        &n("mk"),
        "busybox",
        "sh",
        "-c",
        "mkdir /vol && echo seed > /vol/s && chown 1:2 /vol/s && chmod 640 /vol/s",
    ]);
    put(
        "commit",
        line(&run(&[
            "commit",
            "--change",
            "VOLUME /vol",
            &n("mk"),
            &n("img"),
        ]))
        .split(" | ")
        .next()
        .unwrap()
        .to_string(),
    );
    put(
        "image_volume",
        line(&run(&[
            "run",
            "--name",
            &n("iv"),
            &n("img"),
            "sh",
            "-c",
            "stat -c '%u:%g %a' /vol/s; cat /vol/s; echo more > /vol/m",
        ])),
    );
    put(
        "image_volume_mounts",
        line(&run(&[
            "inspect",
            &n("iv"),
            "--format",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Mode}} {{.RW}}{{end}}",
        ])),
    );
    let anon_before = anonymous(docker);
    run(&["rm", "-v", &n("iv")]);
    put(
        "image_volume_rm_v",
        (anon_before - anonymous(docker)).to_string(),
    );
    // tmpfs-backed: mounted while used, gone after.
    put(
        "tmpfs_volume",
        line(&run(&[
            "run",
            "--rm",
            "-v",
            &format!("{p}tmp:/t"),
            "busybox",
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts | cut -d' ' -f3,4; echo x > /t/f; stat -c '%u' /t",
        ])),
    );
    put(
        "tmpfs_volume_after",
        line(&run(&[
            "run",
            "--rm",
            "-v",
            &format!("{p}tmp:/t"),
            "busybox",
            "ls",
            "-A",
            "/t",
        ])),
    );
    // A bind of a host directory through the local driver.
    run(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &format!("device={host_dir}"),
        &n("bind"),
    ]);
    put(
        "bind_volume",
        line(&run(&[
            "run",
            "--rm",
            "-v",
            &format!("{p}bind:/b"),
            "busybox",
            "sh",
            "-c",
            "echo hi > /b/f",
        ])),
    );
    put(
        "bind_volume_host",
        std::fs::read_to_string(format!("{host_dir}/f")).unwrap_or_default(),
    );
    // Cleanup through the API as a user would.
    for c in ["src", "mk"] {
        run(&["rm", "-v", &n(c)]);
    }
    run(&["rmi", &n("img")]);
    let left = out(&run(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("name={p}"),
    ]));
    let names: Vec<&str> = left.split_whitespace().collect();
    let mut rm = vec!["volume", "rm"];
    rm.extend(names.iter().copied());
    put("rm_many", line(&run(&rm)).lines().count().to_string());
    a
}

/// How many anonymous (64-hex) volumes the daemon lists.
fn anonymous(docker: &dyn Fn(&[&str]) -> Output) -> i64 {
    out(&docker(&["volume", "ls", "-q"]))
        .split_whitespace()
        .filter(|n| is_hex64(n))
        .count() as i64
}

#[test]
fn volumes_as_dockerd_has_them() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let p = format!("berth-test-vol-{}-", std::process::id());
    let host = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    d.load_busybox();
    let root = d.dir.display().to_string();
    let ours = scenario(
        &|a| d.docker(a),
        &root,
        &p,
        &host.path().display().to_string(),
    );
    eprintln!("berthd: {ours:#?}");
    // berth's own promises first.
    assert!(
        ours["copy_up"].starts_with("0 | 0:0 644"),
        "{}",
        ours["copy_up"]
    );
    assert!(
        ours["copy_up_kept"].contains("/x/passwd"),
        "{}",
        ours["copy_up_kept"]
    );
    assert_eq!(ours["nocopy"], "0 | hostname\nhosts\nresolv.conf | ");
    assert_eq!(ours["rm_in_use"], "1 | names c2: true");
    assert_eq!(ours["rm_v_anonymous_gone"], "2");
    assert_eq!(ours["volumes_from_ro"], "0 | A\nN\n1 | ");
    assert!(
        ours["image_volume"].starts_with("0 | 1:2 640\nseed"),
        "{}",
        ours["image_volume"]
    );
    assert_eq!(ours["image_volume_rm_v"], "1");
    assert!(
        ours["run_bad_name"].contains("mount path must be absolute"),
        "{}",
        ours["run_bad_name"]
    );
    assert!(
        ours["tmpfs_volume"].contains("tmpfs rw"),
        "{}",
        ours["tmpfs_volume"]
    );
    assert_eq!(ours["tmpfs_volume_after"], "0 |  | ");
    assert_eq!(ours["bind_volume_host"], "hi\n");
    assert!(
        d.mounts().iter().all(|m| !m.contains("/volumes/")),
        "volume mounts left: {:?}",
        d.mounts()
    );
    drop(d);

    // The reference.
    let Some(dk) = common::dockerd::Dockerd::start("volumes") else {
        return;
    };
    dk.load_busybox();
    let host = tempfile::tempdir().unwrap();
    let root = dk.dir.display().to_string();
    let theirs = scenario(
        &|a| dk.docker(a),
        &root,
        &p,
        &host.path().display().to_string(),
    );
    eprintln!("dockerd: {theirs:#?}");
    let mut differ = Vec::new();
    for (k, v) in &theirs {
        // dockerd 20.10 takes `-v a:/x` (the CLI sends it as the relative
        // path `a:/x` in Config.Volumes) and mounts nothing anyone can
        // reach; berth refuses a relative mount path (ARCHITECTURE.md,
        // "differences").
        if k == "run_bad_name" {
            continue;
        }
        if ours.get(k) != Some(v) {
            differ.push(format!(
                "{k}:\n  dockerd {v:?}\n  berthd  {:?}",
                ours.get(k)
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "berthd and dockerd differ:\n{}",
        differ.join("\n")
    );
}

#[test]
fn volumes_survive_kill_9_and_prune_follows_the_api_version() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let p = format!("berth-test-volk-{}-", std::process::id());
    let mut d = Daemon::start();
    d.load_busybox();
    let n = |s: &str| format!("{p}{s}");
    common::ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{p}data:/d"),
            "busybox",
            "sh",
            "-c",
            "echo persist > /d/f",
        ],
    );
    common::ok(
        &d,
        &[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            &n("tmp"),
        ],
    );
    common::ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            &n("live"),
            "-v",
            &format!("{p}tmp:/t"),
            "busybox",
            "sh",
            "-c",
            "echo marker > /t/m; sleep 300",
        ],
    );
    let tmp_mounted = |d: &Daemon| {
        d.mounts()
            .iter()
            .any(|m| m.ends_with(&format!("volumes/{p}tmp/_data")))
    };
    // The marker is written by the container: wait for it.
    let mut ok = false;
    for _ in 0..100 {
        if out(&d.docker(&["exec", &n("live"), "cat", "/t/m"])) == "marker\n" {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ok, "the container did not write its marker");
    assert!(tmp_mounted(&d));
    d.kill9();
    d.restart();
    // The data, the running container's tmpfs volume and its record are there.
    assert_eq!(
        common::ok(
            &d,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{p}data:/d"),
                "busybox",
                "cat",
                "/d/f"
            ]
        ),
        "persist\n"
    );
    assert_eq!(
        common::ok(&d, &["exec", &n("live"), "cat", "/t/m"]),
        "marker\n"
    );
    let o = d.docker(&["volume", "rm", &n("tmp")]);
    assert!(err(&o).contains("volume is in use"), "{}", err(&o));
    common::ok(&d, &["rm", "-f", &n("live")]);
    assert!(
        !tmp_mounted(&d),
        "the tmpfs volume stayed mounted: {:?}",
        d.mounts()
    );
    // An anonymous volume and an unused named one: API ≥ 1.42 prunes the
    // anonymous one only, `--all` the named one too; API 1.41 (docker-py,
    // compose 1.29) every unused one.
    common::ok(
        &d,
        &["run", "--name", &n("a"), "-v", "/x", "busybox", "true"],
    );
    common::ok(&d, &["rm", &n("a")]);
    let pruned = common::ok(&d, &["volume", "prune", "-f"]);
    assert_eq!(
        pruned.lines().filter(|l| is_hex64(l.trim())).count(),
        1,
        "{pruned}"
    );
    assert!(!pruned.contains(&n("data")), "{pruned}");
    let (status, _, body) = d.api("POST", "/v1.41/volumes/prune", None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&n("data")) && body.contains(&n("tmp")),
        "{body}"
    );
    let left = common::ok(&d, &["volume", "ls", "-q"]);
    assert!(left.trim().is_empty(), "{left}");
    // `system prune --volumes` takes the anonymous volume of a removed
    // container; `system df` counts what is left.
    common::ok(&d, &["volume", "create", &n("kept")]);
    common::ok(
        &d,
        &["run", "--name", &n("b"), "-v", "/y", "busybox", "true"],
    );
    common::ok(&d, &["rm", &n("b")]);
    let df = common::ok(&d, &["system", "df"]);
    assert!(
        df.lines()
            .any(|l| l.starts_with("Local Volumes") && l.split_whitespace().nth(2) == Some("2")),
        "{df}"
    );
    let pruned = common::ok(&d, &["system", "prune", "-f", "--volumes"]);
    assert!(pruned.lines().any(|l| is_hex64(l.trim())), "{pruned}");
    assert_eq!(common::ok(&d, &["volume", "ls", "-q"]).trim(), n("kept"));
    common::ok(&d, &["volume", "rm", &n("kept")]);
    // The volume events, as Docker sends them (`--until 0s` is this second,
    // whole seconds: the events of the last one are on the far side of it).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let ev = common::ok(
        &d,
        &[
            "events",
            "--since",
            "10m",
            "--until",
            "0s",
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}}",
        ],
    );
    for action in ["create", "mount", "unmount", "destroy", "prune"] {
        assert!(
            ev.lines().any(|l| l == action),
            "no {action} event in:\n{ev}"
        );
    }
    assert!(
        d.mounts().iter().all(|m| !m.contains("/volumes/")),
        "{:?}",
        d.mounts()
    );
}
