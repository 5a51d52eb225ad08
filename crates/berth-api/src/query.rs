//! Query strings: parsing as dockerd reads them (repeated keys, Docker's
//! booleans, `filters`), encoding as the Go client writes them
//! (url.QueryEscape), and one typed struct per endpoint's parameters.

use crate::filters::{FilterError, Filters};

/// A parsed query string (keys may repeat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query(pub Vec<(String, String)>);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A number that is not one, in Go's strconv words.
    #[error("strconv.ParseInt: parsing {1:?}: invalid syntax")]
    Number(String, String),
    #[error(transparent)]
    Filters(#[from] FilterError),
}

/// dockerd's boolValue: "", 0, no, false, none (any case) are false.
pub fn docker_bool(v: &str) -> bool {
    !matches!(
        v.to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(q.map(form_pairs).unwrap_or_default())
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn bool(&self, k: &str) -> bool {
        self.get(k).is_some_and(docker_bool)
    }
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

/// Percent-decoding of a query component (`+` is a space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's url.QueryEscape.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A query string being built by a client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryBuilder(Vec<(String, String)>);

impl QueryBuilder {
    pub fn new() -> QueryBuilder {
        QueryBuilder::default()
    }
    pub fn add(mut self, k: &str, v: impl Into<String>) -> QueryBuilder {
        self.0.push((k.to_string(), v.into()));
        self
    }
    pub fn push(&mut self, k: &str, v: impl Into<String>) {
        self.0.push((k.to_string(), v.into()));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `?a=1&b=2`, or "" when empty.
    pub fn encode(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect();
        format!("?{}", parts.join("&"))
    }
}

/// One parameter's type: how it is read from a query and written into one.
pub trait Param: Sized {
    fn read(q: &Query, key: &str) -> Result<Self, QueryError>;
    fn write(&self, key: &str, b: &mut QueryBuilder);
}

impl Param for bool {
    fn read(q: &Query, key: &str) -> Result<Self, QueryError> {
        Ok(q.bool(key))
    }
    fn write(&self, key: &str, b: &mut QueryBuilder) {
        if *self {
            b.push(key, "1");
        }
    }
}

/// A boolean whose absence means something else than false (`stream`
/// defaults to true, `pause` of commit too).
impl Param for Option<bool> {
    fn read(q: &Query, key: &str) -> Result<Self, QueryError> {
        Ok(q.get(key).map(docker_bool))
    }
    fn write(&self, key: &str, b: &mut QueryBuilder) {
        if let Some(v) = self {
            b.push(key, if *v { "1" } else { "0" });
        }
    }
}

impl Param for String {
    fn read(q: &Query, key: &str) -> Result<Self, QueryError> {
        Ok(q.get(key).unwrap_or_default().to_string())
    }
    fn write(&self, key: &str, b: &mut QueryBuilder) {
        if !self.is_empty() {
            b.push(key, self.clone());
        }
    }
}

impl Param for Option<String> {
    fn read(q: &Query, key: &str) -> Result<Self, QueryError> {
        Ok(q.get(key).map(String::from))
    }
    fn write(&self, key: &str, b: &mut QueryBuilder) {
        if let Some(v) = self {
            b.push(key, v.clone());
        }
    }
}

macro_rules! int_param {
    ($t:ty) => {
        impl Param for Option<$t> {
            fn read(q: &Query, key: &str) -> Result<Self, QueryError> {
                match q.get(key).map(str::trim) {
                    None | Some("") => Ok(None),
                    Some(v) => v
                        .parse()
                        .map(Some)
                        .map_err(|_| QueryError::Number(key.into(), v.into())),
                }
            }
            fn write(&self, key: &str, b: &mut QueryBuilder) {
                if let Some(v) = self {
                    b.push(key, v.to_string());
                }
            }
        }
    };
}
int_param!(i64);
int_param!(u64);
int_param!(u32);

impl Param for Vec<String> {
    fn read(q: &Query, key: &str) -> Result<Self, QueryError> {
        Ok(q.all(key))
    }
    fn write(&self, key: &str, b: &mut QueryBuilder) {
        for v in self {
            b.push(key, v.clone());
        }
    }
}

impl Param for Filters {
    fn read(q: &Query, key: &str) -> Result<Self, QueryError> {
        Ok(Filters::parse(q.get(key).unwrap_or(""))?)
    }
    fn write(&self, key: &str, b: &mut QueryBuilder) {
        // As the Go client: written when it names a key, even one with no
        // values (which still counts when the daemon validates the keys).
        if self.keys().next().is_some() {
            b.push(key, self.to_json());
        }
    }
}

/// A struct of an endpoint's query parameters, each `field: Type = "key"`.
macro_rules! params {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty = $key:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }

        impl $name {
            /// The parameter names.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            pub fn from_query(q: &$crate::query::Query) -> Result<Self, $crate::query::QueryError> {
                Ok(Self { $($field: $crate::query::Param::read(q, $key)?),* })
            }

            pub fn parse(q: Option<&str>) -> Result<Self, $crate::query::QueryError> {
                Self::from_query(&$crate::query::Query::parse(q))
            }

            pub fn to_query(&self) -> $crate::query::QueryBuilder {
                let mut b = $crate::query::QueryBuilder::new();
                $($crate::query::Param::write(&self.$field, $key, &mut b);)*
                b
            }
        }
    };
}

