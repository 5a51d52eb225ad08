//! The error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading or planning a compose project.
///
/// The messages follow docker compose's wording where compose has one, so
/// that users (and scripts grepping for them) see the familiar text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No compose file was given and none was found by discovery.
    #[error("no configuration file provided: not found")]
    NoConfigFile,

    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file is not valid YAML. Displayed as compose does:
    /// `<file>: yaml: line 3: mapping values are not allowed in this context`.
    #[error("{}: yaml: {}{message}", path.display(), line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the error, when the parser reported one.
        line: Option<usize>,
        /// The parser's message, without its location.
        message: String,
    },

    /// An `.env` / `env_file` file could not be parsed.
    #[error("failed to read {}: {message}", path.display())]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line.
        message: String,
    },

    /// `${VAR:?err}` / `${VAR?err}` with `VAR` missing.
    #[error("error while interpolating {path}: required variable {variable} is missing a value{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    MissingVariable {
        /// Where in the model (`services.web.image`).
        path: String,
        /// The variable's name.
        variable: String,
        /// The error text given after `?`, interpolated.
        reason: String,
    },

    /// A `${...}` that cannot be parsed.
    #[error(
        "error while interpolating {path}: invalid interpolation format: {template:?}; you may need to escape any $ with another $"
    )]
    InvalidTemplate {
        /// Where in the model.
        path: String,
        /// The whole string that failed.
        template: String,
    },

    /// The model does not follow the compose schema (unknown keys, wrong types).
    #[error("{}{message}", file.as_ref().map(|f| format!("validating {}: ", f.display())).unwrap_or_default())]
    Schema {
        /// The file whose content is wrong, when known.
        file: Option<PathBuf>,
        /// Compose's message, e.g. `services.web Additional property foo is not allowed`.
        message: String,
    },

    /// The project is inconsistent (undefined references, mutually exclusive fields ...).
    /// Displayed as `<message>: invalid compose project`.
    #[error("{0}: invalid compose project")]
    InvalidProject(String),

    /// A dependency cycle between services: `dependency cycle detected: a -> b -> a`.
    #[error("dependency cycle detected: {}", .0.join(" -> "))]
    Cycle(Vec<String>),

    /// Any other error, with compose's message where it has one.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub(crate) fn schema(message: impl Into<String>) -> Self {
        Error::Schema {
            file: None,
            message: message.into(),
        }
    }

    /// Attaches `file` to a schema error that has no file yet.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Error::Schema {
                file: None,
                message,
            } => Error::Schema {
                file: Some(path.to_path_buf()),
                message,
            },
            other => other,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
