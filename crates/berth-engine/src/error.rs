//! The engine's errors: a kind (what the caller can do about it) and
//! Docker's words. The HTTP layer maps kinds to statuses in one place
//! (berthd's `api/error.rs`), as moby's errdefs do.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404: no such container, image, network, exec instance.
    NotFound,
    /// 409: the object's state or name forbids it (in use, running, taken).
    Conflict,
    /// 400: the request itself is wrong.
    InvalidParameter,
    /// 304: nothing to do (already started, already stopped).
    NotModified,
    /// 403: allowed by nobody (predefined networks, address in use).
    Forbidden,
    /// 401: credentials missing or refused.
    Unauthorized,
    /// 503: a subsystem is not there (swarm, networking turned off).
    Unavailable,
    /// 501: not implemented.
    NotImplemented,
    /// 500: the system failed.
    System,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::NotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::Conflict, m)
    }
    pub fn invalid(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::InvalidParameter, m)
    }
    pub fn not_modified() -> Error {
        Self::new(ErrorKind::NotModified, "")
    }
    pub fn forbidden(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::Forbidden, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::Unauthorized, m)
    }
    pub fn unavailable(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::Unavailable, m)
    }
    pub fn system(m: impl Into<String>) -> Error {
        Self::new(ErrorKind::System, m)
    }
    pub fn no_such_container(r: &str) -> Error {
        Self::not_found(format!("No such container: {r}"))
    }
    pub fn no_such_image(r: &str) -> Error {
        Self::not_found(format!("No such image: {r}"))
    }

    pub fn is(&self, k: ErrorKind) -> bool {
        self.kind == k
    }

    /// The same kind, the message prefixed.
    pub fn context(self, what: impl fmt::Display) -> Error {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::system(e.to_string())
    }
}

impl From<berth_image::Error> for Error {
    fn from(e: berth_image::Error) -> Self {
        use berth_image::Error as E;
        let kind = match &e {
            E::NotFound(_) => ErrorKind::NotFound,
            E::InvalidReference(_) | E::InvalidArchive(_) => ErrorKind::InvalidParameter,
            E::Conflict(_) => ErrorKind::Conflict,
            _ => ErrorKind::System,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<berth_runtime::Error> for Error {
    fn from(e: berth_runtime::Error) -> Self {
        use berth_runtime::Error as E;
        let kind = match &e {
            E::NotFound => ErrorKind::NotFound,
            E::Config(_) => ErrorKind::InvalidParameter,
            E::WrongState(_) => ErrorKind::Conflict,
            _ => ErrorKind::System,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<berth_api::query::QueryError> for Error {
    fn from(e: berth_api::query::QueryError) -> Self {
        Error::invalid(e.to_string())
    }
}

impl From<berth_api::filters::FilterError> for Error {
    fn from(e: berth_api::filters::FilterError) -> Self {
        Error::invalid(e.to_string())
    }
}

impl From<berth_api::json::DecodeError> for Error {
    fn from(e: berth_api::json::DecodeError) -> Self {
        Error::invalid(e.to_string())
    }
}
