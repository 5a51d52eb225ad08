//! Registry credentials as the docker CLI keeps them: `config.json` in the
//! config directory (`--config`, else `DOCKER_CONFIG`, else `~/.docker`),
//! its `auths` (base64 `user:password`), and credential helpers
//! (`credsStore`, `credHelpers`: `docker-credential-<name> store|get|erase`
//! speaking JSON on stdin/stdout). Reading, writing and the messages follow
//! docker's `configfile` and `credentials` packages.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, anyhow};
use base64::Engine as _;
use berth_api::auth::{AuthConfig, HelperCredentials};
use berth_api::cli::ConfigFile;

pub use berth_api::cli::INDEX_SERVER;

const CONFIG_FILE_NAME: &str = "config.json";
const HELPER_PREFIX: &str = "docker-credential-";

/// docker prints the "stored unencrypted" warning once per process.
static WARNED_UNENCRYPTED: AtomicBool = AtomicBool::new(false);

/// `config.json`, loaded: `auths` entries have `username`/`password`
/// decoded from `auth` and `serveraddress` set to their key.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub file: ConfigFile,
}

/// The config directory: the `--config` flag, `DOCKER_CONFIG`, `~/.docker`.
pub fn config_dir(flag: Option<&str>) -> PathBuf {
    if let Some(d) = flag.filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(home_from_passwd)
        .unwrap_or_default();
    home.join(".docker")
}

fn home_from_passwd() -> Option<PathBuf> {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.dir)
}

/// docker's `ConvertToHostname`: `https://host:5000/v2/` → `host:5000`.
pub fn convert_to_hostname(maybe_url: &str) -> String {
    let mut s = maybe_url;
    if let Some(i) = s.find("://") {
        let rest = &s[i + 3..];
        let hostport = rest.split(['/', '?', '#']).next().unwrap_or("");
        let hostport = hostport.rsplit('@').next().unwrap_or("");
        if !hostport.is_empty() && !hostport.starts_with(':') {
            return hostport.to_string();
        }
        s = maybe_url;
    }
    s.split('/').next().unwrap_or("").to_string()
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(bin);
            std::fs::metadata(&f).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

/// docker's `DetectDefaultStore` on Linux: `pass` if both `pass` and its
/// helper are installed, else `secretservice` if its helper is.
fn default_store() -> String {
    let platform = if on_path("pass") {
        "pass"
    } else {
        "secretservice"
    };
    if on_path(&format!("{HELPER_PREFIX}{platform}")) {
        platform.to_string()
    } else {
        String::new()
    }
}

fn decode_auth(auth: &str) -> Result<(String, String), String> {
    if auth.is_empty() {
        return Ok((String::new(), String::new()));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(i, _)
                | base64::DecodeError::InvalidLastSymbol(i, _) => i,
                _ => auth.len(),
            };
            format!("illegal base64 data at input byte {at}")
        })?;
    let text = String::from_utf8_lossy(&raw);
    match text.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok((u.to_string(), p.trim_matches('\0').to_string())),
        _ => Err("Invalid auth configuration file".into()),
    }
}

fn encode_auth(a: &AuthConfig) -> String {
    if a.username.is_empty() && a.password.is_empty() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", a.username, a.password))
}

/// Go's json.Marshal escapes `<`, `>`, `&`, U+2028 and U+2029 (only
/// strings can hold them in JSON).
fn escape_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

impl Config {
    /// `LoadDefaultConfigFile`: a broken file is reported on stderr
    /// (`WARNING: Error …`) and what could be read is used.
    pub fn load_default(dir_flag: Option<&str>) -> Config {
        let (mut c, err) = Config::load(&config_dir(dir_flag).join(CONFIG_FILE_NAME));
        if let Some(e) = err {
            eprintln!("WARNING: Error {e}");
        }
        if !c.contains_auth() {
            c.file.creds_store = default_store();
        }
        c
    }

