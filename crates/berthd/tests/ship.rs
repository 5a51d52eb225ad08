//! Ship: the docker CLI against berthd and a local registry (Debian's
//! docker-registry, started per test), side by side with a private dockerd
//! as the reference — pull (tag, digest, platform from an index, all
//! tags), run of an absent image, push, login/logout with basic and token
//! auth, search, interop (dockerd ↔ berth, skopeo), bad input in Docker's
//! words with nothing left behind, a connection cut mid-layer, kill -9 in
//! the middle of a pull.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::dockerd::Dockerd;
use common::registry::{Mode, Registry, busybox_archive};
use common::*;

fn root() -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: needs root");
        return false;
    }
    docker_bin().is_some()
}

/// A berthd whose daemon.json is `json`.
fn berthd_with(tag: &str, json: &str) -> Daemon {
    let dir = PathBuf::from(format!("/tmp/berth-test-ship-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("none.json"), json).unwrap();
    Daemon::start_in(dir, false)
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

/// Pull output without the per-layer lines (their interleaving depends on
/// timing), and the per-layer lines sorted.
fn split_pull(s: &str) -> (Vec<String>, Vec<String>) {
    let is_layer = |l: &str| {
        l.split_once(": ")
            .is_some_and(|(id, _)| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let main = s
        .lines()
        .filter(|l| !is_layer(l))
        .map(String::from)
        .collect();
    // dockerd skips "Verifying Checksum" when verification was quick.
    let mut layers: Vec<String> = s
        .lines()
        .filter(|l| is_layer(l) && !l.ends_with(": Verifying Checksum"))
        .map(String::from)
        .collect();
    layers.sort();
    (main, layers)
}

/// Whatever the data root holds under image/tmp (must be nothing at rest).
fn leftovers(d: &Daemon) -> Vec<String> {
    let tmp = d.dir.join("data/image/tmp");
    let mut v: Vec<String> = std::fs::read_dir(&tmp)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let blobs = d.dir.join("data/image/blobs/sha256");
    v.extend(
        std::fs::read_dir(&blobs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp")),
    );
    v
}

fn layer_count(d: &Daemon) -> usize {
    std::fs::read_dir(d.dir.join("data/image/layers"))
        .map(|r| r.count())
        .unwrap_or(0)
}

/// The diff_ids of the image in a `docker save` tar, each checked against
/// its layer file's sha256.
fn saved_layers(tar_path: &Path) -> Vec<String> {
    use sha2::Digest;
    let mut files = std::collections::BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            files.insert(name, data);
        }
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let m = &manifest[0];
    let config: serde_json::Value =
        serde_json::from_slice(&files[m["Config"].as_str().unwrap()]).unwrap();
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let layer_files: Vec<&str> = m["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(layer_files.len(), diff_ids.len());
    for (f, d) in layer_files.iter().zip(&diff_ids) {
        let got = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&files[*f])));
        assert_eq!(&got, d, "{f} in {}", tar_path.display());
    }
    diff_ids
}

#[test]
fn docker_cli_pulls_runs_pushes_and_searches_like_dockerd() {
    if !root() {
        return;
    }
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bb = busybox_archive();
    let digest = reg.push_archive(&bb, "busybox:latest");
    reg.push_archive(&bb, "busybox:v2");
    reg.push_archive(&bb, "other:1");
    let host = manifest_platform_arch();
    reg.push_oci_index(
        "multi:latest",
        &[
            ("linux", &host, None, &bb),
            ("linux", "arm64", Some("v8"), &bb),
        ],
    );
    let d = Daemon::start();
    let dk = Dockerd::start("ship");
    let image = reg.image("busybox:latest");

    // Pull by tag: the same lines as dockerd.
    let o = d.docker(&["pull", &image]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let (main, layers) = split_pull(&out(&o));
    assert_eq!(
        main,
        [
            "latest: Pulling from busybox".to_string(),
            format!("Digest: {digest}"),
            format!("Status: Downloaded newer image for {image}"),
            image.clone(),
        ]
    );
    assert!(
        layers.iter().any(|l| l.ends_with(": Pull complete")),
        "{layers:?}"
    );
    assert!(
        layers.iter().any(|l| l.ends_with(": Pulling fs layer")),
        "{layers:?}"
    );
    if let Some(dk) = &dk {
        let r = dk.docker(&["pull", &image]);
        assert_eq!(code(&r), 0, "{}", err(&r));
        let (rmain, rlayers) = split_pull(&out(&r));
        assert_eq!(main, rmain);
        assert_eq!(layers, rlayers);
        // Again: up to date, and not a word about layers.
        let a = d.docker(&["pull", &image]);
        let b = dk.docker(&["pull", &image]);
        assert_eq!(out(&a), out(&b));
        assert!(
            out(&a).contains("Status: Image is up to date for"),
            "{}",
            out(&a)
        );
    }
    // RepoDigests as docker records them.
    let rd = ok(
        &d,
        &["image", "inspect", "-f", "{{json .RepoDigests}}", &image],
    );
    assert_eq!(
        rd.trim(),
        format!("[\"{}@{digest}\"]", reg.image("busybox"))
    );
    let table = ok(
        &d,
        &[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ],
    );
    assert!(
        table.contains(&format!("{} latest {digest}", reg.image("busybox"))),
        "{table}"
    );

    // By digest.
    let by_digest = format!("{}@{digest}", reg.image("busybox"));
    ok(&d, &["rmi", &image]);
    let o = d.docker(&["pull", &by_digest]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        out(&o).contains(&format!("Status: Downloaded newer image for {by_digest}")),
        "{}",
        out(&o)
    );
    ok(&d, &["image", "inspect", &by_digest]);

    // A platform from an index; the host's by default.
    let multi = reg.image("multi:latest");
    ok(&d, &["pull", "--platform", "linux/arm64", &multi]);
    let arch = ok(&d, &["image", "inspect", "-f", "{{.Architecture}}", &multi]);
    assert_eq!(arch.trim(), "arm64");
    ok(&d, &["rmi", &multi]);
    ok(&d, &["pull", &multi]);
    let arch = ok(&d, &["image", "inspect", "-f", "{{.Architecture}}", &multi]);
    assert_eq!(arch.trim(), host);

    // All tags.
    let o = d.docker(&["pull", "-a", &reg.image("busybox")]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let tags = ok(
        &d,
        &["images", "--format", "{{.Tag}}", &reg.image("busybox")],
    );
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["latest", "v2"]);
    assert!(
        out(&o).contains(&format!(
            "Status: Downloaded newer image for {}",
            reg.image("busybox")
        )),
        "{}",
        out(&o)
    );

    // run of an image that is not here: docker's "Unable to find image".
    let other = reg.image("other:1");
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &other,
        "echo",
        "hi from pulled",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "hi from pulled\n");
    assert!(
        err(&o).starts_with(&format!("Unable to find image '{other}' locally\n")),
        "{}",
        err(&o)
    );

    // Push a committed image; dockerd pulls and runs it; skopeo sees it.
    ok(
        &d,
        &[
            "run",
            "--name",
            "ship-c",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            "echo made by berth > /made",
        ],
    );
    ok(&d, &["commit", "ship-c", &reg.image("committed:v1")]);
    let o = d.docker(&["push", &reg.image("committed:v1")]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let pushed = out(&o);
    assert!(
        pushed.starts_with(&format!(
            "The push refers to repository [{}]\n",
            reg.image("committed")
        )),
        "{pushed}"
    );
    assert!(pushed.contains(": Pushed\n"), "{pushed}");
    assert!(
        pushed.contains(": Mounted from busybox\n") || pushed.contains(": Layer already exists\n"),
        "{pushed}"
    );
    let line = pushed.lines().last().unwrap();
    assert!(
        line.starts_with("v1: digest: sha256:") && line.contains(" size: "),
        "{pushed}"
    );
    let pushed_digest = line.split_whitespace().nth(2).unwrap().to_string();
    let raw = reg.inspect("committed:v1");
    assert_eq!(raw["raw"]["layers"].as_array().unwrap().len(), 2, "{raw}");
    assert_eq!(
        raw["raw"]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    // Pushing again: same digest, nothing uploaded.
    let again = ok(&d, &["push", &reg.image("committed:v1")]);
    assert!(again.contains(&pushed_digest), "{again}");
    assert!(!again.contains(": Pushed"), "{again}");
    let rd = ok(
        &d,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .RepoDigests}}",
            &reg.image("committed:v1"),
        ],
    );
    assert!(rd.contains(&pushed_digest), "{rd}");
    if let Some(dk) = &dk {
        let r = dk.docker(&["run", "--rm", &reg.image("committed:v1"), "cat", "/made"]);
        assert_eq!(out(&r), "made by berth\n", "{}", err(&r));
        // dockerd pushes; berth pulls and runs it.
        let r = dk.docker(&[
            "run",
            "--name",
            "dk-c",
            &image,
            "sh",
            "-c",
            "echo made by dockerd > /made",
        ]);
        assert_eq!(code(&r), 0, "{}", err(&r));
        assert_eq!(
            code(&dk.docker(&["commit", "dk-c", &reg.image("from-dockerd:v1")])),
            0
        );
        let r = dk.docker(&["push", &reg.image("from-dockerd:v1")]);
        assert_eq!(code(&r), 0, "{}", err(&r));
        let o = d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &reg.image("from-dockerd:v1"),
            "cat",
            "/made",
        ]);
        assert_eq!(out(&o), "made by dockerd\n", "{}", err(&o));
        // docker save of both sides: the same layers.
        for name in [reg.image("committed:v1"), reg.image("from-dockerd:v1")] {
            let a = d.dir.join("save-berth.tar");
            let b = d.dir.join("save-dockerd.tar");
            ok(&d, &["save", "-o", a.to_str().unwrap(), &name]);
            let r = dk.docker(&["save", "-o", b.to_str().unwrap(), &name]);
            assert_eq!(code(&r), 0, "{}", err(&r));
            assert_eq!(saved_layers(&a), saved_layers(&b), "{name}");
        }
    }

    // Search: distribution has no v1 search; its catalog is searched.
    let s = ok(&d, &["search", &format!("{}/busy", reg.addr())]);
    assert_eq!(
        lines(&s)[1..],
        [format!("{}   {:<13} 0         ", reg.image("busybox"), "")][..],
        "{s}"
    );
    let s = ok(
        &d,
        &[
            "search",
            "--format",
            "{{.Name}}",
            &format!("{}/", reg.addr()),
        ],
    );
    assert!(
        s.contains(&reg.image("committed")) && s.contains(&reg.image("other")),
        "{s}"
    );
    let o = d.docker(&["search", "--limit", "101", &format!("{}/x", reg.addr())]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).contains("limit 101 is outside the range of [1, 100]"),
        "{}",
        err(&o)
    );
    assert!(leftovers(&d).is_empty(), "{:?}", leftovers(&d));
}

