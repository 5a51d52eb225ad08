//! Local registries for the pull/push/login tests and benchmarks: Debian's
//! `docker-registry` (distribution 2.8) on 127.0.0.1 and a free port, with
//! its own storage in a temp dir, as plain HTTP, HTTPS with a CA made here,
//! htpasswd (basic) auth, or bearer tokens from a small token server run in
//! a thread of the test. Seeded with `skopeo`. On drop the registry is
//! stopped by pid, the token server joined and every file removed.
//!
//! Images: [`busybox_archive`] (scripts/make-busybox-image.sh) and
//! [`debian_archive`] (debootstrap minbase, 3 layers), docker-archive tars
//! cached under /var/cache/berth-test.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How the registry is reached and who may use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP, no auth.
    Plain,
    /// HTTPS with a certificate for 127.0.0.1/localhost from a test CA
    /// ([`Registry::ca_cert`]); no auth.
    Tls,
    /// Plain HTTP, basic auth from an htpasswd file (bcrypt).
    Htpasswd,
    /// Plain HTTP, bearer tokens from the harness's token server.
    Token,
}

/// One request the token server answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// GET or POST.
    pub method: String,
    /// Query (GET) or form (POST) parameters, decoded, in order.
    pub params: Vec<(String, String)>,
    /// The user the request authenticated as (basic credentials, password
    /// grant or refresh token).
    pub user: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
}