    /// Reads `path` (a missing file is an empty config); the error, if any,
    /// in docker's words, next to what was read.
    pub fn load(path: &Path) -> (Config, Option<String>) {
        let mut c = Config {
            path: path.to_path_buf(),
            file: ConfigFile::default(),
        };
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (c, None),
            Err(e) => {
                let msg = format!(
                    "loading config file: open {}: {}",
                    path.display(),
                    crate::opts::io_msg(&e)
                );
                return (c, Some(msg));
            }
        };
        if data.iter().all(u8::is_ascii_whitespace) {
            return (c, None);
        }
        match berth_api::json::decode::<ConfigFile>(&data, "configfile.ConfigFile") {
            Ok(f) => c.file = f,
            Err(e) => {
                let e = e.to_string();
                let e = e.strip_prefix("invalid JSON: ").unwrap_or(&e).to_string();
                return (
                    c,
                    Some(format!("parsing config file ({}): {e}", path.display())),
                );
            }
        }
        for (addr, a) in c.file.auths.iter_mut() {
            if !a.auth.is_empty() {
                match decode_auth(&a.auth) {
                    Ok((u, p)) => {
                        a.username = u;
                        a.password = p;
                    }
                    Err(e) => {
                        let msg = format!("parsing config file ({}): {e}", path.display());
                        return (c, Some(msg));
                    }
                }
            }
            a.auth.clear();
            a.serveraddress = addr.clone();
        }
        (c, None)
    }

    pub fn contains_auth(&self) -> bool {
        !self.file.creds_store.is_empty()
            || !self.file.cred_helpers.is_empty()
            || !self.file.auths.is_empty()
    }

    /// The file's bytes as docker writes them: tab-indented, `auth`
    /// encoded, no trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut f = self.file.clone();
        for a in f.auths.values_mut() {
            a.auth = encode_auth(a);
            a.username.clear();
            a.password.clear();
            a.serveraddress.clear();
        }
        f.http_headers
            .retain(|k, _| !k.eq_ignore_ascii_case("User-Agent"));
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        serde::Serialize::serialize(&f, &mut ser).expect("config serialises");
        escape_html(&String::from_utf8_lossy(&out)).into_bytes()
    }

    /// Writes the file atomically (a temporary file renamed over it, or
    /// over what it links to), keeping its mode and owner.
    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let mut target = self.path.clone();
        if let Ok(t) = std::fs::canonicalize(&self.path) {
            target = t;
        } else if let Ok(link) = std::fs::read_link(&self.path) {
            target = dir.join(link);
        }
        let base = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| CONFIG_FILE_NAME.into());
        let mut tmp = tempfile::Builder::new()
            .prefix(&base)
            .rand_bytes(9)
            .tempfile_in(&dir)?;
        tmp.write_all(&self.to_bytes())?;
        tmp.as_file().sync_all().ok();
        if let Ok(m) = std::fs::metadata(&target) {
            let _ = std::fs::set_permissions(
                tmp.path(),
                std::fs::Permissions::from_mode(m.mode() & 0o7777),
            );
            let _ = std::os::unix::fs::chown(tmp.path(), Some(m.uid()), Some(m.gid()));
        }
        tmp.persist(&target).map_err(|e| anyhow!("{}", e.error))?;
        Ok(())
    }

    /// The helper that holds `server`'s credentials (`credHelpers`, then
    /// `credsStore`), if any.
    pub fn helper_for(&self, server: &str) -> Option<String> {
        if !server.is_empty()
            && let Some(h) = self.file.cred_helpers.get(server)
        {
            return Some(h.clone());
        }
        Some(self.file.creds_store.clone()).filter(|s| !s.is_empty())
    }

    fn file_get(&self, server: &str) -> AuthConfig {
        if let Some(a) = self.file.auths.get(server) {
            return a.clone();
        }
        self.file
            .auths
            .iter()
            .find(|(k, _)| convert_to_hostname(k) == server)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    }

    /// `GetAuthConfig`: the credentials stored for `server` (empty if none).
    pub fn get(&self, server: &str) -> Result<AuthConfig> {
        let Some(helper) = self.helper_for(server) else {
            return Ok(self.file_get(server));
        };
        let mut auth = self.file_get(server);
        let Some(creds) = helper_get(&helper, server)? else {
            return Ok(auth);
        };
        if creds.username == HelperCredentials::TOKEN_USERNAME {
            auth.username.clear();
            auth.password.clear();
            auth.identitytoken = creds.secret;
        } else {
            auth.username = creds.username;
            auth.password = creds.secret;
            auth.identitytoken.clear();
        }
        auth.serveraddress = server.to_string();
        Ok(auth)
    }

    /// Stores `auth` under its `serveraddress`: in the helper (the file
    /// keeps an entry without secrets), or in the file, with docker's
    /// warning about unencrypted storage.
    pub fn store(&mut self, mut auth: AuthConfig) -> Result<()> {
        if let Some(helper) = self.helper_for(&auth.serveraddress) {
            let creds = if auth.identitytoken.is_empty() {
                HelperCredentials {
                    server_url: auth.serveraddress.clone(),
                    username: auth.username.clone(),
                    secret: auth.password.clone(),
                }
            } else {
                HelperCredentials {
                    server_url: auth.serveraddress.clone(),
                    username: HelperCredentials::TOKEN_USERNAME.into(),
                    secret: auth.identitytoken.clone(),
                }
            };
            let mut input = serde_json::to_vec(&creds)?;
            input.push(b'\n');
            run_helper(&helper, "store", &input)
                .map_err(|e| anyhow!("error storing credentials - {e}"))?;
            auth.username.clear();
            auth.password.clear();
            auth.identitytoken.clear();
            return self.file_store(auth, false);
        }
        self.file_store(auth, true)
    }

    fn file_store(&mut self, auth: AuthConfig, warn: bool) -> Result<()> {
        if self.file.auths.get(&auth.serveraddress) == Some(&auth) {
            return Ok(());
        }
        let has_password = !auth.password.is_empty();
        self.file.auths.insert(auth.serveraddress.clone(), auth);
        self.save()?;
        if warn && has_password && !WARNED_UNENCRYPTED.swap(true, Ordering::SeqCst) {
            eprintln!(
                "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
                self.path.display()
            );
        }
        Ok(())
    }

    /// Removes `server`'s credentials (from its helper, then the file).
    pub fn erase(&mut self, server: &str) -> Result<()> {
        if let Some(helper) = self.helper_for(server) {
            run_helper(&helper, "erase", server.as_bytes())
                .map_err(|e| anyhow!("error erasing credentials - {e}"))?;
        }
        if self.file.auths.remove(server).is_some() {
            self.save()?;
        }
        Ok(())
    }
}

