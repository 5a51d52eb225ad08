//! The docker CLI's own records: what its `--format` templates see. The
//! docker CLI renders lists (`ps`, `images`, `history`, `network ls`,
//! `stats`, `system df`) through "format contexts" whose methods become the
//! template's fields, and `{{json .}}` marshals them as an object of strings
//! with sorted keys. These structs are those contexts, their fields in that
//! order; a client fills them from the API's records (berth's CLI does) and
//! serialises them for its template engine.
//!
//! Also here: what `version` and `info` templates see (Go field names where
//! they differ from the JSON keys), and which fields of Docker's Go types are
//! pointers (a `null` there prints `<nil>` in a template, while a nil slice
//! or map prints `[]` / `map[]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::system::{Info, PlatformName, Version};

/// A row of `docker ps` (`ContainerContext`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerContext {
    /// The command, quoted (`"sh -c 'echo…"`).
    pub command: String,
    /// Go's time.Time String() of the creation time, local zone.
    pub created_at: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub image: String,
    /// `k=v` pairs, sorted by key, comma separated.
    pub labels: String,
    /// How many mounts are local volumes.
    pub local_volumes: String,
    /// Volume names or bind sources, comma separated.
    pub mounts: String,
    pub names: String,
    /// Network names, sorted, comma separated.
    pub networks: String,
    /// The image's OCI platform; `null` when the daemon does not say.
    pub platform: Option<serde_json::Value>,
    /// Published and exposed ports (`0.0.0.0:80->80/tcp, 443/tcp`).
    pub ports: String,
    /// "5 minutes ago".
    pub running_for: String,
    /// "1.2kB (virtual 4.3MB)".
    pub size: String,
    pub state: String,
    pub status: String,
}

/// A row of `docker images` (`imageContext`): one per repository and tag.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageContext {
    pub containers: String,
    pub created_at: String,
    pub created_since: String,
    pub digest: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub repository: String,
    pub shared_size: String,
    pub size: String,
    pub tag: String,
    pub unique_size: String,
    pub virtual_size: String,
}

/// A row of `docker history` (`historyContext`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HistoryContext {
    pub comment: String,
    pub created_at: String,
    pub created_by: String,
    pub created_since: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub size: String,
}

/// A row of `docker network ls` (`networkContext`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkContext {
    pub created_at: String,
    pub driver: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "IPv4")]
    pub ipv4: String,
    #[serde(rename = "IPv6")]
    pub ipv6: String,
    pub internal: String,
    pub labels: String,
    pub name: String,
    pub scope: String,
}

/// A row of `docker stats` (`statsContext`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct StatsContext {
    #[serde(rename = "BlockIO")]
    pub block_io: String,
    #[serde(rename = "CPUPerc")]
    pub cpu_perc: String,
    /// The name or id the user gave.
    pub container: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub mem_perc: String,
    pub mem_usage: String,
    pub name: String,
    #[serde(rename = "NetIO")]
    pub net_io: String,
    #[serde(rename = "PIDs")]
    pub pids: String,
}

/// A row of `docker system df` (`diskUsageContext`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DiskUsageContext {
    pub active: String,
    pub reclaimable: String,
    pub size: String,
    pub total_count: String,
    #[serde(rename = "Type")]
    pub kind: String,
}

/// A row of `docker search` (`searchContext`). docker 28 has no
/// `IsAutomated` any more. `{{json .}}` marshals `IsOfficial` as
/// `"true"`/`"false"`, while `{{.IsOfficial}}` prints `[OK]` or nothing: a
/// client fills one context for each form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SearchContext {
    /// Newlines and carriage returns as spaces; cut to 45 runes with `…`
    /// unless `--no-trunc`.
    pub description: String,
    pub is_official: String,
    pub name: String,
    pub star_count: String,
}

