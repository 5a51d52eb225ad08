//! The crate's error type, with Docker's wording where clients show it.

use std::io;

/// Everything the image store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image name or id that resolves to nothing ("No such image: x").
    #[error("No such image: {0}")]
    NotFound(String),
    /// A malformed reference; the message starts with "invalid reference format".
    #[error("{0}")]
    InvalidReference(String),
    /// The operation would break something (image in use, ambiguous delete).
    #[error("{0}")]
    Conflict(String),
    /// A tar/archive/layer that cannot be accepted, saying what is wrong.
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// A bad argument, e.g. an unknown `--change` instruction.
    #[error("{0}")]
    InvalidArgument(String),
    /// An I/O failure, with what was being done.
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io(what(), e))
    }
}

pub(crate) fn invalid_archive(msg: impl Into<String>) -> Error {
    Error::InvalidArchive(msg.into())
}
