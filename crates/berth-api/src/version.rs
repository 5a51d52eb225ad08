//! API versions (`1.51`) and their negotiation: a client uses the lower of
//! its own maximum and the server's `Api-Version`; a server refuses path
//! versions outside `[MIN, CURRENT]`.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(pub u32, pub u32);

/// What berth speaks: the docker 28.5 CLI's maximum.
pub const CURRENT: ApiVersion = ApiVersion(1, 51);
/// The oldest accepted in a path prefix.
pub const MIN: ApiVersion = ApiVersion(1, 24);
/// What a client assumes when a server sends no `Api-Version`.
pub const FALLBACK: ApiVersion = ApiVersion(1, 24);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.trim().split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }

    /// The version a client should use with a server that advertises `server`.
    pub fn negotiate(client_max: ApiVersion, server: Option<ApiVersion>) -> ApiVersion {
        match server {
            Some(s) => s.min(client_max),
            None => FALLBACK.min(client_max),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Why a server refuses a path version, in dockerd's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid API version: {0}")]
    Invalid(String),
    #[error("client version {0} is too new. Maximum supported API version is {CURRENT}")]
    TooNew(String),
    #[error(
        "client version {0} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version"
    )]
    TooOld(String),
}

/// Check a `/vX.Y` path prefix's version.
pub fn check(v: &str) -> Result<ApiVersion, VersionError> {
    let p = ApiVersion::parse(v).ok_or_else(|| VersionError::Invalid(v.into()))?;
    if p > CURRENT {
        return Err(VersionError::TooNew(v.into()));
    }
    if p < MIN {
        return Err(VersionError::TooOld(v.into()));
    }
    Ok(p)
}

/// Split `/v1.51/containers/json` into the version and the rest
/// (`/containers/json`); None for unversioned paths.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let (ver, _) = rest.split_once('/')?;
    ver.starts_with(|c: char| c.is_ascii_digit())
        .then(|| (ver, &path[2 + ver.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_and_checks() {
        let v = |s| ApiVersion::parse(s).unwrap();
        assert!(v("1.9") < v("1.24"));
        assert_eq!(ApiVersion::negotiate(CURRENT, Some(v("1.41"))), v("1.41"));
        assert_eq!(ApiVersion::negotiate(v("1.41"), Some(CURRENT)), v("1.41"));
        assert_eq!(ApiVersion::negotiate(CURRENT, None), FALLBACK);
        assert_eq!(check("1.51"), Ok(CURRENT));
        assert!(matches!(check("1.99"), Err(VersionError::TooNew(_))));
        assert!(check("1.12").unwrap_err().to_string().contains("too old"));
        assert!(matches!(check("x"), Err(VersionError::Invalid(_))));
        assert_eq!(
            split_path("/v1.51/containers/json"),
            Some(("1.51", "/containers/json"))
        );
        assert_eq!(split_path("/version"), None);
        assert_eq!(split_path("/volumes/x"), None);
    }
}
