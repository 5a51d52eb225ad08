//! Issue 14, user-namespace remapping: `--userns-remap default` on berthd
//! and, side by side, on dockerd (Debian's docker.io) — root inside is the
//! `dockremap` user's first subordinate id outside; files made in volumes
//! and binds belong to it on the host; `docker cp`, `commit` and `export`
//! show the container's own ids; `--userns=host` opts a container out;
//! `--privileged`, `--network host` and `--pid host` are refused in
//! dockerd's words. Then the docker CLI scenario (tests/common/scenario.rs)
//! runs on a remapped berthd: none of its steps is one dockerd refuses
//! under remapping (those are the three above, checked here against
//! dockerd), so none is left out.
//!
//! The `dockremap` user and its /etc/subuid and /etc/subgid lines are made
//! by the daemons as dockerd makes them; when the host had no such user,
//! it is deleted afterwards, and the account files and their `-` backups
//! are written back as they were.
//!
//! Needs root, the docker CLI, busybox-static; dockerd for the reference.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::dockerd::Dockerd;
use common::{Daemon, code, err, out};

/// The host's users as they were: put back on drop.
struct HostUsers {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    had_user: bool,
}

fn user_exists(name: &str) -> bool {
    nix::unistd::User::from_name(name).ok().flatten().is_some()
}

impl HostUsers {
    fn save() -> HostUsers {
        // The files useradd, usermod and userdel write, and their backups.
        let names = ["passwd", "group", "shadow", "gshadow", "subuid", "subgid"];
        HostUsers {
            files: names
                .iter()
                .flat_map(|n| [format!("/etc/{n}"), format!("/etc/{n}-")])
                .map(|p| {
                    let content = std::fs::read(&p).ok();
                    (PathBuf::from(p), content)
                })
                .collect(),
            had_user: user_exists("dockremap"),
        }
    }
}

impl Drop for HostUsers {
    fn drop(&mut self) {
        if !self.had_user && user_exists("dockremap") {
            let _ = Command::new("userdel").arg("dockremap").status();
        }
        for (p, content) in &self.files {
            let now = std::fs::read(p).ok();
            match content {
                Some(c) if now.as_ref() != Some(c) => {
                    let _ = std::fs::write(p, c);
                }
                None if now.is_some() => {
                    let _ = std::fs::remove_file(p);
                }
                _ => {}
            }
        }
    }
}

