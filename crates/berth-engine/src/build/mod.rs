//! The builder's executor (`POST /build`): the context unpacked
//! ([`context`]), the Dockerfile parsed and planned by berth-build, the
//! stages the target needs run — each as soon as the stages it needs are
//! done, so independent ones run at once — and every step turned into an
//! image: metadata steps derive a config, RUN runs a container through the
//! same runtime and snapshots as `run` and commits its diff, COPY/ADD
//! write into a snapshot mounted on the parent ([`copy`]). A step's cache
//! key ([`berth_build::cache`]) maps to the image it made
//! (`<data-root>/build/cache/<key>`), so the cache survives restarts.
//! What a build creates is journaled (`<data-root>/build/journal/`) until
//! it ends, so a build killed with the daemon is undone at the next start.

pub mod context;
pub mod copy;
mod journal;
mod prune;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_api::auth::{AuthConfig, RegistryConfig};
use berth_api::container::Config;
use berth_api::jsonmessage::JsonMessage;
use berth_api::query;
use berth_build::instructions::{Copy, Instruction, Stage, Stages, Step};
use berth_build::plan::{self, BuildArgs, Plan, StageArgs};
use berth_build::shell::Lexer;
use tokio::sync::{mpsc, watch};

use crate::util::{blocking, new_id};
use crate::{Engine, Error, Result};

pub use journal::{Journal, Leftovers};

/// What `POST /build` asks, typed.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub tags: Vec<berth_image::Reference>,
    pub dockerfile: String,
    pub build_args: BTreeMap<String, Option<String>>,
    pub target: String,
    pub no_cache: bool,
    pub pull: bool,
    /// Remove intermediate containers (default true).
    pub rm: bool,
    pub labels: BTreeMap<String, String>,
    pub cache_from: Vec<String>,
    pub network_mode: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: i64,
    pub memory: i64,
    pub memory_swap: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cgroup_parent: String,
    pub platform: String,
    pub quiet: bool,
    pub auth: RegistryConfig,
    /// `buildid`, for `/build/cancel`.
    pub build_id: String,
}

fn json_param<T: serde::de::DeserializeOwned + Default>(what: &str, s: &str) -> Result<T> {
    if s.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(s).map_err(|e| Error::invalid(format!("invalid {what} specified: {e}")))
}

impl BuildOptions {
    /// From the query and `X-Registry-Config`.
    pub fn from_query(q: &query::build::Build, auth: RegistryConfig) -> Result<BuildOptions> {
        if q.version == "2" {
            return Err(Error::invalid(
                "BuildKit is not supported by this daemon: use the classic builder (DOCKER_BUILDKIT=0)",
            ));
        }
        if !q.remote.is_empty() {
            return Err(Error::invalid(
                "remote build contexts are not supported: send the context as the request body",
            ));
        }
        let mut tags = Vec::new();
        for t in &q.tags {
            let r = berth_image::Reference::parse(t)
                .map_err(|e| Error::invalid(format!("invalid reference format: {t}: {e}")))?;
            tags.push(r);
        }
        Ok(BuildOptions {
            tags,
            dockerfile: q.dockerfile.clone(),
            build_args: json_param("build args", &q.buildargs)?,
            target: q.target.clone(),
            no_cache: q.nocache,
            pull: q.pull,
            rm: q.rm.unwrap_or(true) || q.forcerm,
            labels: json_param("labels", &q.labels)?,
            cache_from: json_param("cache from", &q.cachefrom)?,
            network_mode: q.networkmode.clone(),
            extra_hosts: q.extrahosts.clone(),
            shm_size: q.shmsize.unwrap_or(0),
            memory: q.memory.unwrap_or(0),
            memory_swap: q.memswap.unwrap_or(0),
            cpu_shares: q.cpushares.unwrap_or(0),
            cpuset_cpus: q.cpusetcpus.clone(),
            cpuset_mems: q.cpusetmems.clone(),
            cpu_period: q.cpuperiod.unwrap_or(0),
            cpu_quota: q.cpuquota.unwrap_or(0),
            cgroup_parent: q.cgroupparent.clone(),
            platform: q.platform.clone(),
            quiet: q.quiet,
            auth,
            build_id: q.buildid.clone(),
        })
    }
}

/// A failure of the build, with the exit code the CLI should give.
#[derive(Debug)]
pub(crate) struct BuildError {
    pub message: String,
    pub code: Option<i64>,
}