/// The docker CLI's `config.json` (`configfile.ConfigFile`), its fields in
/// the order docker writes them (tab-indented, maps sorted by key). In
/// `auths` the `auth` member is base64 of `user:password`; a client decodes
/// it into `username`/`password` on reading and encodes it back on writing
/// (with `username`, `password` and `serveraddress` left out), as docker
/// does. Keys docker does not know are kept in `extra` (docker drops them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigFile {
    pub auths: BTreeMap<String, crate::auth::AuthConfig>,
    #[serde(rename = "HttpHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, String>,
    #[serde(rename = "psFormat", skip_serializing_if = "String::is_empty")]
    pub ps_format: String,
    #[serde(rename = "imagesFormat", skip_serializing_if = "String::is_empty")]
    pub images_format: String,
    #[serde(rename = "networksFormat", skip_serializing_if = "String::is_empty")]
    pub networks_format: String,
    #[serde(rename = "pluginsFormat", skip_serializing_if = "String::is_empty")]
    pub plugins_format: String,
    #[serde(rename = "volumesFormat", skip_serializing_if = "String::is_empty")]
    pub volumes_format: String,
    #[serde(rename = "statsFormat", skip_serializing_if = "String::is_empty")]
    pub stats_format: String,
    #[serde(rename = "detachKeys", skip_serializing_if = "String::is_empty")]
    pub detach_keys: String,
    /// The credential helper for every registry (`docker-credential-<name>`).
    #[serde(rename = "credsStore", skip_serializing_if = "String::is_empty")]
    pub creds_store: String,
    /// Registry → credential helper, before `credsStore`.
    #[serde(rename = "credHelpers", skip_serializing_if = "BTreeMap::is_empty")]
    pub cred_helpers: BTreeMap<String, String>,
    #[serde(
        rename = "serviceInspectFormat",
        skip_serializing_if = "String::is_empty"
    )]
    pub service_inspect_format: String,
    #[serde(rename = "servicesFormat", skip_serializing_if = "String::is_empty")]
    pub services_format: String,
    #[serde(rename = "tasksFormat", skip_serializing_if = "String::is_empty")]
    pub tasks_format: String,
    #[serde(rename = "secretFormat", skip_serializing_if = "String::is_empty")]
    pub secret_format: String,
    #[serde(rename = "configFormat", skip_serializing_if = "String::is_empty")]
    pub config_format: String,
    #[serde(rename = "nodesFormat", skip_serializing_if = "String::is_empty")]
    pub nodes_format: String,
    #[serde(rename = "pruneFilters", skip_serializing_if = "Vec::is_empty")]
    pub prune_filters: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxies: BTreeMap<String, ProxyConfig>,
    #[serde(rename = "currentContext", skip_serializing_if = "String::is_empty")]
    pub current_context: String,
    #[serde(rename = "cliPluginsExtraDirs", skip_serializing_if = "Vec::is_empty")]
    pub cli_plugins_extra_dirs: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub experimental: String,
    #[serde(flatten)]
    pub extra: crate::Extra,
}

/// A `proxies` entry of `config.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    #[serde(rename = "httpProxy", skip_serializing_if = "String::is_empty")]
    pub http_proxy: String,
    #[serde(rename = "httpsProxy", skip_serializing_if = "String::is_empty")]
    pub https_proxy: String,
    #[serde(rename = "noProxy", skip_serializing_if = "String::is_empty")]
    pub no_proxy: String,
    #[serde(rename = "ftpProxy", skip_serializing_if = "String::is_empty")]
    pub ftp_proxy: String,
    #[serde(rename = "allProxy", skip_serializing_if = "String::is_empty")]
    pub all_proxy: String,
}

/// The docker CLI's default registry: Docker Hub's `config.json` key and
/// login address.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// The rows of `docker system df`, as its `Type` column names them.
pub mod disk_usage_kind {
    pub const IMAGES: &str = "Images";
    pub const CONTAINERS: &str = "Containers";
    pub const LOCAL_VOLUMES: &str = "Local Volumes";
    pub const BUILD_CACHE: &str = "Build Cache";
}

/// The client half of `docker version` (`clientVersion`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ClientVersion {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformName>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "DefaultAPIVersion", skip_serializing_if = "String::is_empty")]
    pub default_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub build_time: String,
    pub context: String,
}

/// What `docker version --format` sees: the client, and the daemon's
/// `/version` (null when it could not be reached).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VersionInfo {
    pub client: ClientVersion,
    pub server: Option<Version>,
}

/// The client part of `docker info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ClientInfo {
    pub version: String,
    pub context: String,
    pub debug: bool,
}

