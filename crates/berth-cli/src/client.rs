//! Docker Engine API client over a unix socket: plain HTTP/1.1, written by hand
//! so that streaming bodies and connection hijacking (101 Upgrade) stay simple.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// API version advertised by this client (docker CLI 28.5).
pub const MAX_API_VERSION: &str = "1.51";

/// An error answered by the daemon (status >= 400).
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for ApiError {}

/// True when `err` is a daemon answer with the given status.
pub fn is_status(err: &anyhow::Error, status: u16) -> bool {
    err.downcast_ref::<ApiError>()
        .is_some_and(|e| e.status == status)
}

pub struct Client {
    socket: String,
    host: String,
    version: String,
    pub os_type: String,
}

/// How the body of a response is delimited.
enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    Close,
}

/// A response whose body is read incrementally.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<UnixStream>,
    framing: Framing,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(mut self) -> Result<String> {
        let mut s = Vec::new();
        self.read_to_end(&mut s)?;
        Ok(String::from_utf8_lossy(&s).into_owned())
    }

    pub fn json(self) -> Result<Value> {
        let t = self.text()?;
        if t.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&t).context("decoding daemon response")
    }

    /// Reads one line of a newline-delimited stream (None at end).
    pub fn next_line(&mut self) -> Result<Option<String>> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            let n = self.read(&mut byte)?;
            if n == 0 {
                if buf.is_empty() {
                    return Ok(None);
                }
                break;
            }
            if byte[0] == b'\n' {
                break;
            }
            buf.push(byte[0]);
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Turns the response into the raw stream of a hijacked connection.
    fn into_raw(self) -> (BufReader<UnixStream>, UnixStream) {
        let w = self.reader.get_ref().try_clone().expect("clone socket");
        (self.reader, w)
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.framing {
            Framing::Close => self.reader.read(buf),
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let max = buf.len().min(*left as usize);
                let n = self.reader.read(&mut buf[..max])?;
                *left -= n as u64;
                Ok(n)
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    self.reader.read_line(&mut line)?;
                    if line == "\r\n" || line == "\n" {
                        line.clear();
                        self.reader.read_line(&mut line)?;
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    if line.is_empty() {
                        *done = true;
                        return Ok(0);
                    }
                    let n = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                    })?;
                    if n == 0 {
                        *done = true;
                        // trailers until the empty line
                        loop {
                            let mut t = String::new();
                            if self.reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                                break;
                            }
                        }
                        return Ok(0);
                    }
                    *left = n;
                }
                let max = buf.len().min(*left as usize);
                let n = self.reader.read(&mut buf[..max])?;
                if n == 0 {
                    *done = true;
                }
                *left -= n as u64;
                Ok(n)
            }
        }
    }
}

/// Body of a request.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    Stream(&'a mut dyn Read, &'a str),
}