/// The host's architecture in Go's words.
fn manifest_platform_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
    .to_string()
}

#[test]
fn login_logout_with_basic_and_token_auth() {
    if !root() {
        return;
    }
    for mode in [Mode::Htpasswd, Mode::Token] {
        let Some(reg) = Registry::start(mode) else {
            return;
        };
        reg.push_archive(&busybox_archive(), "private:v1");
        let d = berthd_with(&format!("login-{}", reg.port), "{}");
        let dk = Dockerd::start(&format!("login-{}", reg.port));
        let image = reg.image("private:v1");
        // Before login: refused, in dockerd's words.
        let o = d.docker(&["pull", &image]);
        assert_eq!(code(&o), 1, "{}", out(&o));
        if let Some(dk) = &dk {
            let r = dk.docker(&["pull", &image]);
            assert_eq!(err(&o), err(&r), "{mode:?}");
        }
        // Wrong password.
        let o = d.docker(&["login", "-u", &reg.user, "-p", "wrong", &reg.addr()]);
        assert_eq!(code(&o), 1);
        if let Some(dk) = &dk {
            let r = dk.docker(&["login", "-u", &reg.user, "-p", "wrong", &reg.addr()]);
            assert_eq!(code(&r), 1);
            let tail = |s: String| s.lines().last().unwrap_or("").to_string();
            assert_eq!(tail(err(&o)), tail(err(&r)), "{mode:?}");
        }
        assert!(
            err(&o).to_lowercase().contains("unauthorized"),
            "{}",
            err(&o)
        );
        let config = d.dir.join("docker-config/config.json");
        let stored = std::fs::read_to_string(&config).unwrap_or_default();
        assert!(!stored.contains(&reg.addr()), "{stored}");
        // Right password, from stdin.
        let mut c = d.cmd(&["login", "-u", &reg.user, "--password-stdin", &reg.addr()]);
        let mut child = c
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{}", reg.password).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{}", err(&o));
        assert!(out(&o).contains("Login Succeeded"), "{}", out(&o));
        let stored: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        let entry = &stored["auths"][reg.addr()];
        if mode == Mode::Token {
            // The token server's refresh token, as docker keeps it.
            assert!(
                entry["identitytoken"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty()),
                "{stored}"
            );
        } else {
            assert!(
                entry["auth"].as_str().is_some_and(|t| !t.is_empty()),
                "{stored}"
            );
        }
        let before = reg.token_requests();
        ok(&d, &["pull", &image]);
        ok(&d, &["tag", &image, &reg.image("private:v2")]);
        let o = d.docker(&["push", &reg.image("private:v2")]);
        assert_eq!(code(&o), 0, "{}", err(&o));
        if mode == Mode::Token {
            let log = reg.token_log();
            assert!(
                log.iter()
                    .any(|t| t.param("grant_type") == Some("refresh_token")),
                "pulls use the refresh token: {:?}",
                log.iter().map(|t| &t.params).collect::<Vec<_>>()
            );
            // One token per scope, cached: not one per request.
            assert!(
                reg.token_requests() - before <= 4,
                "{}",
                reg.token_requests() - before
            );
        }
        let o = d.docker(&["logout", &reg.addr()]);
        assert_eq!(code(&o), 0);
        assert!(
            out(&o).contains(&format!("Removing login credentials for {}", reg.addr())),
            "{}",
            out(&o)
        );
        ok(&d, &["rmi", &image, &reg.image("private:v2")]);
        let o = d.docker(&["pull", &image]);
        assert_eq!(code(&o), 1, "pull after logout: {}", out(&o));
    }
}

