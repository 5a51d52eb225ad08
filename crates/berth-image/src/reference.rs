//! Docker image references (`busybox`, `localhost:5000/x/y:1`, `x@sha256:…`)
//! with Docker's normalisation: a name without a registry is on `docker.io`,
//! a single-component Docker Hub name is under `library/`, and a reference
//! with neither tag nor digest means `:latest`.

use std::fmt;

use crate::digest::is_sha256_hex;
use crate::error::{Error, Result};

/// The default registry.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn invalid(detail: Option<String>) -> Error {
    match detail {
        None => Error::InvalidReference("invalid reference format".into()),
        Some(d) => Error::InvalidReference(format!("invalid reference format: {d}")),
    }
}

impl Reference {
    /// Parses and normalises; adds the tag `latest` when neither tag nor
    /// digest is given (`busybox` → `docker.io/library/busybox:latest`).
    pub fn parse(s: &str) -> Result<Reference> {
        let mut r = Reference::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".into());
        }
        Ok(r)
    }

    /// Parses and normalises without adding a default tag.
    pub fn parse_named(s: &str) -> Result<Reference> {
        if is_sha256_hex(s) {
            return Err(Error::InvalidReference(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                check_digest(d)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => {
                let t = &rest[i + 1..];
                check_tag(t)?;
                (&rest[..i], Some(t.to_string()))
            }
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid(None));
        }
        let (mut domain, mut path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        if domain == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_REPO_PREFIX}{path}");
        }
        if path.to_lowercase() != path {
            return Err(invalid(Some(format!(
                "repository name ({path}) must be lowercase"
            ))));
        }
        if !path.split('/').all(is_path_component) || !is_domain(&domain) {
            return Err(invalid(None));
        }
        // As distribution/reference, the limit is on the normalised name
        // (`docker.io/library/…`): that is the form stored and read back.
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(Some(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            ))));
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry host (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path on the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name (`docker.io/library/busybox`).
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as Docker shows it (`busybox`, `myreg:5000/x`).
    pub fn repository_familiar(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.repository()
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

    /// The reference as Docker shows it (`busybox:latest`, `myreg:5000/x:1`).
    pub fn familiar(&self) -> String {
        self.repository_familiar() + &self.suffix()
    }

    /// The fully qualified reference (`docker.io/library/busybox:latest`).
    pub fn full(&self) -> String {
        self.repository() + &self.suffix()
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        check_tag(tag)?;
        Ok(Reference {
            tag: Some(tag.into()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository with a digest (and no tag).
    pub fn with_digest(&self, digest: &str) -> Result<Reference> {
        check_digest(digest)?;
        Ok(Reference {
            tag: None,
            digest: Some(digest.into()),
            ..self.clone()
        })
    }

    /// True when neither tag nor digest was given.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar())
    }
}

/// `[\w][\w.-]{0,127}`
fn check_tag(t: &str) -> Result<()> {
    let ok = t.len() <= 128
        && t.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
        })
        && !t.is_empty();
    if ok { Ok(()) } else { Err(invalid(None)) }
}

/// `algorithm:hex`; sha256 must have 64 lowercase hex digits.
fn check_digest(d: &str) -> Result<()> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err(invalid(None));
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            c.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && c.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    let hex_ok = if alg == "sha256" {
        is_sha256_hex(hex)
    } else {
        hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    };
    if alg_ok && hex_ok {
        Ok(())
    } else {
        Err(invalid(None))
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// Host (`a.b-c.d`, or `[ipv6]`) with an optional numeric port.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().full()
    }

    #[test]
    fn docker_hub_normalisation() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("library/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(full("a/b/c"), "docker.io/a/b/c:latest");
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.repository_familiar(), "busybox");
        assert_eq!(r.repository(), "docker.io/library/busybox");
        assert_eq!(
            (r.domain(), r.path(), r.tag(), r.digest()),
            ("docker.io", "library/busybox", Some("latest"), None)
        );
        assert_eq!(
            Reference::parse("user/app").unwrap().familiar(),
            "user/app:latest"
        );
        assert_eq!(
            Reference::parse("docker.io/library/a/b")
                .unwrap()
                .familiar(),
            "library/a/b:latest"
        );
    }

    #[test]
    fn registries_ports_and_digests() {
        let r = Reference::parse("localhost:5000/x/y:1").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("localhost:5000", "x/y", Some("1"))
        );
        assert_eq!(r.familiar(), "localhost:5000/x/y:1");
        assert_eq!(r.full(), "localhost:5000/x/y:1");
        assert_eq!(full("myreg:5000/x:1"), "myreg:5000/x:1");
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(full("quay.io/a/b"), "quay.io/a/b:latest");
        assert_eq!(full("Registry.Example/a"), "Registry.Example/a:latest");
        assert_eq!(full("[::1]:5000/a:t"), "[::1]:5000/a:t");
        let d = format!("x@sha256:{HEX}");
        let r = Reference::parse(&d).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(&*format!("sha256:{HEX}")));
        assert_eq!(r.familiar(), d);
        assert_eq!(r.full(), format!("docker.io/library/x@sha256:{HEX}"));
        let both = Reference::parse(&format!("x:1@sha256:{HEX}")).unwrap();
        assert_eq!(both.familiar(), format!("x:1@sha256:{HEX}"));
        assert!(Reference::parse_named("busybox").unwrap().is_name_only());
        assert_eq!(r.with_tag("2").unwrap().familiar(), "x:2");
    }

    #[test]
    fn separators_in_path_components() {
        for ok in ["a.b", "a_b", "a__b", "a-b", "a---b", "a0.b1-c_d"] {
            assert!(Reference::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a..b", "a___b", "-a", "a-", "a.", "_a", "a/", "/a", "a//b", "a b", "a$",
        ] {
            let e = Reference::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid reference format"), "{bad}: {e}");
        }
    }

    #[test]
    fn accepted_names_read_back_from_their_full_form() {
        // Found by fuzzing (fuzz/fuzz_targets/image_reference.rs): 243
        // bytes that normalised past 255 characters were accepted, and the
        // stored `docker.io/library/…` form then failed to parse back.
        let found: &[u8] = b"hoindex.dochhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhksex.dockexx.dilgoc.rkex.dockksex.diilgocx.dockexx.dcksex.d.iilgoc.rkex.0ockksex.diilgoc.rkex.docksex.docker.iodocksex";
        let s = std::str::from_utf8(found).unwrap();
        assert!(Reference::parse_named(s).is_err());
        let pinned = format!("localhost:5000/x/y@sha256:{HEX}");
        for s in ["busybox", "a/b:1", &pinned] {
            let r = Reference::parse_named(s).unwrap();
            assert_eq!(Reference::parse_named(&r.full()).unwrap(), r);
        }
    }

    #[test]
    fn invalid_references() {
        let e = Reference::parse("Busybox").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        let e = Reference::parse("user/Busybox").unwrap_err().to_string();
        assert!(e.contains("must be lowercase"), "{e}");
        for bad in [
            "",
            ":tag",
            "a:",
            "a:-x",
            "a@sha256:abc",
            "a@sha256",
            "a:t@",
            "bad host:5/x",
            "h:p/x",
        ] {
            let e = Reference::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid reference format"), "{bad:?}: {e}");
        }
        let e = Reference::parse(HEX).unwrap_err().to_string();
        assert!(
            e.contains("cannot specify 64-byte hexadecimal strings"),
            "{e}"
        );
        assert!(Reference::parse(&"a".repeat(256)).is_err());
        // The limit counts the normalised name, `docker.io/library/` included.
        assert!(Reference::parse(&"a".repeat(237)).is_ok());
        let e = Reference::parse(&"a".repeat(238)).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid reference format: repository name must not be more than 255 characters"
        );
        assert!(Reference::parse(&format!("localhost:5000/{}", "a".repeat(240))).is_ok());
        assert!(Reference::parse(&format!("a:{}", "t".repeat(129))).is_err());
        assert!(Reference::parse(&format!("a:{}", "t".repeat(128))).is_ok());
    }
}
