//! berth-client: the Docker Engine API from the client side, typed with
//! berth-api's records. Used by the berth CLI and by berth compose.
//!
//! Synchronous by design: a CLI call is a handful of requests, and not
//! starting an async runtime keeps `berth` starting in ~2 ms. Concurrency
//! (compose starting services in parallel) uses threads; each request
//! opens its own connection, as the Go client's transport effectively
//! does for hijacked and streaming calls.
//!
//! - [`host`]: where the daemon is (`-H`, `DOCKER_HOST`, `BERTH_HOST`) and
//!   TLS options (`--tlsverify`, `DOCKER_CERT_PATH`, `DOCKER_TLS_VERIFY`).
//! - [`transport`]: HTTP/1.1 over unix sockets, tcp and TLS; streaming
//!   bodies both ways (chunked), responses read incrementally.
//! - [`hijack`]: `Upgrade: tcp` connections (attach, exec) as a plain
//!   bidirectional byte stream with half-close, also over TLS.
//! - [`context`]: a build context tar as the docker CLI makes it.
//! - [`Client`]: version negotiation and one method per endpoint.

pub mod api;
pub mod context;
mod error;
pub mod hijack;
pub mod host;
pub mod transport;

pub use error::{Error, Result};
pub use hijack::Hijacked;
pub use host::{Host, TlsOptions};
pub use transport::{Body, Response};

use berth_api::query::QueryBuilder;
use berth_api::version::{self, ApiVersion};

/// A connection to one daemon, with the negotiated API version.
pub struct Client {
    host: Host,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    version: ApiVersion,
    /// The daemon's `Ostype` header.
    pub os_type: String,
    /// The daemon's `Docker-Experimental` header.
    pub experimental: bool,
}

impl Client {
    /// Connect to `host` and negotiate the API version with `/_ping`
    /// (`DOCKER_API_VERSION` pins it, as for the docker CLI).
    pub fn new(host: Host, tls: &TlsOptions) -> Result<Client> {
        let tls = match &host {
            Host::Tcp { .. } if tls.enabled() => Some(tls.client_config()?),
            _ => None,
        };
        let mut c = Client {
            host,
            tls,
            version: version::CURRENT,
            os_type: "linux".into(),
            experimental: false,
        };
        c.negotiate()?;
        Ok(c)
    }

    /// From the environment and the usual flags: `-H`, `--tls*`.
    pub fn from_env(host_flag: Option<&str>, tls: &TlsOptions) -> Result<Client> {
        let host = Host::resolve(host_flag)?;
        Client::new(host, tls)
    }

    fn negotiate(&mut self) -> Result<()> {
        let mut resp = self.send("HEAD", "/_ping", &QueryBuilder::new(), Body::None, &[])?;
        if resp.status != 200 && resp.status != 500 {
            resp = self.send("GET", "/_ping", &QueryBuilder::new(), Body::None, &[])?;
        }
        if let Some(os) = resp.header(berth_api::system::headers::OS_TYPE) {
            self.os_type = os.to_string();
        }
        self.experimental = resp.header(berth_api::system::headers::EXPERIMENTAL) == Some("true");
        if let Some(v) = std::env::var("DOCKER_API_VERSION")
            .ok()
            .and_then(|v| ApiVersion::parse(&v))
        {
            self.version = v;
            return Ok(());
        }
        let server = resp
            .header(berth_api::system::headers::API_VERSION)
            .and_then(ApiVersion::parse);
        self.version = ApiVersion::negotiate(version::CURRENT, server);
        Ok(())
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn api_version(&self) -> ApiVersion {
        self.version
    }

    pub fn version_at_least(&self, v: ApiVersion) -> bool {
        self.version >= v
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        query: &QueryBuilder,
        body: Body<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        let conn = transport::connect(&self.host, self.tls.as_ref())?;
        transport::request(conn, method, path, query, body, headers)
    }

    /// A request to `/v<version><path>`; statuses of 400 and above become
    /// [`Error::Api`].
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: &QueryBuilder,
        body: Body<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        let resp = self.send(
            method,
            &format!("/v{}{path}", self.version),
            query,
            body,
            headers,
        )?;
        if resp.status >= 400 {
            return Err(resp.into_error());
        }
        Ok(resp)
    }

    /// GET and decode JSON.
    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str, q: &QueryBuilder) -> Result<T> {
        self.request("GET", path, q, Body::None, &[])?.json()
    }

    /// POST a JSON body (or none) and decode the JSON answer.
    pub fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        q: &QueryBuilder,
        body: Option<&B>,
    ) -> Result<T> {
        let v;
        let b = match body {
            Some(x) => {
                v = serde_json::to_vec(x).map_err(|e| Error::Other(e.to_string()))?;
                Body::Json(&v)
            }
            None => Body::None,
        };
        self.request("POST", path, q, b, &[])?.json()
    }

    /// POST without a body, ignoring the answer's body.
    pub fn post_empty(&self, path: &str, q: &QueryBuilder) -> Result<Response> {
        self.request("POST", path, q, Body::None, &[])
    }

    /// Hijack the connection (`Upgrade: tcp`, expecting 101).
    pub fn hijack<B: serde::Serialize>(
        &self,
        path: &str,
        q: &QueryBuilder,
        body: Option<&B>,
    ) -> Result<Hijacked> {
        let data;
        let mut h: Vec<(&str, &str)> = vec![("Connection", "Upgrade"), ("Upgrade", "tcp")];
        let b = match body {
            Some(x) => {
                data = serde_json::to_vec(x).map_err(|e| Error::Other(e.to_string()))?;
                Body::Json(&data)
            }
            None => {
                h.push(("Content-Type", "text/plain"));
                Body::None
            }
        };
        let resp = self.send("POST", &format!("/v{}{path}", self.version), q, b, &h)?;
        if resp.status >= 400 {
            return Err(resp.into_error());
        }
        if resp.status != 101 {
            return Err(Error::Other(format!(
                "unable to upgrade to tcp, received {}",
                resp.status
            )));
        }
        Hijacked::from_response(resp)
    }
}