/// A TCP proxy to `upstream` that can cut or hold the first response to a
/// blob download after `after` bytes.
struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Cut the first blob response after this many bytes (0: never).
    cut_after: Arc<AtomicU64>,
    /// Hold every blob response after this many bytes until released.
    hold_after: Arc<AtomicU64>,
    held: Arc<AtomicUsize>,
    ranges: Arc<Mutex<Vec<String>>>,
    /// The blob GET request lines seen.
    gets: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let p = Proxy {
            port,
            stop: Arc::default(),
            cut_after: Arc::default(),
            hold_after: Arc::default(),
            held: Arc::default(),
            ranges: Arc::default(),
            gets: Arc::default(),
        };
        let (stop, cut, hold, held, ranges) = (
            p.stop.clone(),
            p.cut_after.clone(),
            p.hold_after.clone(),
            p.held.clone(),
            (p.ranges.clone(), p.gets.clone()),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let up = upstream.clone();
                        let (stop, cut, hold, held, ranges) = (
                            stop.clone(),
                            cut.clone(),
                            hold.clone(),
                            held.clone(),
                            ranges.clone(),
                        );
                        std::thread::spawn(move || {
                            relay(c, &up, &stop, &cut, &hold, &held, &ranges)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        p
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Lines a proxy saw.
type Log = Arc<Mutex<Vec<String>>>;

/// One client connection: requests go up as they are; a blob response
/// may be cut (once) or held.
fn relay(
    mut c: TcpStream,
    upstream: &str,
    stop: &AtomicBool,
    cut: &AtomicU64,
    hold: &AtomicU64,
    held: &AtomicUsize,
    (ranges, gets): &(Log, Log),
) {
    let Ok(mut u) = TcpStream::connect(upstream) else {
        return;
    };
    let blob = Arc::new(AtomicBool::new(false));
    let (mut c2, mut u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
    let blob2 = blob.clone();
    let rlog = ranges;
    // Client → upstream, watching for blob GETs and Range headers.
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = match c2.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let text = String::from_utf8_lossy(&buf[..n]);
                if text.starts_with("GET ") && text.contains("/blobs/sha256:") {
                    blob2.store(true, Ordering::SeqCst);
                    gets.lock()
                        .unwrap()
                        .push(text.lines().next().unwrap_or("").to_string());
                    if let Some(r) = text
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    {
                        rlog.lock().unwrap().push(r.to_string());
                    }
                }
                if u2.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = u2.shutdown(std::net::Shutdown::Write);
        });
        let mut buf = [0u8; 16384];
        let mut sent = 0u64;
        loop {
            let n = match u.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if blob.load(Ordering::SeqCst) {
                let limit = cut.load(Ordering::SeqCst);
                if limit > 0 && sent + n as u64 > limit {
                    // Cut once: later connections go through.
                    cut.store(0, Ordering::SeqCst);
                    let keep = (limit - sent) as usize;
                    let _ = c.write_all(&buf[..keep]);
                    let _ = c.shutdown(std::net::Shutdown::Both);
                    let _ = u.shutdown(std::net::Shutdown::Both);
                    return;
                }
                let h = hold.load(Ordering::SeqCst);
                if h > 0 && sent + n as u64 > h {
                    held.fetch_add(1, Ordering::SeqCst);
                    while hold.load(Ordering::SeqCst) > 0 && !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    held.fetch_sub(1, Ordering::SeqCst);
                }
            }
            if c.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as u64;
        }
        let _ = c.shutdown(std::net::Shutdown::Both);
    });
}

