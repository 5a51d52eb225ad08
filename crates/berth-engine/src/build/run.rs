//! The steps that change files: RUN (a container through the engine's own
//! create/attach/start/wait, its diff committed), WORKDIR (the directory
//! made) and COPY/ADD (written into a snapshot mounted on the parent).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::container::{
    Config, CreateRequest, HealthConfig, HostConfig, LogConfig, NetworkMode, Resources, StrSlice,
    WaitCondition,
};
use berth_build::instructions::{CmdLine, Copy, Run};
use berth_build::plan;
use tokio::io::AsyncReadExt;

use super::context;
use super::copy::{self as cp, Owner};
use super::{BResult, Build, BuildError, Out, SourceRoot, StageState, nop_string, short};
use crate::Error;
use crate::model::PendingAttach;
use crate::util::{blocking, new_id};

/// A RUN's `--mount=…` read: what the container gets.
#[derive(Debug, Default)]
struct RunMounts {
    binds: Vec<String>,
    tmpfs: std::collections::BTreeMap<String, String>,
    /// Mount points (absolute) to drop from the diff if the step made them.
    targets: Vec<String>,
}

fn mount_opts(spec: &str) -> std::collections::BTreeMap<String, String> {
    spec.split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_string()),
            None => (kv.trim().to_ascii_lowercase(), "true".to_string()),
        })
        .collect()
}

impl Build {
    fn run_mounts(
        &self,
        st: &StageState,
        specs: &[String],
        sources: &[(String, PathBuf)],
    ) -> BResult<RunMounts> {
        let mut m = RunMounts::default();
        for spec in specs {
            let o = mount_opts(spec);
            let kind = o.get("type").map(String::as_str).unwrap_or("bind");
            let target = o
                .get("target")
                .or_else(|| o.get("dst"))
                .or_else(|| o.get("destination"))
                .cloned();
            let ro = |default: bool| match (o.get("readonly").or(o.get("ro")), o.get("rw")) {
                (Some(v), _) => v != "false",
                (None, Some(v)) => v == "false",
                _ => default,
            };
            match kind {
                "cache" => {
                    let target = target.ok_or_else(|| bad_mount(spec, "target is required"))?;
                    let target = super::normalize_dest(&st.config.working_dir, &target);
                    let id = o.get("id").cloned().unwrap_or_else(|| target.clone());
                    let dir = self
                        .engine
                        .cfg
                        .data_root
                        .join("build")
                        .join("cache-mounts")
                        .join(hex::encode(sha2::Digest::finalize(
                            <sha2::Sha256 as sha2::Digest>::new_with_prefix(id.as_bytes()),
                        )));
                    std::fs::create_dir_all(&dir)?;
                    let mode = if ro(false) { "ro" } else { "rw" };
                    m.binds.push(format!("{}:{target}:{mode}", dir.display()));
                    m.targets.push(target);
                }
                "bind" => {
                    let target = target.ok_or_else(|| bad_mount(spec, "target is required"))?;
                    let target = super::normalize_dest(&st.config.working_dir, &target);
                    let root = match o.get("from") {
                        None => self.ctx.files()?.to_path_buf(),
                        Some(f) => sources
                            .iter()
                            .find(|(n, _)| n == f)
                            .map(|(_, p)| p.clone())
                            .ok_or_else(|| bad_mount(spec, "from is not available"))?,
                    };
                    let src =
                        context::scoped(&root, o.get("source").map(String::as_str).unwrap_or("/"))?;
                    if !src.exists() {
                        return Err(bad_mount(spec, "source does not exist"));
                    }
                    // A writable bind gets a private copy: writes are dropped.
                    m.binds.push(format!(
                        "{}:{target}:{}",
                        src.display(),
                        if ro(true) { "ro" } else { "rw" }
                    ));
                    m.targets.push(target);
                }
                "tmpfs" => {
                    let target = target.ok_or_else(|| bad_mount(spec, "target is required"))?;
                    let target = super::normalize_dest(&st.config.working_dir, &target);
                    let size = o
                        .get("size")
                        .map(|s| format!("size={s}"))
                        .unwrap_or_default();
                    m.tmpfs.insert(target.clone(), size);
                    m.targets.push(target);
                }
                "secret" => {
                    let id = o
                        .get("id")
                        .cloned()
                        .or_else(|| {
                            target
                                .as_ref()
                                .and_then(|t| t.rsplit('/').next().map(String::from))
                        })
                        .ok_or_else(|| bad_mount(spec, "id is required"))?;
                    let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                    let file = self.secrets.join(&id);
                    if !file.is_file() {
                        if o.get("required").is_some_and(|v| v == "true") {
                            return Err(BuildError {
                                message: format!("secret {id}: not found"),
                                code: None,
                            });
                        }
                        continue;
                    }
                    m.binds.push(format!("{}:{target}:ro", file.display()));
                    m.targets.push(target);
                }
                "ssh" => {
                    return Err(bad_mount(spec, "ssh mounts are not supported"));
                }
                other => {
                    return Err(bad_mount(
                        spec,
                        &format!("unsupported mount type {other:?}"),
                    ));
                }
            }
        }
        Ok(m)
    }

