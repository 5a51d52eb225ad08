//! Talking to registries: one HTTP client per registry (its TLS trust),
//! the `/v2/` check that picks the endpoint (a mirror, https, or http for
//! an insecure registry), and a [`Session`] per repository that does the
//! auth dance once and then fetches and sends manifests and blobs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::auth::AuthConfig;
use reqwest::{Method, RequestBuilder, Response, StatusCode, header};

use crate::auth::{Challenge, TokenCache, basic_header, fetch_token, parse_challenge, user_of};
use crate::config::{Endpoint, RegistryConfig, cert_files};
use crate::error::{Error, ErrorKind, Result, describe_body, transport};

/// All registries a daemon talks to.
pub struct Registries {
    pub cfg: RegistryConfig,
    clients: Mutex<HashMap<(String, bool), reqwest::Client>>,
    tokens: TokenCache,
}

impl Registries {
    pub fn new(cfg: RegistryConfig) -> Arc<Registries> {
        Arc::new(Registries {
            cfg,
            clients: Mutex::new(HashMap::new()),
            tokens: TokenCache::default(),
        })
    }

    /// The HTTP client for an endpoint: its certs.d CAs and client
    /// certificate; no verification for insecure registries over https.
    pub fn http(&self, ep: &Endpoint) -> Result<reqwest::Client> {
        let key = (ep.host(), ep.skip_verify);
        if let Some(c) = self.clients.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(90));
        if ep.skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(dir) = self.cfg.cert_dir(&ep.host()) {
            let files = cert_files(&dir);
            for ca in &files.cas {
                let pem = std::fs::read(ca)
                    .map_err(|e| Error::new(ErrorKind::Tls, format!("{}: {e}", ca.display())))?;
                for c in reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| Error::new(ErrorKind::Tls, format!("{}: {e}", ca.display())))?
                {
                    b = b.add_root_certificate(c);
                }
            }
            if let Some((cert, key)) = &files.client {
                let mut pem = std::fs::read(cert)
                    .map_err(|e| Error::new(ErrorKind::Tls, format!("{}: {e}", cert.display())))?;
                pem.extend(
                    std::fs::read(key).map_err(|e| {
                        Error::new(ErrorKind::Tls, format!("{}: {e}", key.display()))
                    })?,
                );
                b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    Error::new(
                        ErrorKind::Tls,
                        format!("client certificate {}: {e}", cert.display()),
                    )
                })?);
            }
        }
        let c = b
            .build()
            .map_err(|e| Error::new(ErrorKind::Tls, format!("HTTP client: {e}")))?;
        self.clients.lock().unwrap().insert(key, c.clone());
        Ok(c)
    }

    /// `GET /v2/` on each endpoint in turn: the first that answers (200 or
    /// 401) is the one to use, with its challenge if any.
    pub async fn pick(
        &self,
        registry: &str,
    ) -> Result<(Endpoint, reqwest::Client, Option<Challenge>)> {
        let mut last = None;
        for ep in self.cfg.endpoints(registry) {
            let http = self.http(&ep)?;
            let url = ep.url("/v2/");
            match http.get(&url).send().await {
                Ok(r) if r.status() == StatusCode::UNAUTHORIZED => {
                    let ch = challenge_of(&r);
                    return Ok((ep, http, ch));
                }
                Ok(r) if r.status().is_success() => return Ok((ep, http, None)),
                Ok(r) => {
                    last = Some(Error::protocol(format!(
                        "Get \"{url}\": the registry answered {}",
                        r.status()
                    )));
                }
                Err(e) => last = Some(transport(&url, "GET", &e)),
            }
            if !ep.mirror && ep.base.starts_with("https://") && !ep.skip_verify {
                break;
            }
        }
        Err(last.unwrap_or_else(|| Error::protocol(format!("no endpoint for {registry}"))))
    }

    /// A session on `repo` of `registry` for `actions` (`pull`,
    /// `pull,push`), authenticated lazily.
    pub async fn session(
        self: &Arc<Self>,
        registry: &str,
        repo: &str,
        auth: AuthConfig,
        actions: &str,
    ) -> Result<Session> {
        self.session_with_scope(registry, repo, auth, format!("repository:{repo}:{actions}"))
            .await
    }

    /// A session with an explicit token scope (`registry:catalog:*`).
    pub async fn session_with_scope(
        self: &Arc<Self>,
        registry: &str,
        repo: &str,
        auth: AuthConfig,
        scope: String,
    ) -> Result<Session> {
        let (ep, http, challenge) = self.pick(registry).await?;
        Ok(Session {
            reg: self.clone(),
            ep,
            http,
            repo: repo.to_string(),
            user: user_of(&auth),
            auth,
            scope,
            challenge: Mutex::new(challenge),
            header: Mutex::new(None),
        })
    }

    /// `docker login`: check the credentials against the registry. Returns
    /// the identity token the registry gave, if any.
    pub async fn login(self: &Arc<Self>, registry: &str, auth: &AuthConfig) -> Result<String> {
        let (ep, http, challenge) = self.pick(registry).await?;
        let url = ep.url("/v2/");
        match challenge {
            None => Ok(String::new()),
            Some(Challenge::Basic) => {
                let Some(b) = basic_header(auth) else {
                    return Err(Error::new(
                        ErrorKind::Unauthorized,
                        "unauthorized: authentication required",
                    ));
                };
                let r = http
                    .get(&url)
                    .header(header::AUTHORIZATION, b)
                    .send()
                    .await
                    .map_err(|e| transport(&url, "GET", &e))?;
                if r.status().is_success() {
                    Ok(String::new())
                } else {
                    // dockerd's words.
                    let st = r.status();
                    Err(Error::new(
                        ErrorKind::Unauthorized,
                        format!(
                            "login attempt to {url} failed with status: {} {}",
                            st.as_u16(),
                            st.canonical_reason().unwrap_or("")
                        ),
                    ))
                }
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let t = fetch_token(&http, &realm, &service, "", auth, true)
                    .await
                    .map_err(|e| e.context(format!("Get \"{url}\"")))?;
                Ok(t.refresh_token)
            }
        }
    }

    /// `GET /v2/_catalog` (search's fallback where there is no v1 search).
    pub async fn catalog(
        self: &Arc<Self>,
        registry: &str,
        auth: AuthConfig,
    ) -> Result<Vec<String>> {
        let s = self
            .session_with_scope(registry, "", auth, "registry:catalog:*".into())
            .await?;
        let mut out = Vec::new();
        let mut next = Some("/v2/_catalog?n=1000".to_string());
        while let Some(path) = next.take() {
            let url = s.ep.url(&path);
            let r = s.send(Method::GET, &url, |b| b).await?;
            next = next_link(&r);
            #[derive(serde::Deserialize, Default)]
            struct Catalog {
                #[serde(default)]
                repositories: Vec<String>,
            }
            let c: Catalog = r
                .json()
                .await
                .map_err(|e| Error::protocol(format!("catalog: {e}")))?;
            out.extend(c.repositories);
        }
        Ok(out)
    }

    /// The v1 search API (Docker Hub's index): None if the registry has none.
    pub async fn search_v1(
        self: &Arc<Self>,
        registry: &str,
        term: &str,
        limit: i64,
    ) -> Result<Option<Vec<berth_api::image::SearchResult>>> {
        let (ep, http, _) = match self.pick(registry).await {
            Ok(x) => x,
            Err(e) => return Err(e),
        };
        let base = if registry == crate::config::DOCKER_HUB {
            format!("https://{}", crate::config::DOCKER_HUB_INDEX)
        } else {
            ep.base.clone()
        };
        let url = format!("{base}/v1/search");
        let r = http
            .get(&url)
            .query(&[("q", term), ("n", &limit.to_string())])
            .send()
            .await
            .map_err(|e| transport(&url, "GET", &e))?;
        if r.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status().is_success() {
            return Err(Error::protocol(format!("Get \"{url}\": {}", r.status())));
        }
        #[derive(serde::Deserialize, Default)]
        struct V1 {
            #[serde(default)]
            results: Vec<berth_api::image::SearchResult>,
        }
        let v: V1 = r
            .json()
            .await
            .map_err(|e| Error::protocol(format!("search: {e}")))?;
        Ok(Some(v.results))
    }
}