/// An image with one big layer of random bytes (and busybox under it),
/// pushed to `reg` as `repo_tag` by berthd.
fn push_big_image(d: &Daemon, reg: &Registry, repo_tag: &str, mib: u32) {
    if d.docker(&["image", "inspect", &reg.image("busybox:latest")])
        .status
        .code()
        != Some(0)
    {
        ok(d, &["pull", &reg.image("busybox:latest")]);
    }
    let name = format!("big-{}", reg.port);
    ok(
        d,
        &[
            "run",
            "--name",
            &name,
            "--network",
            "none",
            &reg.image("busybox:latest"),
            "dd",
            "if=/dev/urandom",
            "of=/big",
            "bs=1M",
            &format!("count={mib}"),
        ],
    );
    ok(d, &["commit", &name, &reg.image(repo_tag)]);
    ok(d, &["push", &reg.image(repo_tag)]);
    ok(d, &["rm", &name]);
}

#[test]
fn bad_input_in_dockers_words_and_nothing_left() {
    if !root() {
        return;
    }
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bb = busybox_archive();
    reg.push_archive(&bb, "busybox:latest");
    reg.push_oci_index("armonly:latest", &[("linux", "arm64", Some("v8"), &bb)]);
    let d = Daemon::start();
    let dk = Dockerd::start("bad");
    let same = |args: &[&str]| {
        let o = d.docker(args);
        assert_eq!(code(&o), 1, "{args:?}: {}", out(&o));
        if let Some(dk) = &dk {
            let r = dk.docker(args);
            assert_eq!(
                (code(&o), out(&o), err(&o)),
                (code(&r), out(&r), err(&r)),
                "{args:?}"
            );
        }
        err(&o)
    };
    let e = same(&["pull", &reg.image("nosuch:v1")]);
    assert!(e.contains("manifest unknown"), "{e}");
    let e = same(&["pull", &reg.image("busybox:nosuch")]);
    assert!(
        e.contains(&format!(
            "manifest for {} not found",
            reg.image("busybox:nosuch")
        )),
        "{e}"
    );
    let e = same(&["pull", "-a", &reg.image("nosuch")]);
    assert!(e.contains("repository name not known to registry"), "{e}");
    let e = same(&["pull", &reg.image("armonly:latest")]);
    assert!(
        e.contains(&format!(
            "no matching manifest for linux/{} in the manifest list entries",
            manifest_platform_arch()
        )),
        "{e}"
    );
    let e = same(&["push", &reg.image("notlocal:v1")]);
    assert!(
        e.contains("An image does not exist locally with the tag"),
        "{e}"
    );
    let o = d.docker(&["pull", "127.0.0.1:1/x"]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).contains("connect: connection refused"),
        "{}",
        err(&o)
    );

    // A registry that answers garbage.
    let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
    let gaddr = garbage.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in garbage.incoming().flatten().take(20) {
            let mut c = c;
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let body = if req.starts_with("GET /v2/ ") {
                "{}"
            } else {
                "{this is not json"
            };
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.distribution.manifest.v2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let o = d.docker(&["pull", &format!("{gaddr}/x:v1")]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("invalid manifest"), "{}", err(&o));

    // A blob whose digest does not match: refused, not stored.
    push_big_image(&d, &reg, "tampered:v1", 1);
    ok(
        &d,
        &[
            "rmi",
            &reg.image("tampered:v1"),
            &reg.image("busybox:latest"),
        ],
    );
    let layers_before = layer_count(&d);
    let raw = reg.inspect("tampered:v1");
    let big = raw["raw"]["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let hex = &big["sha256:".len()..];
    let data = reg.dir.join(format!(
        "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let o = d.docker(&["pull", &reg.image("tampered:v1")]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    let shown = format!("{}{}", out(&o), err(&o));
    assert!(
        shown.contains(&format!(
            "filesystem layer verification failed for digest {big}"
        )) || shown.contains("invalid"),
        "{shown}"
    );
    assert!(
        d.docker(&["image", "inspect", &reg.image("tampered:v1")])
            .status
            .code()
            != Some(0)
    );
    // The good layer may stay (it is reused by the next pull), the bad one not.
    assert!(
        layer_count(&d) <= layers_before + 1,
        "{} > {}",
        layer_count(&d),
        layers_before + 1
    );
    assert!(leftovers(&d).is_empty(), "{:?}", leftovers(&d));

    // TLS that is not trusted: a registry on an address of a dummy
    // interface this test makes (127.0.0.0/8 would be insecure by default).
    if let Some(dummy) = Dummy::create()
        && let Some(tls) = Registry::start_on(Mode::Tls, &dummy.ip)
    {
        {
            tls.push_archive(&bb, "busybox:latest");
            let o = d.docker(&["pull", &tls.image("busybox:latest")]);
            assert_eq!(code(&o), 1);
            assert!(
                err(&o).contains("x509: certificate signed by unknown authority"),
                "{}",
                err(&o)
            );
            // With its CA in a certs.d berthd reads: pulled.
            let certs = d.dir.join("certs.d");
            tls.certs_d(&certs);
            let t = berthd_with(
                "tls",
                &format!("{{\"certs-dirs\": [\"{}\"]}}", certs.display()),
            );
            let o = t.docker(&["pull", &tls.image("busybox:latest")]);
            assert_eq!(code(&o), 0, "{}", err(&o));
        }
    }
    assert!(leftovers(&d).is_empty(), "{:?}", leftovers(&d));
}

/// An interface (a bridge without ports) holding a TEST-NET address, removed on drop.
struct Dummy {
    name: String,
    ip: String,
}

impl Dummy {
    fn create() -> Option<Dummy> {
        let n = std::process::id() % 200 + 20;
        let d = Dummy {
            name: format!("berth-tr{}", std::process::id() % 100000),
            ip: format!("198.18.{n}.1"),
        };
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["link", "add", &d.name, "type", "bridge"]) {
            eprintln!("SKIPPED the TLS check: cannot make a bridge interface");
            return None;
        }
        let made = ip(&["addr", "add", &format!("{}/32", d.ip), "dev", &d.name])
            && ip(&["link", "set", &d.name, "up"]);
        if !made {
            return None;
        }
        Some(d)
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

#[test]
fn a_connection_cut_mid_layer_is_resumed() {
    if !root() {
        return;
    }
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    reg.push_archive(&busybox_archive(), "busybox:latest");
    let d = Daemon::start();
    push_big_image(&d, &reg, "big:v1", 8);
    ok(
        &d,
        &["rmi", &reg.image("big:v1"), &reg.image("busybox:latest")],
    );
    let proxy = Proxy::start(reg.addr());
    proxy.cut_after.store(3 << 20, Ordering::SeqCst);
    let image = format!("{}/big:v1", proxy.addr());
    let t0 = Instant::now();
    let o = d.docker(&["pull", &image]);
    assert_eq!(code(&o), 0, "{}\n{}", err(&o), d.log());
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert!(
        ranges
            .iter()
            .any(|r| r.contains("bytes=") && !r.contains("bytes=0-")),
        "resumed with a Range request: {ranges:?} (took {:?})",
        t0.elapsed()
    );
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "wc -c < /big",
    ]);
    assert_eq!(out(&o).trim(), (8u64 << 20).to_string(), "{}", err(&o));
}

#[test]
fn kill_9_mid_pull_leaves_no_image_and_the_next_pull_reuses_layers() {
    if !root() {
        return;
    }
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    reg.push_archive(&busybox_archive(), "busybox:latest");
    let mut d = Daemon::start();
    push_big_image(&d, &reg, "big:v1", 16);
    ok(
        &d,
        &["rmi", &reg.image("big:v1"), &reg.image("busybox:latest")],
    );
    assert_eq!(layer_count(&d), 0);
    let proxy = Proxy::start(reg.addr());
    // Small layers come through; the big one stops after 4 MiB.
    proxy.hold_after.store(4 << 20, Ordering::SeqCst);
    let image = format!("{}/big:v1", proxy.addr());
    let mut pull = d
        .cmd(&["pull", &image])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.held.load(Ordering::SeqCst) == 0 || layer_count(&d) < 1 {
        assert!(
            Instant::now() < deadline,
            "the pull did not get going: {}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    d.kill9();
    let _ = pull.wait();
    proxy.hold_after.store(0, Ordering::SeqCst);
    d.restart();
    // No image, no staging left, the finished layer kept.
    assert!(d.docker(&["image", "inspect", &image]).status.code() != Some(0));
    assert!(leftovers(&d).is_empty(), "{:?}", leftovers(&d));
    let o = d.docker(&["pull", &image]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).contains(": Already exists"), "{}", out(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "wc -c < /big",
    ]);
    assert_eq!(out(&o).trim(), (16u64 << 20).to_string(), "{}", err(&o));
}

#[test]
fn the_berth_cli_ships_as_the_docker_cli_does() {
    if !root() {
        return;
    }
    let Some(reg) = Registry::start(Mode::Htpasswd) else {
        return;
    };
    let bb = busybox_archive();
    reg.push_archive(&bb, "busybox:latest");
    reg.push_archive(&bb, "other:1");
    let mut d = Daemon::start();
    let docker = d.cli.clone();
    let berth = Daemon::berth_bin();
    // The same command through both CLIs: the same output and exit code.
    let both = |d: &mut Daemon, args: &[&str]| {
        d.cli = docker.clone();
        let a = d.docker(args);
        d.cli = berth.clone();
        let b = d.docker(args);
        assert_eq!(
            (code(&a), split_pull(&out(&a)), err(&a)),
            (code(&b), split_pull(&out(&b)), err(&b)),
            "{args:?}"
        );
        b
    };
    let image = reg.image("busybox:latest");
    both(&mut d, &["pull", &image]);
    both(
        &mut d,
        &["login", "-u", &reg.user, "-p", "wrong", &reg.addr()],
    );
    d.cli = berth.clone();
    let o = d.docker(&["login", "-u", &reg.user, "-p", &reg.password, &reg.addr()]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).contains("Login Succeeded"), "{}", out(&o));
    let o = d.docker(&["pull", &image]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        out(&o).contains(&format!("Downloaded newer image for {image}")),
        "{}",
        out(&o)
    );
    // An image that is not here: pulled by run.
    let other = reg.image("other:1");
    let o = d.docker(&["run", "--rm", "--network", "none", &other, "echo", "hi"]);
    assert_eq!((code(&o), out(&o).as_str()), (0, "hi\n"), "{}", err(&o));
    assert!(
        err(&o).starts_with(&format!("Unable to find image '{other}' locally\n")),
        "{}",
        err(&o)
    );
    // Push a committed image.
    d.docker(&[
        "run",
        "--name",
        "cli-c",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "echo x > /x",
    ]);
    assert_eq!(
        code(&d.docker(&["commit", "cli-c", &reg.image("pushed:v1")])),
        0
    );
    let o = d.docker(&["push", &reg.image("pushed:v1")]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let last = out(&o).lines().last().unwrap_or("").to_string();
    assert!(last.starts_with("v1: digest: sha256:"), "{}", out(&o));
    assert_eq!(
        reg.inspect("pushed:v1")["raw"]["layers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let s = d.docker(&[
        "search",
        "--format",
        "{{.Name}}",
        &format!("{}/push", reg.addr()),
    ]);
    assert_eq!(out(&s), format!("{}\n", reg.image("pushed")), "{}", err(&s));
    let o = d.docker(&["logout", &reg.addr()]);
    assert!(
        out(&o).contains("Removing login credentials"),
        "{}",
        out(&o)
    );
    d.cli = docker;
}

#[test]
fn two_pulls_of_one_layer_download_it_once() {
    if !root() {
        return;
    }
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    reg.push_archive(&busybox_archive(), "busybox:latest");
    let d = Daemon::start();
    push_big_image(&d, &reg, "big:v1", 8);
    ok(&d, &["tag", &reg.image("big:v1"), &reg.image("big:v2")]);
    ok(&d, &["push", &reg.image("big:v2")]);
    ok(
        &d,
        &[
            "rmi",
            &reg.image("big:v1"),
            &reg.image("big:v2"),
            &reg.image("busybox:latest"),
        ],
    );
    let proxy = Proxy::start(reg.addr());
    let big = reg.inspect("big:v1")["raw"]["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Both pulls wait on the big layer until both are under way.
    proxy.hold_after.store(1 << 20, Ordering::SeqCst);
    let pulls: Vec<_> = ["big:v1", "big:v2"]
        .iter()
        .map(|t| {
            d.cmd(&["pull", &format!("{}/{t}", proxy.addr())])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    proxy.hold_after.store(0, Ordering::SeqCst);
    for p in pulls {
        let o = p.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{}", err(&o));
    }
    let gets = proxy.gets.lock().unwrap().clone();
    let of_big = gets.iter().filter(|g| g.contains(&big)).count();
    assert_eq!(of_big, 1, "{gets:?}");
}
