//! One method per endpoint, typed with berth-api's records. Streaming
//! endpoints return the [`Response`] to read from; hijacking ones a
//! [`Hijacked`] connection.

use std::io::Read;

use berth_api::query::{self, QueryBuilder};
use berth_api::{auth, container, exec, image, network, system, volume};

use crate::{Body, Client, Hijacked, Response, Result};

fn none() -> Option<&'static ()> {
    None
}

/// `X-Registry-Auth`: base64url of the credentials' JSON.
pub fn encode_auth(a: &auth::AuthConfig) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE
        .encode(serde_json::to_vec(a).expect("auth serialises"))
}

impl Client {
    // ---------------------------------------------------------------- system

    pub fn ping(&self) -> Result<()> {
        self.request("GET", "/_ping", &QueryBuilder::new(), Body::None, &[])
            .map(|_| ())
    }

    pub fn version(&self) -> Result<system::Version> {
        self.get("/version", &QueryBuilder::new())
    }

    pub fn info(&self) -> Result<system::Info> {
        self.get("/info", &QueryBuilder::new())
    }

    /// `GET /system/check`, or `POST /system/check?repair=1` (berth's own).
    pub fn system_check(&self, repair: bool) -> Result<system::CheckReport> {
        let q = query::system::Check { repair }.to_query();
        if repair {
            self.post("/system/check", &q, none())
        } else {
            self.get("/system/check", &q)
        }
    }

    pub fn disk_usage(&self) -> Result<system::DiskUsage> {
        self.get("/system/df", &QueryBuilder::new())
    }

    /// `GET /events`: read messages with [`Response::next_json`].
    pub fn events(&self, q: &query::system::Events) -> Result<Response> {
        self.request("GET", "/events", &q.to_query(), Body::None, &[])
    }

    pub fn login(&self, a: &auth::AuthConfig) -> Result<auth::AuthResponse> {
        self.post("/auth", &QueryBuilder::new(), Some(a))
    }

    pub fn build_prune(
        &self,
        q: &query::system::BuildPrune,
    ) -> Result<berth_api::build::PruneReport> {
        self.post("/build/prune", &q.to_query(), none())
    }

    // ------------------------------------------------------------ containers

    pub fn container_create(
        &self,
        q: &query::container::Create,
        body: &container::CreateRequest,
    ) -> Result<container::CreateResponse> {
        self.post("/containers/create", &q.to_query(), Some(body))
    }

    pub fn container_list(&self, q: &query::container::List) -> Result<Vec<container::Summary>> {
        self.get("/containers/json", &q.to_query())
    }

    pub fn container_inspect(&self, id: &str, size: bool) -> Result<container::InspectResponse> {
        self.get(
            &format!("/containers/{id}/json"),
            &query::container::Inspect { size }.to_query(),
        )
    }

    /// The raw inspect JSON (for `--format` templates over fields berth
    /// does not model).
    pub fn container_inspect_raw(&self, id: &str, size: bool) -> Result<serde_json::Value> {
        self.get(
            &format!("/containers/{id}/json"),
            &query::container::Inspect { size }.to_query(),
        )
    }

    /// The inspect answer's bytes as the daemon sent them: the docker CLI
    /// prints them re-indented, keeping the daemon's key order and escapes.
    pub fn container_inspect_bytes(&self, id: &str, size: bool) -> Result<Vec<u8>> {
        self.request(
            "GET",
            &format!("/containers/{id}/json"),
            &query::container::Inspect { size }.to_query(),
            Body::None,
            &[],
        )?
        .bytes()
    }

    pub fn container_start(&self, id: &str) -> Result<()> {
        self.post_empty(&format!("/containers/{id}/start"), &QueryBuilder::new())
            .map(|_| ())
    }

    pub fn container_stop(&self, id: &str, q: &query::container::Stop) -> Result<()> {
        self.post_empty(&format!("/containers/{id}/stop"), &q.to_query())
            .map(|_| ())
    }

