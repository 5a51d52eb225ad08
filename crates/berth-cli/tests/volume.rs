//! `volume create/ls/inspect/rm/prune` and the volume keys of `--mount`:
//! the docker CLI and berth against one daemon, stdout, stderr and exit
//! codes compared.
//!
//! The daemon: BERTH_CLI_TEST_HOST (e.g. unix:///run/berth.sock) if set;
//! otherwise a private dockerd (tests/common). Needs root (skipped, visibly,
//! otherwise, or without dockerd/docker). Everything it makes is named
//! `berth-test-<pid>-…` or labelled `berth-test=<pid>`, prunes are limited
//! to that label, and all of it is removed at the end (also on failure).

mod common;

use std::process::Output;

use common::{Daemon, docker, run_with};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn berth(host: &str, args: &[&str]) -> Output {
    run_with(BERTH, host, args, b"")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Generated volume names (64 hex digits) differ between two runs.
fn no_ids(s: &str) -> String {
    regex::Regex::new(r"\b[0-9a-f]{64}\b")
        .unwrap()
        .replace_all(s, "<id>")
        .into_owned()
}

fn assert_same(args: &[&str], d: &Output, b: &Output, norm: impl Fn(&str) -> String) {
    assert_eq!(
        d.status.code(),
        b.status.code(),
        "exit code of {args:?}; docker stderr: {}; berth stderr: {}",
        text(&d.stderr),
        text(&b.stderr)
    );
    assert_eq!(
        norm(&text(&d.stdout)),
        norm(&text(&b.stdout)),
        "stdout of {args:?}"
    );
    assert_eq!(
        norm(&text(&d.stderr)),
        norm(&text(&b.stderr)),
        "stderr of {args:?}"
    );
}

/// Runs both CLIs on the same state; asserts same exit code, stdout and
/// stderr. For commands that change nothing (or fail).
fn same(host: &str, args: &[&str], stdin: &[u8]) -> Output {
    let d = run_with("docker", host, args, stdin);
    let b = run_with(BERTH, host, args, stdin);
    assert_same(args, &d, &b, |s| s.to_string());
    b
}

/// For commands that change things: `setup`, docker, `undo`, `setup`
/// again, berth; compares as [`same`], after `norm`.
fn same_after(
    host: &str,
    setup: &dyn Fn(),
    undo: &dyn Fn(),
    args: &[&str],
    stdin: &[u8],
    norm: impl Fn(&str) -> String,
) -> Output {
    setup();
    let d = run_with("docker", host, args, stdin);
    undo();
    setup();
    let b = run_with(BERTH, host, args, stdin);
    assert_same(args, &d, &b, norm);
    b
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

/// Removes the test's containers and volumes, also when it fails.
struct Cleanup {
    host: String,
    prefix: String,
    label: String,
}

impl Cleanup {
    fn run(&self) {
        let h = self.host.as_str();
        let name = format!("name={}", self.prefix);
        let ids = text(&docker(h, &["ps", "-aq", "--filter", &name]).stdout);
        for id in ids.split_whitespace() {
            docker(h, &["rm", "-f", id]);
        }
        let label = format!("label={}", self.label);
        for f in [&name, &label] {
            let vols = text(&docker(h, &["volume", "ls", "-q", "--filter", f]).stdout);
            for v in vols.split_whitespace() {
                docker(h, &["volume", "rm", "-f", v]);
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

#[test]
fn volume_commands_match_docker() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (a private dockerd)");
        return;
    }
    let Some(mut d) = Daemon::start() else { return };
    if !docker(&d.host, &["image", "inspect", "busybox"])
        .status
        .success()
    {
        d.load_busybox();
    }
    let h = d.host.clone();
    let h = h.as_str();
    let pid = std::process::id();
    let p = format!("berth-test-{pid}-");
    let label = format!("berth-test={pid}");
    let cleanup = Cleanup {
        host: h.to_string(),
        prefix: p.clone(),
        label: label.clone(),
    };
    let n = |s: &str| format!("{p}{s}");
    let (v1, v2, v3) = (n("v1"), n("v2"), n("v3"));
    let nosuch = n("nosuch");
    let by_name = format!("name={p}");
    let by_label = format!("label={label}");

    // ------------------------------------------------ errors (no changes)
    same(h, &["volume", "create", "a", "b"], b"");
    same(h, &["volume", "create", "--name", "a", "b"], b"");
    same(h, &["volume", "create", "--label", "", "a"], b"");
    same(h, &["volume", "create", "--label", " k =v", "a"], b"");
    same(h, &["volume", "create", "--label", "=v", "a", "b"], b"");
    same(h, &["volume", "create", "bad/name"], b"");
    same(h, &["volume", "create", "--nope"], b"");
    same(h, &["volume", "nope"], b"");
    same(h, &["volume", "ls", "x"], b"");
    same(h, &["volume", "list", "--nope"], b"");
    same(h, &["volume", "ls", "-f", "nobad"], b"");
    same(h, &["volume", "ls", "-f", "bogus=1"], b"");
    same(h, &["volume", "ls", "--format", "{{.Name"], b"");
    same(h, &["volume", "inspect"], b"");
    same(h, &["volume", "inspect", ""], b"");
    same(h, &["volume", "inspect", &nosuch], b"");
    same(h, &["volume", "inspect", "-f", "{{.Name}}", &nosuch], b"");
    same(h, &["volume", "inspect", "-f", "{{.Name", &nosuch], b"");
    same(h, &["volume", "rm"], b"");
    same(h, &["volume", "rm", &nosuch], b"");
    same(h, &["volume", "rm", "-f", &nosuch], b"");
    same(h, &["volume", "remove", "--nope"], b"");
    same(h, &["volume", "prune", "x"], b"");
    same(h, &["volume", "prune", "--filter", "bad"], b"");

    // ------------------------------------------------------------- create
    let rm = |v: &str| {
        docker(h, &["volume", "rm", "-f", v]);
    };
    let l1 = ["--label", &label, "--label", "k=v1"];
    let o1 = [
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
    ];
    let create_v1: Vec<&str> = ["volume", "create", "-d", "local"]
        .into_iter()
        .chain(l1)
        .chain(o1)
        .chain([v1.as_str()])
        .collect();
    let o = same_after(h, &|| {}, &|| rm(&v1), &create_v1, b"", str::to_string);
    assert_eq!(text(&o.stdout), format!("{v1}\n"));
    same_after(
        h,
        &|| {},
        &|| rm(&v2),
        &["volume", "create", "--name", &v2],
        b"",
        str::to_string,
    );
    same_after(
        h,
        &|| {},
        &|| rm(&v3),
        &["volume", "create", "--label", &label, &v3],
        b"",
        str::to_string,
    );
    // a name of the daemon's making
    let o = same_after(
        h,
        &|| {},
        &|| {},
        &["volume", "create", "--label", &label],
        b"",
        no_ids,
    );
    assert_eq!(no_ids(&text(&o.stdout)), "<id>\n");
    let anon = text(&o.stdout).trim().to_string();
    // an existing name: the same volume again
    same(h, &["volume", "create", "--label", &label, &v3], b"");

    // ----------------------------------------------------------------- ls
    same(h, &["volume", "ls", "-f", &by_name], b"");
    same(h, &["volume", "list", "-q", "-f", &by_name], b"");
    same(h, &["volume", "ls", "-f", &by_label], b"");
    same(
        h,
        &["volume", "ls", "-q", "-f", &by_label, "-f", "label=k=v1"],
        b"",
    );
    same(
        h,
        &["volume", "ls", "-q", "-f", &by_name, "-f", "dangling=true"],
        b"",
    );
    same(
        h,
        &["volume", "ls", "-q", "-f", "driver=local", "-f", &by_name],
        b"",
    );
    // one label at most: docker joins .Labels in Go's random map order
    for one in [&v2, &v3, &anon] {
        let f = format!("name={one}");
        same(h, &["volume", "ls", "-f", &f, "--format", "json"], b"");
        same(
            h,
            &["volume", "ls", "-f", &f, "--format", "{{json .}}"],
            b"",
        );
        same(
            h,
            &[
                "volume",
                "ls",
                "-f",
                &f,
                "--format",
                "{{.Name}}: {{.Labels}}",
            ],
            b"",
        );
    }
    same(
        h,
        &[
            "volume",
            "ls",
            "-f",
            &by_name,
            "--format",
            "table {{.Name}}\\t{{.Driver}}\\t{{.Scope}}\\t{{.Mountpoint}}\\t{{.Label \"k\"}}\\t{{.Links}}\\t{{.Size}}\\t{{.Status}}\\t{{.Group}}\\t{{.Availability}}",
        ],
        b"",
    );
    same(
        h,
        &[
            "volume",
            "ls",
            "-f",
            &by_name,
            "--format",
            "table {{.Label \"com.example.some-label\"}}\t{{.Name}}",
        ],
        b"",
    );
    same(h, &["volume", "ls", "-f", &by_name, "--format", "raw"], b"");
    same(
        h,
        &["volume", "ls", "-f", &by_name, "--format", "raw", "-q"],
        b"",
    );
    same(
        h,
        &["volume", "ls", "-f", &by_name, "--format", "table", "-q"],
        b"",
    );
    same(
        h,
        &[
            "volume",
            "ls",
            "-f",
            &by_name,
            "-q",
            "--format",
            "table {{.Name}}",
        ],
        b"",
    );
    same(
        h,
        &["volume", "ls", "-f", &by_name, "--format", "{{.CreatedAt}}"],
        b"",
    );
    same(
        h,
        &["volume", "ls", "-f", &by_name, "--format", "{{.Name.X}}"],
        b"",
    );

    // ------------------------------------------------------------ inspect
    same(h, &["volume", "inspect", &v1, &v2, &v3], b"");
    same(h, &["volume", "inspect", &v1, &nosuch, &v2, ""], b"");
    same(h, &["volume", "inspect", "--format", "json", &v1, &v2], b"");
    let padded = format!(" {v2} ");
    same(h, &["volume", "inspect", &padded], b"");
    same(
        h,
        &[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Options}} {{.Status}} {{.UsageData}} {{len .Labels}}",
            &v1,
            &v2,
        ],
        b"",
    );
    same(h, &["volume", "inspect", "-f", "{{json .}}", &v1, &v2], b"");
    same(
        h,
        &[
            "volume",
            "inspect",
            "-f",
            "{{index .Labels \"k\"}}|{{.Labels.k}}|{{json .Options}}|{{range $k, $v := .Options}}{{$k}}={{$v}};{{end}}",
            &v1,
            &v2,
        ],
        b"",
    );
    same(
        h,
        &["volume", "inspect", "-f", "{{.Nope}}", &v1, &nosuch, &v2],
        b"",
    );
    same(h, &["volume", "inspect", "-f", "{{.Name.X}}", &v1], b"");

    // ----------------------------------------------------------------- rm
    let c = n("c");
    let bind = format!("{v3}:/data");
    ok(docker(
        h,
        &["create", "--name", &c, "-v", &bind, "busybox", "true"],
    ));
    same(h, &["volume", "rm", &v3], b"");
    same(h, &["volume", "rm", "-f", &v3], b"");
    let (r1, r2) = (n("r1"), n("r2"));
    let make_r = || {
        ok(docker(h, &["volume", "create", &r1]));
        ok(docker(h, &["volume", "create", &r2]));
    };
    let undo_r = || {
        rm(&r1);
        rm(&r2);
    };
    let o = same_after(
        h,
        &make_r,
        &undo_r,
        &["volume", "rm", &r1, &nosuch, &v3, &r2],
        b"",
        str::to_string,
    );
    assert_eq!(text(&o.stdout), format!("{r1}\n{r2}\n"));
    same_after(
        h,
        &make_r,
        &undo_r,
        &["volume", "remove", "-f", &r1, &r2],
        b"",
        str::to_string,
    );

    // -------------------------------------------------------------- prune
    // Every prune is limited to a label of the test's own (before API 1.42
    // the daemon prunes named volumes too), should one go wrong on a
    // daemon shared with others.
    let prune_label = format!("berth-test-prune={pid}");
    let by_prune_label = format!("label={prune_label}");
    // declined, or refused: nothing removed
    same(h, &["volume", "prune", "--filter", &by_prune_label], b"n\n");
    same(h, &["volume", "prune", "--filter", &by_prune_label], b"");
    same(
        h,
        &["volume", "prune", "-a", "--filter", &by_prune_label],
        b"n\n",
    );
    same(
        h,
        &[
            "volume",
            "prune",
            "-a",
            "-f",
            "--filter",
            "all=1",
            "--filter",
            &by_prune_label,
        ],
        b"",
    );
    // An anonymous volume (labelled through --mount) and named ones, all
    // unused, with that label.
    let (p1, p2, a) = (n("p1"), n("p2"), n("a"));
    let anon_mount =
        format!("type=volume,dst=/data,volume-label={label},volume-label={prune_label}");
    let make_p = || {
        for v in [&p1, &p2] {
            ok(docker(
                h,
                &[
                    "volume",
                    "create",
                    "--label",
                    &label,
                    "--label",
                    &prune_label,
                    v,
                ],
            ));
        }
        ok(berth(
            h,
            &[
                "create",
                "--name",
                &a,
                "--mount",
                &anon_mount,
                "busybox",
                "true",
            ],
        ));
        ok(docker(h, &["rm", &a]));
    };
    let undo_p = || {
        let vols = ok(docker(
            h,
            &["volume", "ls", "-q", "--filter", &by_prune_label],
        ));
        for v in vols.split_whitespace() {
            rm(v);
        }
    };
    // names of the daemon's making, in its order: compare sorted
    let sorted = |s: &str| {
        let mut l: Vec<String> = no_ids(s).lines().map(str::to_string).collect();
        l.sort();
        l.join("\n")
    };
    for args in [
        vec!["volume", "prune", "-f", "--filter", &by_prune_label],
        vec!["volume", "prune", "--filter", &by_prune_label],
        vec!["volume", "prune", "-a", "--filter", &by_prune_label, "-f"],
        vec![
            "volume",
            "prune",
            "-f",
            "--filter",
            &by_prune_label,
            "--filter",
            "all=true",
        ],
    ] {
        let o = same_after(h, &make_p, &undo_p, &args, b"y\n", sorted);
        undo_p();
        assert!(o.status.code() != Some(0) || text(&o.stdout).contains("Total reclaimed space: "));
    }
    // the others are still there
    assert_eq!(
        ok(berth(
            h,
            &["volume", "inspect", "-f", "{{.Name}}", &v1, &v3]
        )),
        format!("{v1}\n{v3}\n")
    );

    // ---------------------------------------- --mount volume-opt/-label
    let (m, mc) = (n("m1"), n("mc"));
    let mount = format!(
        "type=volume,src={m},dst=/d,volume-label={label},volume-label=k=m,\"volume-opt=o=size=1m,uid=1\",volume-opt=type=tmpfs,volume-opt=device=tmpfs"
    );
    let show = |run: fn(&str, &[&str]) -> Output| {
        ok(run(
            h,
            &[
                "create", "--name", &mc, "--mount", &mount, "busybox", "true",
            ],
        ));
        let mounts = ok(docker(
            h,
            &["inspect", "-f", "{{json .HostConfig.Mounts}}", &mc],
        ));
        let vol = ok(docker(
            h,
            &["volume", "inspect", "-f", "{{.Labels}} {{.Options}}", &m],
        ));
        ok(docker(h, &["rm", &mc]));
        rm(&m);
        (mounts, vol)
    };
    let (dm, dv) = show(docker);
    let (bm, bv) = show(berth);
    assert_eq!(dm, bm, "HostConfig.Mounts");
    assert_eq!(dv, bv, "the volume --mount made");
    assert!(bv.contains("k:m") && bv.contains("o:size=1m,uid=1"), "{bv}");

    // ------------------------------------------------------------ cleanup
    ok(docker(h, &["rm", &c]));
    let o = berth(h, &["volume", "rm", &v1, &v2, &v3, &anon]);
    assert_eq!(text(&o.stdout), format!("{v1}\n{v2}\n{v3}\n{anon}\n"));
    cleanup.run();
    for f in [&by_name, &by_label] {
        let left = ok(docker(h, &["volume", "ls", "-q", "--filter", f]));
        assert!(left.is_empty(), "left behind: {left}");
    }
    let left = ok(docker(h, &["ps", "-aq", "--filter", &by_name]));
    assert!(left.is_empty(), "left behind: {left}");
}