/// Query-string builder.
#[derive(Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(mut self, k: &str, v: impl Into<String>) -> Self {
        self.0.push((k.to_string(), v.into()));
        self
    }
    pub fn add_if(self, cond: bool, k: &str, v: impl Into<String>) -> Self {
        if cond { self.add(k, v) } else { self }
    }
    pub fn encode(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect();
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encoding of a query component (Go's url.QueryEscape).
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Resolves the daemon address: -H, then BERTH_HOST, then DOCKER_HOST.
pub fn resolve_host(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unix:///run/berth.sock".to_string())
}

impl Client {
    /// Connects lazily: validates the host and negotiates the API version with `/_ping`.
    pub fn new(host: &str) -> Result<Self> {
        let socket = if let Some(p) = host.strip_prefix("unix://") {
            p.to_string()
        } else if host.starts_with('/') {
            host.to_string()
        } else if host.starts_with("tcp://") || host.starts_with("ssh://") {
            bail!("host {host}: only unix:// sockets are supported by this berth client")
        } else {
            bail!("unable to parse docker host `{host}`")
        };
        let mut c = Client {
            socket,
            host: host.to_string(),
            version: MAX_API_VERSION.to_string(),
            os_type: "linux".into(),
        };
        c.negotiate()?;
        Ok(c)
    }

    fn negotiate(&mut self) -> Result<()> {
        let pinned = std::env::var("DOCKER_API_VERSION")
            .ok()
            .filter(|s| !s.is_empty());
        let mut resp = self.raw("HEAD", "/_ping", None, Body::None, &[])?;
        if resp.status != 200 && resp.status != 500 {
            resp = self.raw("GET", "/_ping", None, Body::None, &[])?;
        }
        if let Some(os) = resp.header("Ostype") {
            self.os_type = os.to_string();
        }
        if let Some(v) = pinned {
            self.version = v;
            return Ok(());
        }
        let server = resp.header("Api-Version").unwrap_or("1.24").to_string();
        if version_lt(&server, MAX_API_VERSION) {
            self.version = server;
        }
        Ok(())
    }

    pub fn api_version(&self) -> &str {
        &self.version
    }

    pub fn version_at_least(&self, v: &str) -> bool {
        !version_lt(&self.version, v)
    }

    fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket).map_err(|_| {
            anyhow!(
                "Cannot connect to the Docker daemon at {}. Is the docker daemon running?",
                self.host
            )
        })
    }

    /// Sends a request on a fresh connection and reads the response headers.
    fn raw(
        &self,
        method: &str,
        path: &str,
        query: Option<&Query>,
        body: Body<'_>,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        let mut sock = self.connect()?;
        let q = query.map(Query::encode).unwrap_or_default();
        let mut head = format!(
            "{method} {path}{q} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.5.2 (linux)\r\n"
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let hijack = extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("Upgrade"));
        if !hijack {
            head.push_str("Connection: close\r\n");
        }
        match body {
            Body::None => {
                if method == "POST" || method == "PUT" {
                    head.push_str("Content-Length: 0\r\n");
                }
                head.push_str("\r\n");
                sock.write_all(head.as_bytes())?;
            }
            Body::Json(v) => {
                let data = serde_json::to_vec(v)?;
                head.push_str(&format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    data.len()
                ));
                sock.write_all(head.as_bytes())?;
                sock.write_all(&data)?;
            }
            Body::Stream(r, ctype) => {
                head.push_str(&format!(
                    "Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
                ));
                sock.write_all(head.as_bytes())?;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = r.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    sock.write_all(format!("{n:x}\r\n").as_bytes())?;
                    sock.write_all(&buf[..n])?;
                    sock.write_all(b"\r\n")?;
                }
                sock.write_all(b"0\r\n\r\n")?;
            }
        }
        sock.flush()?;
        let mut reader = BufReader::new(sock);
        let mut line = String::new();
        // skip 1xx informational answers other than 101
        let (status, headers) = loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                bail!("error during connect: the daemon closed the connection");
            }
            let status: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("malformed HTTP response {:?}", line.trim()))?;
            let mut headers = Vec::new();
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            if status == 100 {
                continue;
            }
            break (status, headers);
        };
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let framing = if method == "HEAD" || status == 204 || status == 304 || status == 101 {
            if status == 101 {
                Framing::Close
            } else {
                Framing::Length(0)
            }
        } else if get("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            Framing::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(n) = get("Content-Length").and_then(|v| v.parse().ok()) {
            Framing::Length(n)
        } else {
            Framing::Close
        };
        Ok(Response {
            status,
            headers,
            reader,
            framing,
        })
    }

    fn versioned(&self, path: &str) -> String {
        format!("/v{}{}", self.version, path)
    }

    /// Sends a request; statuses >= 400 become an [`ApiError`].
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        body: Body<'_>,
    ) -> Result<Response> {
        self.request_with(method, path, query, body, &[])
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        body: Body<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        let resp = self.raw(method, &self.versioned(path), Some(query), body, headers)?;
        if resp.status >= 400 {
            return Err(error_from(resp).into());
        }
        Ok(resp)
    }

    pub fn get_json(&self, path: &str, query: &Query) -> Result<Value> {
        self.request("GET", path, query, Body::None)?.json()
    }

    pub fn post_json(&self, path: &str, query: &Query, body: Option<&Value>) -> Result<Value> {
        let b = match body {
            Some(v) => Body::Json(v),
            None => Body::None,
        };
        self.request("POST", path, query, b)?.json()
    }

    pub fn post(&self, path: &str, query: &Query) -> Result<Response> {
        self.request("POST", path, query, Body::None)
    }

    /// Hijacks the connection (`Upgrade: tcp`, expecting 101): returns the
    /// read half (with whatever was already buffered) and the write half.
    pub fn hijack(
        &self,
        path: &str,
        query: &Query,
        json: Option<&Value>,
    ) -> Result<(BufReader<UnixStream>, UnixStream)> {
        let mut h: Vec<(&str, &str)> = vec![("Connection", "Upgrade"), ("Upgrade", "tcp")];
        let body = match json {
            Some(v) => Body::Json(v),
            None => {
                h.push(("Content-Type", "text/plain"));
                Body::None
            }
        };
        let resp = self.raw("POST", &self.versioned(path), Some(query), body, &h)?;
        if resp.status >= 400 {
            return Err(error_from(resp).into());
        }
        if resp.status != 101 {
            bail!("unable to upgrade to tcp, received {}", resp.status);
        }
        Ok(resp.into_raw())
    }
}

fn error_from(resp: Response) -> ApiError {
    let status = resp.status;
    let is_json = resp.header("Content-Type") == Some("application/json");
    let text = resp.text().unwrap_or_default();
    let message = if is_json {
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string())
    } else if text.trim().is_empty() {
        format!(
            "request returned {} for API route and version, check if the server supports the requested API version",
            reason(status)
        )
    } else {
        text.trim().to_string()
    };
    ApiError { status, message }
}

fn reason(status: u16) -> String {
    let r = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    };
    format!("{status} {r}").trim().to_string()
}

fn version_lt(a: &str, b: &str) -> bool {
    let p = |s: &str| -> Vec<u64> { s.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    p(a) < p(b)
}
