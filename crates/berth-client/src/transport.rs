//! HTTP/1.1 over the daemon's transports, small and blocking: one request
//! per connection (`Connection: close`, except for hijacks), bodies
//! streamed both ways, responses read incrementally (logs, events, pull
//! progress never sit whole in memory).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use berth_api::query::QueryBuilder;

use crate::host::Host;
use crate::{Error, Result};

/// A connection to the daemon.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
            Conn::Tls(s) => match s.read(buf) {
                // A daemon closing without close_notify is an ordinary end here.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Open a connection (and the TLS session, for tcp hosts with TLS).
pub fn connect(host: &Host, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Conn> {
    let fail = |e: io::Error| Error::Connect {
        host: host.url().to_string(),
        detail: e.to_string(),
    };
    match host {
        Host::Unix { path, .. } => Ok(Conn::Unix(UnixStream::connect(path).map_err(fail)?)),
        Host::Tcp { addr, name, .. } => {
            let s = TcpStream::connect(addr).map_err(fail)?;
            let _ = s.set_nodelay(true);
            let Some(cfg) = tls else {
                return Ok(Conn::Tcp(s));
            };
            let server = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| Error::Config(format!("TLS server name {name}: {e}")))?;
            let c = rustls::ClientConnection::new(cfg.clone(), server)
                .map_err(|e| Error::Config(format!("TLS: {e}")))?;
            let mut t = rustls::StreamOwned::new(c, s);
            // Handshake now, so certificate problems surface as such.
            while t.conn.is_handshaking() {
                t.conn
                    .complete_io(&mut t.sock)
                    .map_err(|e| Error::Connect {
                        host: host.url().to_string(),
                        detail: e.to_string(),
                    })
                    .map_err(|e| match e {
                        Error::Connect { detail, .. } => {
                            Error::Other(format!("error during connect: {detail}"))
                        }
                        e => e,
                    })?;
            }
            Ok(Conn::Tls(Box::new(t)))
        }
    }
}

/// A request body.
pub enum Body<'a> {
    None,
    /// `application/json`.
    Json(&'a [u8]),
    /// Bytes of a content type, sent with a length.
    Bytes(&'a [u8], &'a str),
    /// Streamed with chunked encoding (tar contexts, image archives).
    Stream(&'a mut dyn Read, &'a str),
}

enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    Close,
}

/// A response whose body is read as it arrives.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<Conn>,
    framing: Framing,
}