/// A helper's `get`: None when it holds nothing for `server`.
fn helper_get(helper: &str, server: &str) -> Result<Option<HelperCredentials>> {
    match run_helper(helper, "get", server.as_bytes()) {
        Ok(out) => {
            let mut c: HelperCredentials = serde_json::from_slice(&out)
                .map_err(|e| anyhow!("error getting credentials - {e}"))?;
            if c.server_url.is_empty() {
                c.server_url = server.to_string();
            }
            Ok(Some(c))
        }
        Err(HelperError { out, .. }) if out.trim() == HelperCredentials::NOT_FOUND => Ok(None),
        Err(e) => Err(anyhow!("error getting credentials - {e}")),
    }
}

/// A failed helper run: Go's exec error and what the helper printed.
#[derive(Debug)]
struct HelperError {
    err: String,
    out: String,
}

impl std::fmt::Display for HelperError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let out = self.out.trim();
        let err = if out == "no credentials server URL" || out == "no credentials username" {
            out
        } else {
            &self.err
        };
        write!(f, "err: {err}, out: `{out}`")
    }
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin; its
/// stdout, or the failure.
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>, HelperError> {
    let prog = format!("{HELPER_PREFIX}{helper}");
    let mut child = match Command::new(&prog)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let err = if e.kind() == std::io::ErrorKind::NotFound {
                format!("exec: \"{prog}\": executable file not found in $PATH")
            } else {
                format!("fork/exec {prog}: {}", crate::opts::io_msg(&e))
            };
            return Err(HelperError {
                err,
                out: String::new(),
            });
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output();
    let _ = writer.join();
    let out = out.map_err(|e| HelperError {
        err: e.to_string(),
        out: String::new(),
    })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    use std::os::unix::process::ExitStatusExt;
    let err = match (out.status.code(), out.status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("signal: {}", signal_name(s)),
        _ => "exit status 1".into(),
    };
    Err(HelperError {
        err,
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

fn signal_name(s: i32) -> String {
    match s {
        libc::SIGKILL => "killed".into(),
        libc::SIGTERM => "terminated".into(),
        libc::SIGINT => "interrupt".into(),
        libc::SIGSEGV => "segmentation fault".into(),
        libc::SIGABRT => "aborted".into(),
        _ => format!("signal {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn auth(server: &str, user: &str, pass: &str) -> AuthConfig {
        AuthConfig {
            username: user.into(),
            password: pass.into(),
            serveraddress: server.into(),
            ..Default::default()
        }
    }

    #[test]
    fn hostnames() {
        assert_eq!(
            convert_to_hostname("https://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(convert_to_hostname("http://reg.example"), "reg.example");
        assert_eq!(
            convert_to_hostname("reg.example:5000/path"),
            "reg.example:5000"
        );
        assert_eq!(convert_to_hostname("reg.example"), "reg.example");
        assert_eq!(
            convert_to_hostname("https://index.docker.io/v1/"),
            "index.docker.io"
        );
    }

    #[test]
    fn file_store_in_dockers_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg").join("config.json");
        let (mut c, err) = Config::load(&path);
        assert!(err.is_none() && !c.contains_auth());
        c.store(auth("127.0.0.1:5000", "user", "pass")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\n\t\"auths\": {\n\t\t\"127.0.0.1:5000\": {\n\t\t\t\"auth\": \"dXNlcjpwYXNz\"\n\t\t}\n\t}\n}"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);

        // read back: decoded, keyed, found by hostname too
        let (c, err) = Config::load(&path);
        assert!(err.is_none());
        let a = c.get("127.0.0.1:5000").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("user", "pass"));
        assert_eq!(a.serveraddress, "127.0.0.1:5000");
        assert!(a.auth.is_empty());
        assert_eq!(c.get("other").unwrap(), AuthConfig::default());

        // an identity token replaces the password
        let mut c = c;
        let mut t = auth("r.example", "user", "");
        t.identitytoken = "tok".into();
        c.store(t).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"r.example\": {\n\t\t\t\"auth\": \"dXNlcjo=\",\n\t\t\t\"identitytoken\": \"tok\"\n\t\t}"),
            "{text}"
        );

        c.erase("127.0.0.1:5000").unwrap();
        c.erase("never.stored").unwrap();
        let (c, _) = Config::load(&path);
        assert_eq!(c.file.auths.keys().collect::<Vec<_>>(), ["r.example"]);
    }

    #[test]
    fn keeps_other_settings_and_finds_urls_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"psFormat":"table {{.ID}}","auths":{"https://reg.example:5000/":{"auth":"dTpw","email":"a@b"}},"custom":{"k":1}}"#,
        )
        .unwrap();
        let (mut c, err) = Config::load(&path);
        assert!(err.is_none(), "{err:?}");
        let a = c.get("reg.example:5000").unwrap();
        assert_eq!((a.username.as_str(), a.email.as_str()), ("u", "a@b"));
        assert_eq!(a.serveraddress, "https://reg.example:5000/");
        c.store(auth("reg.example:5000", "u", "p2")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\n\t\"auths\": {\n\t\t\"https://reg.example:5000/\": {\n\t\t\t\"auth\": \"dTpw\",\n\t\t\t\"email\": \"a@b\"\n\t\t},\n\t\t\"reg.example:5000\": {\n\t\t\t\"auth\": \"dTpwMg==\"\n\t\t}\n\t},\n\t\"psFormat\": \"table {{.ID}}\",\n\t\"custom\": {\n\t\t\"k\": 1\n\t}\n}"
        );
    }

    #[test]
    fn broken_files_in_dockers_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}"#).unwrap();
        let (_, err) = Config::load(&path);
        assert_eq!(
            err.unwrap(),
            format!(
                "parsing config file ({}): Invalid auth configuration file",
                path.display()
            )
        );
        std::fs::write(&path, r#"{"auths":{"r":{"auth":"!!"}}}"#).unwrap();
        let (_, err) = Config::load(&path);
        assert!(
            err.unwrap()
                .ends_with("illegal base64 data at input byte 0")
        );
        std::fs::write(&path, "{").unwrap();
        let (c, err) = Config::load(&path);
        assert!(err.unwrap().starts_with("parsing config file ("));
        assert!(c.file.auths.is_empty());
    }

    /// A fake `docker-credential-berthtest` keeping one entry per server in
    /// a directory, speaking the helper protocol.
    fn fake_helper(dir: &Path) -> PathBuf {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let store = dir.join("store");
        std::fs::create_dir_all(&store).unwrap();
        let script = format!(
            r#"#!/bin/sh
store={store}
input=$(cat)
echo "$1 $input" >> {store}/../calls
case "$1" in
store)
  url=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
  key=$(printf '%s' "$url" | tr '/:' '__')
  printf '%s' "$input" > "$store/$key" ;;
get)
  key=$(printf '%s' "$input" | tr '/:' '__')
  if [ -f "$store/$key" ]; then cat "$store/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase)
  key=$(printf '%s' "$input" | tr '/:' '__')
  if [ -f "$store/$key" ]; then rm "$store/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown action"; exit 2 ;;