/// dockremap's first subordinate (uid, gid).
fn remap_root() -> (u32, u32) {
    let first = |f: &str| -> u32 {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .find_map(|l| {
                let mut p = l.split(':');
                (p.next() == Some("dockremap")).then(|| p.next().unwrap().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no dockremap line in {f}"))
    };
    (first("/etc/subuid"), first("/etc/subgid"))
}

/// Runs the docker CLI against one daemon.
type Client<'a> = Box<dyn Fn(&[&str]) -> Output + 'a>;

/// One daemon under test, through the docker CLI.
struct Side<'a> {
    name: &'static str,
    docker: Client<'a>,
}

impl Side<'_> {
    fn run(&self, args: &[&str]) -> Output {
        (self.docker)(args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            code(&o),
            0,
            "{}: {args:?}: {}{}",
            self.name,
            out(&o),
            err(&o)
        );
        out(&o)
    }
}

/// What a side showed, to compare with the other's.
#[derive(Debug, PartialEq)]
struct Seen {
    id: String,
    host_uid: u32,
    host_gid: u32,
    uid_map: String,
    volume_files: (u32, u32, u32, u32),
    volume_inside: String,
    bind_owner: (u32, u32),
    root_owned_bind_write: i32,
    cp_in_inside: String,
    cp_out_owner: String,
    commit_inside: String,
    export_owner: String,
    host_mode_uid_map: String,
    built_inside: String,
    refusals: Vec<(i32, String)>,
}

fn tar_owner(tar: &[u8], name: &str) -> String {
    let mut a = tar::Archive::new(tar);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p.trim_start_matches("./") == name {
            let h = e.header();
            return format!("{}:{}", h.uid().unwrap(), h.gid().unwrap());
        }
    }
    panic!("{name} is not in the archive")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn exercise(s: &Side, scratch: &Path) -> Seen {
    let none = ["--network", "none"];
    let run = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["run".into(), "--rm".into()];
        v.extend(none.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let id = s.ok(&strs(&run(&["busybox", "id"]))).trim().to_string();

    // A running container: its init as the host sees it.
    let name = format!("berth-test-remap-{}", s.name);
    s.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sleep",
        "300",
    ]);
    let pid = s.ok(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let field = |k: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (host_uid, host_gid) = (field("Uid:"), field("Gid:"));
    let uid_map = std::fs::read_to_string(format!("/proc/{}/uid_map", pid.trim()))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");

    // A named volume: its data directory and what the container makes there.
    let vol = format!("berth-test-remap-vol-{}", s.name);
    let volume_inside = s.ok(&strs(&run(&[
        "-v",
        &format!("{vol}:/data"),
        "busybox",
        "sh",
        "-c",
        "touch /data/f && mkdir /data/d && ls -lnd /data /data/f | awk '{print $1, $3, $4}'",
    ])));
    let mp = s.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", &vol]);
    let mp = Path::new(mp.trim());
    let data = std::fs::metadata(mp).unwrap();
    let f = std::fs::metadata(mp.join("f")).unwrap();
    let volume_files = (data.uid(), data.gid(), f.uid(), f.gid());
    s.ok(&["volume", "rm", &vol]);

    // Binds: a directory of the remapped root's takes its files; root's
    // own refuses them.
    let (ru, rg) = remap_root();
    let mine = scratch.join(format!("bind-{}", s.name));
    std::fs::create_dir_all(&mine).unwrap();
    std::os::unix::fs::chown(&mine, Some(ru), Some(rg)).unwrap();
    s.ok(&strs(&run(&[
        "-v",
        &format!("{}:/b", mine.display()),
        "busybox",
        "touch",
        "/b/made",
    ])));
    let m = std::fs::metadata(mine.join("made")).unwrap();
    let bind_owner = (m.uid(), m.gid());
    let roots = scratch.join(format!("root-bind-{}", s.name));
    std::fs::create_dir_all(&roots).unwrap();
    let root_owned_bind_write = code(&s.run(&strs(&run(&[
        "-v",
        &format!("{}:/b", roots.display()),
        "busybox",
        "touch",
        "/b/made",
    ]))));

    // docker cp both ways.
    let host_file = scratch.join(format!("cp-{}", s.name));
    std::fs::write(&host_file, "copied\n").unwrap();
    s.ok(&[
        "cp",
        host_file.to_str().unwrap(),
        &format!("{name}:/tmp/copied"),
    ]);
    let cp_in_inside = s.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "ls -ln /tmp/copied | awk '{print $3, $4}'",
    ]);
    let o = s.run(&["cp", &format!("{name}:/etc/passwd"), "-"]);
    assert_eq!(code(&o), 0, "{}: cp out: {}", s.name, err(&o));
    let cp_out_owner = tar_owner(&o.stdout, "passwd");

    // commit: what the container made is root's in the image.
    s.ok(&["exec", &name, "sh", "-c", "echo x > /made-inside"]);
    let image = format!("berth-test-remapped-{}:1", s.name);
    s.ok(&["commit", &name, &image]);
    let commit_inside = s.ok(&strs(&run(&[
        "--userns=host",
        &image,
        "sh",
        "-c",
        "ls -ln /made-inside | awk '{print $3, $4}'",
    ])));
    let o = s.run(&["export", &name]);
    assert_eq!(code(&o), 0, "{}: export: {}", s.name, err(&o));
    let export_owner = tar_owner(&o.stdout, "made-inside");
    s.ok(&["rm", "-f", &name]);
    s.ok(&["rmi", &image]);

    // A build: RUN in a remapped container, COPY from the context.
    let ctx = scratch.join(format!("ctx-{}", s.name));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "from the context\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN mkdir /made && touch /made/by-run && chown 1000:1000 /made/by-run\nCOPY f /made/by-copy\n",
    )
    .unwrap();
    let built = format!("berth-test-remap-built-{}:1", s.name);
    s.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        &built,
        ctx.to_str().unwrap(),
    ]);
    let built_inside = s.ok(&strs(&run(&[
        &built,
        "sh",
        "-c",
        "ls -lnd /made /made/* | awk '{print $3, $4, $9}'",
    ])));
    s.ok(&["rmi", &built]);

    // --userns=host: no remapping; and what remapping refuses.
    let host_mode_uid_map = s
        .ok(&strs(&run(&[
            "--userns=host",
            "busybox",
            "cat",
            "/proc/self/uid_map",
        ])))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let refusals = [
        vec!["--privileged"],
        vec!["--network", "host"],
        vec!["--pid", "host"],
    ]
    .iter()
    .map(|extra| {
        let mut a = vec!["run", "--rm"];
        a.extend(extra);
        a.extend(["busybox", "true"]);
        let o = s.run(&a);
        let first = err(&o).lines().next().unwrap_or_default().to_string();
        (code(&o), first)
    })
    .collect();
    Seen {
        id,
        host_uid,
        host_gid,
        uid_map,
        volume_files,
        volume_inside,
        bind_owner,
        root_owned_bind_write,
        cp_in_inside,
        cp_out_owner,
        commit_inside,
        export_owner,
        host_mode_uid_map,
        built_inside,
        refusals,
    }
}

