//! `docker push` (`POST /images/{name}/push?tag=`): for each layer, find
//! out whether the repository has it already (HEAD on every digest the
//! layer is known by), mount it from another repository of the same
//! registry, or upload it — the kept blob as is, or the layer's tar
//! compressed on the fly (deterministically: the same digest every push)
//! and streamed in one PATCH. Then the config and the manifest (the very
//! manifest the image was pulled with when every layer kept its digest).
//! Uploads run in parallel, `max-concurrent-uploads` daemon-wide.

use std::sync::Arc;

use berth_api::auth::AuthConfig;
use berth_api::image::PushResult;
use berth_api::jsonmessage::JsonMessage;
use berth_image::distribution::Compressed;
use berth_image::{Image, PushCompression, Reference};
use berth_registry::Session;
use berth_registry::manifest as mf;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::pull::registry_error;
use super::transfer::{Meter, Progress, short_id};
use crate::util::blocking;
use crate::{Engine, Error, Result};

/// What a push asks for.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The repository (no tag).
    pub repository: Reference,
    /// One tag, or every tag of the repository when None.
    pub tag: Option<String>,
    pub auth: AuthConfig,
    pub compression: PushCompression,
}

impl PushRequest {
    /// From the path's name (maybe with a tag) and `tag`.
    pub fn parse(name: &str, tag: &str, auth: AuthConfig) -> Result<PushRequest> {
        let named = Reference::parse_named(name)?;
        if named.digest().is_some() {
            return Err(Error::invalid(format!(
                "cannot push a digest reference: {}",
                named.familiar()
            )));
        }
        let tag = if !tag.is_empty() {
            Some(tag.to_string())
        } else {
            named.tag().map(str::to_string)
        };
        let repository = Reference::parse_named(&named.repository())?;
        if let Some(t) = &tag {
            repository.with_tag(t)?;
        }
        Ok(PushRequest {
            repository,
            tag,
            auth,
            compression: PushCompression::Gzip,
        })
    }
}

/// One layer's blob as the registry will know it.
struct Pushed {
    digest: String,
    size: u64,
    media_type: String,
}

/// The docker media type for an OCI layer media type (schema 2 manifests).
fn docker_layer_media(oci: &str) -> &str {
    match oci {
        mf::OCI_LAYER_GZIP => mf::DOCKER_LAYER_GZIP,
        mf::OCI_LAYER => "application/vnd.docker.image.rootfs.diff.tar",
        other => other,
    }
}

/// A manifest for the image with these layers: schema 2, or OCI when the
/// image came as OCI or a layer needs it (zstd). Indented as
/// distribution writes them.
fn build_manifest(
    image_id: &str,
    config_len: usize,
    layers: &[Pushed],
    oci: bool,
) -> (Vec<u8>, &'static str) {
    let oci = oci || layers.iter().any(|l| l.media_type.ends_with("+zstd"));
    let (media, config_media) = if oci {
        (mf::OCI_MANIFEST, mf::OCI_CONFIG)
    } else {
        (mf::DOCKER_MANIFEST, mf::DOCKER_CONFIG)
    };
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let m = if oci {
                l.media_type.as_str()
            } else {
                docker_layer_media(&l.media_type)
            };
            serde_json::json!({"mediaType": m, "size": l.size, "digest": l.digest})
        })
        .collect();
    let v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"mediaType": config_media, "size": config_len, "digest": image_id},
        "layers": layers,
    });
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&v, &mut ser).expect("manifest serialises");
    (out, media)
}

/// The stored manifest, if it still describes exactly these blobs.
fn reusable_manifest(bytes: &[u8], image_id: &str, layers: &[Pushed]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let media = v.get("mediaType")?.as_str()?.to_string();
    if v.pointer("/config/digest")?.as_str()? != image_id {
        return None;
    }
    let ls = v.get("layers")?.as_array()?;
    let same = ls.len() == layers.len()
        && ls
            .iter()
            .zip(layers)
            .all(|(a, b)| a.get("digest").and_then(|d| d.as_str()) == Some(b.digest.as_str()));
    same.then_some(media)
}