/// Send one request on `conn` and read the response headers.
pub fn request(
    mut conn: Conn,
    method: &str,
    path: &str,
    query: &QueryBuilder,
    body: Body<'_>,
    extra: &[(&str, &str)],
) -> Result<Response> {
    let mut head = format!(
        "{method} {path}{} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.5.2 (linux)\r\n",
        query.encode()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("Upgrade")) {
        head.push_str("Connection: close\r\n");
    }
    let mut w = io::BufWriter::with_capacity(64 * 1024, &mut conn);
    match body {
        Body::None => {
            if method == "POST" || method == "PUT" {
                head.push_str("Content-Length: 0\r\n");
            }
            head.push_str("\r\n");
            w.write_all(head.as_bytes())?;
        }
        Body::Json(data) | Body::Bytes(data, _) => {
            let ctype = match body {
                Body::Bytes(_, t) => t,
                _ => "application/json",
            };
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                data.len()
            ));
            w.write_all(head.as_bytes())?;
            w.write_all(data)?;
        }
        Body::Stream(r, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ));
            w.write_all(head.as_bytes())?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                w.write_all(format!("{n:x}\r\n").as_bytes())?;
                w.write_all(&buf[..n])?;
                w.write_all(b"\r\n")?;
            }
            w.write_all(b"0\r\n\r\n")?;
        }
    }
    w.flush()?;
    drop(w);
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    let (status, headers) = loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(Error::Other(
                "error during connect: the daemon closed the connection".into(),
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Decode(format!("malformed HTTP response {:?}", line.trim())))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
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
    let framing = if status == 101 {
        Framing::Close
    } else if method == "HEAD" || status == 204 || status == 304 {
        Framing::Length(0)
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

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_to_end(&mut v)?;
        Ok(v)
    }

    pub fn text(self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }

    /// Decode the body as JSON (`()` and friends accept an empty body).
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let b = self.bytes()?;
        let b: &[u8] = if b.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &b
        };
        let v: serde_json::Value = serde_json::from_slice(b)
            .map_err(|e| Error::Decode(format!("decoding daemon response: {e}")))?;
        from_go_json(v).map_err(|e| Error::Decode(format!("decoding daemon response: {e}")))
    }

    /// One line of a newline-delimited stream (None at the end).
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

    /// The next JSON value of a stream of them (events, stats, messages).
    pub fn next_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>> {
        loop {
            let Some(l) = self.next_line()? else {
                return Ok(None);
            };
            if l.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(l.trim()).map_err(|e| Error::Decode(format!("{e}: {l}")))?;
            return from_go_json(v)
                .map(Some)
                .map_err(|e| Error::Decode(format!("{e}: {l}")));
        }
    }

    /// The daemon's error as an [`Error::Api`], in the docker CLI's words.
    pub fn into_error(self) -> Error {
        let status = self.status;
        let is_json = self.header("Content-Type") == Some(berth_api::system::media::JSON);
        let text = self.text().unwrap_or_default();
        let message = if is_json {
            serde_json::from_str::<berth_api::ErrorResponse>(&text)
                .map(|e| e.message)
                .unwrap_or_else(|_| text.trim().to_string())
        } else if text.trim().is_empty() {
            format!(
                "request returned {} for API route and version, check if the server supports the requested API version",
                reason(status)
            )
        } else {
            text.trim().to_string()
        };
        Error::Api { status, message }
    }

    /// The connection after a 101, with what was already read.
    pub(crate) fn into_parts(self) -> BufReader<Conn> {
        self.reader
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
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                }
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
                    if line.is_empty() {
                        *done = true;
                        return Ok(0);
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    let n = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                    })?;
                    if n == 0 {
                        *done = true;
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

/// Decode a daemon's JSON as Go writes it: nil slices and maps are `null`
/// where the record has a plain list or map (a daemon's `"Labels": null`,
/// an empty `/changes` as `null`). A value that does not decode as it came
/// is read again with those nulls as the empty values they stand for.
fn from_go_json<T: serde::de::DeserializeOwned>(
    mut v: serde_json::Value,
) -> std::result::Result<T, serde_json::Error> {
    let first = match T::deserialize(&v) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    if v.is_null() {
        for empty in [serde_json::json!([]), serde_json::json!({})] {
            if let Ok(t) = T::deserialize(&empty) {
                return Ok(t);
            }
        }
        return Err(first);
    }
    berth_api::json::strip_nulls(&mut v);
    T::deserialize(&v).map_err(|_| first)
}

fn reason(status: u16) -> String {
    let r = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    };
    format!("{status} {r}").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(
        answer: &'static [u8],
    ) -> (
        std::path::PathBuf,
        std::thread::JoinHandle<Vec<u8>>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = vec![0u8; 4096];
            let n = s.read(&mut got).unwrap();
            got.truncate(n);
            s.write_all(answer).unwrap();
            got
        });
        (p, h, dir)
    }

    #[test]
    fn chunked_answers_and_errors() {
        let (p, h, _d) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
        );
        let host = Host::Unix {
            path: p,
            url: "unix://x".into(),
        };
        let r = request(
            connect(&host, None).unwrap(),
            "GET",
            "/x",
            &QueryBuilder::new().add("a", "b c"),
            Body::None,
            &[],
        )
        .unwrap();
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["a"], 1);
        let sent = String::from_utf8(h.join().unwrap()).unwrap();
        assert!(sent.starts_with("GET /x?a=b+c HTTP/1.1\r\n"), "{sent}");

        let (p, _h, _d) = serve(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n{\"message\":\"No such container: x\"}\n",
        );
        let host = Host::Unix {
            path: p,
            url: "unix://x".into(),
        };
        let r = request(
            connect(&host, None).unwrap(),
            "GET",
            "/x",
            &QueryBuilder::new(),
            Body::None,
            &[],
        )
        .unwrap();
        let e = r.into_error();
        assert_eq!(e.status(), Some(404));
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such container: x"
        );
    }

    #[test]
    fn go_nulls_read_as_empty() {
        let s: berth_api::image::Summary = from_go_json(serde_json::json!(
            {"Id": "sha256:x", "Labels": null, "RepoTags": null, "Size": 3}
        ))
        .unwrap();
        assert!(s.labels.is_empty() && s.repo_tags.is_empty());
        assert_eq!(s.size, 3);
        let v: Vec<berth_api::container::FilesystemChange> =
            from_go_json(serde_json::Value::Null).unwrap();
        assert!(v.is_empty());
        // Raw values keep their nulls.
        let raw: serde_json::Value = from_go_json(serde_json::json!({"a": null})).unwrap();
        assert!(raw.as_object().unwrap()["a"].is_null());
        assert!(
            from_go_json::<berth_api::image::Summary>(serde_json::json!({"Size": "big"})).is_err()
        );
    }

    #[test]
    fn nobody_listening() {
        let host = Host::Unix {
            path: "/nonexistent/berth.sock".into(),
            url: "unix:///nonexistent/berth.sock".into(),
        };
        let e = connect(&host, None).err().unwrap();
        assert_eq!(
            e.to_string(),
            "Cannot connect to the Docker daemon at unix:///nonexistent/berth.sock. Is the docker daemon running?"
        );
    }
}