/// Query parameters of the container endpoints.
pub mod container {
    use crate::filters::Filters;

    params!(/// `POST /containers/create`
        Create { name: Option<String> = "name", platform: String = "platform" });
    params!(/// `GET /containers/json`
        List { all: bool = "all", limit: Option<i64> = "limit", size: bool = "size", filters: Filters = "filters" });
    params!(/// `GET /containers/{id}/json`
        Inspect { size: bool = "size" });
    params!(/// `POST /containers/{id}/stop` and `/restart`
        Stop { t: Option<i64> = "t", signal: String = "signal" });
    params!(/// `POST /containers/{id}/kill`
        Kill { signal: String = "signal" });
    params!(/// `POST /containers/{id}/rename`
        Rename { name: String = "name" });
    params!(/// `POST /containers/{id}/wait`
        Wait { condition: String = "condition" });
    params!(/// `POST /containers/{id}/attach`
    Attach {
        stream: bool = "stream", stdin: bool = "stdin", stdout: bool = "stdout",
        stderr: bool = "stderr", logs: bool = "logs", detach_keys: Option<String> = "detachKeys",
    });
    params!(/// `POST /containers/{id}/resize`, `/exec/{id}/resize`
        Resize { h: Option<u32> = "h", w: Option<u32> = "w" });
    params!(/// `GET /containers/{id}/logs`
    Logs {
        follow: bool = "follow", stdout: bool = "stdout", stderr: bool = "stderr",
        since: String = "since", until: String = "until", timestamps: bool = "timestamps",
        tail: String = "tail", details: bool = "details",
    });
    params!(/// `GET /containers/{id}/top`
        Top { ps_args: String = "ps_args" });
    params!(/// `DELETE /containers/{id}`
        Remove { force: bool = "force", volumes: bool = "v", link: bool = "link" });
    params!(/// `GET /containers/{id}/stats`
        Stats { stream: Option<bool> = "stream", one_shot: bool = "one-shot" });
    params!(/// `GET|HEAD|PUT /containers/{id}/archive`
    Archive {
        path: String = "path", no_overwrite_dir_non_dir: bool = "noOverwriteDirNonDir",
        copy_uid_gid: bool = "copyUIDGID",
    });
    params!(/// `POST /containers/prune`, `/networks/prune`, `/images/prune`, `/volumes/prune`
        Prune { filters: Filters = "filters" });
    params!(/// `POST /commit`
    Commit {
        container: String = "container", repo: String = "repo", tag: String = "tag",
        comment: String = "comment", author: String = "author", pause: Option<bool> = "pause",
        changes: Vec<String> = "changes",
    });
}

/// Query parameters of the image endpoints.
pub mod image {
    use crate::filters::Filters;

    params!(/// `GET /images/json`
    List {
        all: bool = "all", filters: Filters = "filters", digests: bool = "digests",
        shared_size: bool = "shared-size", manifests: bool = "manifests",
    });
    params!(/// `POST /images/create` (pull and import)
    Create {
        from_image: String = "fromImage", from_src: String = "fromSrc", repo: String = "repo",
        tag: String = "tag", message: String = "message", platform: String = "platform",
        changes: Vec<String> = "changes",
    });
    params!(/// `POST /images/{name}/push`
        Push { tag: String = "tag", platform: String = "platform" });
    params!(/// `POST /images/{name}/tag`
        Tag { repo: String = "repo", tag: String = "tag" });
    params!(/// `DELETE /images/{name}`
        Remove { force: bool = "force", noprune: bool = "noprune" });
    params!(/// `GET /images/get`
        Save { names: Vec<String> = "names", platform: String = "platform" });
    params!(/// `POST /images/load`
        Load { quiet: bool = "quiet", platform: String = "platform" });
    params!(/// `GET /images/search`
        Search { term: String = "term", limit: Option<i64> = "limit", filters: Filters = "filters" });
}

/// Query parameters of the network endpoints.
pub mod network {
    use crate::filters::Filters;