impl Engine {
    /// `POST /images/{name}/push`: the messages of the push, once the image
    /// and the registry were found (errors before that are the answer's).
    pub async fn image_push(
        self: &Arc<Self>,
        req: PushRequest,
    ) -> Result<mpsc::Receiver<JsonMessage>> {
        let (tx, rx) = mpsc::channel(64);
        let p = Progress::new(tx);
        let engine = self.clone();
        // As dockerd: the first line goes out at once; every failure after
        // it (no such image, the registry's refusals) ends the stream.
        tokio::spawn(async move {
            p.status(format!(
                "The push refers to repository [{}]",
                req.repository.repository()
            ))
            .await;
            if let Err(e) = engine.push_all(&req, &p).await {
                p.error(&e).await;
            }
        });
        Ok(rx)
    }

    async fn push_all(self: &Arc<Self>, req: &PushRequest, p: &Progress) -> Result<()> {
        let repo = req.repository.clone();
        let tags: Vec<Reference> = match &req.tag {
            Some(t) => vec![repo.with_tag(t)?],
            None => {
                let prefix = format!("{}:", repo.repository());
                let mut v: Vec<Reference> = self
                    .images
                    .list()?
                    .iter()
                    .flat_map(|i| i.repo_tags.clone())
                    .filter_map(|t| Reference::parse(&t).ok())
                    .filter(|r| r.full().starts_with(&prefix))
                    .collect();
                v.sort_by_key(|r| r.full());
                v.dedup_by_key(|r| r.full());
                v
            }
        };
        let images: Vec<(Reference, Image)> = tags
            .iter()
            .filter_map(|r| Some((r.clone(), self.images.resolve(&r.full()).ok()?)))
            .collect();
        if images.is_empty() || images.len() != tags.len() {
            return Err(Error::not_found(format!(
                "An image does not exist locally with the tag: {}",
                repo.repository_familiar()
            )));
        }
        // Mounting needs pull access to the source repositories.
        let mut scope = format!("repository:{}:pull,push", repo.path());
        for src in self.mount_sources(&repo, &images) {
            scope.push_str(&format!(" repository:{src}:pull"));
        }
        let session = Arc::new(
            self.registries
                .session_with_scope(repo.domain(), repo.path(), req.auth.clone(), scope)
                .await
                .map_err(registry_error)?,
        );
        for (r, image) in images {
            self.push_image(&session, &r, image, req.compression, p)
                .await?;
        }
        Ok(())
    }

    /// Other repositories of this registry known to hold the images' blobs.
    fn mount_sources(&self, repo: &Reference, images: &[(Reference, Image)]) -> Vec<String> {
        let prefix = format!("{}/", repo.domain());
        let mut out: Vec<String> = Vec::new();
        for (_, i) in images {
            for l in &i.layers {
                for s in self.images.blob_sources(&l.digest) {
                    if let Some(path) = s.strip_prefix(&prefix)
                        && path != repo.path()
                        && !out.iter().any(|o| o == path)
                        && out.len() < 8
                    {
                        out.push(path.to_string());
                    }
                }
            }
        }
        out
    }

