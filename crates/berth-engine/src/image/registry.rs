//! `docker login` (`POST /auth`) and `docker search` (`GET /images/search`).
//!
//! Login checks the credentials against the registry (basic auth, or the
//! token server with a request for a refresh token, which comes back as
//! the IdentityToken). Search asks the registry's v1 search API where it
//! has one (Docker Hub); a registry without it (distribution) is searched
//! through `/v2/_catalog`, its repositories filtered by the term.

use berth_api::auth::{AuthConfig, AuthResponse};
use berth_api::filters::Filters;
use berth_api::image::SearchResult;
use berth_registry::config::{DOCKER_HUB, DOCKER_HUB_API, DOCKER_HUB_INDEX};

use super::pull::registry_error;
use crate::{Engine, Error, ErrorKind, Result};

/// Docker's default login server.
pub const DEFAULT_SERVER: &str = "https://index.docker.io/v1/";

/// The registry a login server address names: scheme and path dropped,
/// Docker Hub's aliases folded into `docker.io`.
pub fn registry_of_server(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | DOCKER_HUB_INDEX | DOCKER_HUB_API | DOCKER_HUB => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}

/// Keys `docker search --filter` takes.
pub const SEARCH_FILTERS: &[&str] = &["is-automated", "is-official", "stars"];

/// `term` as `registry`, `term-in-registry`: a first component that looks
/// like a host names the registry; otherwise Docker Hub.
pub fn split_search_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        return (registry_of_server(first), rest.to_string());
    }
    (DOCKER_HUB.to_string(), term.to_string())
}

fn search_filter(f: &Filters) -> Result<impl Fn(&SearchResult) -> bool> {
    f.validate(SEARCH_FILTERS)?;
    let official = f.bool_value("is-official")?;
    let automated = f.bool_value("is-automated")?;
    let mut stars = 0i64;
    for v in f.get("stars") {
        stars = stars.max(
            v.parse::<i64>()
                .map_err(|_| Error::invalid(format!("invalid filter 'stars={v}'")))?,
        );
    }
    Ok(move |r: &SearchResult| {
        official.is_none_or(|o| o == r.is_official)
            && automated.is_none_or(|a| a == r.is_automated)
            && r.star_count >= stars
    })
}

impl Engine {
    /// `POST /auth`.
    pub async fn login(&self, auth: AuthConfig) -> Result<AuthResponse> {
        let registry = registry_of_server(&auth.serveraddress);
        let token = self
            .registries
            .login(&registry, &auth)
            .await
            .map_err(|e| match e.kind {
                berth_registry::ErrorKind::Unauthorized | berth_registry::ErrorKind::Denied => {
                    Error::new(ErrorKind::Unauthorized, e.message)
                }
                _ => registry_error(e),
            })?;
        Ok(AuthResponse {
            status: "Login Succeeded".into(),
            identity_token: token,
        })
    }

    /// `GET /images/search`.
    pub async fn search(
        &self,
        term: &str,
        limit: Option<i64>,
        filters: &Filters,
        auth: AuthConfig,
    ) -> Result<Vec<SearchResult>> {
        let keep = search_filter(filters)?;
        let limit = limit.unwrap_or(25);
        if !(1..=100).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit {limit} is outside the range of [1, 100]"
            )));
        }
        let (registry, needle) = split_search_term(term);
        let found = self
            .registries
            .search_v1(&registry, &needle, limit)
            .await
            .map_err(registry_error)?;
        let results = match found {
            Some(v) => v,
            None => {
                let repos = self
                    .registries
                    .catalog(&registry, auth)
                    .await
                    .map_err(registry_error)?;
                repos
                    .into_iter()
                    .filter(|r| r.contains(&needle))
                    .map(|r| SearchResult {
                        name: format!("{registry}/{r}"),
                        ..Default::default()
                    })
                    .collect()
            }
        };
        Ok(results
            .into_iter()
            .filter(|r| keep(r))
            .take(limit as usize)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_terms() {
        assert_eq!(registry_of_server(DEFAULT_SERVER), "docker.io");
        assert_eq!(registry_of_server(""), "docker.io");
        assert_eq!(registry_of_server("registry-1.docker.io"), "docker.io");
        assert_eq!(
            registry_of_server("http://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_of_server("localhost:5000"), "localhost:5000");
        assert_eq!(
            split_search_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000".into(), "busy".into())
        );
        assert_eq!(
            split_search_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_search_term("library/busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
    }

    #[test]
    fn search_filters() {
        let f = Filters::parse(r#"{"is-official":{"true":true},"stars":{"3":true}}"#).unwrap();
        let keep = search_filter(&f).unwrap();
        let r = |o, s| SearchResult {
            is_official: o,
            star_count: s,
            ..Default::default()
        };
        assert!(keep(&r(true, 3)));
        assert!(!keep(&r(false, 10)));
        assert!(!keep(&r(true, 2)));
        assert!(search_filter(&Filters::parse(r#"{"bogus":{"x":true}}"#).unwrap()).is_err());
        assert!(search_filter(&Filters::parse(r#"{"stars":{"x":true}}"#).unwrap()).is_err());
    }
}
