//! Manifests: Docker schema 2 and OCI manifests, manifest lists and OCI
//! indexes (oci-spec's types read both), platform selection as Docker
//! does it, and refusals of what berth does not pull (schema 1, foreign
//! layers).

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType, Platform};

use crate::error::{Error, ErrorKind, Result};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// What a pull asks for, in preference order.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A fetched manifest.
#[derive(Clone, Debug)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

/// Docker's refusal of schema 1 images.
pub fn schema1_error(reference: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of {reference} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/"
        ),
    )
}

/// Parse manifest bytes, by the Content-Type the registry sent (or the
/// document's own `mediaType`).
pub fn parse(bytes: &[u8], content_type: &str, reference: &str) -> Result<Manifest> {
    let probe: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::protocol(format!("invalid manifest: {e}")))?;
    let media = probe
        .get("mediaType")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(content_type.split(';').next().unwrap_or("").trim())
        .to_string();
    let schema = probe
        .get("schemaVersion")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    if schema == 1 || media == SCHEMA1 || media == SCHEMA1_SIGNED {
        return Err(schema1_error(reference));
    }
    let is_index = media == DOCKER_LIST || media == OCI_INDEX || probe.get("manifests").is_some();
    if is_index {
        let i: ImageIndex = serde_json::from_slice(bytes)
            .map_err(|e| Error::protocol(format!("invalid manifest list: {e}")))?;
        return Ok(Manifest::Index(Box::new(i)));
    }
    let m: ImageManifest = serde_json::from_slice(bytes)
        .map_err(|e| Error::protocol(format!("invalid manifest: {e}")))?;
    Ok(Manifest::Image(Box::new(m)))
}

/// The media type as a string (oci-spec keeps Docker's as `Other`).
pub fn media_str(m: &MediaType) -> String {
    m.to_string()
}

/// The platform berth runs containers for: linux and the host's CPU in
/// Go's names (with the variant Docker assumes).
pub fn host_platform() -> (String, String, String) {
    let (arch, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", ""),
        "aarch64" => ("arm64", "v8"),
        "arm" => ("arm", "v7"),
        "x86" => ("386", ""),
        "powerpc64" => ("ppc64le", ""),
        "s390x" => ("s390x", ""),
        "riscv64" => ("riscv64", ""),
        other => (other, ""),
    };
    ("linux".into(), arch.into(), variant.into())
}

/// `os/arch[/variant]` of `--platform`, normalised as containerd does.
pub fn parse_platform(s: &str) -> Result<(String, String, String)> {
    let parts: Vec<&str> = s.split('/').collect();
    let norm = |a: &str| match a {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        "armhf" => "arm".to_string(),
        "i386" => "386".to_string(),
        other => other.to_ascii_lowercase(),
    };
    match parts.as_slice() {
        [os] if !os.is_empty() => {
            let (_, a, v) = host_platform();
            Ok((os.to_ascii_lowercase(), a, v))
        }
        [os, arch] => {
            let a = norm(arch);
            let v = if a == "arm64" {
                "v8".into()
            } else if a == "arm" {
                "v7".into()
            } else {
                String::new()
            };
            Ok((os.to_ascii_lowercase(), a, v))
        }
        [os, arch, variant] => Ok((
            os.to_ascii_lowercase(),
            norm(arch),
            variant.to_ascii_lowercase(),
        )),
        _ => Err(Error::new(
            ErrorKind::Other,
            format!("invalid platform: \"{s}\""),
        )),
    }
}

fn arch_str(p: &Platform) -> String {
    p.architecture().to_string()
}

fn os_str(p: &Platform) -> String {
    p.os().to_string()
}