    async fn push_image(
        self: &Arc<Self>,
        s: &Arc<Session>,
        r: &Reference,
        image: Image,
        compression: PushCompression,
        p: &Progress,
    ) -> Result<()> {
        let diff_ids = image.config.diff_ids();
        for d in &diff_ids {
            p.item(&short_id(d), "Preparing").await;
        }
        let image = Arc::new(image);
        let mut set = tokio::task::JoinSet::new();
        for i in 0..diff_ids.len() {
            let (engine, s, p, image) = (self.clone(), s.clone(), p.clone(), image.clone());
            let repo = r.repository();
            set.spawn(async move {
                (
                    i,
                    engine
                        .push_layer(&s, &repo, &image, i, compression, &p)
                        .await,
                )
            });
        }
        let mut pushed: Vec<Option<Pushed>> = (0..diff_ids.len()).map(|_| None).collect();
        let mut failure = None;
        while let Some(done) = set.join_next().await {
            match done {
                Ok((i, Ok(x))) => pushed[i] = Some(x),
                Ok((_, Err(e))) => {
                    if failure.is_none() {
                        failure = Some(e);
                        set.abort_all();
                    }
                }
                Err(e) if e.is_cancelled() => {}
                Err(e) => failure = failure.or(Some(Error::system(e.to_string()))),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let pushed: Vec<Pushed> = pushed
            .into_iter()
            .map(|x| x.expect("every layer"))
            .collect();
        // The config, then the manifest.
        let config = self.images.blobs().read(image.id.as_str())?;
        if s.blob_exists(image.id.as_str())
            .await
            .map_err(registry_error)?
            .is_none()
        {
            s.upload_bytes(image.id.as_str(), config.clone())
                .await
                .map_err(registry_error)?;
        }
        let kept = self.images.manifest_of(&image.id);
        // OCI when the image came as OCI (pulled or loaded so); schema 2 else.
        let oci = kept
            .as_deref()
            .and_then(|m| serde_json::from_slice::<serde_json::Value>(m).ok())
            .and_then(|v| v.get("mediaType")?.as_str().map(|s| s == mf::OCI_MANIFEST))
            .unwrap_or(false);
        let stored =
            kept.and_then(|m| Some((reusable_manifest(&m, image.id.as_str(), &pushed)?, m)));
        let (bytes, media) = match stored {
            Some((media, m)) => (m, media),
            None => {
                let (b, m) = build_manifest(image.id.as_str(), config.len(), &pushed, oci);
                (b, m.to_string())
            }
        };
        let tag = r.tag().unwrap_or("latest").to_string();
        let size = bytes.len();
        let digest = s
            .put_manifest(&tag, bytes, &media)
            .await
            .map_err(registry_error)?;
        let with_digest = r.with_digest(&digest)?;
        let id = image.id.clone();
        let engine = self.clone();
        let layers: Vec<String> = pushed.iter().map(|x| x.digest.clone()).collect();
        let repo = r.repository();
        blocking(move || {
            engine.images.add_repo_digest(&id, &with_digest)?;
            for d in &layers {
                engine.images.add_blob_source(d, &repo)?;
            }
            Ok(())
        })
        .await?;
        p.status(format!("{tag}: digest: {digest} size: {size}"))
            .await;
        p.send(JsonMessage::aux(PushResult {
            tag,
            digest,
            size: size as i64,
        }))
        .await;
        self.emit_image(&r.familiar(), "push", &[("name", r.repository_familiar())]);
        Ok(())
    }

    async fn push_layer(
        self: &Arc<Self>,
        s: &Session,
        repo: &str,
        image: &Arc<Image>,
        i: usize,
        compression: PushCompression,
        p: &Progress,
    ) -> Result<Pushed> {
        let diff_ids = image.config.diff_ids();
        let id = short_id(&diff_ids[i]);
        let slots = self.transfers.uploads.clone();
        let _slot = match slots.clone().try_acquire_owned() {
            Ok(x) => x,
            Err(_) => {
                p.item(&id, "Waiting").await;
                slots
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::system(e.to_string()))?
            }
        };
        // Every digest the layer is known by: the kept blob, the digest it
        // was pulled or loaded with (the registry may have it: the image's
        // own manifest is then pushed unchanged), what it was compressed
        // into by an earlier push.
        let kept = self.images.push_blob(image, i);
        let mut known: Vec<Compressed> = kept.iter().cloned().collect();
        let l = &image.layers[i];
        let mut add = |c: Compressed| {
            if !known.iter().any(|k| k.digest == c.digest) {
                known.push(c);
            }
        };
        add(Compressed {
            digest: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
        });
        if let Some(c) = self.images.compressed(&diff_ids[i], compression.name()) {
            add(c);
        }
        for k in &known {
            if let Some(size) = s.blob_exists(&k.digest).await.map_err(registry_error)? {
                p.item(&id, "Layer already exists").await;
                return Ok(Pushed {
                    digest: k.digest.clone(),
                    size: if size > 0 { size } else { k.size },
                    media_type: oci_media(&k.media_type),
                });
            }
        }
        // Mount from another repository of this registry.
        let domain = repo.split_once('/').map(|(d, _)| d).unwrap_or("");
        let mut location = None;
        'mount: for k in &known {
            for src in self.images.blob_sources(&k.digest) {
                let Some(from) = src.strip_prefix(&format!("{domain}/")) else {
                    continue;
                };
                if format!("{domain}/{from}") == repo {
                    continue;
                }
                match s.start_upload(Some((&k.digest, from))).await {
                    Ok(None) => {
                        p.item(&id, &format!("Mounted from {from}")).await;
                        return Ok(Pushed {
                            digest: k.digest.clone(),
                            size: k.size,
                            media_type: oci_media(&k.media_type),
                        });
                    }
                    // Not mounted: the registry opened an upload instead.
                    Ok(Some(loc)) => {
                        location = Some(loc);
                        break 'mount;
                    }
                    Err(e) => tracing::debug!(error = %e, "mount refused"),
                }
            }
        }
        let location = match location {
            Some(l) => l,
            None => s
                .start_upload(None)
                .await
                .map_err(registry_error)?
                .ok_or_else(|| Error::system("the registry mounted a blob it was not asked to"))?,
        };
        let pushed = match kept {
            Some(k) => self.upload_file(s, &location, k, &id, p).await?,
            None => {
                self.upload_compressed(s, &location, image, i, compression, &id, p)
                    .await?
            }
        };
        p.item(&id, "Pushed").await;
        Ok(pushed)
    }

