//! Registry errors, with the kind a caller acts on and the text Docker
//! shows (`manifest unknown: manifest unknown`, `unauthorized: …`,
//! `Get "https://…/v2/": x509: certificate signed by unknown authority`).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401: credentials missing or wrong.
    Unauthorized,
    /// 403 `DENIED`: the credentials may not do this.
    Denied,
    /// The manifest, blob or repository is not there.
    NotFound,
    /// The server's certificate is not trusted (or TLS failed otherwise).
    Tls,
    /// Nothing answered, or the connection broke.
    Connect,
    /// The registry answered something that is not the protocol.
    Protocol,
    /// Content whose digest is not the one asked for.
    DigestMismatch,
    /// Content berth will not take (schema 1, foreign layers).
    Unsupported,
    /// 429.
    TooManyRequests,
    /// Anything else the registry refused.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The registry's error code (`MANIFEST_UNKNOWN`, `DENIED`, …) when
    /// it answered with an error body.
    pub code: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            code: String::new(),
        }
    }

    pub fn protocol(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::Protocol, m)
    }

    /// Transient: worth a retry (a broken connection, a 5xx, 429).
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Connect | ErrorKind::TooManyRequests)
    }

    pub fn context(self, what: impl fmt::Display) -> Error {
        Error {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The distribution spec's error body.
#[derive(serde::Deserialize, Default, Debug)]
#[serde(default)]
pub struct ErrorBody {
    pub errors: Vec<ErrorItem>,
}

#[derive(serde::Deserialize, Default, Debug)]
#[serde(default)]
pub struct ErrorItem {
    pub code: String,
    pub message: String,
}

/// A registry error body in Docker's words: `<code, lower case>: <message>`
/// per error (`manifest unknown: manifest unknown`), or None if the body
/// is not one.
pub fn describe_body(body: &[u8]) -> Option<(String, String)> {
    let b: ErrorBody = serde_json::from_slice(body).ok()?;
    // Docker reports the first error (and logs the others).
    let first = b.errors.first()?;
    let code = first.code.replace('_', " ").to_lowercase();
    let text = if first.message.is_empty() {
        code
    } else {
        format!("{code}: {}", first.message)
    };
    Some((first.code.clone(), text))
}

/// A transport failure in Go's words (what `docker pull` prints after
/// `Get "<url>": `).
pub fn transport(url: &str, method: &str, e: &reqwest::Error) -> Error {
    let mut chain = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        chain.push_str(&s.to_string());
        chain.push(' ');
        src = s.source();
    }
    let verb = match method {
        "GET" => "Get",
        "HEAD" => "Head",
        "POST" => "Post",
        "PUT" => "Put",
        "PATCH" => "Patch",
        "DELETE" => "Delete",
        m => m,
    };
    let lower = chain.to_lowercase();
    let (kind, what) = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        (
            ErrorKind::Tls,
            "x509: certificate signed by unknown authority".to_string(),
        )
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        (
            ErrorKind::Tls,
            "x509: certificate is not valid for this host".to_string(),
        )
    } else if lower.contains("expired") && lower.contains("cert") {
        (
            ErrorKind::Tls,
            "x509: certificate has expired or is not yet valid".to_string(),
        )
    } else if lower.contains("invalidcontenttype")
        || lower.contains("invalid content type")
        || lower.contains("corrupt message")
    {
        (
            ErrorKind::Tls,
            "http: server gave HTTP response to HTTPS client".to_string(),
        )
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        (ErrorKind::Tls, format!("tls: {}", chain.trim()))
    } else if lower.contains("connection refused") {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_default();
        (
            ErrorKind::Connect,
            format!("dial tcp {host}: connect: connection refused"),
        )
    } else if e.is_timeout() {
        (
            ErrorKind::Connect,
            "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
                .to_string(),
        )
    } else {
        (ErrorKind::Connect, chain.trim().to_string())
    };
    Error::new(kind, format!("{verb} \"{url}\": {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_bodies_in_dockers_words() {
        let b = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(
            describe_body(b),
            Some((
                "MANIFEST_UNKNOWN".into(),
                "manifest unknown: manifest unknown".into()
            ))
        );
        let b = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        assert_eq!(
            describe_body(b).unwrap().1,
            "unauthorized: authentication required"
        );
        assert_eq!(describe_body(b"not json"), None);
        assert_eq!(describe_body(b"{}"), None);
    }
}
