//! Services' `build:` sections made into images through `POST /build`: the
//! context sent as the docker CLI sends it, the image named as docker
//! compose names it (`image:`, else `<project>-<service>`, plus
//! `build.tags`) and labelled with the project and service. The builder's
//! lines go to stderr, as the other progress lines do.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use berth_api::jsonmessage::JsonMessage;
use berth_api::query;
use berth_client::context::{self, Dockerfile};

use crate::api::{COMPOSE_VERSION, image_of};
use crate::engine::{Compose, Failure, Result};
use crate::labels;
use crate::model::Service;

/// `build`'s flags (also what `up --build` passes).
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    /// `--build-arg K=V` (or `K`, from the environment), over the file's.
    pub args: BTreeMap<String, Option<String>>,
}

/// When `up` and `run` build a service's image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildPolicy {
    /// When the image is missing (the default).
    #[default]
    Missing,
    /// Always (`--build`, `pull_policy: build`).
    Always,
    /// Never (`--no-build`): a missing image fails.
    Never,
}

/// The query of a service's build.
fn build_query(
    project: &str,
    s: &Service,
    dockerfile: String,
    o: &BuildOptions,
) -> query::build::Build {
    let b = s.build.clone().unwrap_or_default();
    let mut args = serde_json::Map::new();
    for (k, v) in b.args.iter().chain(o.args.iter()) {
        args.insert(
            k.clone(),
            v.clone()
                .map(serde_json::Value::String)
                .unwrap_or(serde_json::Value::Null),
        );
    }
    let mut labels: BTreeMap<String, String> = b.labels.clone();
    labels.insert(labels::PROJECT.into(), project.into());
    labels.insert(labels::SERVICE.into(), s.name.clone());
    labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
    let mut tags = vec![s.image_name(project)];
    tags.extend(b.tags.iter().cloned());
    query::build::Build {
        tags,
        dockerfile,
        quiet: o.quiet,
        nocache: b.no_cache || o.no_cache,
        pull: b.pull || o.pull,
        rm: Some(true),
        buildargs: serde_json::Value::Object(args).to_string(),
        labels: serde_json::to_string(&labels).expect("labels serialise"),
        cachefrom: serde_json::to_string(&b.cache_from).expect("strings serialise"),
        target: b.target.clone().unwrap_or_default(),
        platform: b.platforms.first().cloned().unwrap_or_default(),
        networkmode: b.network.clone().unwrap_or_default(),
        extrahosts: b.extra_hosts.clone(),
        shmsize: b.shm_size.map(|n| n as i64),
        version: "1".into(),
        ..Default::default()
    }
}

impl Compose<'_> {
    /// `build`: the images of `services` (all when empty) that have a
    /// build section, one after another, in the project's order.
    pub fn build(&self, services: &[String], o: &BuildOptions) -> Result<()> {
        let names = if services.is_empty() {
            self.project.service_names()
        } else {
            services.to_vec()
        };
        for n in &names {
            let s = self
                .project
                .services
                .get(n)
                .ok_or_else(|| Failure(format!("no such service: {n}")))?;
            if s.build.is_some() {
                self.build_service(s, o)?;
            }
        }
        Ok(())
    }

    /// Builds the image of `s`, which has a build section.
    pub fn build_service(&self, s: &Service, o: &BuildOptions) -> Result<()> {
        let b = s
            .build
            .as_ref()
            .ok_or_else(|| Failure(format!("service {:?} has no build section", s.name)))?;
        if b.is_remote() {
            return Err(Failure(format!(
                "service {:?}: remote build contexts ({}) are not supported by berth compose; clone it and give a directory",
                s.name,
                b.context.display()
            )));
        }
        let df = match &b.dockerfile_inline {
            Some(t) => Dockerfile::Text(t.clone().into_bytes()),
            None if b.dockerfile.is_empty() => Dockerfile::Default,
            None => Dockerfile::Path {
                path: b.dockerfile.clone().into(),
                base: b.context.clone(),
            },
        };
        let image = image_of(&self.project, s);
        let failed = |m: &str| Failure(format!("service {:?} failed to build: {m}", s.name));
        eprintln!(" Image {image}  Building");
        let (tar, dockerfile) =
            context::dir_context(&b.context, &df, &[]).map_err(|e| failed(&e.0))?;
        let q = build_query(&self.project.name, s, dockerfile, o);
        let mut body = &tar[..];
        let resp = self
            .client
            .image_build(&q, &Default::default(), &mut body)
            .map_err(|e| failed(&e.to_string()))?;
        for line in BufReader::new(resp).lines() {
            let line = line.map_err(|e| failed(&e.to_string()))?;
            let Ok(m) = serde_json::from_str::<JsonMessage>(&line) else {
                continue;
            };
            if let Some(e) = m.error.as_deref() {
                return Err(failed(e.trim_end()));
            }
            if let Some(text) = &m.stream
                && !o.quiet
            {
                eprint!("{text}");
            }
        }
        eprintln!(" Image {image}  Built");
        Ok(())
    }

    /// The image of `s` is there: built when `s` has a build section and
    /// `policy` says so (by default when missing, or `pull_policy: build`),
    /// else pulled when missing (`pull_policy: always`: pulled anyway).
    pub fn ensure_image(&self, s: &Service, policy: BuildPolicy) -> Result<()> {
        let image = image_of(&self.project, s);
        let present = || self.client.image_inspect(&image).is_ok();
        if s.build.is_some() {
            let build = match policy {
                BuildPolicy::Always => true,
                BuildPolicy::Never => false,
                BuildPolicy::Missing => s.pull_policy.as_deref() == Some("build") || !present(),
            };
            if build {
                return self.build_service(s, &BuildOptions::default());
            }
        }
        match &s.image {
            // a built image that is not built now: it must be there
            None if !present() => Err(Failure(format!(
                "Error response from daemon: No such image: {image}"
            ))),
            Some(_) if s.pull_policy.as_deref() == Some("always") || !present() => {
                self.pull_image(&image, &s.name)
            }
            _ => Ok(()),
        }
    }
}