/// The entry of an index for (os, arch, variant): the exact variant
/// first, then one without a variant (arm64's `v8` is its default), then
/// lower arm variants, newest first. None: Docker's "no matching manifest".
pub fn select<'a>(idx: &'a ImageIndex, want: &(String, String, String)) -> Option<&'a Descriptor> {
    let (os, arch, variant) = want;
    let candidates: Vec<(&Descriptor, String)> = idx
        .manifests()
        .iter()
        .filter_map(|d| {
            let p = d.platform().as_ref()?;
            (os_str(p) == *os && arch_str(p) == *arch).then(|| {
                (
                    d,
                    p.variant().clone().unwrap_or_default().to_ascii_lowercase(),
                )
            })
        })
        .collect();
    let default_variant =
        |v: &str| v.is_empty() || (arch == "arm64" && v == "v8") || (arch == "amd64" && v == "v1");
    if let Some((d, _)) = candidates
        .iter()
        .find(|(_, v)| v == variant || (default_variant(v) && default_variant(variant)))
    {
        return Some(d);
    }
    if arch == "arm"
        && let Some(want_n) = variant
            .strip_prefix('v')
            .and_then(|n| n.parse::<u32>().ok())
    {
        let mut lower: Vec<(&Descriptor, u32)> = candidates
            .iter()
            .filter_map(|(d, v)| Some((*d, v.strip_prefix('v')?.parse::<u32>().ok()?)))
            .filter(|(_, n)| *n <= want_n)
            .collect();
        lower.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        return lower.first().map(|(d, _)| *d);
    }
    None
}

/// Docker's message when no entry fits.
pub fn no_match(want: &(String, String, String)) -> Error {
    let (os, arch, variant) = want;
    let p = if variant.is_empty() || (arch == "arm64" && variant == "v8") {
        format!("{os}/{arch}")
    } else {
        format!("{os}/{arch}/{variant}")
    };
    Error::new(
        ErrorKind::NotFound,
        format!("no matching manifest for {p} in the manifest list entries"),
    )
}

/// How a layer is compressed, from its media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

/// Check a layer descriptor: distributable, a known compression.
pub fn layer_compression(d: &Descriptor) -> Result<LayerCompression> {
    let m = media_str(d.media_type());
    if m == DOCKER_LAYER_FOREIGN
        || m.contains("nondistributable")
        || d.urls().as_ref().is_some_and(|u| !u.is_empty())
    {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "layer {} is a foreign (non-distributable) layer ({m}): berth does not fetch layers from outside the registry",
                d.digest()
            ),
        ));
    }
    Ok(if m.ends_with("+zstd") {
        LayerCompression::Zstd
    } else if m.ends_with("+gzip") || m.ends_with(".gzip") {
        LayerCompression::Gzip
    } else if m.ends_with(".tar") || m == OCI_LAYER {
        LayerCompression::None
    } else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("layer {} has an unknown media type {m}", d.digest()),
        ));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ImageIndex {
        serde_json::from_str(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"platform":{"architecture":"amd64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v6"}}]}"#,
        )
        .unwrap()
    }

    fn pick(want: &str) -> Option<String> {
        let i = index();
        select(&i, &parse_platform(want).unwrap()).map(|d| d.digest().to_string()[7..8].to_string())
    }

    #[test]
    fn platforms() {
        assert_eq!(pick("linux/amd64").as_deref(), Some("1"));
        assert_eq!(pick("linux/x86_64").as_deref(), Some("1"));
        assert_eq!(pick("linux/arm64").as_deref(), Some("2"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("2"));
        // arm/v7 falls back to v6, not the other way round.
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("3"));
        assert_eq!(pick("linux/arm/v5"), None);
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(
            no_match(&parse_platform("linux/amd64").unwrap()).message,
            "no matching manifest for linux/amd64 in the manifest list entries"
        );
        assert!(parse_platform("a/b/c/d").is_err());
    }

    #[test]
    fn parse_kinds() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}]}"#;
        let Manifest::Image(im) = parse(m, "", "r").unwrap() else {
            panic!()
        };
        assert_eq!(
            layer_compression(&im.layers()[0]).unwrap(),
            LayerCompression::Gzip
        );
        assert!(matches!(
            parse(br#"{"schemaVersion":2,"manifests":[]}"#, OCI_INDEX, "r").unwrap(),
            Manifest::Index(_)
        ));
        let e = parse(
            br#"{"schemaVersion":1,"fsLayers":[]}"#,
            "",
            "docker.io/library/old:1",
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.starts_with("Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of docker.io/library/old:1"));
        assert_eq!(
            parse(b"garbage", "", "r").unwrap_err().kind,
            ErrorKind::Protocol
        );
        let foreign: Descriptor = serde_json::from_str(
            r#"{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","urls":["https://x"]}"#,
        )
        .unwrap();
        assert_eq!(
            layer_compression(&foreign).unwrap_err().kind,
            ErrorKind::Unsupported
        );
    }
}