#[test]
fn userns_remap_default_as_dockerd_has_it() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    if common::docker_bin().is_none() {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    }
    // Dropped last: after both daemons.
    let _users = HostUsers::save();
    let scratch = tempfile::Builder::new()
        .prefix("berth-test-userns-")
        .tempdir()
        .unwrap();
    let remap = ["--userns-remap".to_string(), "default".to_string()];
    let mut d = Daemon::start_with(
        PathBuf::from(format!(
            "/tmp/berth-test-berthd-remap-{}",
            std::process::id()
        )),
        true,
        &remap,
    );
    d.cli = common::docker_bin().unwrap();
    d.load_busybox();
    let (ru, rg) = remap_root();
    let info = common::ok(&d, &["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("name=userns"), "{info}");

    let berth = Side {
        name: "berth",
        docker: Box::new(|a| d.docker(a)),
    };
    let b = exercise(&berth, scratch.path());
    assert!(b.id.starts_with("uid=0(root) gid=0(root) "), "{}", b.id);
    assert_eq!(
        (b.host_uid, b.host_gid),
        (ru, rg),
        "root inside is dockremap's first id"
    );
    assert_eq!(b.uid_map, format!("0 {ru} 65536"));
    assert_eq!(b.volume_files, (ru, rg, ru, rg));
    assert_eq!(b.bind_owner, (ru, rg));
    assert_ne!(
        b.root_owned_bind_write, 0,
        "root's directory refuses the remapped root"
    );
    assert_eq!(b.cp_in_inside.trim(), "0 0");
    assert_eq!(b.cp_out_owner, "0:0");
    assert_eq!(b.commit_inside.trim(), "0 0");
    assert_eq!(b.export_owner, "0:0");
    assert_eq!(b.host_mode_uid_map, "0 0 4294967295");
    assert_eq!(
        b.built_inside,
        "0 0 /made\n0 0 /made/by-copy\n1000 1000 /made/by-run\n"
    );
    // --privileged is for --userns=host containers. (Not compared: dockerd
    // cannot run one on this host, which lacks CAP_SYS_RESOURCE: "unable to
    // apply caps: operation not permitted".)
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--userns=host",
        "--privileged",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        b.refusals,
        [
            (125, "docker: Error response from daemon: privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode".to_string()),
            (125, "docker: Error response from daemon: cannot share the host's network namespace when user namespaces are enabled".to_string()),
            (125, "docker: Error response from daemon: cannot share the host PID namespace when user namespaces are enabled".to_string()),
        ]
    );
    drop(berth);

    // The same on dockerd.
    if let Some(dk) = Dockerd::start_with("userns", &["--userns-remap", "default"]) {
        dk.load_busybox();
        let docker = Side {
            name: "dockerd",
            docker: Box::new(|a| dk.docker(a)),
        };
        let mut r = exercise(&docker, scratch.path());
        // Where berth differs on purpose: dockerd's `docker cp` out keeps
        // the host's ids (its export gives the container's), and its layers
        // are stored remapped, so a --userns=host container sees a file a
        // remapped one committed as the remapped root's. berth gives the
        // container's ids in both.
        assert_eq!(
            (r.cp_out_owner.as_str(), r.commit_inside.trim()),
            (format!("{ru}:{rg}").as_str(), format!("{ru} {rg}").as_str()),
            "dockerd's known behaviour"
        );
        r.cp_out_owner = b.cp_out_owner.clone();
        r.commit_inside = b.commit_inside.clone();
        assert_eq!(
            b, r,
            "berth (left) and dockerd (right) under --userns-remap default"
        );
    }

    // The everyday scenario, remapped (its containers on the bridge).
    common::scenario::run(&d);
    // (Its bridge is the next daemon's: one at a time.)
    drop(d);

    // Without idmapped mounts (as where the kernel refuses them): chowned
    // copies of the layers, the same outcomes; the copies go with the layers.
    {
        let c = Daemon::start_configured(
            PathBuf::from(format!(
                "/tmp/berth-test-berthd-chowned-{}",
                std::process::id()
            )),
            true,
            Some(r#"{"idmapped-layers": false}"#),
            &remap,
        );
        let mut c = c;
        c.cli = common::docker_bin().unwrap();
        c.load_busybox();
        let chowned = Side {
            name: "chowned",
            docker: Box::new(|a| c.docker(a)),
        };
        let seen = exercise(&chowned, scratch.path());
        drop(chowned);
        assert_eq!(b, seen, "idmapped (left) and chowned copies (right)");
        let layers = c.dir.join("data/image/layers");
        let copies = || -> Vec<PathBuf> {
            std::fs::read_dir(&layers)
                .unwrap()
                .flatten()
                .map(|e| e.path().join(format!("remap-{ru}.{rg}")))
                .filter(|p| p.is_dir())
                .collect()
        };
        let made = copies();
        assert_eq!(made.len(), 1, "busybox's one layer, copied once");
        let m = std::fs::metadata(made[0].join("bin/busybox")).unwrap();
        assert_eq!((m.uid(), m.gid()), (ru, rg));
        assert!(
            !c.mounts().iter().any(|m| m.ends_with("/idmapped")),
            "no idmapped view: {:?}",
            c.mounts()
        );
        common::ok(&c, &["rmi", "busybox"]);
        assert!(copies().is_empty(), "the copy goes with its layer");
    }
}
