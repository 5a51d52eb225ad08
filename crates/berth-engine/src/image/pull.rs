//! `docker pull` (`POST /images/create?fromImage=`): resolve the reference
//! on its registry (manifest, index → this platform's manifest, config),
//! then fetch the missing layers in parallel, each streamed from the
//! registry through sha256, the decompressor and the unpacker in one pass
//! (`berth_image::Store::pull_layer`), resumed with a Range request after a
//! broken connection, and commit the image. Progress goes out as Docker's
//! JSON messages, in Docker's order and words.
//!
//! Errors found while resolving (unknown image, credentials, TLS, a
//! platform that is not there) come back before any message, so the API
//! answers them with a status; later ones end the message stream.

use std::sync::Arc;

use berth_api::auth::AuthConfig;
use berth_api::jsonmessage::JsonMessage;
use berth_image::{ImageConfig, LayerRecord, LayerSource, Reference};
use berth_registry::manifest::{self, Manifest};
use berth_registry::{ErrorKind as RegKind, Session};
use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageManifest};
use tokio::sync::mpsc;

use super::transfer::{Meter, Progress, backoff, short_id};
use crate::util::{ChannelReader, blocking};
use crate::{Engine, Error, ErrorKind, Result};

/// What a pull asks for.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// Normalised; with a tag or digest unless `all_tags`.
    pub reference: Reference,
    pub all_tags: bool,
    /// (os, arch, variant) wanted, and whether the user said so.
    pub platform: (String, String, String),
    pub platform_given: bool,
    pub auth: AuthConfig,
}

impl PullRequest {
    /// From `fromImage`, `tag` (a tag or a digest; empty with a bare name
    /// means all tags, as the API says) and `platform`.
    pub fn parse(from_image: &str, tag: &str, platform: &str, auth: AuthConfig) -> Result<Self> {
        let named = Reference::parse_named(from_image)?;
        let (reference, all_tags) = if !tag.is_empty() {
            let base = Reference::parse_named(&named.repository())?;
            let r = if tag.starts_with("sha256:") || tag.contains(':') {
                base.with_digest(tag)?
            } else {
                base.with_tag(tag)?
            };
            (r, false)
        } else if named.tag().is_none() && named.digest().is_none() {
            (named, true)
        } else {
            (named, false)
        };
        let (platform, platform_given) = if platform.is_empty() {
            (manifest::host_platform(), false)
        } else {
            (
                manifest::parse_platform(platform)
                    .map_err(|e| Error::invalid(e.message.clone()))?,
                true,
            )
        };
        Ok(PullRequest {
            reference,
            all_tags,
            platform,
            platform_given,
            auth,
        })
    }
}

/// The manifest (or index) a reference names.
struct Top {
    reference: Reference,
    digest: String,
    bytes: Vec<u8>,
    parsed: Manifest,
}

/// A reference resolved on its registry: everything but the layers.
struct Resolved {
    reference: Reference,
    /// What the tag points at (an index's digest for a multi-platform image).
    digest: String,
    manifest_bytes: Vec<u8>,
    manifest: ImageManifest,
    config_bytes: Vec<u8>,
    diff_ids: Vec<String>,
}

/// A registry error in the words `docker pull` uses (moby's
/// translatePullError), with the kind the API answers with.
pub fn pull_error(e: berth_registry::Error, r: &Reference) -> Error {
    let familiar_name = r.repository_familiar();
    match e.code.as_str() {
        "DENIED" => Error::not_found(format!(
            "pull access denied for {familiar_name}, repository does not exist or may require 'docker login': {}",
            e.message
        )),
        "MANIFEST_UNKNOWN" => Error::not_found(format!(
            "manifest for {} not found: {}",
            r.familiar(),
            e.message
        )),
        "NAME_UNKNOWN" => Error::not_found(format!(
            "repository {familiar_name} not found: {}",
            e.message
        )),
        _ => registry_error(e),
    }
}

