//! `berth build` (and `builder build`/`builder prune`): the context made
//! into a tar as the docker CLI makes it (`.dockerignore` applied, owners
//! 0:0, a Dockerfile from outside the context or stdin injected under a
//! random name), sent to `POST /build`, and the build shown: plain lines,
//! or on a terminal a live view of the steps (`--progress`).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use berth_api::jsonmessage::JsonMessage;
use berth_api::query;
use berth_client::context;
use clap::Args;

use super::Ctx;

#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret,src=/local/secret")
    #[arg(long)]
    pub secret: Vec<String>,
    /// Set type of progress output ("auto", "plain", "tty")
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Build context: a directory, a git repository, or "-"
    pub context: String,
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long)]
    pub keep_storage: Option<String>,
}

/// `builder prune`.
pub fn prune(ctx: &Ctx, a: BuilderPruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !a.force && !super::container::misc::confirm(warning) {
        return Ok(0);
    }
    let mut filters = berth_api::filters::Filters::default();
    for f in &a.filter {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            crate::status(
                125,
                format!("bad format of filter (expected name=value): {f}"),
            )
        })?;
        filters.add(k, v);
    }
    let keep = a
        .keep_storage
        .as_deref()
        .map(berth_api::units::ram_in_bytes)
        .transpose()
        .map_err(|e| crate::status(125, format!("invalid argument for --keep-storage: {e}")))?;
    let client = ctx.client()?;
    let r = client.build_prune(&query::system::BuildPrune {
        all: a.all,
        filters,
        keep_storage: keep,
    })?;
    if let Some(ids) = &r.caches_deleted
        && !ids.is_empty()
    {
        println!("Deleted build cache objects:");
        for id in ids {
            println!("{id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        berth_api::units::human_size(r.space_reclaimed as f64)
    );
    Ok(0)
}

/// The context as a tar, and the Dockerfile name to ask for.
fn make_context(
    a: &BuildArgs,
    secrets: &[(String, Vec<u8>)],
) -> Result<(Vec<u8>, String, Option<tempfile::TempDir>)> {
    let mut dockerfile = a.file.clone().unwrap_or_default();
    if a.context == "-" {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)?;
        if a.file.as_deref() == Some("-") {
            return Err(crate::status(
                125,
                "invalid argument: can't use stdin for both build context and dockerfile",
            ));
        }
        if context::looks_like_archive(&input) {
            if secrets.is_empty() {
                return Ok((input, dockerfile, None));
            }
            return Err(crate::status(125, "--secret needs a directory context"));
        }
        // A Dockerfile on stdin, with an empty context.
        let tar = context::dockerfile_context(&input, &secret_files(secrets))
            .map_err(|e| crate::status(1, e.0))?;
        return Ok((tar, "Dockerfile".into(), None));
    }
    // A git repository is cloned (shallow) and its tree is the context.
    let mut tmp = None;
    let mut dir = PathBuf::from(&a.context);
    let is_git = a.context.starts_with("git@")
        || a.context.starts_with("git://")
        || a.context.ends_with(".git")
        || (a.context.starts_with("file://") && a.context.contains(".git"))
        || a.context
            .split('#')
            .next()
            .is_some_and(|p| p.ends_with(".git"));
    if is_git {
        let (url, frag) = a.context.split_once('#').unwrap_or((&a.context, ""));
        let (reference, subdir) = frag.split_once(':').unwrap_or((frag, ""));
        let t = tempfile::Builder::new()
            .prefix("berth-build-git-")
            .tempdir()?;
        let mut cmd = std::process::Command::new("git");
        cmd.args(["clone", "--quiet", "--recurse-submodules"]);
        if !reference.is_empty() {
            cmd.args(["--branch", reference]);
        }
        cmd.arg(url).arg(t.path().join("repo"));
        let o = cmd
            .output()
            .map_err(|e| anyhow!("unable to prepare context: git: {e}"))?;
        if !o.status.success() {
            return Err(crate::status(
                1,
                format!(
                    "unable to prepare context: unable to 'git clone' to temporary context directory: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            ));
        }
        let repo = t.path().join("repo");
        let _ = std::fs::remove_dir_all(repo.join(".git"));
        dir = if subdir.is_empty() {
            repo
        } else {
            repo.join(subdir)
        };
        tmp = Some(t);
    }
    if !dir.is_dir() {
        return Err(crate::status(
            1,
            format!("unable to prepare context: path {:?} not found", a.context),
        ));
    }
    // The Dockerfile: in the context (named relative to it), outside, or stdin.
    let df = if dockerfile == "-" {
        let mut d = Vec::new();
        std::io::stdin().read_to_end(&mut d)?;
        context::Dockerfile::Text(d)
    } else if !dockerfile.is_empty() {
        context::Dockerfile::Path {
            path: PathBuf::from(&dockerfile),
            base: std::env::current_dir()?,
        }
    } else {
        context::Dockerfile::Default
    };
    let (tar, name) = context::dir_context(&dir, &df, &secret_files(secrets))
        .map_err(|e| crate::status(1, e.0))?;
    dockerfile = name;
    Ok((tar, dockerfile, tmp))
}

/// `--build-arg K=V` and `--build-arg K` (its value from the environment,
/// if set), as `berth build` and `berth compose build` take them.
pub fn build_arg_values(flags: &[String]) -> std::collections::BTreeMap<String, Option<String>> {
    flags
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (kv.clone(), std::env::var(kv).ok()),
        })
        .collect()
}

/// `--secret` files, sent beside the context for `RUN --mount=type=secret`.
fn secret_files(secrets: &[(String, Vec<u8>)]) -> Vec<context::Extra<'_>> {
    secrets
        .iter()
        .map(|(id, data)| context::Extra {
            name: format!(".berth-build-secrets/{id}"),
            data,
            mode: 0o400,
        })
        .collect()
}