impl From<Error> for BuildError {
    fn from(e: Error) -> Self {
        BuildError {
            message: e.to_string(),
            code: None,
        }
    }
}

impl From<berth_image::Error> for BuildError {
    fn from(e: berth_image::Error) -> Self {
        Error::from(e).into()
    }
}

impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> Self {
        Error::from(e).into()
    }
}

impl From<plan::PlanError> for BuildError {
    fn from(e: plan::PlanError) -> Self {
        BuildError {
            message: e.0,
            code: None,
        }
    }
}

impl From<berth_build::ParseError> for BuildError {
    fn from(e: berth_build::ParseError) -> Self {
        BuildError {
            message: e.to_string(),
            code: None,
        }
    }
}

impl From<berth_build::shell::ShellError> for BuildError {
    fn from(e: berth_build::shell::ShellError) -> Self {
        BuildError {
            message: e.0,
            code: None,
        }
    }
}

pub(crate) type BResult<T> = std::result::Result<T, BuildError>;

/// Where one stage's messages go (shown in stage order by the forwarder).
#[derive(Clone)]
pub(crate) struct Out {
    tx: mpsc::UnboundedSender<JsonMessage>,
    quiet: bool,
}

impl Out {
    pub(crate) fn line(&self, s: impl AsRef<str>) {
        if !self.quiet {
            let _ = self
                .tx
                .send(JsonMessage::stream(format!("{}\n", s.as_ref())));
        }
    }
    pub(crate) fn raw(&self, s: String) {
        if !self.quiet {
            let _ = self.tx.send(JsonMessage::stream(s));
        }
    }
    fn msg(&self, m: JsonMessage) {
        if !self.quiet {
            let _ = self.tx.send(m);
        }
    }
}

/// The state a stage's steps change.
#[derive(Clone, Debug, Default)]
pub(crate) struct StageState {
    /// The current image (None: `FROM scratch` before any step).
    pub image: Option<String>,
    pub config: Config,
    pub args: StageArgs,
    pub maintainer: String,
    pub cmd_set: bool,
    pub platform: (String, String),
}

/// Short id as the builder prints it.
pub(crate) fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..h.len().min(12)]
}

/// One running build.
pub(crate) struct Build {
    pub engine: Arc<Engine>,
    pub opts: BuildOptions,
    pub ctx: Arc<context::Context>,
    pub stages: Stages,
    pub plan: Plan,
    pub args: Mutex<BuildArgs>,
    pub lex: Lexer,
    pub results: Vec<watch::Sender<Option<std::result::Result<String, String>>>>,
    pub cancel: watch::Receiver<bool>,
    pub journal: Journal,
    /// Secrets given with the context (`RUN --mount=type=secret`).
    pub secrets: PathBuf,
    /// The `--cache-from` images found here, in the order given.
    pub cache_sources: Vec<berth_image::ImageId>,
}

impl Build {
    pub(crate) fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    fn cache_dir(&self) -> PathBuf {
        self.engine.cfg.data_root.join("build").join("cache")
    }

    /// The image a cache key maps to, if it still exists.
    pub(crate) fn cache_get(&self, key: &str) -> Option<String> {
        if self.opts.no_cache {
            return None;
        }
        let id = std::fs::read_to_string(self.cache_dir().join(key)).ok()?;
        let id = id.trim().to_string();
        self.engine
            .images
            .resolve(&id)
            .ok()
            .map(|i| i.id.to_string())
    }