/// Any other registry error, kind for kind.
pub fn registry_error(e: berth_registry::Error) -> Error {
    // As dockerd 20.10: a registry's refusal is not the API's 401 (the
    // docker CLI would take it for its own credentials and prompt).
    let kind = match e.kind {
        RegKind::Denied => ErrorKind::Forbidden,
        RegKind::NotFound => ErrorKind::NotFound,
        RegKind::Unsupported => ErrorKind::InvalidParameter,
        _ => ErrorKind::System,
    };
    Error::new(kind, e.message)
}

/// `os/arch[/variant]`, without arm64's default `v8` (as Docker prints it).
fn platform_str(p: &(String, String, String)) -> String {
    if p.2.is_empty() || (p.1 == "arm64" && p.2 == "v8") {
        format!("{}/{}", p.0, p.1)
    } else {
        format!("{}/{}/{}", p.0, p.1, p.2)
    }
}

fn layer_media(d: &Descriptor) -> Result<String> {
    manifest::layer_compression(d).map_err(registry_error)?;
    Ok(manifest::media_str(d.media_type()))
}

impl Engine {
    /// A registry session for a repository.
    pub(crate) async fn session(
        &self,
        r: &Reference,
        auth: AuthConfig,
        actions: &str,
    ) -> Result<Session> {
        self.registries
            .session(r.domain(), r.path(), auth, actions)
            .await
            .map_err(registry_error)
    }

    /// Resolve `r` (tag or digest) to this platform's image.
    /// What the reference names on the registry (errors here are the
    /// API's answer, as dockerd's: nothing was sent yet).
    async fn fetch_top(&self, s: &Session, r: &Reference) -> Result<Top> {
        let at = r.digest().or(r.tag()).unwrap_or("latest");
        let (bytes, ctype, digest) = s.manifest(at).await.map_err(|e| pull_error(e, r))?;
        let parsed = manifest::parse(&bytes, &ctype, &r.familiar()).map_err(registry_error)?;
        Ok(Top {
            reference: r.clone(),
            digest,
            bytes,
            parsed,
        })
    }

    /// The platform's manifest and the config (after "Pulling from": errors
    /// here end the message stream, as dockerd's do).
    async fn resolve(&self, s: &Session, top: Top, req: &PullRequest) -> Result<Resolved> {
        let Top {
            reference: r,
            digest,
            bytes,
            parsed,
        } = top;
        let r = &r;
        let (manifest_bytes, m) = match parsed {
            Manifest::Image(m) => (bytes, *m),
            Manifest::Index(idx) => {
                let Some(d) = manifest::select(&idx, &req.platform) else {
                    return Err(Error::not_found(manifest::no_match(&req.platform).message));
                };
                let (b, ct, _) = s
                    .manifest(d.digest().as_ref())
                    .await
                    .map_err(|e| pull_error(e, r))?;
                match manifest::parse(&b, &ct, &r.familiar()).map_err(registry_error)? {
                    Manifest::Image(m) => (b, *m),
                    Manifest::Index(_) => {
                        return Err(Error::system(format!(
                            "{}: a manifest list inside a manifest list",
                            r.familiar()
                        )));
                    }
                }
            }
        };
        for l in m.layers() {
            layer_media(l)?;
        }
        let cfg_digest = m.config().digest().to_string();
        let config_bytes = s
            .blob_bytes(&cfg_digest)
            .await
            .map_err(|e| pull_error(e, r))?;
        let config = ImageConfig::from_slice(&config_bytes)
            .map_err(|e| Error::system(format!("image config {cfg_digest}: {e}")))?;
        let diff_ids = config.diff_ids();
        if diff_ids.len() != m.layers().len() {
            return Err(Error::system(format!(
                "{}: the manifest has {} layers but the image config {} diff_ids",
                r.familiar(),
                m.layers().len(),
                diff_ids.len()
            )));
        }
        if req.platform_given {
            let (os, arch) = (
                config.os().unwrap_or(""),
                config.architecture().unwrap_or(""),
            );
            if os != req.platform.0 || arch != req.platform.1 {
                return Err(Error::not_found(format!(
                    "image with reference {} was found but does not match the specified platform: wanted {}, actual: {os}/{arch}",
                    r.familiar(),
                    platform_str(&req.platform)
                )));
            }
        }
        Ok(Resolved {
            reference: r.clone(),
            digest,
            manifest_bytes,
            manifest: m,
            config_bytes,
            diff_ids,
        })
    }