fn challenge_of(r: &Response) -> Option<Challenge> {
    r.headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .filter_map(parse_challenge)
        .min_by_key(|c| matches!(c, Challenge::Basic))
}

/// Go's name for an HTTP method in error messages (`Get "…": …`).
fn go_verb(m: &Method) -> &'static str {
    match m.as_str() {
        "GET" => "Get",
        "HEAD" => "Head",
        "POST" => "Post",
        "PUT" => "Put",
        "PATCH" => "Patch",
        "DELETE" => "Delete",
        _ => "Do",
    }
}

/// The `Link: <…>; rel="next"` of a paginated answer.
fn next_link(r: &Response) -> Option<String> {
    let l = r.headers().get(header::LINK)?.to_str().ok()?;
    let (target, rest) = l.split_once(';')?;
    rest.contains("next").then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    })
}

/// A blob being downloaded.
pub struct BlobStream {
    resp: Response,
    url: String,
}

impl BlobStream {
    /// The length the registry announced for this (part of the) blob.
    pub fn announced_len(&self) -> Option<u64> {
        self.resp.content_length()
    }

    /// The next piece; None at the end. A broken connection is an error
    /// of kind `Connect` (worth resuming).
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        self.resp
            .chunk()
            .await
            .map_err(|e| transport(&self.url, "GET", &e))
    }
}