    /// Upload a kept blob as it is.
    async fn upload_file(
        &self,
        s: &Session,
        location: &str,
        k: Compressed,
        id: &str,
        p: &Progress,
    ) -> Result<Pushed> {
        let f = self.images.open_push_blob(&k.digest)?;
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
        let (ptx, mut prx) = mpsc::unbounded_channel::<u64>();
        let reader = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut f = f;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        let _ = ptx.send(n as u64);
                        if tx
                            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        let meter = self.report_pushing(id, k.size, p, &mut prx);
        let up = s.upload_stream(location, tokio_stream::wrappers::ReceiverStream::new(rx));
        let (up, _) = tokio::join!(up, meter);
        let _ = reader.await;
        let next = up.map_err(registry_error)?;
        s.finish_upload(&next, &k.digest)
            .await
            .map_err(registry_error)?;
        Ok(Pushed {
            digest: k.digest,
            size: k.size,
            media_type: oci_media(&k.media_type),
        })
    }

    /// Compress the layer's tar while it streams to the registry.
    #[allow(clippy::too_many_arguments)]
    async fn upload_compressed(
        self: &Arc<Self>,
        s: &Session,
        location: &str,
        image: &Arc<Image>,
        i: usize,
        compression: PushCompression,
        id: &str,
        p: &Progress,
    ) -> Result<Pushed> {
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
        let (ptx, mut prx) = mpsc::unbounded_channel::<u64>();
        let (engine, image2) = (self.clone(), image.clone());
        let tx2 = tx.clone();
        let compressor = tokio::task::spawn_blocking(move || {
            let out = ChannelWriter::new(tx2);
            let r = engine
                .images
                .compress_layer(&image2, i, compression, out, &mut |n| {
                    let _ = ptx.send(n);
                });
            if let Err(e) = &r {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
            r
        });
        let total = image.layers[i].tar_size;
        let meter = self.report_pushing(id, total, p, &mut prx);
        let up = s.upload_stream(location, tokio_stream::wrappers::ReceiverStream::new(rx));
        let (up, _) = tokio::join!(up, meter);
        let compressed = compressor.await;
        // A failed upload explains a compressor that could not write.
        let next = up.map_err(registry_error)?;
        let c = match compressed {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(Error::system(e.to_string())),
        };
        s.finish_upload(&next, &c.digest)
            .await
            .map_err(registry_error)?;
        Ok(Pushed {
            digest: c.digest,
            size: c.size,
            media_type: c.media_type,
        })
    }

    /// "Pushing" progress from byte counts until the counter closes.
    async fn report_pushing(
        &self,
        id: &str,
        total: u64,
        p: &Progress,
        rx: &mut mpsc::UnboundedReceiver<u64>,
    ) {
        let mut m = Meter::new(id, "Pushing", total);
        while let Some(n) = rx.recv().await {
            if let Some(msg) = m.add(n) {
                p.send(msg).await;
            }
        }
    }
}

/// Media types are recorded in OCI's words; Docker's are translated.
fn oci_media(m: &str) -> String {
    match m {
        mf::DOCKER_LAYER_GZIP => mf::OCI_LAYER_GZIP.to_string(),
        "application/vnd.docker.image.rootfs.diff.tar" => mf::OCI_LAYER.to_string(),
        other => other.to_string(),
    }
}

/// The blocking side of an upload: written bytes go out in 256 KiB chunks.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    fn new(tx: mpsc::Sender<std::io::Result<Bytes>>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let b = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(b))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(d: &str, m: &str) -> Pushed {
        Pushed {
            digest: d.into(),
            size: 3,
            media_type: m.into(),
        }
    }

    #[test]
    fn manifests_schema2_by_default_oci_when_needed() {
        let l = [pushed("sha256:l1", mf::OCI_LAYER_GZIP)];
        let (b, m) = build_manifest("sha256:c", 7, &l, false);
        assert_eq!(m, mf::DOCKER_MANIFEST);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["layers"][0]["mediaType"], mf::DOCKER_LAYER_GZIP);
        assert_eq!(v["config"]["mediaType"], mf::DOCKER_CONFIG);
        assert_eq!(v["config"]["size"], 7);
        assert!(
            String::from_utf8(b.clone())
                .unwrap()
                .contains("\n   \"schemaVersion\": 2")
        );
        let z = [pushed("sha256:l1", mf::OCI_LAYER_ZSTD)];
        assert_eq!(build_manifest("sha256:c", 7, &z, false).1, mf::OCI_MANIFEST);
        assert_eq!(build_manifest("sha256:c", 7, &l, true).1, mf::OCI_MANIFEST);
        // The stored manifest is reused only for the very same blobs.
        assert_eq!(
            reusable_manifest(&b, "sha256:c", &l).as_deref(),
            Some(mf::DOCKER_MANIFEST)
        );
        assert!(reusable_manifest(&b, "sha256:other", &l).is_none());
        assert!(reusable_manifest(&b, "sha256:c", &[pushed("sha256:l2", "x")]).is_none());
    }

    #[test]
    fn what_the_query_asks_for() {
        let r = PushRequest::parse("127.0.0.1:5000/app", "v1", AuthConfig::default()).unwrap();
        assert_eq!(
            (r.repository.full(), r.tag.as_deref()),
            ("127.0.0.1:5000/app".into(), Some("v1"))
        );
        let r = PushRequest::parse("busybox", "", AuthConfig::default()).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.repository.full(), "docker.io/library/busybox");
        assert!(PushRequest::parse("app", "bad tag", AuthConfig::default()).is_err());
    }
}
