use std::io;
use std::path::PathBuf;

/// Everything that can go wrong with a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation on the cgroup filesystem failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A resource value that cannot be expressed on this host.
    #[error("{0}")]
    Invalid(String),
    /// A resource needs a controller that no hierarchy offers.
    #[error("cgroup controller {0:?} is not available on this host (needed for {1})")]
    NoController(&'static str, &'static str),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The kind of the underlying I/O error, if any (writes keep the kind,
    /// not the raw errno: their message names the value written).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// The underlying OS error, if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