    /// `POST /images/create?fromImage=…`: the messages of the pull, once
    /// the reference resolved (errors before that are the answer's).
    pub async fn image_pull(
        self: &Arc<Self>,
        req: PullRequest,
    ) -> Result<mpsc::Receiver<JsonMessage>> {
        let r = req.reference.clone();
        let session = Arc::new(self.session(&r, req.auth.clone(), "pull").await?);
        let (tx, rx) = mpsc::channel(64);
        let progress = Progress::new(tx);
        let engine = self.clone();
        if req.all_tags {
            let mut tags = session.tags().await.map_err(|e| pull_error(e, &r))?;
            tags.sort();
            if tags.is_empty() {
                return Err(Error::not_found(format!(
                    "repository {} has no tags",
                    r.repository_familiar()
                )));
            }
            let first = engine.fetch_top(&session, &r.with_tag(&tags[0])?).await?;
            tokio::spawn(async move {
                let mut newer = false;
                let mut next = Some(first);
                for t in &tags {
                    let top = match next.take() {
                        Some(x) => Ok(x),
                        None => match r.with_tag(t) {
                            Ok(tr) => engine.fetch_top(&session, &tr).await,
                            Err(e) => Err(e.into()),
                        },
                    };
                    let done = match top {
                        Ok(top) => engine.pull_top(&session, top, &req, &progress).await,
                        Err(e) => Err(e),
                    };
                    match done {
                        Ok(n) => newer |= n,
                        Err(e) => return progress.error(&e).await,
                    }
                }
                let what = r.repository_familiar();
                progress.status(final_status(newer, &what)).await;
            });
        } else {
            let top = engine.fetch_top(&session, &r).await?;
            tokio::spawn(async move {
                match engine.pull_top(&session, top, &req, &progress).await {
                    Ok(newer) => progress.status(final_status(newer, &r.familiar())).await,
                    Err(e) => progress.error(&e).await,
                }
            });
        }
        Ok(rx)
    }

    /// "Pulling from", then the rest of the resolution and the layers.
    async fn pull_top(
        self: &Arc<Self>,
        s: &Arc<Session>,
        top: Top,
        req: &PullRequest,
        p: &Progress,
    ) -> Result<bool> {
        let r = &top.reference;
        let at = r.tag().or(r.digest()).unwrap_or("latest").to_string();
        p.item(&at, &format!("Pulling from {}", r.path())).await;
        let resolved = self.resolve(s, top, req).await?;
        self.pull_resolved(s, resolved, p).await
    }