    pub fn container_restart(&self, id: &str, q: &query::container::Stop) -> Result<()> {
        self.post_empty(&format!("/containers/{id}/restart"), &q.to_query())
            .map(|_| ())
    }

    pub fn container_kill(&self, id: &str, signal: &str) -> Result<()> {
        let q = query::container::Kill {
            signal: signal.to_string(),
        };
        self.post_empty(&format!("/containers/{id}/kill"), &q.to_query())
            .map(|_| ())
    }

    pub fn container_pause(&self, id: &str) -> Result<()> {
        self.post_empty(&format!("/containers/{id}/pause"), &QueryBuilder::new())
            .map(|_| ())
    }

    pub fn container_unpause(&self, id: &str) -> Result<()> {
        self.post_empty(&format!("/containers/{id}/unpause"), &QueryBuilder::new())
            .map(|_| ())
    }

    pub fn container_rename(&self, id: &str, name: &str) -> Result<()> {
        let q = query::container::Rename { name: name.into() };
        self.post_empty(&format!("/containers/{id}/rename"), &q.to_query())
            .map(|_| ())
    }

    pub fn container_remove(&self, id: &str, q: &query::container::Remove) -> Result<()> {
        self.request(
            "DELETE",
            &format!("/containers/{id}"),
            &q.to_query(),
            Body::None,
            &[],
        )
        .map(|_| ())
    }

    /// `POST …/wait`: the answer comes when the condition holds; the
    /// headers arrive at once, so the returned response can be read later.
    pub fn container_wait(
        &self,
        id: &str,
        condition: container::WaitCondition,
    ) -> Result<Response> {
        let q = query::container::Wait {
            condition: condition.as_str().into(),
        };
        self.post_empty(&format!("/containers/{id}/wait"), &q.to_query())
    }

    pub fn container_attach(&self, id: &str, q: &query::container::Attach) -> Result<Hijacked> {
        self.hijack(&format!("/containers/{id}/attach"), &q.to_query(), none())
    }

    pub fn container_resize(&self, id: &str, h: u32, w: u32) -> Result<()> {
        let q = query::container::Resize {
            h: Some(h),
            w: Some(w),
        };
        self.post_empty(&format!("/containers/{id}/resize"), &q.to_query())
            .map(|_| ())
    }

    pub fn container_logs(&self, id: &str, q: &query::container::Logs) -> Result<Response> {
        self.request(
            "GET",
            &format!("/containers/{id}/logs"),
            &q.to_query(),
            Body::None,
            &[],
        )
    }

    pub fn container_top(&self, id: &str, ps_args: &str) -> Result<container::TopResponse> {
        let q = query::container::Top {
            ps_args: ps_args.into(),
        };
        self.get(&format!("/containers/{id}/top"), &q.to_query())
    }

    pub fn container_update(
        &self,
        id: &str,
        body: &container::UpdateConfig,
    ) -> Result<container::UpdateResponse> {
        self.post(
            &format!("/containers/{id}/update"),
            &QueryBuilder::new(),
            Some(body),
        )
    }

    pub fn container_changes(&self, id: &str) -> Result<Vec<container::FilesystemChange>> {
        self.get(&format!("/containers/{id}/changes"), &QueryBuilder::new())
    }

    pub fn container_export(&self, id: &str) -> Result<Response> {
        self.request(
            "GET",
            &format!("/containers/{id}/export"),
            &QueryBuilder::new(),
            Body::None,
            &[],
        )
    }

    pub fn container_stats(&self, id: &str, q: &query::container::Stats) -> Result<Response> {
        self.request(
            "GET",
            &format!("/containers/{id}/stats"),
            &q.to_query(),
            Body::None,
            &[],
        )
    }

    pub fn container_prune(&self, q: &query::container::Prune) -> Result<container::PruneReport> {
        self.post("/containers/prune", &q.to_query(), none())
    }