    /// The body of a RUN that is a lone here-document (`RUN <<EOF`): the
    /// script itself, as BuildKit takes it.
    fn lone_heredoc<'r>(&self, r: &'r Run) -> Option<&'r str> {
        let CmdLine::Shell(text) = &r.cmd else {
            return None;
        };
        let only_markers = text.split_whitespace().all(|w| w.starts_with("<<"));
        (only_markers && r.heredocs.len() == 1).then(|| r.heredocs[0].content.as_str())
    }

    /// A lone here-document starting with `#!`: BuildKit writes it to an
    /// executable file, `/dev/pipes/<name>`, and runs that.
    fn shebang_script<'r>(&self, r: &'r Run) -> Option<(&'r str, &'r str)> {
        self.lone_heredoc(r)
            .filter(|body| body.starts_with("#!"))
            .map(|body| (r.heredocs[0].name.as_str(), body))
    }

    /// The command line of a RUN: shell or exec form, here-documents as
    /// BuildKit runs them (a lone `<<EOF` is the script; otherwise the
    /// bodies follow the command as real here-documents).
    fn run_argv(&self, st: &StageState, r: &Run) -> Vec<String> {
        let shell = plan::shell_of(&st.config);
        let CmdLine::Shell(text) = &r.cmd else {
            return r.cmd.argv(&shell);
        };
        if r.heredocs.is_empty() {
            return r.cmd.argv(&shell);
        }
        if let Some(body) = self.lone_heredoc(r) {
            let mut v = shell;
            v.push(body.to_string());
            return v;
        }
        let mut script = text.clone();
        for h in &r.heredocs {
            script.push('\n');
            script.push_str(&h.content);
            script.push_str(&h.name);
        }
        let mut v = shell;
        v.push(script);
        v
    }

    pub(super) async fn run_step(
        self: &Arc<Self>,
        st: &mut StageState,
        r: &Run,
        out: &Out,
    ) -> BResult<()> {
        let Some(parent) = st.image.clone() else {
            return Err(BuildError {
                message: "Please provide a source image with `from` prior to run".into(),
                code: None,
            });
        };
        let argv = self.run_argv(st, r);
        let allowed = st.args.allowed(st.config.env());
        let created_by =
            plan::run_created_by(&argv, &st.args.history_args(&allowed), !allowed.is_empty())
                .join(" ");
        // RUN --mount from= stages and images resolved first.
        let mut from_roots: Vec<(String, SourceRoot)> = Vec::new();
        for spec in &r.mounts {
            if let Some(f) = mount_opts(spec).get("from").cloned()
                && !from_roots.iter().any(|(n, _)| n == &f)
            {
                let root = match plan::stage_ref(&self.stages, &f, self.stages.stages.len(), true) {
                    Some(j) => {
                        let img = self.stage_image(j).await?;
                        SourceRoot::mount(&self.engine, img, &self.journal).await?
                    }
                    None => {
                        if self.engine.images.resolve(&f).is_err() {
                            self.pull(&f, out).await?;
                        }
                        let id = self.engine.images.resolve(&f)?.id.to_string();
                        SourceRoot::mount(&self.engine, Some(id), &self.journal).await?
                    }
                };
                from_roots.push((f, root));
            }
        }
        let sources: Vec<(String, PathBuf)> = from_roots
            .iter()
            .map(|(n, r)| Ok((n.clone(), r.path()?.to_path_buf())))
            .collect::<crate::Result<_>>()?;
        let mut mounts = self.run_mounts(st, &r.mounts, &sources);
        // A shebang script runs as the file it is (the history and the
        // cache key keep the script's text).
        let mut exec_argv = argv.clone();
        if let (Ok(m), Some((name, body))) = (&mut mounts, self.shebang_script(r)) {
            let dir = self.secrets.join(".heredocs").join(new_id());
            let file = dir.join(name);
            let written = std::fs::create_dir_all(&dir)
                .and_then(|_| std::fs::write(&file, body))
                .and_then(|_| {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                });
            match written {
                Ok(()) => {
                    let target = format!("/dev/pipes/{name}");
                    m.binds.push(format!("{}:{target}:ro", file.display()));
                    exec_argv = vec![target];
                }
                Err(e) => mounts = Err(e.into()),
            }
        }
        let config = st.config.clone();
        let res = match mounts {
            Err(e) => Err(e),
            Ok(mounts) => {
                let this = self.clone();
                let argv2 = exec_argv;
                let cfg = config.clone();
                let network = r.network.clone();
                let mut st2 = st.clone();
                let cb = created_by.clone();
                let r = self
                    .step(&mut st2, &created_by, config, out, move || async move {
                        this.run_container(&parent, &cfg, argv2, cb, allowed, network, mounts, out)
                            .await
                    })
                    .await;
                *st = st2;
                r
            }
        };
        for (_, root) in from_roots {
            root.release(&self.engine, &self.journal).await;
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_container(
        self: &Arc<Self>,
        parent: &str,
        cfg: &Config,
        argv: Vec<String>,
        created_by: String,
        allowed: Vec<String>,
        network: Option<String>,
        mounts: RunMounts,
        out: &Out,
    ) -> BResult<String> {
        let o = &self.opts;
        let mut env: Vec<String> = cfg.env().to_vec();
        env.extend(allowed);
        let network_mode = match network.as_deref() {
            Some("default") | None => o.network_mode.clone(),
            Some(n) => n.to_string(),
        };
        let network_mode = if network_mode.is_empty() || network_mode == "default" {
            String::new()
        } else {
            network_mode
        };
        let req = CreateRequest {
            config: Config {
                image: parent.to_string(),
                cmd: Some(StrSlice(argv.clone())),
                // An empty entrypoint: the image's does not wrap the step.
                entrypoint: Some(StrSlice(Vec::new())),
                env: Some(env),
                user: cfg.user.clone(),
                working_dir: cfg.working_dir.clone(),
                attach_stdout: true,
                attach_stderr: true,
                healthcheck: Some(HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                }),
                labels: cfg.labels.clone(),
                shell: cfg.shell.clone(),
                ..Default::default()
            },
            host_config: Some(HostConfig {
                network_mode: NetworkMode(network_mode),
                extra_hosts: (!o.extra_hosts.is_empty()).then(|| o.extra_hosts.clone()),
                shm_size: o.shm_size,
                log_config: LogConfig {
                    driver: "none".into(),
                    config: None,
                },
                binds: (!mounts.binds.is_empty()).then(|| mounts.binds.clone()),
                tmpfs: (!mounts.tmpfs.is_empty()).then(|| mounts.tmpfs.clone()),
                resources: Resources {
                    memory: o.memory,
                    memory_swap: o.memory_swap,
                    cpu_shares: o.cpu_shares,
                    cpuset_cpus: o.cpuset_cpus.clone(),
                    cpuset_mems: o.cpuset_mems.clone(),
                    cpu_period: o.cpu_period,
                    cpu_quota: o.cpu_quota,
                    cgroup_parent: o.cgroup_parent.clone(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            networking_config: None,
        };
        let created = self.engine.container_create(None, req)?;
        let id = created.id;
        self.journal.container(&id);
        for w in &created.warnings {
            out.line(format!(" ---> [Warning] {w}"));
        }
        out.line(format!(" ---> Running in {}", short(&id)));
        let res = self
            .run_and_commit(&id, cfg, &created_by, &argv, &mounts, out)
            .await;
        // The container goes whatever happened (Docker keeps a failed one
        // unless --force-rm; berth leaves nothing behind).
        let removed = self.engine.container_remove(&id, true, true).await;
        if res.is_ok() && self.opts.rm && removed.is_ok() {
            out.line(format!("Removing intermediate container {}", short(&id)));
        }
        self.journal.container_done(&id);
        res
    }

    async fn run_and_commit(
        self: &Arc<Self>,
        id: &str,
        cfg: &Config,
        created_by: &str,
        argv: &[String],
        mounts: &RunMounts,
        out: &Out,
    ) -> BResult<String> {
        // Output: the container's stdout and stderr through an attach,
        // framed as Docker's 8-byte headers (no tty).
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (io_tx, io_rx) = tokio::sync::oneshot::channel();
        let _ = io_tx.send(Box::new(theirs) as crate::model::Io);
        self.engine.containers.push_pending(
            id,
            PendingAttach {
                io: io_rx,
                stdin: false,
                stdout: true,
                stderr: true,
                detach_keys: Vec::new(),
            },
        );
        let out2 = out.clone();
        let reader = tokio::spawn(async move {
            let mut r = ours;
            let mut head = [0u8; 8];
            loop {
                if r.read_exact(&mut head).await.is_err() {
                    break;
                }
                let n = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
                let mut buf = vec![0u8; n];
                if r.read_exact(&mut buf).await.is_err() {
                    break;
                }
                out2.raw(String::from_utf8_lossy(&buf).into_owned());
            }
        });
        self.engine.container_start(id).await?;
        let mut cancel = self.cancel.clone();
        let wait = self.engine.container_wait(id, WaitCondition::NotRunning);
        let (code, _) = tokio::select! {
            r = wait => r,
            _ = async { let _ = cancel.wait_for(|c| *c).await; } => {
                let _ = self.engine.container_kill(id, "KILL").await;
                reader.abort();
                return Err(BuildError { message: "context canceled".into(), code: None });
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reader).await;
        if code != 0 {
            return Err(BuildError {
                message: format!(
                    "The command '{}' returned a non-zero code: {code}",
                    argv.join(" ")
                ),
                code: Some(code as i64),
            });
        }
        // Mount points the step created are not part of its layer.
        let upper = self.engine.snapshots.paths(id).upper;
        let lowers = self.engine.snapshots.lowers(id).unwrap_or_default();
        drop_mount_points(&upper, &lowers, &mounts.targets);
        let parent = self.engine.containers.get(id).ok().map(|c| c.image.clone());
        self.commit_upper(
            id,
            cfg.clone(),
            created_by.to_string(),
            parent,
            String::new(),
            None,
        )
        .await
    }

    /// The snapshot `key`'s changes become the step's image (an empty diff
    /// an empty layer, as Docker marks it).
    pub(super) async fn commit_upper(
        self: &Arc<Self>,
        key: &str,
        config: Config,
        created_by: String,
        parent: Option<String>,
        author: String,
        platform: Option<(String, String)>,
    ) -> BResult<String> {
        let e = self.engine.clone();
        let k = key.to_string();
        let journal = self.journal.clone();
        let id = blocking(move || {
            let upper = e.snapshots.paths(&k).upper;
            let empty = std::fs::read_dir(&upper)
                .map(|mut d| d.next().is_none())
                .unwrap_or(true);
            let parent = parent
                .map(|p| berth_image::ImageId::parse(&p))
                .transpose()?;
            let step = berth_image::StepImage {
                config,
                created_by,
                author,
                platform,
            };
            let id = if empty {
                e.images.build_step(parent.as_ref(), None, step)?
            } else {
                let (reader, mut writer) = std::io::pipe()?;
                let snaps = e.snapshots.clone();
                let kk = k.clone();
                let producer = std::thread::spawn(move || snaps.diff_tar(&kk, &mut writer));
                let r = e.images.build_step(
                    parent.as_ref(),
                    Some(Box::new(reader) as Box<dyn Read>),
                    step,
                );
                let produced = producer
                    .join()
                    .map_err(|_| Error::system("build: diff writer panicked"))?;
                let id = r?;
                produced?;
                id
            };
            journal.image(id.as_str());
            Ok(id.to_string())
        })
        .await?;
        Ok(id)
    }

    pub(super) async fn workdir_step(
        self: &Arc<Self>,
        st: &mut StageState,
        cfg: Config,
        comment: String,
        out: &Out,
    ) -> BResult<()> {
        let created_by = nop_string(&cfg, &comment);
        let dir = cfg.working_dir.clone();
        self.fs_step(st, created_by, cfg, out, move |root: &Path| {
            cp::mkdir_all(root, &dir, (0, 0))?;
            Ok(())
        })
        .await
    }

    /// A step that writes into a snapshot of the parent.
    pub(super) async fn fs_step<F>(
        self: &Arc<Self>,
        st: &mut StageState,
        created_by: String,
        cfg: Config,
        out: &Out,
        write: F,
    ) -> BResult<()>
    where
        F: FnOnce(&Path) -> crate::Result<()> + Send + 'static,
    {
        let this = self.clone();
        let parent = st.image.clone();
        let cb = created_by.clone();
        let cfg2 = cfg.clone();
        let author = st.maintainer.clone();
        let platform = st.platform.clone();
        self.step(st, &created_by, cfg, out, move || async move {
            let key = format!("build-{}", new_id());
            this.journal.snapshot(&key);
            let e = this.engine.clone();
            let k = key.clone();
            let p = parent.clone();
            let prepared = blocking(move || {
                let layers = match &p {
                    Some(id) => {
                        let img = e.images.resolve(id)?;
                        e.images.layer_dirs(&img)?
                    }
                    None => Vec::new(),
                };
                e.snapshots.prepare(&k, &layers)?;
                let root = e.snapshots.mount(&k, true)?;
                let r = write(&root);
                e.snapshots.unmount(&k);
                r
            })
            .await;
            let res = match prepared {
                Ok(()) => {
                    this.commit_upper(&key, cfg2, cb, parent.clone(), author, Some(platform))
                        .await
                }
                Err(e) => Err(e.into()),
            };
            let e = this.engine.clone();
            let k = key.clone();
            let _ = blocking(move || Ok(e.snapshots.remove(&k)?)).await;
            this.journal.snapshot_done(&key);
            res
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn copy_from_root(
        self: &Arc<Self>,
        st: &mut StageState,
        c: &Copy,
        add: bool,
        what: &str,
        src_root: &SourceRoot,
        sources: Vec<String>,
        dest: String,
        dest_abs: String,
        chown: Option<String>,
        chmod: Option<String>,
        from_stage: bool,
        _out: &Out,
    ) -> BResult<()> {
        let in_context = matches!(src_root, SourceRoot::Context(_));
        // Sources (what, name in the destination), globs expanded: context
        // sources from its index (its files unpacked only if the step runs),
        // others from their files.
        let mut resolved: Vec<(Src, String)> = Vec::new();
        let mut urls: Vec<String> = Vec::new();
        let name_of = |m: &str| {
            Path::new(m)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        // `--parents`: a source keeps its path (below a `/./` pivot, if it
        // has one) under the destination.
        let parents = c.parents;
        let kept = |s: &str, m: &str| -> String {
            let pivot = s
                .split_once("/./")
                .map(|(p, _)| plan::clean_path(p).trim_start_matches('/').to_string())
                .unwrap_or_default();
            let m = m.trim_start_matches('/');
            match m.strip_prefix(&pivot) {
                Some(rest) if !pivot.is_empty() => rest.trim_start_matches('/').to_string(),
                _ => m.to_string(),
            }
        };
        for s in &sources {
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                urls.push(s.clone());
                continue;
            }
            if add && s.starts_with("git@") {
                return Err(Error::invalid("ADD of a git repository is not supported").into());
            }
            let rel = plan::clean_path(s).trim_start_matches('/').to_string();
            if let SourceRoot::Context(ctx) = src_root
                && !ctx.through_symlink(&rel)
            {
                let matches = if context::has_wildcards(&rel) {
                    ctx.glob(&rel)
                } else {
                    vec![rel.clone()]
                };
                if matches.is_empty() || !matches.iter().all(|m| ctx.exists(m)) {
                    return Err(not_found(what, s, true).into());
                }
                if matches.iter().any(|m| ctx.through_symlink(m)) {
                    // A match through a symlink: resolved on the files.
                } else {
                    for m in matches {
                        let n = if parents { kept(s, &m) } else { name_of(&m) };
                        resolved.push((Src::Context(m), n));
                    }
                    continue;
                }
            }
            let root = src_root.path()?.to_path_buf();
            let matches = if context::has_wildcards(&rel) {
                context::glob(&root, &rel)?
            } else {
                vec![rel.clone()]
            };
            if matches.is_empty() {
                return Err(not_found(what, s, in_context).into());
            }
            for m in matches {
                let p = context::scoped(&root, &m)?;
                if std::fs::symlink_metadata(&p).is_err() {
                    return Err(not_found(what, s, in_context).into());
                }
                if in_context && is_excluded_special(&m) {
                    return Err(not_found(what, s, in_context).into());
                }
                let n = if parents { kept(s, &m) } else { name_of(&m) };
                resolved.push((Src::Path(p), n));
            }
        }
        let n_sources = resolved.len() + urls.len() + c.heredocs.len();
        if (n_sources > 1 || parents) && !dest.ends_with('/') {
            return Err(Error::invalid(format!(
                "When using {what} with more than one source file, the destination must be a directory and end with a /"
            ))
            .into());
        }
        // Remote sources are fetched first: their content is hashed.
        let tmp = tempfile::tempdir()?;
        for (i, u) in urls.iter().enumerate() {
            let name = u
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("download")
                .to_string();
            let path = tmp.path().join(format!("{i}")).join(&name);
            std::fs::create_dir_all(path.parent().unwrap_or(tmp.path()))?;
            fetch_url(u, &path, c.checksum.as_deref()).await?;
            resolved.push((Src::Path(path), name));
        }
        let mut hashes = Vec::new();
        {
            let rs: Vec<Src> = resolved.iter().map(|(p, _)| p.clone()).collect();
            let ctx = self.ctx.clone();
            let hs = blocking(move || {
                rs.iter()
                    .map(|p| match p {
                        Src::Path(p) => context::hash_source(p),
                        Src::Context(rel) => Ok(ctx.hash(rel)),
                    })
                    .collect::<crate::Result<Vec<_>>>()
            })
            .await?;
            hashes.extend(hs);
        }
        for h in &c.heredocs {
            hashes.push(context::hash_text(&h.content));
        }
        let hash = berth_build::cache::multi_hash(&hashes);
        let chown_comment = chown
            .as_deref()
            .map(|c| format!("--chown={c}"))
            .unwrap_or_default();
        // The kept paths are part of what the step makes.
        let parents_comment = if parents {
            let kept: Vec<&str> = resolved.iter().map(|(_, n)| n.as_str()).collect();
            format!("--parents {} ", kept.join(" "))
        } else {
            String::new()
        };
        let comment = format!("{what} {chown_comment}{parents_comment}{hash} in {dest} ");
        let created_by = nop_string(&st.config, &comment);
        let chmod = chmod.as_deref().map(cp::parse_chmod).transpose()?;
        let cfg = st.config.clone();
        let heredocs = c.heredocs.clone();
        let lookup_env = {
            let look = plan::lookup(&st.config, &st.args);
            heredocs
                .iter()
                .map(|h| {
                    if h.expand {
                        self.lex
                            .process_word(&h.content, &look)
                            .map(|e| e.value)
                            .unwrap_or(h.content.clone())
                    } else {
                        h.content.clone()
                    }
                })
                .collect::<Vec<String>>()
        };
        let _tmp_guard = tmp;
        let ctx = self.ctx.clone();
        self.fs_step(st, created_by, cfg, _out, move |r: &Path| {
            let resolved: Vec<(PathBuf, String)> = resolved
                .into_iter()
                .map(|(src, name)| match src {
                    Src::Path(p) => Ok((p, name)),
                    Src::Context(rel) => Ok((context::scoped(ctx.files()?, &rel)?, name)),
                })
                .collect::<crate::Result<_>>()?;
            let ids = match &chown {
                Some(spec) => Some(cp::chown_ids(r, spec)?),
                None if from_stage => None,
                None => Some((0, 0)),
            };
            let o = Owner { ids, chmod };
            let dest_dir = dest_abs.ends_with('/') || n_sources > 1 || cp::is_dir_in(r, &dest_abs);
            for (p, name) in &resolved {
                if parents {
                    // dest/<its path>: a directory's contents in it, a
                    // file by its name in its parent's place.
                    let (sub, base) = if p.is_dir() {
                        (name.as_str(), "")
                    } else {
                        name.rsplit_once('/').unwrap_or(("", name.as_str()))
                    };
                    let d = format!("{}/{sub}", dest_abs.trim_end_matches('/'));
                    cp::copy_source(r, p, base, &d, true, o)?;
                    continue;
                }
                if add && p.is_file() && cp::is_archive(p) {
                    cp::unpack_archive(r, p, &dest_abs)?;
                } else {
                    cp::copy_source(r, p, name, &dest_abs, dest_dir, o)?;
                }
            }
            for (h, text) in heredocs.iter().zip(&lookup_env) {
                cp::write_text(r, &dest_abs, dest_dir, &h.name, text, o)?;
            }
            Ok(())
        })
        .await
    }
}

/// A COPY source: a context path (from its index) or a file.
#[derive(Clone, Debug)]
enum Src {
    Context(String),
    Path(PathBuf),
}

fn not_found(what: &str, s: &str, in_context: bool) -> Error {
    if in_context {
        Error::invalid(format!(
            "{what} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"
        ))
    } else {
        Error::invalid(format!("{what} failed: stat {s}: file does not exist"))
    }
}

fn is_excluded_special(p: &str) -> bool {
    p == ".berth-build-secrets" || p.starts_with(".berth-build-secrets/")
}

fn bad_mount(spec: &str, why: &str) -> BuildError {
    BuildError {
        message: format!("invalid mount {spec:?}: {why}"),
        code: None,
    }
}

/// Empty directories the runtime made for mount targets, when no layer
/// below has them, are dropped from the step's upper directory.
fn drop_mount_points(upper: &Path, lowers: &[PathBuf], targets: &[String]) {
    for t in targets {
        let rel = t.trim_start_matches('/');
        if rel.is_empty() {
            continue;
        }
        if lowers.iter().any(|l| l.join(rel).exists()) {
            continue;
        }
        let mut p = upper.join(rel);
        loop {
            let is_empty = std::fs::read_dir(&p)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false)
                || std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0);
            if !is_empty || p == upper {
                break;
            }
            let rel_p = p.strip_prefix(upper).unwrap_or(&p).to_path_buf();
            if lowers.iter().any(|l| l.join(&rel_p).exists()) {
                break;
            }
            if std::fs::remove_dir(&p).is_err() && std::fs::remove_file(&p).is_err() {
                break;
            }
            match p.parent() {
                Some(parent) => p = parent.to_path_buf(),
                None => break,
            }
        }
    }
}

/// ADD <url>: downloaded (mode 0600 as Docker), checked against
/// `--checksum` when given.
async fn fetch_url(url: &str, to: &Path, checksum: Option<&str>) -> BResult<()> {
    let e = |m: String| BuildError {
        message: m,
        code: None,
    };
    let resp = reqwest::get(url)
        .await
        .map_err(|x| e(format!("failed to GET {url}: {x}")))?;
    if !resp.status().is_success() {
        return Err(e(format!(
            "failed to GET {url} with status {}",
            resp.status()
        )));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|x| e(format!("failed to read {url}: {x}")))?;
    if let Some(sum) = checksum {
        let got = format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
        );
        if got != sum {
            return Err(e(format!(
                "digest mismatch for {url}: expected {sum}, got {got}"
            )));
        }
    }
    std::fs::write(to, &bytes)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