esac
"#,
            store = store.display()
        );
        let p = bin.join("docker-credential-berthtest");
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    /// PATH is process-wide: the helper tests run one after the other.
    static PATH_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn with_path<T>(bin: &Path, f: impl FnOnce() -> T) -> T {
        let _g = PATH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.to_path_buf()];
        paths.extend(std::env::split_paths(&old));
        // SAFETY: tests touching PATH hold PATH_LOCK; nothing else in this
        // test binary reads PATH concurrently.
        unsafe { std::env::set_var("PATH", std::env::join_paths(paths).unwrap()) };
        let r = f();
        // SAFETY: as above.
        unsafe { std::env::set_var("PATH", old) };
        r
    }

    #[test]
    fn credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_helper(dir.path());
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"credsStore":"berthtest"}"#).unwrap();
        with_path(&bin, || {
            let (mut c, err) = Config::load(&path);
            assert!(err.is_none());
            assert_eq!(c.helper_for("reg:5000").as_deref(), Some("berthtest"));
            assert_eq!(c.get("reg:5000").unwrap(), AuthConfig::default());
            c.store(auth("reg:5000", "user", "pass")).unwrap();
            // the secret is in the helper; the file has an empty entry
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                text,
                "{\n\t\"auths\": {\n\t\t\"reg:5000\": {}\n\t},\n\t\"credsStore\": \"berthtest\"\n}"
            );
            let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
            assert!(
                calls.contains(
                    r#"store {"ServerURL":"reg:5000","Username":"user","Secret":"pass"}"#
                ),
                "{calls}"
            );
            let (c2, _) = Config::load(&path);
            let a = c2.get("reg:5000").unwrap();
            assert_eq!(
                (
                    a.username.as_str(),
                    a.password.as_str(),
                    a.serveraddress.as_str()
                ),
                ("user", "pass", "reg:5000")
            );
            // identity tokens travel as the <token> user
            let mut t = auth("tok.example", "user", "");
            t.identitytoken = "T0K".into();
            c.store(t).unwrap();
            let a = Config::load(&path).0.get("tok.example").unwrap();
            assert_eq!((a.username.as_str(), a.identitytoken.as_str()), ("", "T0K"));
            // erase, then a second erase fails in the helper's words
            c.erase("reg:5000").unwrap();
            assert_eq!(c.get("reg:5000").unwrap().username, "");
            let e = c.erase("reg:5000").unwrap_err().to_string();
            assert_eq!(
                e,
                "error erasing credentials - err: exit status 1, out: `credentials not found in native keychain`"
            );
        });
    }

    #[test]
    fn cred_helpers_per_registry_and_missing_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_helper(dir.path());
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"plain.example":{"auth":"dTpw"}},"credHelpers":{"helped.example":"berthtest","gone.example":"berth-no-such-helper"}}"#,
        )
        .unwrap();
        with_path(&bin, || {
            let (mut c, _) = Config::load(&path);
            assert_eq!(c.helper_for("plain.example"), None);
            assert_eq!(c.get("plain.example").unwrap().username, "u");
            c.store(auth("helped.example", "h", "s")).unwrap();
            assert_eq!(c.get("helped.example").unwrap().password, "s");
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains("\"helped.example\": {}"), "{text}");
            let e = c.get("gone.example").unwrap_err().to_string();
            assert_eq!(
                e,
                "error getting credentials - err: exec: \"docker-credential-berth-no-such-helper\": executable file not found in $PATH, out: ``"
            );
        });
    }
}