    /// `HEAD …/archive`: the path's stat.
    pub fn container_stat_path(&self, id: &str, path: &str) -> Result<container::PathStat> {
        let q = query::container::Archive {
            path: path.into(),
            ..Default::default()
        };
        let r = self.request(
            "HEAD",
            &format!("/containers/{id}/archive"),
            &q.to_query(),
            Body::None,
            &[],
        )?;
        decode_path_stat(&r)
    }

    /// `GET …/archive`: the stat and the tar stream.
    pub fn container_get_archive(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(container::PathStat, Response)> {
        let q = query::container::Archive {
            path: path.into(),
            ..Default::default()
        };
        let r = self.request(
            "GET",
            &format!("/containers/{id}/archive"),
            &q.to_query(),
            Body::None,
            &[],
        )?;
        Ok((decode_path_stat(&r)?, r))
    }

    /// `PUT …/archive`: unpack a tar into the directory `q.path`.
    pub fn container_put_archive(
        &self,
        id: &str,
        q: &query::container::Archive,
        tar: &mut dyn Read,
    ) -> Result<()> {
        self.request(
            "PUT",
            &format!("/containers/{id}/archive"),
            &q.to_query(),
            Body::Stream(tar, berth_api::system::media::TAR),
            &[],
        )
        .map(|_| ())
    }

    pub fn commit(
        &self,
        q: &query::container::Commit,
        config: Option<&container::Config>,
    ) -> Result<berth_api::IdResponse> {
        self.post("/commit", &q.to_query(), config)
    }

    // ------------------------------------------------------------------ exec

    pub fn exec_create(
        &self,
        container: &str,
        body: &exec::CreateRequest,
    ) -> Result<berth_api::IdResponse> {
        self.post(
            &format!("/containers/{container}/exec"),
            &QueryBuilder::new(),
            Some(body),
        )
    }

    /// Detached start: returns once started.
    pub fn exec_start_detached(&self, id: &str, body: &exec::StartRequest) -> Result<()> {
        let data = serde_json::to_vec(body).expect("serialises");
        self.request(
            "POST",
            &format!("/exec/{id}/start"),
            &QueryBuilder::new(),
            Body::Json(&data),
            &[],
        )
        .map(|_| ())
    }

    pub fn exec_start(&self, id: &str, body: &exec::StartRequest) -> Result<Hijacked> {
        self.hijack(
            &format!("/exec/{id}/start"),
            &QueryBuilder::new(),
            Some(body),
        )
    }

    pub fn exec_inspect(&self, id: &str) -> Result<exec::InspectResponse> {
        self.get(&format!("/exec/{id}/json"), &QueryBuilder::new())
    }

    pub fn exec_resize(&self, id: &str, h: u32, w: u32) -> Result<()> {
        let q = query::container::Resize {
            h: Some(h),
            w: Some(w),
        };
        self.post_empty(&format!("/exec/{id}/resize"), &q.to_query())
            .map(|_| ())
    }

    // ---------------------------------------------------------------- images

    pub fn image_list(&self, q: &query::image::List) -> Result<Vec<image::Summary>> {
        self.get("/images/json", &q.to_query())
    }

    pub fn image_inspect(&self, name: &str) -> Result<image::InspectResponse> {
        self.get(&format!("/images/{name}/json"), &QueryBuilder::new())
    }

    pub fn image_inspect_raw(&self, name: &str) -> Result<serde_json::Value> {
        self.get(&format!("/images/{name}/json"), &QueryBuilder::new())
    }

    /// As [`Client::container_inspect_bytes`].
    pub fn image_inspect_bytes(&self, name: &str) -> Result<Vec<u8>> {
        self.request(
            "GET",
            &format!("/images/{name}/json"),
            &QueryBuilder::new(),
            Body::None,
            &[],
        )?
        .bytes()
    }

    pub fn image_history(&self, name: &str) -> Result<Vec<image::HistoryItem>> {
        self.get(&format!("/images/{name}/history"), &QueryBuilder::new())
    }

    pub fn image_tag(&self, name: &str, q: &query::image::Tag) -> Result<()> {
        self.post_empty(&format!("/images/{name}/tag"), &q.to_query())
            .map(|_| ())
    }

    pub fn image_remove(
        &self,
        name: &str,
        q: &query::image::Remove,
    ) -> Result<Vec<image::DeleteResponse>> {
        self.request(
            "DELETE",
            &format!("/images/{name}"),
            &q.to_query(),
            Body::None,
            &[],
        )?
        .json()
    }

    pub fn image_prune(&self, q: &query::container::Prune) -> Result<image::PruneReport> {
        self.post("/images/prune", &q.to_query(), none())
    }

    /// `POST /images/load`: a JSON message stream.
    pub fn image_load(&self, q: &query::image::Load, tar: &mut dyn Read) -> Result<Response> {
        self.request(
            "POST",
            "/images/load",
            &q.to_query(),
            Body::Stream(tar, berth_api::system::media::TAR),
            &[],
        )
    }

    /// `POST /build`: the context tar in, the build's message stream out.
    /// `registry_config` is `X-Registry-Config`'s map of credentials.
    pub fn image_build(
        &self,
        q: &query::build::Build,
        registry_config: &auth::RegistryConfig,
        context: &mut dyn Read,
    ) -> Result<Response> {
        use base64::Engine as _;
        let rc = base64::engine::general_purpose::URL_SAFE
            .encode(serde_json::to_vec(registry_config).expect("auth serialises"));
        self.request(
            "POST",
            "/build",
            &q.to_query(),
            Body::Stream(context, berth_api::system::media::TAR),
            &[(berth_api::system::headers::REGISTRY_CONFIG, &rc)],
        )
    }

    /// `GET /images/get`: the archive stream.
    pub fn image_save(&self, q: &query::image::Save) -> Result<Response> {
        self.request("GET", "/images/get", &q.to_query(), Body::None, &[])
    }

    /// `POST /images/create` with `fromSrc=-`: import a tar.
    pub fn image_import(&self, q: &query::image::Create, tar: &mut dyn Read) -> Result<Response> {
        self.request(
            "POST",
            "/images/create",
            &q.to_query(),
            Body::Stream(tar, berth_api::system::media::TAR),
            &[],
        )
    }

    /// `POST /images/create` with `fromImage`: a pull's message stream.
    pub fn image_pull(
        &self,
        q: &query::image::Create,
        auth: Option<&auth::AuthConfig>,
    ) -> Result<Response> {
        let a = encode_auth(auth.unwrap_or(&auth::AuthConfig::default()));
        self.request(
            "POST",
            "/images/create",
            &q.to_query(),
            Body::None,
            &[(berth_api::system::headers::REGISTRY_AUTH, &a)],
        )
    }

    pub fn image_push(
        &self,
        name: &str,
        q: &query::image::Push,
        auth: Option<&auth::AuthConfig>,
    ) -> Result<Response> {
        let a = encode_auth(auth.unwrap_or(&auth::AuthConfig::default()));
        self.request(
            "POST",
            &format!("/images/{name}/push"),
            &q.to_query(),
            Body::None,
            &[(berth_api::system::headers::REGISTRY_AUTH, &a)],
        )
    }

    pub fn image_search(
        &self,
        q: &query::image::Search,
        auth: Option<&auth::AuthConfig>,
    ) -> Result<Vec<image::SearchResult>> {
        let a = encode_auth(auth.unwrap_or(&auth::AuthConfig::default()));
        self.request(
            "GET",
            "/images/search",
            &q.to_query(),
            Body::None,
            &[(berth_api::system::headers::REGISTRY_AUTH, &a)],
        )?
        .json()
    }

    // -------------------------------------------------------------- networks

    pub fn network_list(&self, q: &query::network::List) -> Result<Vec<network::Inspect>> {
        self.get("/networks", &q.to_query())
    }

    pub fn network_inspect(
        &self,
        id: &str,
        q: &query::network::Inspect,
    ) -> Result<network::Inspect> {
        self.get(&format!("/networks/{id}"), &q.to_query())
    }

    pub fn network_inspect_raw(&self, id: &str) -> Result<serde_json::Value> {
        self.get(&format!("/networks/{id}"), &QueryBuilder::new())
    }

    /// As [`Client::container_inspect_bytes`].
    pub fn network_inspect_bytes(&self, id: &str, q: &query::network::Inspect) -> Result<Vec<u8>> {
        self.request(
            "GET",
            &format!("/networks/{id}"),
            &q.to_query(),
            Body::None,
            &[],
        )?
        .bytes()
    }

    pub fn network_create(&self, body: &network::CreateRequest) -> Result<network::CreateResponse> {
        self.post("/networks/create", &QueryBuilder::new(), Some(body))
    }

    pub fn network_remove(&self, id: &str) -> Result<()> {
        self.request(
            "DELETE",
            &format!("/networks/{id}"),
            &QueryBuilder::new(),
            Body::None,
            &[],
        )
        .map(|_| ())
    }

    pub fn network_connect(&self, id: &str, body: &network::ConnectRequest) -> Result<()> {
        let data = serde_json::to_vec(body).expect("serialises");
        self.request(
            "POST",
            &format!("/networks/{id}/connect"),
            &QueryBuilder::new(),
            Body::Json(&data),
            &[],
        )
        .map(|_| ())
    }

    pub fn network_disconnect(&self, id: &str, body: &network::DisconnectRequest) -> Result<()> {
        let data = serde_json::to_vec(body).expect("serialises");
        self.request(
            "POST",
            &format!("/networks/{id}/disconnect"),
            &QueryBuilder::new(),
            Body::Json(&data),
            &[],
        )
        .map(|_| ())
    }

    pub fn network_prune(&self, q: &query::container::Prune) -> Result<network::PruneReport> {
        self.post("/networks/prune", &q.to_query(), none())
    }

    // --------------------------------------------------------------- volumes

    pub fn volume_list(&self, q: &query::volume::List) -> Result<volume::ListResponse> {
        self.get("/volumes", &q.to_query())
    }

    pub fn volume_inspect(&self, name: &str) -> Result<volume::Volume> {
        self.get(&format!("/volumes/{name}"), &QueryBuilder::new())
    }

    pub fn volume_inspect_raw(&self, name: &str) -> Result<serde_json::Value> {
        self.get(&format!("/volumes/{name}"), &QueryBuilder::new())
    }

    /// As [`Client::container_inspect_bytes`].
    pub fn volume_inspect_bytes(&self, name: &str) -> Result<Vec<u8>> {
        self.request(
            "GET",
            &format!("/volumes/{name}"),
            &QueryBuilder::new(),
            Body::None,
            &[],
        )?
        .bytes()
    }

    pub fn volume_create(&self, body: &volume::CreateRequest) -> Result<volume::Volume> {
        self.post("/volumes/create", &QueryBuilder::new(), Some(body))
    }

    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let q = query::volume::Remove { force };
        self.request(
            "DELETE",
            &format!("/volumes/{name}"),
            &q.to_query(),
            Body::None,
            &[],
        )
        .map(|_| ())
    }

    pub fn volume_prune(&self, q: &query::container::Prune) -> Result<volume::PruneReport> {
        self.post("/volumes/prune", &q.to_query(), none())
    }
}

fn decode_path_stat(r: &Response) -> Result<container::PathStat> {
    use base64::Engine as _;
    let h = r
        .header(berth_api::system::headers::PATH_STAT)
        .ok_or_else(|| crate::Error::Decode("no path stat in the daemon's answer".into()))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h.trim())
        .map_err(|e| crate::Error::Decode(format!("path stat: {e}")))?;
    serde_json::from_slice(&raw).map_err(|e| crate::Error::Decode(format!("path stat: {e}")))
}