impl TokenRequest {
    /// The first value of parameter `k`.
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Registry {
    pub mode: Mode,
    /// The address it listens on (127.0.0.1 unless [`Registry::start_on`]).
    pub host: String,
    pub port: u16,
    /// The temp dir holding config, storage, keys and logs.
    pub dir: PathBuf,
    /// The CA that signed the registry's certificate (PEM); empty unless
    /// [`Mode::Tls`].
    pub ca_cert: PathBuf,
    /// The account ([`Mode::Htpasswd`], [`Mode::Token`]); empty otherwise.
    pub user: String,
    pub password: String,
    /// The token auth service name (the JWT audience) and issuer.
    pub service: String,
    pub issuer: String,
    child: Option<Child>,
    token: Option<TokenServer>,
    seq: AtomicUsize,
    _tmp: tempfile::TempDir,
}

/// `SKIPPED …` and false when `bin` is not on PATH.
fn need(bin: &str, package: &str) -> bool {
    if which(bin).is_some() {
        return true;
    }
    eprintln!("SKIPPED the local registry: {bin} is not installed (apt-get install {package})");
    false
}

pub fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// Run a command; it must succeed; its output.
fn run(cmd: &mut Command) -> Output {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// openssl with `args` (split at whitespace) in `dir`.
fn openssl(dir: &Path, args: &str) {
    run(Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir));
}

/// Random hex from the kernel.
fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Registry {
    /// A fresh registry, up and answering `/v2/`; None (with a printed
    /// reason) when `docker-registry` or a tool the mode needs is missing.
    pub fn start(mode: Mode) -> Option<Registry> {
        Self::start_on(mode, "127.0.0.1")
    }

    /// … listening on `host` (an address the test made, e.g. on a dummy
    /// interface: a registry that is not insecure by default as
    /// 127.0.0.0/8 is).
    pub fn start_on(mode: Mode, host: &str) -> Option<Registry> {
        let Some(registry_bin) = which("docker-registry") else {
            need("docker-registry", "docker-registry");
            return None;
        };
        match mode {
            Mode::Plain => {}
            Mode::Tls => {
                if !need("openssl", "openssl") || !need("curl", "curl") {
                    return None;
                }
            }
            Mode::Htpasswd => {
                if !need("htpasswd", "apache2-utils") {
                    return None;
                }
            }
            Mode::Token => {
                if !need("openssl", "openssl") {
                    return None;
                }
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix("berth-test-registry-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let mut r = Registry {
            mode,
            host: host.to_string(),
            port: 0,
            dir: dir.clone(),
            ca_cert: PathBuf::new(),
            user: String::new(),
            password: String::new(),
            service: "berth-test-registry".into(),
            issuer: "berth-test-token-issuer".into(),
            child: None,
            token: None,
            seq: AtomicUsize::new(0),
            _tmp: tmp,
        };
        let mut auth = String::new();
        let mut tls = String::new();
        match mode {
            Mode::Plain => {}
            Mode::Tls => {
                make_tls_certs(&dir, host);
                r.ca_cert = dir.join("ca.crt");
                tls = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    dir.join("server.crt").display(),
                    dir.join("server.key").display()
                );
            }
            Mode::Htpasswd => {
                r.user = "berth-test-user".into();
                r.password = format!("pw-{}", random_hex(8));
                let o = run(Command::new("htpasswd").args(["-Bbn", &r.user, &r.password]));
                std::fs::write(dir.join("htpasswd"), &o.stdout).unwrap();
                auth = format!(
                    "auth:\n  htpasswd:\n    realm: berth-test-realm\n    path: {}\n",
                    dir.join("htpasswd").display()
                );
            }
            Mode::Token => {
                r.user = "berth-test-user".into();
                r.password = format!("pw-{}", random_hex(8));
                let ts = TokenServer::start(&dir, &r.user, &r.password, &r.service, &r.issuer);
                auth = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    ts.realm(),
                    r.service,
                    r.issuer,
                    dir.join("token.crt").display()
                );
                r.token = Some(ts);
            }
        }
        // The port is free when picked; should something take it before
        // the registry binds it, try another.
        for attempt in 0.. {
            let port = std::net::TcpListener::bind((r.host.as_str(), 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let storage = dir.join("storage");
            let secret = random_hex(16);
            let config = format!(
                r#"version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {host}:{port}
  secret: {secret}
{tls}health:
  storagedriver:
    enabled: false
{auth}"#,
                storage = storage.display(),
                host = r.host,
            );
            std::fs::write(dir.join("config.yml"), config).unwrap();
            let log = std::fs::File::create(dir.join("registry.log")).unwrap();
            let child = Command::new(&registry_bin)
                .arg("serve")
                .arg(dir.join("config.yml"))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            r.port = port;
            r.child = Some(child);
            match r.wait_up() {
                Ok(()) => return Some(r),
                Err(e) if attempt < 4 && r.log().contains("address already in use") => {
                    eprintln!("registry on port {port}: {e}; another port");
                }
                Err(e) => panic!("docker-registry did not come up ({e}): {}", r.log()),
            }
        }
        unreachable!()
    }

    /// Until `/v2/` answers (200, or 401 when auth is on).
    fn wait_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("exited: {st}"));
            }
            let status = if self.mode == Mode::Tls {
                Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                    .arg(&self.ca_cert)
                    .arg(format!("{}/v2/", self.url()))
                    .output()
                    .ok()
                    .and_then(|o| String::from_utf8_lossy(&o.stdout).parse::<u16>().ok())
                    .unwrap_or(0)
            } else {
                http_status(&self.addr(), "/v2/")
            };
            if status == 200 || status == 401 {
                return Ok(());
            }
            if Instant::now() > deadline {
                if let Some(mut c) = self.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err("no answer on /v2/ in 20s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// "127.0.0.1:PORT", the registry's host in image references.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// "http://127.0.0.1:PORT" or "https://…".
    pub fn url(&self) -> String {
        let scheme = if self.mode == Mode::Tls {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr())
    }

    /// "127.0.0.1:PORT/<repo_tag>".
    pub fn image(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.addr())
    }

    /// The registry's log (its access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// The pid of docker-registry.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// A certs.d tree for this registry under `dir` (what dockerd reads
    /// from /etc/docker/certs.d): `<dir>/127.0.0.1:PORT/ca.crt`; that
    /// directory. Only for [`Mode::Tls`].
    pub fn certs_d(&self, dir: &Path) -> PathBuf {
        assert_eq!(
            self.mode,
            Mode::Tls,
            "certs_d: only a TLS registry has a CA"
        );
        let host = dir.join(self.addr());
        std::fs::create_dir_all(&host).unwrap();
        std::fs::copy(&self.ca_cert, host.join("ca.crt")).unwrap();
        host
    }

    /// [`Registry::certs_d`] that undoes itself: for a daemon that only
    /// reads /etc/docker/certs.d (dockerd), removed (and the certs.d dir,
    /// if this made it and it is empty) when the guard drops.
    pub fn install_certs_d(&self, dir: &Path) -> CertsD {
        let made_dir = !dir.exists();
        let host = self.certs_d(dir);
        CertsD {
            host,
            dir: made_dir.then(|| dir.to_path_buf()),
        }
    }

    /// The token endpoint ([`Mode::Token`]): "http://127.0.0.1:P/token".
    pub fn token_realm(&self) -> String {
        self.token_server().realm()
    }

    /// How many requests the token server has had (GET and POST, failed
    /// ones included).
    pub fn token_requests(&self) -> usize {
        self.token
            .as_ref()
            .map(|t| t.state.requests.load(Ordering::SeqCst))
            .unwrap_or(0)
    }

    /// Every request the token server has had, oldest first.
    pub fn token_log(&self) -> Vec<TokenRequest> {
        self.token
            .as_ref()
            .map(|t| t.state.log.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Whether anonymous tokens grant `pull` (off by default: anonymous
    /// tokens grant nothing).
    pub fn allow_anonymous_pull(&self, on: bool) {
        self.token_server()
            .state
            .anonymous_pull
            .store(on, Ordering::SeqCst);
    }

    /// The refresh tokens handed out so far (identity tokens, as `docker
    /// login` stores them).
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.token
            .as_ref()
            .map(|t| t.state.refresh.lock().unwrap().keys().cloned().collect())
            .unwrap_or_default()
    }

    fn token_server(&self) -> &TokenServer {
        self.token
            .as_ref()
            .expect("only a Mode::Token registry has a token server")
    }

    /// A token for `scopes` ("repository:NAME:pull,push") straight from the
    /// token server's signer, as an authenticated user would get it.
    pub fn mint_token(&self, scopes: &[&str]) -> String {
        let ts = self.token_server();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        ts.state.jwt(&self.user, &grant(&scopes, true, false))
    }

    // ---- skopeo ----

    /// skopeo with this harness's auth file and temp dir (no host state).
    fn skopeo(&self) -> Command {
        assert!(
            which("skopeo").is_some(),
            "skopeo is not installed (apt-get install skopeo)"
        );
        let mut c = Command::new("skopeo");
        c.env("REGISTRY_AUTH_FILE", self.dir.join("skopeo-auth.json"))
            .env("TMPDIR", self.skopeo_tmp())
            .arg("--insecure-policy");
        c
    }

    fn skopeo_tmp(&self) -> PathBuf {
        let t = self.dir.join("skopeo-tmp");
        std::fs::create_dir_all(&t).unwrap();
        t
    }

    /// The TLS and credential flags for a docker:// reference to this
    /// registry; `prefix` is "", "src-" or "dest-".
    pub fn skopeo_flags(&self, prefix: &str) -> Vec<String> {
        let mut f = Vec::new();
        match self.mode {
            Mode::Tls => {
                let certs = self.dir.join("skopeo-certs");
                if !certs.exists() {
                    std::fs::create_dir_all(&certs).unwrap();
                    std::fs::copy(&self.ca_cert, certs.join("ca.crt")).unwrap();
                }
                f.push(format!("--{prefix}cert-dir={}", certs.display()));
                f.push(format!("--{prefix}tls-verify=true"));
            }
            _ => f.push(format!("--{prefix}tls-verify=false")),
        }
        if matches!(self.mode, Mode::Htpasswd | Mode::Token) {
            f.push(format!("--{prefix}creds={}:{}", self.user, self.password));
        }
        f
    }

    fn next_name(&self, what: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        self.dir.join(format!("{what}-{n}"))
    }

    /// Push a docker-archive tar (`docker save`, [`busybox_archive`]) as
    /// `<addr>/<repo_tag>`; the digest of the manifest pushed.
    pub fn push_archive(&self, archive: &Path, repo_tag: &str) -> String {
        let digestfile = self.next_name("digest");
        run(self
            .skopeo()
            .arg("copy")
            .arg("--quiet")
            .args(self.skopeo_flags("dest-"))
            .arg("--digestfile")
            .arg(&digestfile)
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}", self.image(repo_tag))));
        let d = std::fs::read_to_string(&digestfile).unwrap();
        let _ = std::fs::remove_file(digestfile);
        d.trim().to_string()
    }

    /// Push a multi-platform OCI image index as `<addr>/<repo_tag>`: one
    /// image per `(os, arch, variant, docker-archive)`, its config's `os`,
    /// `architecture` and `variant` rewritten to match (the same archive
    /// can serve every platform). The digest of the index pushed.
    pub fn push_oci_index(
        &self,
        repo_tag: &str,
        platforms: &[(&str, &str, Option<&str>, &Path)],
    ) -> String {
        let layout = self.next_name("oci");
        let index = build_oci_index(&layout, platforms, |archive, tag| {
            run(self
                .skopeo()
                .arg("copy")
                .arg("--quiet")
                .arg(format!("docker-archive:{}", archive.display()))
                .arg(format!("oci:{}:{tag}", layout.display())));
        });
        let digestfile = self.next_name("digest");
        run(self
            .skopeo()
            .arg("copy")
            .arg("--quiet")
            .arg("--all")
            .args(self.skopeo_flags("dest-"))
            .arg("--digestfile")
            .arg(&digestfile)
            .arg(format!("oci:{}:{index}", layout.display()))
            .arg(format!("docker://{}", self.image(repo_tag))));
        let d = std::fs::read_to_string(&digestfile).unwrap();
        let _ = std::fs::remove_file(digestfile);
        let _ = std::fs::remove_dir_all(layout);
        d.trim().to_string()
    }

    fn skopeo_inspect(&self, repo_tag: &str, extra: &[&str]) -> Result<Value, String> {
        let o = self
            .skopeo()
            .arg("inspect")
            .args(self.skopeo_flags(""))
            .args(extra)
            .arg(format!("docker://{}", self.image(repo_tag)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).into_owned());
        }
        serde_json::from_slice(&o.stdout)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
    }

    /// The manifest (or index) as stored: `skopeo inspect --raw`; Err with
    /// skopeo's message (e.g. "manifest unknown") when it is not there.
    pub fn inspect_raw(&self, repo_tag: &str) -> Result<Value, String> {
        self.skopeo_inspect(repo_tag, &["--raw"])
    }

    /// `skopeo inspect` (digest, architecture, layers, env…; of this host's
    /// platform for an index) and the raw manifest:
    /// `{"raw": …, "image": …}`. Panics when the image is not there.
    pub fn inspect(&self, repo_tag: &str) -> Value {
        let raw = self
            .inspect_raw(repo_tag)
            .unwrap_or_else(|e| panic!("skopeo inspect --raw {repo_tag}: {e}"));
        let image = self
            .skopeo_inspect(repo_tag, &[])
            .unwrap_or_else(|e| panic!("skopeo inspect {repo_tag}: {e}"));
        json!({"raw": raw, "image": image})
    }

    /// The image config (`skopeo inspect --config`), of `platform` (os,
    /// arch, variant) for an index, else of this host's.
    pub fn inspect_config(
        &self,
        repo_tag: &str,
        platform: Option<(&str, &str, Option<&str>)>,
    ) -> Value {
        // The platform overrides are global flags, before the subcommand.
        let mut global = Vec::new();
        if let Some((os, arch, variant)) = platform {
            global.push(format!("--override-os={os}"));
            global.push(format!("--override-arch={arch}"));
            if let Some(v) = variant {
                global.push(format!("--override-variant={v}"));
            }
        }
        let o = self
            .skopeo()
            .args(global)
            .arg("inspect")
            .arg("--config")
            .args(self.skopeo_flags(""))
            .arg(format!("docker://{}", self.image(repo_tag)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo inspect --config {repo_tag}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.token.take();
        // The TempDir goes with the fields.
    }
}

/// A registry's certs.d entry, removed on drop ([`Registry::install_certs_d`]).
#[must_use = "the certs.d entry is removed when this drops"]
pub struct CertsD {
    /// `<dir>/127.0.0.1:PORT`.
    pub host: PathBuf,
    dir: Option<PathBuf>,
}

impl Drop for CertsD {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.host);
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The status of a plain HTTP GET on `addr` (0 when nothing answers).
fn http_status(addr: &str, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return 0;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// ca.key/ca.crt and server.key/server.crt (127.0.0.1, localhost) in `dir`.
fn make_tls_certs(dir: &Path, host: &str) {
    openssl(
        dir,
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
         -subj /CN=berth-test-registry-ca -addext basicConstraints=critical,CA:TRUE \
         -addext keyUsage=critical,keyCertSign,cRLSign",
    );
    let extra = if host == "127.0.0.1" {
        String::new()
    } else {
        format!(",IP:{host}")
    };
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName=IP:127.0.0.1,DNS:localhost{extra}\n\
             basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1",
    );
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -CAserial ca.srl \
         -out server.crt -days 2 -extfile server.ext",
    );
}

// ---- multi-platform OCI index ----

fn sha256_hex(path: &Path) -> String {
    let o = run(Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Store `bytes` as a blob of the OCI layout; (digest, size).
fn put_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let tmp = blobs.join(format!(".tmp-{}", random_hex(8)));
    std::fs::write(&tmp, bytes).unwrap();
    let hex = sha256_hex(&tmp);
    std::fs::rename(&tmp, blobs.join(&hex)).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

fn get_blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// In the OCI layout `layout`, one image per platform (copied in with
/// `copy(archive, tag)`, then its config rewritten) and an index of them,
/// tagged in the layout's index.json; that tag.
fn build_oci_index(
    layout: &Path,
    platforms: &[(&str, &str, Option<&str>, &Path)],
    copy: impl Fn(&Path, &str),
) -> String {
    assert!(!platforms.is_empty());
    let mut entries = Vec::new();
    for (i, (os, arch, variant, archive)) in platforms.iter().enumerate() {
        let tag = format!("platform-{i}");
        copy(archive, &tag);
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let desc = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
            .unwrap_or_else(|| panic!("{tag} not in {index}"))
            .clone();
        let mut manifest = get_blob(layout, desc["digest"].as_str().unwrap());
        let mut config = get_blob(layout, manifest["config"]["digest"].as_str().unwrap());
        config["os"] = json!(os);
        config["architecture"] = json!(arch);
        let obj = config.as_object_mut().unwrap();
        match variant {
            Some(v) => {
                obj.insert("variant".into(), json!(v));
            }
            None => {
                obj.remove("variant");
            }
        }
        let (cd, cs) = put_blob(layout, &serde_json::to_vec(&config).unwrap());
        manifest["config"]["digest"] = json!(cd);
        manifest["config"]["size"] = json!(cs);
        let (md, ms) = put_blob(layout, &serde_json::to_vec(&manifest).unwrap());
        let mut platform = json!({"architecture": arch, "os": os});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        entries.push(json!({
            "mediaType": manifest["mediaType"]
                .as_str()
                .unwrap_or("application/vnd.oci.image.manifest.v1+json"),
            "digest": md,
            "size": ms,
            "platform": platform,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    let (id, is) = put_blob(layout, &serde_json::to_vec(&index).unwrap());
    let tag = "index";
    // The layout's own index: one entry, the image index, by tag.
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": id,
            "size": is,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    tag.to_string()
}

// ---- the token server ----

struct TokenServer {
    addr: String,
    state: Arc<TokenState>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct TokenState {
    dir: PathBuf,
    user: String,
    password: String,
    service: String,
    issuer: String,
    /// base64 DER of the signing certificate (the JWT header's x5c).
    x5c: String,
    requests: AtomicUsize,
    log: Mutex<Vec<TokenRequest>>,
    /// refresh token → user.
    refresh: Mutex<HashMap<String, String>>,
    anonymous_pull: AtomicBool,
}

impl TokenServer {
    /// A signing key and its self-signed certificate (token.key,
    /// token.crt: the registry's rootcertbundle) in `dir`, and the server
    /// on 127.0.0.1, answering in a thread.
    fn start(dir: &Path, user: &str, password: &str, service: &str, issuer: &str) -> TokenServer {
        openssl(
            dir,
            "req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 2 \
             -subj /CN=berth-test-token-signer",
        );
        let der = run(Command::new("openssl")
            .args(["x509", "-in", "token.crt", "-outform", "DER"])
            .current_dir(dir))
        .stdout;
        let state = Arc::new(TokenState {
            dir: dir.to_path_buf(),
            user: user.into(),
            password: password.into(),
            service: service.into(),
            issuer: issuer.into(),
            x5c: base64::engine::general_purpose::STANDARD.encode(der),
            requests: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            refresh: Mutex::new(HashMap::new()),
            anonymous_pull: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::Builder::new()
                .name("berth-test-token-server".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let state = state.clone();
                        std::thread::spawn(move || serve(&state, conn));
                    }
                })
                .unwrap()
        };
        TokenServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (_, Some(v)) => {
                out.push(v);
                i += 2;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// One access entry of the JWT per scope ("type:name:actions", the name
/// may hold colons): all its actions when `authed`, pull only when
/// `anonymous_pull`, else none.
fn grant(scopes: &[String], authed: bool, anonymous_pull: bool) -> Vec<Value> {
    let mut access = Vec::new();
    for s in scopes {
        let Some((ty, rest)) = s.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let actions: Vec<&str> = actions
            .split(',')
            .filter(|a| !a.is_empty())
            .filter(|a| authed || (anonymous_pull && ty == "repository" && *a == "pull"))
            .collect();
        if !actions.is_empty() {
            access.push(json!({"type": ty, "name": name, "actions": actions}));
        }
    }
    access
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl TokenState {
    /// A JWT (RS256, x5c) for `sub` with `access`.
    fn jwt(&self, sub: &str, access: &[Value]) -> String {
        let now = chrono::Utc::now().timestamp();
        let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let claims = json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": random_hex(16),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(&serde_json::to_vec(&header).unwrap()),
            b64url(&serde_json::to_vec(&claims).unwrap())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(self.dir.join("token.key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl dgst");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(signing_input.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "openssl dgst -sign: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        format!("{signing_input}.{}", b64url(&o.stdout))
    }

    fn check_password(&self, user: &str, password: &str) -> bool {
        user == self.user && password == self.password
    }

    fn new_refresh_token(&self, user: &str) -> String {
        let t = random_hex(24);
        self.refresh
            .lock()
            .unwrap()
            .insert(t.clone(), user.to_string());
        t
    }

    /// (status, JSON body, authenticated user) for one request.
    fn answer(
        &self,
        method: &str,
        params: &[(String, String)],
        basic: Option<(String, String)>,
    ) -> (u16, Value, Option<String>) {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if let Some(s) = get("service")
            && s != self.service
        {
            return (
                400,
                json!({"details": format!("unknown service {s:?}")}),
                None,
            );
        }
        let (user, scopes, offline) = match method {
            "GET" => {
                let user = match basic {
                    None => None,
                    Some((u, p)) if self.check_password(&u, &p) => Some(u),
                    Some(_) => {
                        return (
                            401,
                            json!({"details": "incorrect username or password"}),
                            None,
                        );
                    }
                };
                let scopes: Vec<String> = params
                    .iter()
                    .filter(|(n, _)| n == "scope")
                    .flat_map(|(_, v)| v.split(' ').map(String::from).collect::<Vec<_>>())
                    .filter(|s| !s.is_empty())
                    .collect();
                (user, scopes, get("offline_token") == Some("true"))
            }
            _ => {
                if get("client_id").unwrap_or("").is_empty() {
                    return (
                        400,
                        json!({"error": "invalid_request", "error_description": "client_id is required"}),
                        None,
                    );
                }
                let user = match get("grant_type") {
                    Some("password") => {
                        let (u, p) = (get("username").unwrap_or(""), get("password").unwrap_or(""));
                        if !self.check_password(u, p) {
                            return (
                                401,
                                json!({"details": "incorrect username or password"}),
                                None,
                            );
                        }
                        u.to_string()
                    }
                    Some("refresh_token") => {
                        let t = get("refresh_token").unwrap_or("");
                        match self.refresh.lock().unwrap().get(t) {
                            Some(u) => u.clone(),
                            None => {
                                return (401, json!({"details": "invalid refresh token"}), None);
                            }
                        }
                    }
                    g => {
                        return (
                            400,
                            json!({"error": "unsupported_grant_type", "error_description": format!("{g:?}")}),
                            None,
                        );
                    }
                };
                let scopes: Vec<String> = params
                    .iter()
                    .filter(|(n, _)| n == "scope")
                    .flat_map(|(_, v)| v.split(' ').map(String::from).collect::<Vec<_>>())
                    .filter(|s| !s.is_empty())
                    .collect();
                let offline = get("access_type") == Some("offline")
                    || get("grant_type") == Some("refresh_token");
                (Some(user), scopes, offline)
            }
        };
        let access = grant(
            &scopes,
            user.is_some(),
            self.anonymous_pull.load(Ordering::SeqCst),
        );
        let token = self.jwt(user.as_deref().unwrap_or(""), &access);
        let mut body = json!({
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        if method == "POST" {
            body["scope"] = json!(scopes.join(" "));
        }
        if offline && let Some(u) = &user {
            let rt = match (method, get("refresh_token")) {
                ("POST", Some(t)) if get("grant_type") == Some("refresh_token") => t.to_string(),
                _ => self.new_refresh_token(u),
            };
            body["refresh_token"] = json!(rt);
        }
        (200, body, user)
    }
}

/// One connection: one request, one answer, close.
fn serve(state: &TokenState, mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut rl = lines.next().unwrap_or("").split_whitespace();
    let method = rl.next().unwrap_or("").to_string();
    let target = rl.next().unwrap_or("").to_string();
    let mut content_length = 0usize;
    let mut basic = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => content_length = v.parse().unwrap_or(0),
            "authorization" => {
                if let Some(b) = v
                    .strip_prefix("Basic ")
                    .or_else(|| v.strip_prefix("basic "))
                {
                    let dec = base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .unwrap_or_default();
                    let dec = String::from_utf8_lossy(&dec).into_owned();
                    let (u, p) = dec.split_once(':').unwrap_or((&dec, ""));
                    basic = Some((u.to_string(), p.to_string()));
                }
            }
            _ => {}
        }
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (status, reply, params, user) = match (method.as_str(), path) {
        ("GET", "/token") => {
            let params = parse_form(query);
            let (s, r, u) = state.answer("GET", &params, basic);
            (s, r, params, u)
        }
        ("POST", "/token") => {
            let params = parse_form(&String::from_utf8_lossy(&body));
            let (s, r, u) = state.answer("POST", &params, None);
            (s, r, params, u)
        }
        _ => (
            404,
            json!({"details": "not found"}),
            parse_form(query),
            None,
        ),
    };
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.log.lock().unwrap().push(TokenRequest {
        method: method.clone(),
        params,
        user,
        status,
    });
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let body = serde_json::to_vec(&reply).unwrap();
    let mut resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    let _ = conn.write_all(&resp);
    let _ = conn.flush();
}

// ---- image fixtures ----

/// /var/cache/berth-test (made if need be).
pub fn cache_dir() -> PathBuf {
    let d = PathBuf::from("/var/cache/berth-test");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// busybox:latest from Debian's busybox-static as a docker-archive tar
/// (scripts/make-busybox-image.sh), made once into /var/cache/berth-test
/// and again when the script or busybox is newer than it.
pub fn busybox_archive() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    let out = cache_dir().join("busybox.tar");
    let newest = [script.clone(), PathBuf::from("/bin/busybox")]
        .iter()
        .filter_map(|p| mtime(p))
        .max();
    if let (Some(have), Some(src)) = (mtime(&out), newest)
        && have >= src
    {
        return out;
    }
    let tmp = cache_dir().join(format!(
        ".busybox.tar.{}-{}",
        std::process::id(),
        random_hex(4)
    ));
    let ok = Command::new("bash")
        .arg(&script)
        .arg(&tmp)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    if !ok {
        let _ = std::fs::remove_file(&tmp);
        panic!("{} failed", script.display());
    }
    // Atomic: parallel tests read a whole tar or make their own.
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// Unmounts what is mounted below `dir` and removes it, also on unwinding.
struct BuildDir(PathBuf);

impl Drop for BuildDir {
    fn drop(&mut self) {
        let prefix = format!("{}/", self.0.display());
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Debian mirror apt uses for bookworm (deb822 .sources or
/// sources.list), else deb.debian.org.
pub fn debian_mirror() -> String {
    let mut texts = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "sources" || e == "list") {
                texts.push((f.clone(), std::fs::read_to_string(&f).unwrap_or_default()));
            }
        }
    }
    texts.insert(
        0,
        (
            PathBuf::from("/etc/apt/sources.list"),
            std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default(),
        ),
    );
    for (f, text) in texts {
        if f.extension().is_some_and(|e| e == "sources") {
            for stanza in text.split("\n\n") {
                let field = |name: &str| {
                    stanza.lines().find_map(|l| {
                        l.strip_prefix(name)
                            .and_then(|r| r.strip_prefix(':'))
                            .map(|v| v.trim().to_string())
                    })
                };
                let suites = field("Suites").unwrap_or_default();
                let types = field("Types").unwrap_or_default();
                if types.split_whitespace().any(|t| t == "deb")
                    && suites.split_whitespace().any(|s| s == "bookworm")
                    && let Some(uri) =
                        field("URIs").and_then(|u| u.split_whitespace().next().map(String::from))
                {
                    return uri;
                }
            }
        } else {
            for l in text.lines() {
                let w: Vec<&str> = l
                    .split_whitespace()
                    .filter(|w| !w.starts_with('['))
                    .collect();
                if w.len() >= 3 && w[0] == "deb" && w[2] == "bookworm" {
                    return w[1].to_string();
                }
            }
        }
    }
    "http://deb.debian.org/debian".into()
}

/// Every path below `root` (relative, "./…"), parents before children,
/// sorted; the contents of dev, proc, sys left out.
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        let r = rel.join(&n);
        out.push(r.clone());
        let md = std::fs::symlink_metadata(root.join(&r)).unwrap();
        let skip = ["./dev", "./proc", "./sys"]
            .iter()
            .any(|s| r == Path::new(s));
        if md.is_dir() && !skip {
            walk(root, &r, out);
        }
    }
}

/// What the Debian image has on top of minbase (to ≈200 MB, the size of a
/// typical application base image).
pub const DEBIAN_EXTRA: &str = "perl,python3,ca-certificates,curl,procps,less,xz-utils";

/// A Debian bookworm image (debootstrap --variant=minbase with
/// [`DEBIAN_EXTRA`], ≈200 MB) in 3
/// layers (the rest, /usr/lib, /usr/share), Cmd ["bash"], as the
/// docker-archive tar /var/cache/berth-test/debian-3layer.tar (tagged
/// `debian:bookworm`), made once (minutes: it downloads from the Debian
/// mirror apt uses), under a lock. None (with a printed reason) when not
/// root, debootstrap is missing or the build fails.
pub fn debian_archive() -> Option<PathBuf> {
    let out = cache_dir().join("debian-3layer.tar");
    if out.exists() {
        return Some(out);
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED the Debian image: debootstrap needs root");
        return None;
    }
    let Some(debootstrap) = which("debootstrap") else {
        eprintln!(
            "SKIPPED the Debian image: debootstrap is not installed (apt-get install debootstrap)"
        );
        return None;
    };
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache_dir().join("debian-3layer.lock"))
        .unwrap();
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("lock debian-3layer.lock");
    if out.exists() {
        return Some(out);
    }
    // Under the lock every build dir left is a dead one's.
    if let Ok(rd) = std::fs::read_dir(cache_dir()) {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("berth-test-debian-build-")
            {
                drop(BuildDir(e.path()));
            }
        }
    }
    let started = Instant::now();
    let work =
        BuildDir(cache_dir().join(format!("berth-test-debian-build-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&work.0);
    let rootfs = work.0.join("rootfs");
    let image = work.0.join("image");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::create_dir_all(image.join("blobs/sha256")).unwrap();
    let mirror = debian_mirror();
    eprintln!(
        "making the Debian image {} (debootstrap from {mirror}; minutes)",
        out.display()
    );
    let log = work.0.join("debootstrap.log");
    let ok = Command::new(debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--include={DEBIAN_EXTRA}"))
        .arg("bookworm")
        .arg(&rootfs)
        .arg(&mirror)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
        ))
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        eprintln!(
            "SKIPPED the Debian image: debootstrap failed:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        return None;
    }
    // What an image does not need: downloaded packages, apt lists.
    for d in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        if let Ok(rd) = std::fs::read_dir(rootfs.join(d)) {
            for e in rd.flatten() {
                if e.path().is_file() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    let _ = std::fs::remove_file(rootfs.join("var/log/bootstrap.log"));
    let arch =
        String::from_utf8_lossy(&run(Command::new("dpkg").arg("--print-architecture")).stdout)
            .trim()
            .to_string();

    let mut all = Vec::new();
    walk(&rootfs, Path::new("."), &mut all);
    // The layers: what is below ./usr/lib, what is below ./usr/share,
    // and the rest (first).
    let parts = ["", "./usr/lib", "./usr/share"];
    let part_of = |p: &Path| {
        parts
            .iter()
            .rposition(|pre| !pre.is_empty() && p.starts_with(pre) && p != Path::new(pre))
            .unwrap_or(0)
    };
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (i, part) in parts.iter().enumerate() {
        let created_by = match *part {
            "" => format!(
                "debootstrap --variant=minbase --include={DEBIAN_EXTRA} bookworm: all but /usr/lib, /usr/share"
            ),
            p => format!(
                "debootstrap --variant=minbase --include={DEBIAN_EXTRA} bookworm: {}",
                &p[1..]
            ),
        };
        let list = work.0.join(format!("layer-{i}.list"));
        let mut names = Vec::new();
        for p in all.iter().filter(|p| part_of(p) == i) {
            names.extend_from_slice(p.as_os_str().as_encoded_bytes());
            names.push(0);
        }
        std::fs::write(&list, names).unwrap();
        let tar = work.0.join(format!("layer-{i}.tar"));
        run(Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["--numeric-owner", "--no-recursion", "--null", "-T"])
            .arg(&list)
            .arg("-cf")
            .arg(&tar));
        let hex = sha256_hex(&tar);
        std::fs::rename(&tar, image.join("blobs/sha256").join(&hex)).unwrap();
        layers.push(format!("blobs/sha256/{hex}"));
        diff_ids.push(format!("sha256:{hex}"));
        history.push(json!({"created": created, "created_by": created_by}));
    }
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["bash"],
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let cfg = image.join("config.json");
    std::fs::write(&cfg, serde_json::to_vec(&config).unwrap()).unwrap();
    let cfg_hex = sha256_hex(&cfg);
    std::fs::rename(&cfg, image.join("blobs/sha256").join(&cfg_hex)).unwrap();
    let manifest = json!([{
        "Config": format!("blobs/sha256/{cfg_hex}"),
        "RepoTags": ["debian:bookworm"],
        "Layers": layers,
    }]);
    std::fs::write(
        image.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let tmp = work.0.join("debian-3layer.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&image)
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-cf",
        ])
        .arg(&tmp)
        .arg("."));
    std::fs::rename(&tmp, &out).unwrap();
    eprintln!(
        "made {} ({} MB) in {:.0?}",
        out.display(),
        std::fs::metadata(&out).map(|m| m.len() >> 20).unwrap_or(0),
        started.elapsed()
    );
    Some(out)
}
