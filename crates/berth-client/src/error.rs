use std::fmt;

/// What a call can fail with.
#[derive(Debug)]
pub enum Error {
    /// The daemon answered with an error status (`{"message": …}`).
    Api {
        status: u16,
        message: String,
    },
    /// Nothing listens at the host ("Cannot connect to the Docker daemon").
    Connect {
        host: String,
        detail: String,
    },
    /// The host string, TLS files and the like.
    Config(String),
    Io(std::io::Error),
    /// An answer that is not what the API says.
    Decode(String),
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The HTTP status of a daemon error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api { message, .. } => write!(f, "Error response from daemon: {message}"),
            Error::Connect { host, .. } => write!(
                f,
                "Cannot connect to the Docker daemon at {host}. Is the docker daemon running?"
            ),
            Error::Config(m) | Error::Decode(m) | Error::Other(m) => f.write_str(m),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