    pub(crate) fn cache_put(&self, key: &str, id: &str) {
        let dir = self.cache_dir();
        let _ = std::fs::create_dir_all(&dir);
        let tmp = dir.join(format!(".{key}.tmp"));
        if std::fs::write(&tmp, id).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(key));
        }
    }

    /// Looks a step up in the cache, else makes it; the state moves to the
    /// resulting image either way.
    pub(crate) async fn step<F, Fut>(
        &self,
        st: &mut StageState,
        created_by: &str,
        config: Config,
        out: &Out,
        make: F,
    ) -> BResult<()>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = BResult<String>>,
    {
        let cfg_json = serde_json::to_vec(&config).unwrap_or_default();
        let parent = st.image.clone().unwrap_or_default();
        let key = berth_build::cache::step_key(&parent, created_by, &cfg_json);
        let hit = match self.cache_get(&key) {
            Some(id) => Some(id),
            None => {
                self.cache_from_get(st.image.clone(), created_by, &config)
                    .await?
            }
        };
        if let Some(id) = hit {
            out.line(" ---> Using cache");
            self.cache_put(&key, &id);
            st.image = Some(id);
            st.config = config;
            return Ok(());
        }
        let id = make().await?;
        self.cache_put(&key, &id);
        st.image = Some(id);
        st.config = config;
        Ok(())
    }

    /// The step's image from a `--cache-from` image holding it, if any.
    async fn cache_from_get(
        &self,
        parent: Option<String>,
        created_by: &str,
        config: &Config,
    ) -> BResult<Option<String>> {
        if self.opts.no_cache || self.cache_sources.is_empty() {
            return Ok(None);
        }
        let engine = self.engine.clone();
        let journal = self.journal.clone();
        let sources = self.cache_sources.clone();
        let created_by = created_by.to_string();
        let config = config.clone();
        blocking(move || {
            let parent = parent
                .map(|p| berth_image::ImageId::parse(&p))
                .transpose()?;
            let id = engine
                .images
                .cached_step(parent.as_ref(), &sources, &created_by, &config)?;
            Ok(id.map(|id| {
                // an image made here goes if the build does not finish
                if !sources.contains(&id) {
                    journal.image(id.as_str());
                }
                id.to_string()
            }))
        })
        .await
        .map_err(Into::into)
    }

    /// A step with no file system change: the config derived.
    pub(crate) async fn commit_meta(
        &self,
        st: &mut StageState,
        created_by: String,
        config: Config,
        out: &Out,
    ) -> BResult<()> {
        let parent = st.image.clone();
        let author = st.maintainer.clone();
        let platform = st.platform.clone();
        let engine = self.engine.clone();
        let journal = self.journal.clone();
        let cfg = config.clone();
        let cb = created_by.clone();
        self.step(st, &created_by, config, out, move || async move {
            let id = blocking(move || {
                let parent = parent
                    .map(|p| berth_image::ImageId::parse(&p))
                    .transpose()?;
                let id = engine.images.build_step(
                    parent.as_ref(),
                    None,
                    berth_image::StepImage {
                        config: cfg,
                        created_by: cb,
                        author,
                        platform: Some(platform),
                    },
                )?;
                journal.image(id.as_str());
                Ok(id.to_string())
            })
            .await?;
            Ok(id)
        })
        .await
    }
}

/// A `created_by` of a metadata step: `/bin/sh -c #(nop)  ENV a=1`.
fn nop(cfg: &Config, comment: &str) -> String {
    format!("{} #(nop)  {comment}", plan::shell_of(cfg).join(" "))
}

/// A `created_by` of a file step: `/bin/sh -c #(nop) COPY file:… in /x `.
pub(crate) fn nop_string(cfg: &Config, comment: &str) -> String {
    format!("{} #(nop) {comment}", plan::shell_of(cfg).join(" "))
}

impl Engine {
    /// `POST /build`: the messages of the build, as the classic builder
    /// streams them. The context is read from `body`.
    pub fn build(
        self: &Arc<Self>,
        opts: BuildOptions,
        body: impl std::io::Read + Send + 'static,
    ) -> mpsc::Receiver<JsonMessage> {
        let (tx, rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::spawn(async move {
            let (cancel_tx, cancel_rx) = watch::channel(false);
            let build_id = if opts.build_id.is_empty() {
                new_id()
            } else {
                opts.build_id.clone()
            };
            this.builds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(build_id.clone(), cancel_tx.clone());
            // A client that goes away cancels the build.
            let watch_tx = tx.clone();
            let client_gone = tokio::spawn(async move {
                watch_tx.closed().await;
                let _ = cancel_tx.send(true);
            });
            let quiet = opts.quiet;
            let res = this.run_build(opts, body, &tx, cancel_rx).await;
            match res {
                Ok(id) => {
                    if quiet {
                        let _ = tx.send(JsonMessage::stream(format!("{id}\n"))).await;
                    }
                }
                Err(e) => {
                    let _ = tx.send(JsonMessage::error(e.message, e.code)).await;
                }
            }
            client_gone.abort();
            this.builds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&build_id);
        });
        rx
    }