    /// Fetch what is missing of a resolved image and commit it. True if the
    /// reference now names a different image than before.
    async fn pull_resolved(
        self: &Arc<Self>,
        s: &Arc<Session>,
        x: Resolved,
        p: &Progress,
    ) -> Result<bool> {
        let chains = berth_image::layers::chain_ids(&x.diff_ids);
        // The image is here already (as dockerd: not a word about layers).
        let config_id = berth_registry::sha256_digest(&x.config_bytes);
        let here = self
            .images
            .resolve(&config_id)
            .is_ok_and(|_| chains.iter().all(|c| self.images.has_layer(c)));
        // In order: what is here, what must come.
        let mut wanted = Vec::new();
        let mut records: Vec<Option<LayerRecord>> = Vec::new();
        for (i, d) in x.manifest.layers().iter().enumerate() {
            let media = layer_media(d)?;
            let job = LayerJob {
                digest: d.digest().to_string(),
                size: d.size() as i64,
                media,
                diff_id: x.diff_ids[i].clone(),
                chain: chains[i].clone(),
                parent: i.checked_sub(1).map(|p| chains[p].clone()),
            };
            match self.images.present_layer(&job.source()) {
                Some(rec) => {
                    if !here {
                        p.item(&short_id(&job.digest), "Already exists").await;
                    }
                    records.push(Some(rec));
                }
                None => {
                    p.item(&short_id(&job.digest), "Pulling fs layer").await;
                    records.push(None);
                    wanted.push((i, job));
                }
            }
        }
        // On the first failure the others are told to stop, and waited
        // for: when the error is reported, their staging is gone.
        let (cancel, cancelled) = tokio::sync::watch::channel(false);
        let mut set = tokio::task::JoinSet::new();
        for (i, job) in wanted {
            let (engine, s, p) = (self.clone(), s.clone(), p.clone());
            let c = Cancel(cancelled.clone());
            set.spawn(async move { (i, engine.fetch_layer(&s, job, &p, c).await) });
        }
        let mut failure = None;
        while let Some(done) = set.join_next().await {
            match done {
                Ok((i, Ok(rec))) => records[i] = Some(rec),
                Ok((_, Err(e))) => {
                    if failure.is_none() {
                        failure = Some(e);
                        let _ = cancel.send(true);
                    }
                }
                Err(e) => failure = failure.or(Some(Error::system(e.to_string()))),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let records: Vec<LayerRecord> = records
            .into_iter()
            .map(|r| r.expect("every layer"))
            .collect();
        let r = x.reference.clone();
        let mut refs = vec![r.with_digest(&x.digest)?];
        if r.digest().is_none() {
            refs.insert(0, r.clone());
        }
        let before = self.images.resolve(&r.full()).ok().map(|i| i.id);
        let engine = self.clone();
        let (config, manifest_bytes) = (x.config_bytes, x.manifest_bytes);
        let repo = r.repository();
        let (id, _) = blocking(move || {
            // Remembered for pushes: they mount these blobs from here.
            for l in &records {
                engine.images.add_blob_source(&l.digest, &repo)?;
            }
            Ok(engine
                .images
                .commit_pull(&config, Some(&manifest_bytes), records, &refs)?)
        })
        .await?;
        p.status(format!("Digest: {}", x.digest)).await;
        self.emit_image(&r.familiar(), "pull", &[("name", r.repository_familiar())]);
        Ok(before.as_ref() != Some(&id))
    }

    /// One layer: wait for a download slot, stream it in (resuming after a
    /// broken connection), commit it.
    async fn fetch_layer(
        self: &Arc<Self>,
        s: &Session,
        job: LayerJob,
        p: &Progress,
        mut cancel: Cancel,
    ) -> Result<LayerRecord> {
        let id = short_id(&job.digest);
        // One download per layer, whoever asks.
        let _layer = cancel.or(self.transfers.lock_layer(&job.chain)).await?;
        if let Some(rec) = self.images.present_layer(&job.source()) {
            p.item(&id, "Already exists").await;
            return Ok(rec);
        }
        let slots = self.transfers.downloads.clone();
        let _slot = match slots.clone().try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                p.item(&id, "Waiting").await;
                cancel
                    .or(slots.acquire_owned())
                    .await?
                    .map_err(|e| Error::system(e.to_string()))?
            }
        };
        let keep = self.transfers.keep_pulled_blobs;
        let pulled = self
            .stream_layer(s, &job, p, Some(keep), &mut cancel)
            .await?;
        let pulled = match pulled {
            Streamed::Layer(l) if l.needs_blob() => {
                // The tar could not be split: keep the blob, read again.
                let mut l = *l;
                let blob = self.stream_layer(s, &job, p, None, &mut cancel).await?;
                let Streamed::Blob(b) = blob else {
                    unreachable!("asked for the blob")
                };
                let engine = self.clone();
                blocking(move || {
                    engine.images.attach_blob(&mut l, &b[..])?;
                    Ok(l)
                })
                .await?
            }
            Streamed::Layer(l) => *l,
            Streamed::Blob(_) => unreachable!("asked for the layer"),
        };
        p.item(&id, "Verifying Checksum").await;
        p.item(&id, "Download complete").await;
        let total = pulled.record.size as i64;
        p.send(JsonMessage::progress_of(
            id.clone(),
            "Extracting",
            total,
            total,
        ))
        .await;
        let engine = self.clone();
        let rec = blocking(move || Ok(engine.images.commit_layer(pulled)?)).await?;
        p.item(&id, "Pull complete").await;
        Ok(rec)
    }