    params!(/// `GET /networks`
        List { filters: Filters = "filters" });
    params!(/// `GET /networks/{id}`
        Inspect { verbose: bool = "verbose", scope: String = "scope" });
}

/// Query parameters of the volume endpoints.
pub mod volume {
    use crate::filters::Filters;

    params!(/// `GET /volumes`
        List { filters: Filters = "filters" });
    params!(/// `DELETE /volumes/{name}`
        Remove { force: bool = "force" });
}

/// Query parameters of the classic builder (`POST /build`, `/build/cancel`).
pub mod build {
    params!(/// `POST /build`; `buildargs`, `labels`, `cachefrom` and `ulimits` are JSON strings
    Build {
        tags: Vec<String> = "t", dockerfile: String = "dockerfile", quiet: bool = "q",
        nocache: bool = "nocache", rm: Option<bool> = "rm", forcerm: bool = "forcerm",
        pull: bool = "pull", buildargs: String = "buildargs", labels: String = "labels",
        cachefrom: String = "cachefrom", target: String = "target", platform: String = "platform",
        networkmode: String = "networkmode", extrahosts: Vec<String> = "extrahosts",
        shmsize: Option<i64> = "shmsize", memory: Option<i64> = "memory",
        memswap: Option<i64> = "memswap", cpushares: Option<i64> = "cpushares",
        cpusetcpus: String = "cpusetcpus", cpusetmems: String = "cpusetmems",
        cpuperiod: Option<i64> = "cpuperiod", cpuquota: Option<i64> = "cpuquota",
        cgroupparent: String = "cgroupparent", ulimits: String = "ulimits",
        squash: bool = "squash", remote: String = "remote", outputs: String = "outputs",
        version: String = "version", session: String = "session", buildid: String = "buildid",
    });
    params!(/// `POST /build/cancel`
        Cancel { id: String = "id" });
}

/// Query parameters of the system endpoints.
pub mod system {
    use crate::filters::Filters;

    params!(/// `GET /events`
        Events { since: String = "since", until: String = "until", filters: Filters = "filters" });
    params!(/// `GET /system/df`
        Df { kinds: Vec<String> = "type" });
    params!(/// `GET|POST /system/check` (berth's, beyond Docker)
        Check { repair: bool = "repair" });
    params!(/// `POST /build/prune`
    BuildPrune {
        all: bool = "all", filters: Filters = "filters", keep_storage: Option<i64> = "keep-storage",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_encode() {
        let q = Query::parse(Some("a=1&b=x%20y&c=&a=2&d=a+b"));
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.all("a"), ["1", "2"]);
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("d"), Some("a b"));
        assert!(!q.bool("c") && q.bool("a"));
        assert!(!docker_bool("False") && docker_bool("True") && !docker_bool("none"));
        assert_eq!(escape("a b/c=d"), "a+b%2Fc%3Dd");
        assert_eq!(unescape("%zz%4"), "%zz%4");
    }

    #[test]
    fn a_filter_key_without_values_survives_the_client() {
        // Found by the api_build_query fuzz target.
        let l = container::List::parse(Some("filters=%7B%22el%22%3A%7B%7D%7D")).unwrap();
        assert_eq!(l.filters.keys().collect::<Vec<_>>(), ["el"]);
        assert_eq!(l.to_query().encode(), "?filters=%7B%22el%22%3A%7B%7D%7D");
        let back = container::List::parse(l.to_query().encode().strip_prefix('?')).unwrap();
        assert_eq!(back, l);
        assert_eq!(container::List::default().to_query().encode(), "");
    }

    #[test]
    fn typed_parameters() {
        let l = container::List::parse(Some(
            "all=1&limit=3&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D",
        ))
        .unwrap();
        assert!(l.all && !l.size);
        assert_eq!(l.limit, Some(3));
        assert!(l.filters.exact("status", "exited"));
        let s = container::Stop::parse(Some("t=x")).unwrap_err();
        assert_eq!(
            s.to_string(),
            "strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        let st = container::Stats::parse(Some("stream=0")).unwrap();
        assert_eq!(st.stream, Some(false));
        let a = container::Attach {
            stream: true,
            stdout: true,
            detach_keys: Some("ctrl-x".into()),
            ..Default::default()
        };
        assert_eq!(
            a.to_query().encode(),
            "?stream=1&stdout=1&detachKeys=ctrl-x"
        );
        let c = image::Create::parse(Some("fromImage=busybox&changes=CMD+x&changes=ENV+a%3Db"))
            .unwrap();
        assert_eq!(c.changes, ["CMD x", "ENV a=b"]);
        assert_eq!(container::Remove::KEYS, ["force", "v", "link"]);
    }
}