    /// At start: what builds cut short by a crash made is removed (their
    /// containers, snapshots and images, newest first), and their contexts.
    pub async fn restore_builds(self: &Arc<Self>) {
        let l = std::mem::take(
            &mut *self
                .build_leftovers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for c in &l.containers {
            if self.containers.resolve(c).is_ok() {
                crate::util::warn_on_err(
                    "remove a crashed build's container",
                    self.container_remove(c, true, true).await,
                );
            }
        }
        for s in &l.snapshots {
            crate::util::warn_on_err(
                "remove a crashed build's snapshot",
                self.snapshots.remove(s).map_err(Error::from),
            );
        }
        for i in l.images.iter().rev() {
            let untagged = self
                .images
                .resolve(i)
                .is_ok_and(|img| img.repo_tags.is_empty());
            if untagged {
                let _ = self.images.remove(i, false, &|_| None);
            }
        }
    }

    /// `POST /build/cancel?id=`.
    pub fn build_cancel(&self, id: &str) {
        if let Some(tx) = self
            .builds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            let _ = tx.send(true);
        }
    }

    async fn run_build(
        self: &Arc<Self>,
        opts: BuildOptions,
        body: impl std::io::Read + Send + 'static,
        tx: &mpsc::Sender<JsonMessage>,
        cancel: watch::Receiver<bool>,
    ) -> BResult<String> {
        let root = self.cfg.data_root.join("build");
        let journal = Journal::create(&root.join("journal"))?;
        let ctx_dir = root.join("tmp").join(new_id());
        let secrets = root.join("tmp").join(format!("{}-secrets", new_id()));
        let res = self
            .build_in(opts, body, tx, cancel, &ctx_dir, &secrets, journal.clone())
            .await;
        // The context goes after the answer (the client does not wait on
        // the unlinks); what a crash leaves is cleared at start.
        let (c, s) = (ctx_dir.clone(), secrets.clone());
        drop(tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(s);
            let _ = std::fs::remove_file(c.with_extension("tar"));
            let _ = std::fs::remove_dir_all(c);
        }));
        // Intermediate images stay as cache when the build ran to its end
        // or failed in a step; a crash leaves the journal for the next start.
        journal.finish();
        res
    }

    #[allow(clippy::too_many_arguments)]
    async fn build_in(
        self: &Arc<Self>,
        opts: BuildOptions,
        body: impl std::io::Read + Send + 'static,
        tx: &mpsc::Sender<JsonMessage>,
        cancel: watch::Receiver<bool>,
        ctx_dir: &Path,
        secrets: &Path,
        journal: Journal,
    ) -> BResult<String> {
        let dir = ctx_dir.to_path_buf();
        let sec = secrets.to_path_buf();
        let dockerfile_name = opts.dockerfile.clone();
        let (ctx, text) = blocking(move || {
            let ctx = context::Context::receive(body, &dir)?;
            // berth's CLI sends `RUN --mount=type=secret` files beside the
            // context: they go apart, never into the context's files.
            ctx.write_secrets(&sec)?;
            let (text, name) = context::dockerfile(&ctx, &dockerfile_name)?;
            hide_ignored_specials(&ctx, &name);
            Ok((Arc::new(ctx), text))
        })
        .await?;
        let df = berth_build::parse(&text)?;
        let mut stages = berth_build::instructions::stages(&df)?;
        let (os, arch) = platform_of(&opts.platform)?;
        let mut args = BuildArgs::new(
            opts.build_args.clone(),
            &stages.meta_args,
            plan::platform_args(&os, &arch, ""),
        );
        let the_plan = plan::plan(&stages, Some(&opts.target), &args)?;
        // `--label`s become a last LABEL step of the target, as the
        // classic builder adds them.
        if !opts.labels.is_empty() {
            // One step per label, by key, as dockerd 20.10 adds them.
            for (k, v) in &opts.labels {
                let pair = (quote_word(k), quote_word(v));
                stages.stages[the_plan.target].steps.push(Step {
                    line: 0,
                    original: format!("LABEL {}={}", pair.0, pair.1),
                    instruction: Instruction::Label(vec![pair]),
                });
            }
        }
        let the_plan = plan::plan(&stages, Some(&opts.target), &args)?;
        args.consumed.clear();
        // `--cache-from` names not found here are skipped, as dockerd
        // skips them (it does not pull them either).
        let cache_sources = opts
            .cache_from
            .iter()
            .filter_map(|name| self.images.resolve(name).ok().map(|i| i.id))
            .collect();
        let n = stages.stages.len();
        let build = Arc::new(Build {
            engine: self.clone(),
            lex: Lexer::new(stages.escape),
            opts,
            ctx,
            stages,
            plan: the_plan,
            args: Mutex::new(args),
            results: (0..n).map(|_| watch::channel(None).0).collect(),
            cancel,
            journal,
            secrets: secrets.to_path_buf(),
            cache_sources,
        });
        // Every needed stage starts now and waits for what it needs.
        let mut outs = Vec::new();
        let mut handles = Vec::new();
        for &i in &build.plan.order {
            let (otx, orx) = mpsc::unbounded_channel();
            outs.push(orx);
            let b = build.clone();
            let out = Out {
                tx: otx,
                quiet: b.opts.quiet,
            };
            handles.push(tokio::spawn(async move {
                let r = b.run_stage(i, &out).await;
                let shown = r.as_ref().map(|s| s.clone()).map_err(|e| e.message.clone());
                b.results[i].send_replace(Some(shown));
                r
            }));
        }
        // Messages in stage order: a stage's lines show once those before
        // it are done (they run meanwhile).
        let mut failure: Option<BuildError> = None;
        for (k, mut orx) in outs.into_iter().enumerate() {
            while let Some(m) = orx.recv().await {
                if failure.is_none() && tx.send(m).await.is_err() {
                    break;
                }
            }
            let r = match (&mut handles[k]).await {
                Ok(r) => r,
                Err(e) => Err(BuildError {
                    message: format!("build stage panicked: {e}"),
                    code: None,
                }),
            };
            if let Err(e) = r
                && failure.is_none()
            {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if build.cancelled() {
            return Err(BuildError {
                message: "context canceled".into(),
                code: None,
            });
        }
        let target = build.plan.target;
        let id = build.results[target]
            .borrow()
            .clone()
            .and_then(|r| r.ok())
            .ok_or_else(|| BuildError {
                message: "the target stage did not finish".into(),
                code: None,
            })?;
        let quiet = build.opts.quiet;
        let say = |s: String| JsonMessage::stream(s);
        let unconsumed = build
            .args
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unconsumed();
        if !unconsumed.is_empty() && !quiet {
            let _ = tx
                .send(say(format!(
                    "[Warning] One or more build-args [{}] were not consumed\n",
                    unconsumed.join(" ")
                )))
                .await;
        }
        let _ = tx
            .send(JsonMessage::aux(berth_api::build::BuildResult {
                id: id.clone(),
            }))
            .await;
        if !quiet {
            let _ = tx
                .send(say(format!("Successfully built {}\n", short(&id))))
                .await;
        }
        let image_id = berth_image::ImageId::parse(&id)?;
        for t in &build.opts.tags {
            self.images.tag(&image_id, t)?;
            self.emit_image(&id, "tag", &[("name", t.familiar())]);
            if !quiet {
                let _ = tx
                    .send(say(format!("Successfully tagged {}\n", t.familiar())))
                    .await;
            }
        }
        Ok(id)
    }
}

/// `--platform`: only the host's OS and architecture can run steps.
fn platform_of(p: &str) -> BResult<(String, String)> {
    let host = berth_image::config::host_architecture().to_string();
    if p.is_empty() {
        return Ok(("linux".into(), host));
    }
    let parts: Vec<&str> = p.split('/').collect();
    let os = parts[0].to_string();
    let arch = parts.get(1).map(|s| s.to_string()).unwrap_or(host.clone());
    let arch = match arch.as_str() {
        "x86_64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        a => a.to_string(),
    };
    if os != "linux" || arch != host {
        return Err(BuildError {
            message: format!(
                "\"{p}\": cannot build for a platform other than the host's (linux/{host})"
            ),
            code: None,
        });
    }
    Ok((os, arch))
}

fn quote_word(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// dockerd removes the Dockerfile and .dockerignore from the context when
/// .dockerignore excludes them (they are still read).
fn hide_ignored_specials(ctx: &context::Context, dockerfile: &str) {
    // A Dockerfile the client injected (`-f -`, `-f` outside the context)
    // is not part of the context, as the docker CLI's ignore entry says.
    if dockerfile.starts_with(".dockerfile.") && !dockerfile.contains('/') {
        ctx.hide(dockerfile);
    }
    let Some(text) = ctx.read_file(".dockerignore") else {
        return;
    };
    let patterns = berth_build::ignore::read_patterns(&String::from_utf8_lossy(&text));
    let Ok(m) = berth_build::ignore::Matcher::new(&patterns) else {
        return;
    };
    for f in [dockerfile, ".dockerignore"] {
        if m.excluded(f) {
            ctx.hide(f);
        }
    }
}

impl Build {
    /// Waits for a stage's image (a dependency).
    pub(crate) async fn stage_image(&self, i: usize) -> BResult<Option<String>> {
        let mut rx = self.results[i].subscribe();
        let r = rx
            .wait_for(|v| v.is_some())
            .await
            .map_err(|_| BuildError {
                message: "build stage ended".into(),
                code: None,
            })?
            .clone();
        match r {
            Some(Ok(id)) if id.is_empty() => Ok(None),
            Some(Ok(id)) => Ok(Some(id)),
            _ => Err(BuildError {
                message: "a stage this one needs failed".into(),
                code: None,
            }),
        }
    }

    fn meta_lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |k: &str| {
            self.args
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .meta_lookup(k)
        }
    }

    async fn run_stage(self: &Arc<Self>, i: usize, out: &Out) -> BResult<String> {
        let stage: Stage = self.stages.stages[i].clone();
        let total = self.plan.total_steps;
        let mut n = self.plan.first_step[&i];
        out.line(format!("Step {n}/{total} : {}", stage.original));
        let base = self
            .lex
            .process_word(&stage.base, &self.meta_lookup())?
            .value;
        if base.is_empty() {
            return Err(BuildError {
                message: format!("base name ({}) should not be blank", stage.base),
                code: None,
            });
        }
        let mut st = StageState {
            platform: platform_of(&self.opts.platform)?,
            ..Default::default()
        };
        {
            let b = self.args.lock().unwrap_or_else(|e| e.into_inner());
            st.args = StageArgs::new(&b);
        }
        if let Some(j) = plan::stage_ref(&self.stages, &base, i, false) {
            st.image = self.stage_image(j).await?;
        } else if base != "scratch" {
            st.image = Some(self.base_image(&base, out).await?);
        }
        if let Some(id) = &st.image {
            let img = self.engine.images.resolve(id)?;
            st.config = img.config.runtime();
            out.line(format!(" ---> {}", short(id)));
        }
        // A stage without PATH gets the default one, as dockerd's.
        if !st.config.env().iter().any(|e| e.starts_with("PATH=")) {
            st.config.env.get_or_insert_with(Vec::new).insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        let triggers = st.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            out.line(format!(
                "# Executing {} build trigger{}",
                triggers.len(),
                if triggers.len() > 1 { "s" } else { "" }
            ));
            for t in &triggers {
                let df = berth_build::parse(t)?;
                let [node] = &df.nodes[..] else {
                    return Err(BuildError {
                        message: "onbuild trigger should be a single expression".into(),
                        code: None,
                    });
                };
                let inst = berth_build::instructions::instruction(node, self.stages.escape)?;
                let step = Step {
                    line: node.start_line,
                    original: node.original.clone(),
                    instruction: inst,
                };
                self.dispatch(i, &mut st, &step, out).await?;
                if st.image.is_some() {
                    out.line(format!(
                        " ---> {}",
                        short(st.image.as_deref().unwrap_or(""))
                    ));
                }
            }
        }
        for step in &stage.steps {
            if self.cancelled() {
                return Err(BuildError {
                    message: "context canceled".into(),
                    code: None,
                });
            }
            n += 1;
            out.line(format!("Step {n}/{total} : {}", step.original));
            self.dispatch(i, &mut st, step, out).await?;
            out.line(format!(
                " ---> {}",
                short(st.image.as_deref().unwrap_or(""))
            ));
        }
        if st.image.is_none() {
            // `FROM scratch` alone: an image with no layer.
            let cfg = st.config.clone();
            self.commit_meta(&mut st, String::new(), cfg, out).await?;
        }
        Ok(st.image.unwrap_or_default())
    }

    /// A FROM image: local, else (or with `--pull`) pulled.
    async fn base_image(&self, name: &str, out: &Out) -> BResult<String> {
        let local = self.engine.images.resolve(name).ok();
        if let Some(img) = &local
            && !self.opts.pull
        {
            return Ok(img.id.to_string());
        }
        // Digests and ids are never pulled when present.
        if let Some(img) = &local
            && (name.contains('@') || img.id.as_str().contains(name))
        {
            return Ok(img.id.to_string());
        }
        match self.pull(name, out).await {
            Ok(()) => Ok(self.engine.images.resolve(name)?.id.to_string()),
            Err(e) => match local {
                Some(img) if self.opts.pull => {
                    out.line(format!("[Warning] pull of {name} failed: {}", e.message));
                    Ok(img.id.to_string())
                }
                _ => Err(e),
            },
        }
    }

    pub(crate) async fn pull(&self, name: &str, out: &Out) -> BResult<()> {
        let auth = auth_for(&self.opts.auth, name);
        let req = crate::image::pull::PullRequest::parse(name, "", &self.opts.platform, auth)?;
        let mut rx = self.engine.image_pull(req).await?;
        while let Some(m) = rx.recv().await {
            if let Some(e) = m.error_message() {
                return Err(BuildError {
                    message: e.to_string(),
                    code: None,
                });
            }
            out.msg(m);
        }
        Ok(())
    }

    async fn dispatch(
        self: &Arc<Self>,
        stage: usize,
        st: &mut StageState,
        step: &Step,
        out: &Out,
    ) -> BResult<()> {
        match &step.instruction {
            Instruction::Run(r) => self.run_step(st, r, out).await,
            Instruction::Copy(c) => self.copy_step(stage, st, c, false, out).await,
            Instruction::Add(c) => self.copy_step(stage, st, c, true, out).await,
            Instruction::Workdir(_) => {
                let mut cfg = st.config.clone();
                let comment = {
                    let mut b = self.args.lock().unwrap_or_else(|e| e.into_inner());
                    plan::apply_meta(
                        &step.instruction,
                        &mut cfg,
                        &mut st.args,
                        &mut b,
                        &self.lex,
                        &mut st.maintainer,
                    )?
                };
                self.workdir_step(st, cfg, comment, out).await
            }
            inst => {
                let mut cfg = st.config.clone();
                let comment = {
                    let mut b = self.args.lock().unwrap_or_else(|e| e.into_inner());
                    plan::apply_meta(
                        inst,
                        &mut cfg,
                        &mut st.args,
                        &mut b,
                        &self.lex,
                        &mut st.maintainer,
                    )?
                };
                match inst {
                    Instruction::Entrypoint(_) => {
                        plan::reset_cmd_after_entrypoint(&mut cfg, st.cmd_set)
                    }
                    Instruction::Cmd(_) => st.cmd_set = true,
                    Instruction::Healthcheck(h) => {
                        if let Some(old) =
                            st.config.healthcheck.as_ref().and_then(|h| h.test.clone())
                            && old.first().is_some_and(|t| t != "NONE")
                        {
                            out.line(format!(
                                "Note: overriding previous HEALTHCHECK: {}",
                                plan::go_list(&old)
                            ));
                        }
                        let _ = h;
                    }
                    _ => {}
                }
                let created_by = nop(&cfg, &comment);
                self.commit_meta(st, created_by, cfg, out).await
            }
        }
    }

    /// COPY/ADD sources resolved: (host path, name) per source, the root
    /// they come from, and a guard that unmounts a stage or image root.
    async fn copy_step(
        self: &Arc<Self>,
        stage: usize,
        st: &mut StageState,
        c: &Copy,
        add: bool,
        out: &Out,
    ) -> BResult<()> {
        let what = if add { "ADD" } else { "COPY" };
        // Words expanded with the stage's variables.
        let (sources, dest, chown, chmod, from) = {
            let look = plan::lookup(&st.config, &st.args);
            let ex = |w: &str| -> BResult<String> { Ok(self.lex.process_word(w, &look)?.value) };
            let mut sources = Vec::new();
            for s in &c.sources {
                sources.push(ex(s)?);
            }
            let dest = ex(&c.dest)?;
            let chown = c.chown.as_deref().map(ex).transpose()?;
            let chmod = c.chmod.as_deref().map(ex).transpose()?;
            let from = c.from.as_deref().map(ex).transpose()?;
            (sources, dest, chown, chmod, from)
        };
        let dest_abs = normalize_dest(&st.config.working_dir, &dest);
        let src_root = match &from {
            None => SourceRoot::Context(self.ctx.clone()),
            Some(f) => match plan::stage_ref(&self.stages, f, stage, true) {
                Some(j) => {
                    let img = self.stage_image(j).await?;
                    SourceRoot::mount(&self.engine, img, &self.journal).await?
                }
                None => {
                    let id = match self.engine.images.resolve(f) {
                        Ok(i) => i.id.to_string(),
                        Err(_) => {
                            // dockerd's words around whatever the pull says
                            let wrap = |e: BuildError| BuildError {
                                message: format!("invalid from flag value {f}: {}", e.message),
                                code: e.code,
                            };
                            self.pull(f, out).await.map_err(wrap)?;
                            self.engine
                                .images
                                .resolve(f)
                                .map_err(|e| wrap(e.into()))?
                                .id
                                .to_string()
                        }
                    };
                    SourceRoot::mount(&self.engine, Some(id), &self.journal).await?
                }
            },
        };
        let res = self
            .copy_from_root(
                st,
                c,
                add,
                what,
                &src_root,
                sources,
                dest,
                dest_abs,
                chown,
                chmod,
                from.is_some(),
                out,
            )
            .await;
        src_root.release(&self.engine, &self.journal).await;
        res
    }
}

/// Where COPY reads from.
pub(crate) enum SourceRoot {
    /// The build context (its files unpacked only when needed).
    Context(Arc<context::Context>),
    /// A stage's or image's root, mounted for the copy.
    Mounted { key: String, root: PathBuf },
    /// `FROM scratch` stage: nothing.
    Empty(tempfile::TempDir),
}

impl SourceRoot {
    async fn mount(
        engine: &Arc<Engine>,
        image: Option<String>,
        journal: &Journal,
    ) -> BResult<SourceRoot> {
        let Some(image) = image else {
            return Ok(SourceRoot::Empty(tempfile::tempdir()?));
        };
        let key = format!("build-{}", new_id());
        journal.snapshot(&key);
        let e = engine.clone();
        let k = key.clone();
        let root = blocking(move || {
            let img = e.images.resolve(&image)?;
            let layers = e.images.layer_dirs(&img)?;
            e.snapshots.prepare(&k, &layers)?;
            Ok(e.snapshots.mount(&k, true)?)
        })
        .await?;
        Ok(SourceRoot::Mounted { key, root })
    }

    /// The files (the context's unpacked on first use).
    pub(crate) fn path(&self) -> crate::Result<&Path> {
        Ok(match self {
            SourceRoot::Context(c) => c.files()?,
            SourceRoot::Mounted { root, .. } => root,
            SourceRoot::Empty(t) => t.path(),
        })
    }

    async fn release(&self, engine: &Arc<Engine>, journal: &Journal) {
        if let SourceRoot::Mounted { key, .. } = self {
            let e = engine.clone();
            let k = key.clone();
            let _ = blocking(move || {
                e.snapshots.unmount(&k);
                Ok(e.snapshots.remove(&k)?)
            })
            .await;
            journal.snapshot_done(key);
        }
    }
}

/// Docker's normalizeDest: relative destinations join WORKDIR; a trailing
/// slash is kept (it makes the destination a directory).
pub(crate) fn normalize_dest(workdir: &str, dest: &str) -> String {
    let slash = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", if workdir.is_empty() { "/" } else { workdir })
    };
    let mut p = plan::clean_path(&joined);
    if slash && !p.ends_with('/') {
        p.push('/');
    }
    p
}

/// The credentials of `X-Registry-Config` for an image's registry.
fn auth_for(cfg: &RegistryConfig, image: &str) -> AuthConfig {
    let domain = berth_image::Reference::parse(image)
        .map(|r| r.domain().to_string())
        .unwrap_or_default();
    for (k, v) in cfg {
        let host = k
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        let same = host == domain
            || (domain == "docker.io"
                && (host == "index.docker.io" || host == "registry-1.docker.io"));
        if same {
            return v.clone();
        }
    }
    AuthConfig::default()
}

/// The live builds, for `/build/cancel`.
pub type Builds = Mutex<HashMap<String, watch::Sender<bool>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(normalize_dest("", "x"), "/x");
        assert_eq!(normalize_dest("/app", "x/"), "/app/x/");
        assert_eq!(normalize_dest("/app", "."), "/app/");
        assert_eq!(normalize_dest("/app", "/abs"), "/abs");
        assert_eq!(normalize_dest("/app", "../y"), "/y");
    }

    #[test]
    fn short_ids() {
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