/// `--secret id=x,src=path` (also `env=VAR`).
fn read_secrets(specs: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for s in specs {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", _)) => {}
                _ => return Err(crate::status(125, format!("invalid secret: {s}"))),
            }
        }
        let id =
            id.ok_or_else(|| crate::status(125, format!("invalid secret: {s}: id is required")))?;
        if id.contains('/') || id.starts_with('.') {
            return Err(crate::status(125, format!("invalid secret id: {id}")));
        }
        let data = match (src, env) {
            (Some(p), _) => std::fs::read(&p)
                .map_err(|e| anyhow!("failed to read secret {id} from {p}: {e}"))?,
            (None, Some(v)) => std::env::var(&v).unwrap_or_default().into_bytes(),
            (None, None) => std::env::var(&id)
                .map(String::into_bytes)
                .map_err(|_| crate::status(125, format!("invalid secret: {s}: src is required")))?,
        };
        out.push((id, data));
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, a: BuildArgs) -> Result<i32> {
    if !matches!(
        a.progress.as_str(),
        "auto" | "plain" | "tty" | "quiet" | "rawjson"
    ) {
        return Err(crate::status(
            125,
            format!("invalid progress mode {:?}", a.progress),
        ));
    }
    let secrets = read_secrets(&a.secret)?;
    let (tar, dockerfile, _tmp) = make_context(&a, &secrets)?;
    // A name alone takes its value from the environment (none: null).
    let build_args: serde_json::Map<String, serde_json::Value> = build_arg_values(&a.build_arg)
        .into_iter()
        .map(|(k, v)| (k, v.map_or(serde_json::Value::Null, Into::into)))
        .collect();
    let mut labels = serde_json::Map::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.into(), v.into());
    }
    let size = |s: &Option<String>, what: &str| -> Result<Option<i64>> {
        s.as_deref()
            .map(berth_api::units::ram_in_bytes)
            .transpose()
            .map_err(|e| crate::status(125, format!("invalid argument for {what}: {e}")))
    };
    let q = query::build::Build {
        tags: a.tag.clone(),
        dockerfile,
        quiet: a.quiet,
        nocache: a.no_cache,
        rm: Some(a.rm),
        forcerm: a.force_rm,
        pull: a.pull,
        buildargs: serde_json::Value::Object(build_args).to_string(),
        labels: serde_json::Value::Object(labels).to_string(),
        cachefrom: serde_json::to_string(&a.cache_from)?,
        target: a.target.clone().unwrap_or_default(),
        platform: a.platform.clone().unwrap_or_default(),
        networkmode: a.network.clone(),
        extrahosts: a.add_host.clone(),
        shmsize: size(&a.shm_size, "--shm-size")?,
        memory: size(&a.memory, "-m")?,
        cpushares: a.cpu_shares,
        cpusetcpus: a.cpuset_cpus.clone().unwrap_or_default(),
        version: "1".into(),
        ..Default::default()
    };
    let creds = crate::credentials::Config::load_default(ctx.config_dir.as_deref());
    let mut rc = berth_api::auth::RegistryConfig::new();
    for server in creds.file.auths.keys() {
        if let Ok(auth) = creds.get(server) {
            rc.insert(server.clone(), auth);
        }
    }
    let client = ctx.client()?;
    let mut body = &tar[..];
    let resp = client.image_build(&q, &rc, &mut body)?;
    let tty = match a.progress.as_str() {
        "tty" => true,
        "plain" | "quiet" | "rawjson" => false,
        _ => std::io::stderr().is_terminal(),
    };
    let (id, failure) = show(resp, a.quiet, tty, &a.tag)?;
    if let Some((code, message)) = failure {
        return Err(crate::status(code, message));
    }
    let id = id.ok_or_else(|| anyhow!("the daemon did not report the image ID"))?;
    if a.quiet {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).map_err(|e| anyhow!("Failed to write image ID to file: {e}"))?;
    }
    Ok(0)
}

