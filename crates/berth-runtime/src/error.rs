use std::io;

/// Why starting the container process failed, as far as a caller must tell apart
/// (Docker maps these to exit codes 127 and 126).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StartFailure {
    /// The executable does not exist (or is not in `$PATH`).
    NotFound,
    /// The executable exists but cannot be executed (permission, directory, format).
    NotExecutable,
    /// Anything else that went wrong while setting up the container.
    Other,
}

/// Errors of the runtime, with messages in runc's words where runc has words.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container does not exist")]
    NotFound,
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("invalid container id {0:?}: {1}")]
    InvalidId(String, &'static str),
    /// A problem with config.json (or an exec process spec); names the field.
    #[error("{0}")]
    Config(String),
    /// The operation does not fit the container's current status.
    #[error("{0}")]
    WrongState(String),
    /// Setting up or starting the container process failed.
    #[error("unable to start container process: {message}")]
    Start { kind: StartFailure, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Cgroup(#[from] berth_cgroups::Error),
    #[error("{0}")]
    Seccomp(#[from] berth_seccomp::Error),
    #[error("{0}")]
    Hook(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach a description of what was being done to an `io::Error`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: what(),
            source: e.into(),
        })
    }
}