/// One repository on one registry, with its credentials.
pub struct Session {
    reg: Arc<Registries>,
    pub ep: Endpoint,
    http: reqwest::Client,
    pub repo: String,
    auth: AuthConfig,
    user: String,
    scope: String,
    challenge: Mutex<Option<Challenge>>,
    /// The Authorization header in use.
    header: Mutex<Option<String>>,
}

impl Session {
    /// The Authorization header for the current challenge, fetching a
    /// token if needed.
    async fn authorization(&self, fresh: bool) -> Result<Option<String>> {
        if !fresh && let Some(h) = self.header.lock().unwrap().clone() {
            return Ok(Some(h));
        }
        let ch = self.challenge.lock().unwrap().clone();
        let h = match ch {
            None => None,
            Some(Challenge::Basic) => basic_header(&self.auth),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let scope = self.scope.clone();
                let cached = (!fresh)
                    .then(|| self.reg.tokens.get(&self.ep.registry, &scope, &self.user))
                    .flatten();
                let t = match cached {
                    Some(t) => t,
                    None => {
                        let r =
                            fetch_token(&self.http, &realm, &service, &scope, &self.auth, false)
                                .await?;
                        self.reg.tokens.put(
                            &self.ep.registry,
                            &scope,
                            &self.user,
                            r.bearer(),
                            r.expires_in,
                        );
                        r.bearer().to_string()
                    }
                };
                Some(format!("Bearer {t}"))
            }
        };
        *self.header.lock().unwrap() = h.clone();
        Ok(h)
    }

    /// Send a request (built by `f`), authenticating and retrying once on
    /// a 401; error statuses become [`Error`]s in Docker's words.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        f: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let mut fresh = false;
        for attempt in 0..2 {
            let mut b = self.http.request(method.clone(), url);
            if let Some(h) = self.authorization(fresh).await? {
                b = b.header(header::AUTHORIZATION, h);
            }
            let r = f(b)
                .send()
                .await
                .map_err(|e| transport(url, method.as_str(), &e))?;
            if r.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                if let Some(c) = challenge_of(&r) {
                    *self.challenge.lock().unwrap() = Some(c);
                }
                fresh = true;
                continue;
            }
            if r.status() == StatusCode::UNAUTHORIZED {
                // Refused even with what we have: say it as docker does.
                let ch = self.challenge.lock().unwrap().clone();
                match ch {
                    Some(Challenge::Basic) if basic_header(&self.auth).is_none() => {
                        return Err(Error {
                            code: "NO_CREDENTIALS".into(),
                            ..Error::new(
                                ErrorKind::Unauthorized,
                                format!(
                                    "{} \"{url}\": no basic auth credentials",
                                    go_verb(&method)
                                ),
                            )
                        });
                    }
                    Some(Challenge::Bearer { .. }) => {
                        return Err(Error {
                            code: "DENIED".into(),
                            ..Error::new(
                                ErrorKind::Denied,
                                "denied: requested access to the resource is denied",
                            )
                        });
                    }
                    _ => {}
                }
            }
            return check(r, url).await;
        }
        unreachable!("two attempts")
    }

    /// The manifest at a tag or digest: (bytes, media type, digest).
    pub async fn manifest(&self, reference: &str) -> Result<(Vec<u8>, String, String)> {
        let url = self
            .ep
            .url(&format!("/v2/{}/manifests/{reference}", self.repo));
        let r = self
            .send(Method::GET, &url, |b| {
                b.header(header::ACCEPT, crate::manifest::ACCEPT)
            })
            .await
            .map_err(|e| {
                // dockerd asks for a tag with HEAD first, and says so.
                if e.code == "NO_CREDENTIALS" {
                    Error {
                        message: e.message.replacen("Get ", "Head ", 1),
                        ..e
                    }
                } else {
                    e
                }
            })?;
        let ctype = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r
            .bytes()
            .await
            .map_err(|e| transport(&url, "GET", &e))?
            .to_vec();
        let digest = crate::sha256_digest(&body);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("manifest verification failed for digest {reference}"),
            ));
        }
        Ok((body, ctype, digest))
    }

    /// A blob's bytes from `offset` on, as they arrive.
    pub async fn blob_stream(&self, digest: &str, offset: u64) -> Result<BlobStream> {
        let url = self.ep.url(&format!("/v2/{}/blobs/{digest}", self.repo));
        let resp = self.blob(digest, offset).await?;
        Ok(BlobStream { resp, url })
    }

    /// `GET` a blob from byte `offset` on (a ranged request past 0).
    pub async fn blob(&self, digest: &str, offset: u64) -> Result<Response> {
        let url = self.ep.url(&format!("/v2/{}/blobs/{digest}", self.repo));
        let r = self
            .send(Method::GET, &url, |b| {
                if offset > 0 {
                    b.header(header::RANGE, format!("bytes={offset}-"))
                } else {
                    b
                }
            })
            .await?;
        if offset > 0 && r.status() != StatusCode::PARTIAL_CONTENT {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("blob {digest}: the registry does not resume downloads"),
            ));
        }
        Ok(r)
    }

    /// A whole small blob (configs).
    pub async fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        let url = self.ep.url(&format!("/v2/{}/blobs/{digest}", self.repo));
        let r = self.blob(digest, 0).await?;
        let body = r
            .bytes()
            .await
            .map_err(|e| transport(&url, "GET", &e))?
            .to_vec();
        if crate::sha256_digest(&body) != digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("image config verification failed for digest {digest}"),
            ));
        }
        Ok(body)
    }

    /// Whether the repository has a blob (its size if so).
    pub async fn blob_exists(&self, digest: &str) -> Result<Option<u64>> {
        let url = self.ep.url(&format!("/v2/{}/blobs/{digest}", self.repo));
        match self.send(Method::HEAD, &url, |b| b).await {
            Ok(r) => Ok(Some(r.content_length().unwrap_or(0))),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Start an upload, mounting from `from` (another repository of the
    /// same registry) when given: Ok(None) if mounted, else the upload URL.
    pub async fn start_upload(&self, mount: Option<(&str, &str)>) -> Result<Option<String>> {
        let mut path = format!("/v2/{}/blobs/uploads/", self.repo);
        if let Some((digest, from)) = mount {
            path.push_str(&format!("?mount={digest}&from={from}"));
        }
        let url = self.ep.url(&path);
        let r = self
            .send(Method::POST, &url, |b| {
                b.header(header::CONTENT_LENGTH, "0")
            })
            .await?;
        if r.status() == StatusCode::CREATED {
            return Ok(None);
        }
        Ok(Some(self.location(&r)?))
    }

    fn location(&self, r: &Response) -> Result<String> {
        let loc = r
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::protocol("the registry gave no upload location"))?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else {
                self.ep.url(loc)
            },
        )
    }

    /// Send a stream of bytes to an upload; returns the next location.
    pub async fn upload_stream<S>(&self, location: &str, stream: S) -> Result<String>
    where
        S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, std::io::Error>>
            + Send
            + 'static,
    {
        self.upload_chunk(location, reqwest::Body::wrap_stream(stream))
            .await
    }

    /// Send the blob's bytes (streamed) to an upload; returns the next location.
    pub async fn upload_chunk(&self, location: &str, body: reqwest::Body) -> Result<String> {
        let body = std::sync::Mutex::new(Some(body));
        let r = self
            .send(Method::PATCH, location, |b| {
                let taken = body.lock().unwrap().take();
                let b = b.header(header::CONTENT_TYPE, "application/octet-stream");
                match taken {
                    Some(x) => b.body(x),
                    None => b,
                }
            })
            .await?;
        self.location(&r)
    }

    /// Finish an upload with the blob's digest.
    pub async fn finish_upload(&self, location: &str, digest: &str) -> Result<()> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        self.send(Method::PUT, &url, |b| b.header(header::CONTENT_LENGTH, "0"))
            .await?;
        Ok(())
    }

    /// A small blob in one request (configs).
    pub async fn upload_bytes(&self, digest: &str, data: Vec<u8>) -> Result<()> {
        let Some(loc) = self.start_upload(None).await? else {
            return Ok(());
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let url = format!("{loc}{sep}digest={digest}");
        self.send(Method::PUT, &url, |b| {
            b.header(header::CONTENT_TYPE, "application/octet-stream")
                .body(data.clone())
        })
        .await?;
        Ok(())
    }

    /// `PUT` a manifest at a tag; returns its digest.
    pub async fn put_manifest(
        &self,
        reference: &str,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<String> {
        let url = self
            .ep
            .url(&format!("/v2/{}/manifests/{reference}", self.repo));
        let digest = crate::sha256_digest(&bytes);
        self.send(Method::PUT, &url, |b| {
            b.header(header::CONTENT_TYPE, media_type)
                .body(bytes.clone())
        })
        .await?;
        Ok(digest)
    }

    /// Every tag of the repository.
    pub async fn tags(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some(format!("/v2/{}/tags/list?n=1000", self.repo));
        while let Some(path) = next.take() {
            let url = self.ep.url(&path);
            let r = self.send(Method::GET, &url, |b| b).await?;
            next = next_link(&r);
            #[derive(serde::Deserialize, Default)]
            struct Tags {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let t: Tags = r
                .json()
                .await
                .map_err(|e| Error::protocol(format!("tags: {e}")))?;
            out.extend(t.tags.unwrap_or_default());
        }
        Ok(out)
    }
}

/// A response's status as an error, in Docker's words.
async fn check(r: Response, url: &str) -> Result<Response> {
    let status = r.status();
    if status.is_success() || status == StatusCode::PARTIAL_CONTENT {
        return Ok(r);
    }
    let body = r.bytes().await.unwrap_or_default();
    let described = describe_body(&body);
    let kind = match status {
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
        StatusCode::FORBIDDEN => ErrorKind::Denied,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::TooManyRequests,
        s if s.is_server_error() => ErrorKind::Connect,
        _ => ErrorKind::Other,
    };
    let code = described
        .as_ref()
        .map(|(c, _)| c.clone())
        .unwrap_or_default();
    let message = match described {
        Some((_, text)) => text,
        None if kind == ErrorKind::Unauthorized => "unauthorized: authentication required".into(),
        None if kind == ErrorKind::NotFound => "not found".into(),
        None => format!(
            "{} {url}: {}",
            status,
            String::from_utf8_lossy(&body).trim()
        ),
    };
    let kind = match code.as_str() {
        "DENIED" => ErrorKind::Denied,
        "UNAUTHORIZED" => ErrorKind::Unauthorized,
        "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN" => ErrorKind::NotFound,
        "TOOMANYREQUESTS" => ErrorKind::TooManyRequests,
        _ => kind,
    };
    Err(Error {
        code,
        ..Error::new(kind, message)
    })
}

impl Session {
    /// The registry's host as references spell it.
    pub fn registry(&self) -> &str {
        &self.ep.registry
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests() {
        // The session machinery is exercised against a real registry by
        // berthd's tests; here only the pure helpers.
        assert_eq!(
            crate::sha256_digest(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
