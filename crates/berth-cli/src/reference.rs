//! Image references as the docker CLI reads them (distribution/reference's
//! `ParseNormalizedNamed`): `busybox` is `docker.io/library/busybox`, a
//! first component with a `.` or `:` (or `localhost`) is a registry, and the
//! errors are docker's words.

use std::sync::OnceLock;

use regex::Regex;

/// The registry of references without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A named reference: `domain/path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

struct Patterns {
    reference: Regex,
    anchored_name: Regex,
    identifier: Regex,
    digest: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // distribution/reference's grammar (Go's \w is ASCII).
        let alphanumeric = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]+)";
        let component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain_name = format!(r"{component}(?:\.{component})*");
        let host = format!(r"(?:{domain_name}|\[(?:[a-fA-F0-9:]+)\])");
        let domain_and_port = format!("{host}(?::[0-9]+)?");
        let path_component = format!("{alphanumeric}(?:{separator}{alphanumeric})*");
        let remote_name = format!("{path_component}(?:/{path_component})*");
        let name = format!("(?:{domain_and_port}/)?{remote_name}");
        let tag = r"[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
        let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
        Patterns {
            reference: Regex::new(&format!("^({name})(?::({tag}))?(?:@({digest}))?$")).unwrap(),
            anchored_name: Regex::new(&format!("^(?:({domain_and_port})/)?({remote_name})$"))
                .unwrap(),
            identifier: Regex::new("^[a-f0-9]{64}$").unwrap(),
            digest: Regex::new(&format!("^{digest}$")).unwrap(),
        }
    })
}

impl Reference {
    /// `ParseNormalizedNamed`.
    pub fn parse_normalized(s: &str) -> Result<Reference, String> {
        let p = patterns();
        if p.identifier.is_match(s) {
            return Err(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            ));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => &remainder[..],
        };
        if remote.to_lowercase() != remote {
            return Err(format!(
                "invalid reference format: repository name ({remote}) must be lowercase"
            ));
        }
        Self::parse(&format!("{domain}/{remainder}"))
    }

    /// `Parse` of a full reference (the name has its domain).
    fn parse(s: &str) -> Result<Reference, String> {
        let p = patterns();
        let Some(m) = p.reference.captures(s) else {
            if s.is_empty() {
                return Err("repository name must have at least one component".into());
            }
            if p.reference.is_match(&s.to_lowercase()) {
                return Err("repository name must be lowercase".into());
            }
            return Err("invalid reference format".into());
        };
        let name = &m[1];
        let (domain, path) = match p.anchored_name.captures(name) {
            Some(n) => (
                n.get(1).map_or("", |d| d.as_str()).to_string(),
                n[2].to_string(),
            ),
            None => (String::new(), name.to_string()),
        };
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            ));
        }
        let digest = match m.get(3) {
            Some(d) => {
                validate_digest(d.as_str())?;
                Some(d.as_str().to_string())
            }
            None => None,
        };
        Ok(Reference {
            domain,
            path,
            tag: m.get(2).map(|t| t.as_str().to_string()),
            digest,
        })
    }

    /// The full name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The short name docker shows: `busybox`, `user/app`, `host:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// `docker.io/library/busybox:latest`.
    pub fn full(&self) -> String {
        self.name() + &self.suffix()
    }

    /// `busybox:latest`.
    pub fn familiar(&self) -> String {
        self.familiar_name() + &self.suffix()
    }

    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// `TagNameOnly`: `latest` for a bare name.
    pub fn with_default_tag(mut self) -> Reference {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// What the API's `tag` parameter gets: the digest if there is one,
    /// else the tag (`latest` for a bare name).
    pub fn api_tag(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// The registry's key in `config.json`: Docker Hub's index address for
    /// docker.io, else the registry's host[:port].
    pub fn auth_key(&self) -> String {
        auth_key_of(&self.domain)
    }
}

/// The `config.json` key of a registry domain.
pub fn auth_key_of(domain: &str) -> String {
    if domain == DEFAULT_DOMAIN || domain == LEGACY_DEFAULT_DOMAIN {
        berth_api::cli::INDEX_SERVER.to_string()
    } else {
        domain.to_string()
    }
}

/// `ParseAnyReference`: a 64-hex image ID or a digest is not a name (None).
pub fn parse_any(s: &str) -> Result<Option<Reference>, String> {
    let p = patterns();
    if p.identifier.is_match(s) || validate_digest(s).is_ok() {
        return Ok(None);
    }
    Reference::parse_normalized(s).map(Some)
}

fn split_docker_domain(name: &str) -> (String, String) {
    let Some((maybe_domain, rest)) = name.split_once('/') else {
        return (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{name}"),
        );
    };
    let (domain, mut remote) = if maybe_domain == "localhost" {
        (maybe_domain.to_string(), rest.to_string())
    } else if maybe_domain == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN.to_string(), rest.to_string())
    } else if maybe_domain.contains(['.', ':']) || maybe_domain.to_lowercase() != maybe_domain {
        (maybe_domain.to_string(), rest.to_string())
    } else {
        (DEFAULT_DOMAIN.to_string(), name.to_string())
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        remote = format!("{OFFICIAL_REPO_PREFIX}{remote}");
    }
    (domain, remote)
}