/// What `docker info --format` sees: the daemon's `/info` and the client.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct InfoContext {
    #[serde(flatten)]
    pub info: Info,
    pub client_info: ClientInfo,
}

/// JSON keys whose Go field name differs, as (key, Go name): templates
/// address fields by their Go names (`{{.Server.APIVersion}}`).
pub const GO_FIELD_NAMES: &[(&str, &str)] = &[("ApiVersion", "APIVersion")];

/// Fields that Docker's Go types hold as pointers: a `null` there is a nil
/// pointer (`<nil>` in a template); elsewhere a `null` is a nil slice or map.
pub const GO_POINTER_FIELDS: &[&str] = &[
    "Health",
    "Healthcheck",
    "Init",
    "PidsLimit",
    "OomKillDisable",
    "StopTimeout",
    "Error",
    "ExitCode",
    "Pid",
    "Platform",
    "Metadata",
    "BlkioWeight",
    "MemorySwappiness",
    "State",
    "Config",
    "HostConfig",
    "NetworkSettings",
    "GraphDriver",
    "RootFS",
    "ContainerConfig",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_marshal_with_sorted_keys() {
        let v = serde_json::to_value(ContainerContext::default()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(v["Platform"].is_null());
        for v in [
            serde_json::to_value(ImageContext::default()).unwrap(),
            serde_json::to_value(HistoryContext::default()).unwrap(),
            serde_json::to_value(NetworkContext::default()).unwrap(),
            serde_json::to_value(StatsContext::default()).unwrap(),
            serde_json::to_value(DiskUsageContext::default()).unwrap(),
            serde_json::to_value(SearchContext::default()).unwrap(),
        ] {
            let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
        }
        let s = serde_json::to_string(&StatsContext::default()).unwrap();
        assert!(s.starts_with(r#"{"BlockIO":"","CPUPerc":"""#), "{s}");
    }

    #[test]
    fn info_context_flattens() {
        let v = serde_json::to_value(InfoContext::default()).unwrap();
        assert_eq!(v["OSType"], "");
        assert_eq!(v["ClientInfo"]["Debug"], false);
    }

    #[test]
    fn config_file_in_dockers_order() {
        let mut c: ConfigFile = serde_json::from_str(
            r#"{"credsStore":"pass","zzz":1,"auths":{"b":{"auth":"eA=="},"a":{}},"psFormat":"x"}"#,
        )
        .unwrap();
        assert_eq!(c.creds_store, "pass");
        c.cred_helpers.insert("r".into(), "h".into());
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(
            s,
            r#"{"auths":{"a":{},"b":{"auth":"eA=="}},"psFormat":"x","credsStore":"pass","credHelpers":{"r":"h"},"zzz":1}"#
        );
        assert_eq!(
            serde_json::to_string(&ConfigFile::default()).unwrap(),
            r#"{"auths":{}}"#
        );
    }
}

/// The docker CLI's `volume.Volume` and `volume.UsageData` as its `inspect`
/// JSON and templates name their fields (Go's order).
pub mod volume_fields {
    pub const CREATED_AT: &str = "CreatedAt";
    pub const DRIVER: &str = "Driver";
    pub const LABELS: &str = "Labels";
    pub const MOUNTPOINT: &str = "Mountpoint";
    pub const NAME: &str = "Name";
    pub const OPTIONS: &str = "Options";
    pub const SCOPE: &str = "Scope";
    pub const STATUS: &str = "Status";
    pub const USAGE_DATA: &str = "UsageData";
    pub const REF_COUNT: &str = "RefCount";
    pub const SIZE: &str = "Size";
    pub const CLUSTER_VOLUME: &str = "ClusterVolume";
}

/// A row of `docker volume ls` (the docker CLI's `volumeContext`), its
/// fields in the order `{{json .}}` shows them.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeContext {
    pub availability: String,
    pub driver: String,
    pub group: String,
    /// `k=v` pairs, comma separated (docker: in Go map order; here sorted).
    pub labels: String,
    /// Containers using it; `N/A` unless the daemon sent usage data.
    pub links: String,
    pub mountpoint: String,
    pub name: String,
    pub scope: String,
    pub size: String,
    pub status: String,
}