    /// Download one layer's blob: into the store's one-pass unpacker
    /// (`keep` = keep the blob too), or (None) whole into memory. Broken
    /// connections are resumed where they broke, up to
    /// `max-download-attempts` times.
    async fn stream_layer(
        self: &Arc<Self>,
        s: &Session,
        job: &LayerJob,
        p: &Progress,
        keep: Option<bool>,
        cancel: &mut Cancel,
    ) -> Result<Streamed> {
        let id = short_id(&job.digest);
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
        let sink = match keep {
            Some(keep) => {
                let engine = self.clone();
                let job2 = job.clone();
                Sink::Store(tokio::task::spawn_blocking(move || {
                    let r = ChannelReader::new(rx);
                    engine.images.pull_layer(r, &job2.source(), keep)
                }))
            }
            None => {
                drop(rx);
                Sink::Memory(Vec::new())
            }
        };
        let mut meter = Meter::new(&id, "Downloading", job.size.max(0) as u64);
        let mut attempt = 0u32;
        let mut sink = sink;
        let outcome: Result<()> = 'download: loop {
            attempt += 1;
            let offset = meter.current;
            let opened = match cancel.or(s.blob_stream(&job.digest, offset)).await {
                Ok(o) => o,
                Err(e) => break Err(e),
            };
            let mut stream = match opened {
                Ok(st) => st,
                Err(e) if e.retryable() && attempt < self.transfers.max_attempts => {
                    tracing::info!(layer = %job.digest, attempt, error = %e, "retrying download");
                    if let Err(e) = cancel.or(tokio::time::sleep(backoff(attempt))).await {
                        break Err(e);
                    }
                    continue;
                }
                Err(e) => break Err(registry_error(e)),
            };
            loop {
                let next = match cancel.or(stream.chunk()).await {
                    Ok(n) => n,
                    Err(e) => break 'download Err(e),
                };
                match next {
                    Ok(Some(b)) => {
                        let n = b.len() as u64;
                        if !sink.push(&tx, b).await {
                            // The unpacker stopped: its error says why.
                            break 'download Ok(());
                        }
                        if let Some(m) = meter.add(n) {
                            p.send(m).await;
                        }
                    }
                    Ok(None) => break 'download Ok(()),
                    Err(e) if attempt < self.transfers.max_attempts => {
                        tracing::info!(layer = %job.digest, attempt, at = meter.current, error = %e, "connection broke, resuming");
                        if let Err(e) = cancel.or(tokio::time::sleep(backoff(attempt))).await {
                            break 'download Err(e);
                        }
                        continue 'download;
                    }
                    Err(e) => break 'download Err(registry_error(e)),
                }
            }
        };
        if let Err(e) = &outcome {
            let _ = tx.send(Err(std::io::Error::other(e.message.clone()))).await;
        }
        drop(tx);
        let result = match sink {
            Sink::Store(h) => match h.await {
                Ok(Ok(l)) => Ok(Streamed::Layer(Box::new(l))),
                Ok(Err(e)) => Err(Error::from(e)),
                Err(e) => Err(Error::system(e.to_string())),
            },
            Sink::Memory(v) => Ok(Streamed::Blob(v)),
        };
        // A download error explains an unpacker's "unexpected end" best.
        match (outcome, result) {
            (Err(e), _) => Err(e),
            (Ok(()), r) => r.map_err(|e| Error::system(e.message)),
        }
    }
}

/// Told when another layer of the same pull failed.
struct Cancel(tokio::sync::watch::Receiver<bool>);

impl Cancel {
    /// `f`, unless the pull is cancelled first.
    async fn or<T>(&mut self, f: impl std::future::Future<Output = T>) -> Result<T> {
        let rx = &mut self.0;
        tokio::select! {
            v = f => Ok(v),
            r = rx.wait_for(|c| *c) => match r {
                Ok(_) => Err(Error::system("cancelled: another layer failed")),
                // The pull is gone: nobody will cancel.
                Err(_) => Err(Error::system("cancelled")),
            },
        }
    }
}

