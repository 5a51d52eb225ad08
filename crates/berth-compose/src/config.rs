//! `docker compose config`: the normalised project as YAML.

use crate::Project;

/// The normalised, interpolated project as `docker compose config` prints it:
/// `name:` first, then `services`, `networks`, `volumes`, `secrets`, `configs`,
/// each sorted by key; short syntaxes in their long form; durations in Go's
/// notation (`1m30s`); sizes in bytes.
pub fn to_yaml(p: &Project) -> String {
    serde_yaml::to_string(p).unwrap_or_default()
}

/// The same as [`to_yaml`], as JSON (`docker compose config --format json`).
pub fn to_json(p: &Project) -> String {
    serde_json::to_string_pretty(p).unwrap_or_default()
}