/// go-digest's `Digest.Validate`, with its messages.
fn validate_digest(d: &str) -> Result<(), String> {
    let invalid = || Err("invalid checksum digest format".to_string());
    let Some(i) = d.find(':').filter(|&i| i > 0 && i + 1 < d.len()) else {
        return invalid();
    };
    let (alg, enc) = (&d[..i], &d[i + 1..]);
    let size = match alg {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ => {
            if !patterns().digest.is_match(d) {
                return invalid();
            }
            return Err("unsupported digest algorithm".into());
        }
    };
    if enc.len() != size * 2 {
        return Err("invalid checksum digest length".into());
    }
    if !enc
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return invalid();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:413c7cbf63feda473d1d49a48d125928dd8c3408cb341451c042176d88d1ea54";

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar(), "busybox");
        assert!(r.is_name_only());
        let r = r.with_default_tag();
        assert_eq!(r.full(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.auth_key(), "https://index.docker.io/v1/");

        let r = Reference::parse_normalized("user/app:1").unwrap();
        assert_eq!(r.name(), "docker.io/user/app");
        assert_eq!(r.familiar(), "user/app:1");
        let r = Reference::parse_normalized("index.docker.io/library/busybox").unwrap();
        assert_eq!(r.familiar(), "busybox");

        let r = Reference::parse_normalized("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "a/b", Some("v1"))
        );
        assert_eq!(r.familiar(), "127.0.0.1:5000/a/b:v1");
        assert_eq!(r.auth_key(), "127.0.0.1:5000");
        let r = Reference::parse_normalized("localhost/x").unwrap();
        assert_eq!(r.domain, "localhost");

        let r = Reference::parse_normalized(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.api_tag(), D);
        assert_eq!(r.full(), format!("docker.io/library/busybox@{D}"));
        let r = Reference::parse_normalized(&format!("busybox:1@{D}")).unwrap();
        assert_eq!(r.api_tag(), D);
        assert_eq!(r.familiar(), format!("busybox:1@{D}"));
    }

    #[test]
    fn errors_in_dockers_words() {
        let e = |s: &str| Reference::parse_normalized(s).unwrap_err();
        assert_eq!(
            e("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(e("a@@b"), "invalid reference format");
        assert_eq!(e(""), "invalid reference format");
        assert_eq!(e("busybox:"), "invalid reference format");
        assert_eq!(
            e(&"a".repeat(64).replace('a', "b")),
            format!(
                "invalid repository name ({}), cannot specify 64-byte hexadecimal strings",
                "b".repeat(64)
            )
        );
        assert_eq!(
            e("busybox@sha256:abcdabcdabcdabcdabcdabcdabcdabcd"),
            "invalid checksum digest length"
        );
        assert_eq!(
            e("busybox@md5:abcdabcdabcdabcdabcdabcdabcdabcd"),
            "unsupported digest algorithm"
        );
        assert_eq!(e("a//b"), "invalid reference format");
        assert_eq!(
            e(&format!("x/{}", "a".repeat(260))),
            "repository name must not be more than 255 characters"
        );
    }

    #[test]
    fn any_reference() {
        assert_eq!(parse_any(&"a".repeat(64)).unwrap(), None);
        assert_eq!(parse_any(D).unwrap(), None);
        assert!(parse_any("busybox").unwrap().is_some());
        assert!(parse_any("75d9adacd460").unwrap().is_some());
    }
}