/// Shows the build's messages; answers the image ID and a failure
/// (exit code, message).
#[allow(clippy::type_complexity)]
fn show(
    resp: impl Read,
    quiet: bool,
    tty: bool,
    tags: &[String],
) -> Result<(Option<String>, Option<(i32, String)>)> {
    let mut id = None;
    let mut view = TtyView::new(tty && !quiet);
    let mut out = std::io::stdout().lock();
    let de = serde_json::Deserializer::from_reader(std::io::BufReader::new(resp));
    for m in de.into_iter::<JsonMessage>() {
        let m = m.map_err(|e| anyhow!("{e}"))?;
        if let Some(a) = &m.aux {
            if let Ok(r) = serde_json::from_value::<berth_api::build::BuildResult>(a.clone())
                && !r.id.is_empty()
            {
                id = Some(r.id);
            }
            continue;
        }
        if let Some(e) = &m.error_detail {
            view.finish(None, tags);
            let code = e.code.filter(|c| *c != 0).unwrap_or(1) as i32;
            return Ok((id, Some((code, e.message.clone()))));
        }
        let text = m
            .stream
            .clone()
            .or_else(|| {
                m.status.clone().map(|s| match &m.id {
                    Some(i) => format!("{i}: {s}\n"),
                    None => format!("{s}\n"),
                })
            })
            .unwrap_or_default();
        if quiet {
            continue;
        }
        if view.on {
            view.feed(&text);
        } else {
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    view.finish(id.as_deref(), tags);
    Ok((id, None))
}

/// A live view of the steps on a terminal, as BuildKit draws it: one
/// line per step with its time (or CACHED), the running step's last
/// output lines under it, redrawn in place.
struct TtyView {
    on: bool,
    start: Instant,
    steps: Vec<StepView>,
    partial: String,
    drawn: usize,
    last_draw: Instant,
}

struct StepView {
    title: String,
    start: Instant,
    end: Option<Instant>,
    cached: bool,
    logs: Vec<String>,
}

impl TtyView {
    fn new(on: bool) -> TtyView {
        TtyView {
            on,
            start: Instant::now(),
            steps: Vec::new(),
            partial: String::new(),
            drawn: 0,
            last_draw: Instant::now() - Duration::from_secs(1),
        }
    }

    fn feed(&mut self, text: &str) {
        self.partial.push_str(text);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line(line.trim_end_matches('\n'));
        }
        if self.last_draw.elapsed() > Duration::from_millis(100) {
            self.draw(false);
        }
    }

    fn line(&mut self, l: &str) {
        if let Some(rest) = l.strip_prefix("Step ") {
            let now = Instant::now();
            if let Some(s) = self.steps.last_mut() {
                s.end.get_or_insert(now);
            }
            let (num, title) = rest.split_once(" : ").unwrap_or((rest, ""));
            self.steps.push(StepView {
                title: format!("[{num}] {title}"),
                start: now,
                end: None,
                cached: false,
                logs: Vec::new(),
            });
            return;
        }
        if l == " ---> Using cache" {
            if let Some(s) = self.steps.last_mut() {
                s.cached = true;
            }
            return;
        }
        if l.starts_with(" ---> ") || l.starts_with("Removing intermediate container") {
            return;
        }
        if let Some(s) = self.steps.last_mut() {
            s.logs.push(l.to_string());
        }
    }

    fn draw(&mut self, done: bool) {
        let mut e = std::io::stderr().lock();
        let width = (crate::term::term_size().1 as usize).max(20);
        let mut lines = Vec::new();
        let finished = self.steps.iter().filter(|s| s.end.is_some()).count()
            + usize::from(done && !self.steps.is_empty());
        lines.push(format!(
            "[+] Building {:.1}s ({}/{}){}",
            self.start.elapsed().as_secs_f64(),
            finished.min(self.steps.len()),
            self.steps.len(),
            if done { " FINISHED" } else { "" }
        ));
        let n = self.steps.len();
        for (i, s) in self.steps.iter().enumerate() {
            let running = s.end.is_none() && !done;
            let t = s
                .end
                .unwrap_or_else(Instant::now)
                .duration_since(s.start)
                .as_secs_f64();
            let head = if s.cached {
                format!(" => CACHED {}", s.title)
            } else {
                format!(" => {}", s.title)
            };
            let time = if s.cached {
                String::new()
            } else {
                format!("{t:.1}s")
            };
            let room = width.saturating_sub(time.len() + 1);
            let mut h: String = head.chars().take(room).collect();
            while h.chars().count() < room {
                h.push(' ');
            }
            lines.push(format!("{h}{time}"));
            if running || (i + 1 == n && !done) {
                for l in s.logs.iter().rev().take(6).rev() {
                    lines.push(format!(" => => {}", l).chars().take(width).collect());
                }
            }
        }
        if self.drawn > 0 {
            let _ = write!(e, "\x1b[{}A", self.drawn);
        }
        for l in &lines {
            let _ = writeln!(e, "\x1b[2K{l}");
        }
        self.drawn = lines.len();
        let _ = e.flush();
        self.last_draw = Instant::now();
    }

    fn finish(&mut self, id: Option<&str>, tags: &[String]) {
        if !self.on {
            return;
        }
        if !self.partial.is_empty() {
            let p = std::mem::take(&mut self.partial);
            self.line(&p);
        }
        if let Some(s) = self.steps.last_mut() {
            s.end.get_or_insert(Instant::now());
        }
        self.draw(true);
        if let Some(id) = id {
            eprintln!(" => => writing image {id}");
            for t in tags {
                eprintln!(" => => naming to {t}");
            }
        } else if let Some(s) = self.steps.last() {
            // The failing step's output, whole.
            for l in &s.logs {
                eprintln!("{l}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_honours_dockerignore() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(
            d.join(".dockerignore"),
            "*.log\n!keep.log\nsecret/\nDockerfile\n",
        )
        .unwrap();
        std::fs::write(d.join("a.log"), "").unwrap();
        std::fs::write(d.join("keep.log"), "").unwrap();
        std::fs::create_dir(d.join("secret")).unwrap();
        std::fs::write(d.join("secret/x"), "").unwrap();
        std::fs::write(d.join("f"), "").unwrap();
        let a = BuildArgs {
            context: d.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let (tar, name, _) = make_context(&a, &[]).unwrap();
        assert_eq!(name, "");
        let mut ar = tar::Archive::new(&tar[..]);
        let mut names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec![".dockerignore", "Dockerfile", "f", "keep.log"]);
    }

    #[test]
    fn view_tracks_steps() {
        let mut v = TtyView::new(false);
        v.feed(
            "Step 1/2 : FROM busybox\n ---> abc\nStep 2/2 : RUN echo hi\n ---> Running in x\nhi\n",
        );
        assert_eq!(v.steps.len(), 2);
        assert_eq!(v.steps[1].logs, vec!["hi"]);
        assert_eq!(v.steps[0].title, "[1/2] FROM busybox");
    }
}
