//! Registry authentication: `WWW-Authenticate` challenges (Bearer realm,
//! service, scope; Basic), the token exchange (anonymous, with basic
//! credentials, or with a refresh token via OAuth2), and the token cache
//! (per registry, scope and user, until expiry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use berth_api::auth::AuthConfig;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// What a 401 asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Bearer {
        realm: String,
        service: String,
        scope: String,
    },
    Basic,
}

/// Parse a `WWW-Authenticate` value (`Bearer realm="…",service="…",scope="…"`).
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let params = parse_params(rest);
            Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned().unwrap_or_default(),
                scope: params.get("scope").cloned().unwrap_or_default(),
            })
        }
        _ => None,
    }
}

/// `k="v", k2=v2` (quoted values may hold commas).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), val.trim().to_string());
    }
    out
}

/// `Authorization: Basic …` for credentials (an `auth` field is already that).
pub fn basic_header(a: &AuthConfig) -> Option<String> {
    if !a.auth.is_empty() {
        return Some(format!("Basic {}", a.auth));
    }
    if a.username.is_empty() && a.password.is_empty() {
        return None;
    }
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", a.username, a.password))
    ))
}

/// The user name of credentials (from `auth` when only that is given).
pub fn user_of(a: &AuthConfig) -> String {
    if !a.username.is_empty() {
        return a.username.clone();
    }
    base64::engine::general_purpose::STANDARD
        .decode(&a.auth)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|s| s.split_once(':').map(|(u, _)| u.to_string()))
        .unwrap_or_default()
}

/// A token endpoint's answer.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct TokenResponse {
    pub token: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

impl TokenResponse {
    pub fn bearer(&self) -> &str {
        if self.token.is_empty() {
            &self.access_token
        } else {
            &self.token
        }
    }
}

/// (registry, scope, user).
type TokenKey = (String, String, String);

/// Tokens by (registry, scope, user), until they expire.
#[derive(Default)]
pub struct TokenCache {
    map: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl TokenCache {
    pub fn get(&self, registry: &str, scope: &str, user: &str) -> Option<String> {
        let k = (registry.to_string(), scope.to_string(), user.to_string());
        let mut m = self.map.lock().unwrap();
        match m.get(&k) {
            Some((t, until)) if Instant::now() < *until => Some(t.clone()),
            Some(_) => {
                m.remove(&k);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, registry: &str, scope: &str, user: &str, token: &str, expires_in: u64) {
        // The spec's default lifetime is 60 s; keep a margin.
        let ttl = Duration::from_secs(expires_in.max(60)).saturating_sub(Duration::from_secs(5));
        self.map.lock().unwrap().insert(
            (registry.to_string(), scope.to_string(), user.to_string()),
            (token.to_string(), Instant::now() + ttl),
        );
    }
}

/// Fetch a bearer token for `scope` from a challenge's realm.
pub async fn fetch_token(
    http: &reqwest::Client,
    realm: &str,
    service: &str,
    scope: &str,
    auth: &AuthConfig,
    offline: bool,
) -> Result<TokenResponse> {
    let resp = if !auth.identitytoken.is_empty() {
        // A refresh token (from an earlier login): OAuth2 password-less grant.
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", auth.identitytoken.clone()),
            ("service", service.to_string()),
            ("client_id", "docker".to_string()),
        ];
        if !scope.is_empty() {
            form.push(("scope", scope.to_string()));
        }
        http.post(realm).form(&form).send().await
    } else {
        // Several scopes (a push that mounts from another repository) are
        // repeated `scope` parameters.
        let mut q: Vec<(&str, &str)> = vec![("service", service)];
        q.extend(
            scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| ("scope", s)),
        );
        let mut req = http.get(realm).query(&q);
        if let Some(b) = basic_header(auth) {
            req = req.header(reqwest::header::AUTHORIZATION, b);
            let user = user_of(auth);
            req = req.query(&[("account", user.as_str())]);
            if offline {
                // `docker login`: ask for a refresh token, as docker does.
                req = req.query(&[("offline_token", "true"), ("client_id", "docker")]);
            }
        }
        req.send().await
    }
    .map_err(|e| crate::error::transport(realm, "GET", &e))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| crate::error::transport(realm, "GET", &e))?;
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        // Docker Hub's token server says why in `details`; distribution
        // style servers send an error body.
        let details = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("details")?.as_str().map(str::to_string));
        let text = match details {
            Some(d) => format!("unauthorized: {d}"),
            None => crate::error::describe_body(&body)
                .map(|(_, t)| t)
                .unwrap_or_else(|| "unauthorized: incorrect username or password".into()),
        };
        return Err(Error::new(ErrorKind::Unauthorized, text));
    }
    if !status.is_success() {
        return Err(Error::protocol(format!(
            "token server {realm} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )));
    }
    let t: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| Error::protocol(format!("token server {realm}: {e}")))?;
    if t.bearer().is_empty() {
        return Err(Error::protocol(format!(
            "token server {realm} gave no token"
        )));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.test/token".into(),
                service: "registry.test".into(),
                scope: "repository:a/b:pull,push".into(),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate x"), None);
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
    }

    #[test]
    fn credentials_and_cache() {
        let a = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        };
        assert_eq!(basic_header(&a).unwrap(), "Basic dTpw");
        let b = AuthConfig {
            auth: "dTpw".into(),
            ..Default::default()
        };
        assert_eq!(user_of(&b), "u");
        assert!(basic_header(&AuthConfig::default()).is_none());
        let c = TokenCache::default();
        c.put("r", "s", "u", "tok", 300);
        assert_eq!(c.get("r", "s", "u").as_deref(), Some("tok"));
        assert!(c.get("r", "s", "other").is_none());
    }
}