/// One layer to fetch (owned, for tasks).
#[derive(Clone, Debug)]
struct LayerJob {
    digest: String,
    size: i64,
    media: String,
    diff_id: String,
    chain: String,
    parent: Option<String>,
}

impl LayerJob {
    fn source(&self) -> LayerSource<'_> {
        LayerSource {
            digest: &self.digest,
            size: self.size.max(0) as u64,
            media_type: &self.media,
            diff_id: &self.diff_id,
            chain_id: &self.chain,
            parent: self.parent.as_deref(),
        }
    }
}

enum Streamed {
    Layer(Box<berth_image::PulledLayer>),
    Blob(Vec<u8>),
}

enum Sink {
    Store(tokio::task::JoinHandle<berth_image::Result<berth_image::PulledLayer>>),
    Memory(Vec<u8>),
}

impl Sink {
    /// Hand a chunk on; false when the consumer is gone.
    async fn push(&mut self, tx: &mpsc::Sender<std::io::Result<Bytes>>, b: Bytes) -> bool {
        match self {
            Sink::Store(_) => tx.send(Ok(b)).await.is_ok(),
            Sink::Memory(v) => {
                v.extend_from_slice(&b);
                true
            }
        }
    }
}

/// The last line of a pull.
fn final_status(newer: bool, what: &str) -> String {
    if newer {
        format!("Status: Downloaded newer image for {what}")
    } else {
        format!("Status: Image is up to date for {what}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(from: &str, tag: &str) -> PullRequest {
        PullRequest::parse(from, tag, "", AuthConfig::default()).unwrap()
    }

    #[test]
    fn what_the_query_asks_for() {
        let r = req("docker.io/library/busybox", "latest");
        assert_eq!(r.reference.full(), "docker.io/library/busybox:latest");
        assert!(!r.all_tags);
        let d = format!("sha256:{}", "a".repeat(64));
        let r = req("localhost:5000/x", &d);
        assert_eq!(r.reference.digest(), Some(d.as_str()));
        let r = req("localhost:5000/x", "");
        assert!(r.all_tags);
        let r = req("busybox:1.36", "");
        assert_eq!((r.reference.tag(), r.all_tags), (Some("1.36"), false));
        assert!(PullRequest::parse("UPPER", "latest", "", AuthConfig::default()).is_err());
        let p = PullRequest::parse("x", "latest", "linux/arm64", AuthConfig::default()).unwrap();
        assert_eq!(p.platform.2, "v8");
        assert_eq!(platform_str(&p.platform), "linux/arm64");
        assert!(p.platform_given);
    }

    #[test]
    fn registry_errors_in_dockers_words() {
        let r = Reference::parse("localhost:5000/nosuch:v1").unwrap();
        let e = berth_registry::Error {
            code: "MANIFEST_UNKNOWN".into(),
            ..berth_registry::Error::new(RegKind::NotFound, "manifest unknown: manifest unknown")
        };
        let e = pull_error(e, &r);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(
            e.message,
            "manifest for localhost:5000/nosuch:v1 not found: manifest unknown: manifest unknown"
        );
        let r = Reference::parse("nosuch").unwrap();
        let e = berth_registry::Error {
            code: "DENIED".into(),
            ..berth_registry::Error::new(
                RegKind::Denied,
                "denied: requested access to the resource is denied",
            )
        };
        assert_eq!(
            pull_error(e, &r).message,
            "pull access denied for nosuch, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
        let e = berth_registry::Error::new(
            RegKind::Unauthorized,
            "unauthorized: authentication required",
        );
        assert_eq!(pull_error(e, &r).kind, ErrorKind::System);
        assert_eq!(
            final_status(true, "busybox:latest"),
            "Status: Downloaded newer image for busybox:latest"
        );
    }

    #[test]
    fn channel_reader_reads_chunks_in_order() {
        use std::io::Read;
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"hel"))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"lo"))).unwrap();
        drop(tx);
        let mut s = String::new();
        ChannelReader::new(rx).read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }
}
