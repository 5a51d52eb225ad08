//! What the compose commands do against a daemon, through the typed client:
//! networks and volumes made first, services started level by level of
//! the dependency order (in parallel inside a level), each converged to
//! its scale — a container whose config hash matches is kept, others are
//! recreated —, dependencies waited for as their condition says; `down` in
//! reverse. Progress lines go to stderr in docker compose's words.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::{Duration, Instant};

use berth_api::container::{Status, Summary};
use berth_api::filters::Filters;
use berth_api::query;
use berth_client::Client;

use crate::api::{self, container_name, image_of};
use crate::labels;
use crate::model::{Condition, Project, Service};
use crate::plan;

/// A failure of a compose command, in docker compose's words.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

impl From<berth_client::Error> for Failure {
    fn from(e: berth_client::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        Failure(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// One progress line: ` Container p-web-1  Started`.
pub fn progress(kind: &str, name: &str, what: &str) {
    eprintln!(" {kind} {name}  {what}");
}

#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    pub services: Vec<String>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub no_deps: bool,
    pub no_start: bool,
    pub remove_orphans: bool,
    pub scale: BTreeMap<String, u32>,
    /// `--wait`: until running (healthy where there is a healthcheck).
    pub wait: bool,
    pub timeout: Option<i64>,
    /// When services with a build section are built.
    pub build: crate::build::BuildPolicy,
}

#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    pub volumes: bool,
    /// `local` or `all`.
    pub rmi: Option<String>,
    pub remove_orphans: bool,
    pub timeout: Option<i64>,
}

pub struct Compose<'a> {
    pub client: &'a Client,
    pub project: Project,
}

fn label_filter(pairs: &[(&str, &str)]) -> Filters {
    let mut f = Filters::new();
    for (k, v) in pairs {
        f.add("label", &format!("{k}={v}"));
    }
    f
}

/// The container number a summary carries.
pub fn number_of(c: &Summary) -> u32 {
    c.labels
        .get(labels::CONTAINER_NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub fn label_of<'s>(c: &'s Summary, key: &str) -> &'s str {
    c.labels.get(key).map(String::as_str).unwrap_or("")
}

pub fn name_of(c: &Summary) -> String {
    c.names
        .first()
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_else(|| c.id.chars().take(12).collect())
}

impl<'a> Compose<'a> {
    pub fn new(client: &'a Client, project: Project) -> Compose<'a> {
        Compose { client, project }
    }

    /// The project's containers (`all`: stopped ones too), sorted by
    /// service then number; one-off (`run`) ones only if `oneoff`.
    pub fn containers(
        &self,
        all: bool,
        service: Option<&str>,
        oneoff: bool,
    ) -> Result<Vec<Summary>> {
        let mut pairs = vec![(labels::PROJECT, self.project.name.as_str())];
        if let Some(s) = service {
            pairs.push((labels::SERVICE, s));
        }
        if !oneoff {
            pairs.push((labels::ONEOFF, "False"));
        }
        let mut v = self.client.container_list(&query::container::List {
            all,
            filters: label_filter(&pairs),
            ..Default::default()
        })?;
        v.sort_by(|a, b| {
            label_of(a, labels::SERVICE)
                .cmp(label_of(b, labels::SERVICE))
                .then(number_of(a).cmp(&number_of(b)))
        });
        Ok(v)
    }

    /// The services named (all when none), checked.
    fn select(&self, names: &[String]) -> Result<Vec<String>> {
        for n in names {
            if !self.project.services.contains_key(n) {
                return Err(Failure(format!("no such service: {n}")));
            }
        }
        Ok(if names.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            names.to_vec()
        })
    }

    /// The name of a service's first container (for `service:` references).
    fn first_container(&self, service: &str) -> String {
        self.containers(true, Some(service), false)
            .ok()
            .and_then(|v| v.first().map(name_of))
            .or_else(|| {
                self.project
                    .services
                    .get(service)
                    .map(|s| container_name(&self.project, s, 1))
            })
            .unwrap_or_else(|| service.to_string())
    }

    pub fn ensure_networks(&self, used: &BTreeSet<String>) -> Result<()> {
        for (key, n) in &self.project.networks {
            if !used.contains(key) {
                continue;
            }
            match self.client.network_inspect(&n.name, &Default::default()) {
                Ok(_) => continue,
                Err(e) if !e.is_not_found() => return Err(e.into()),
                Err(_) => {}
            }
            if n.external {
                return Err(Failure(format!(
                    "network {} declared as external, but could not be found",
                    n.name
                )));
            }
            progress("Network", &n.name, "Creating");
            self.client
                .network_create(&api::network_request(&self.project, key, n))?;
            progress("Network", &n.name, "Created");
        }
        Ok(())
    }

    pub fn ensure_volumes(&self) -> Result<()> {
        for (key, v) in &self.project.volumes {
            match self.client.volume_inspect(&v.name) {
                Ok(_) => continue,
                Err(e) if !e.is_not_found() => return Err(e.into()),
                Err(_) => {}
            }
            if v.external {
                return Err(Failure(format!("external volume \"{}\" not found", v.name)));
            }
            progress("Volume", &format!("\"{}\"", v.name), "Creating");
            self.client
                .volume_create(&api::volume_request(&self.project, key, v))?;
            progress("Volume", &format!("\"{}\"", v.name), "Created");
        }
        Ok(())
    }

    pub fn pull_image(&self, image: &str, service: &str) -> Result<()> {
        progress("Image", image, "Pulling");
        let (repo, tag) = split_tag(image);
        let mut resp = self.client.image_pull(
            &query::image::Create {
                from_image: repo,
                tag,
                ..Default::default()
            },
            None,
        )?;
        let mut body = String::new();
        resp.read_to_string(&mut body)
            .map_err(|e| Failure(e.to_string()))?;
        for line in body.lines() {
            if let Ok(m) = serde_json::from_str::<berth_api::jsonmessage::JsonMessage>(line)
                && let Some(e) = m.error.as_deref()
            {
                progress("Image", image, "Error");
                return Err(Failure(format!(
                    "{service} Error response from daemon: {e}"
                )));
            }
        }
        progress("Image", image, "Pulled");
        Ok(())
    }

    /// `up`: everything the selected services need, converged.
    pub fn up(&self, o: &UpOptions) -> Result<Vec<String>> {
        let selected = self.select(&o.services)?;
        let levels = if o.no_deps {
            vec![selected.clone()]
        } else {
            plan::order(&self.project, &selected)?
        };
        let wanted: BTreeSet<String> = levels.iter().flatten().cloned().collect();
        let mut used_nets = BTreeSet::new();
        for n in &wanted {
            let s = &self.project.services[n];
            if s.network_mode.is_none() {
                used_nets.extend(s.networks.keys().cloned());
            }
        }
        // Images first, as docker compose does: a failed build or pull
        // leaves no network or volume behind.
        for n in &wanted {
            let s = &self.project.services[n];
            self.ensure_image(s, o.build)?;
        }
        self.ensure_networks(&used_nets)?;
        self.ensure_volumes()?;
        if o.remove_orphans {
            self.remove_orphans(o.timeout)?;
        }
        let mut started = Vec::new();
        for level in levels {
            let results: Vec<Result<Vec<String>>> = std::thread::scope(|sc| {
                let hs: Vec<_> = level
                    .iter()
                    .map(|name| sc.spawn(move || self.converge(name, o)))
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Failure("panicked".into()))))
                    .collect()
            });
            for r in results {
                started.extend(r?);
            }
        }
        if o.wait {
            for name in &started {
                self.wait_healthy_or_running(name)?;
            }
        }
        Ok(started)
    }

    /// One service: its dependencies' conditions, then `scale` containers
    /// with the current config (kept, started or recreated).
    fn converge(&self, name: &str, o: &UpOptions) -> Result<Vec<String>> {
        let s = &self.project.services[name];
        let scale = o.scale.get(name).copied().unwrap_or(s.scale);
        if !o.no_deps {
            self.wait_dependencies(s)?;
        }
        let hash = plan::config_hash(s);
        let existing = self.containers(true, Some(name), false)?;
        let mut out = Vec::new();
        for c in existing
            .iter()
            .filter(|c| number_of(c) > scale || number_of(c) == 0)
        {
            let n = name_of(c);
            self.stop_remove(&c.id, &n, o.timeout, false)?;
        }
        for number in 1..=scale {
            let current = existing.iter().find(|c| number_of(c) == number);
            let cname = match current {
                Some(c) => {
                    let same = label_of(c, labels::CONFIG_HASH) == hash;
                    let n = name_of(c);
                    if (same && !o.force_recreate) || o.no_recreate {
                        if c.state != Status::Running && !o.no_start {
                            progress("Container", &n, "Starting");
                            self.client.container_start(&c.id)?;
                            progress("Container", &n, "Started");
                        } else {
                            progress("Container", &n, "Running");
                        }
                        out.push(n);
                        continue;
                    }
                    progress("Container", &n, "Recreate");
                    self.stop_remove(&c.id, &n, o.timeout, false)?;
                    progress("Container", &n, "Recreated");
                    n
                }
                None => container_name(&self.project, s, number),
            };
            if current.is_none() {
                progress("Container", &cname, "Creating");
            }
            let resolve = |svc: &str| self.first_container(svc);
            let req = api::create_request(&self.project, s, number, &cname, false, &hash, &resolve);
            let created = self.client.container_create(
                &query::container::Create {
                    name: Some(cname.clone()),
                    ..Default::default()
                },
                &req,
            )?;
            if current.is_none() {
                progress("Container", &cname, "Created");
            }
            if !o.no_start {
                progress("Container", &cname, "Starting");
                self.client.container_start(&created.id)?;
                progress("Container", &cname, "Started");
            }
            out.push(cname);
        }
        Ok(out)
    }

    /// Wait for each dependency's condition (docker compose's messages).
    fn wait_dependencies(&self, s: &Service) -> Result<()> {
        for (dep, d) in &s.depends_on {
            // The loader refused a required dependency that is not there;
            // an optional one that is not there is not waited for.
            if !self.project.services.contains_key(dep) {
                continue;
            }
            let containers = self.containers(true, Some(dep), false)?;
            for c in containers {
                let n = name_of(&c);
                match d.condition {
                    Condition::ServiceStarted => {}
                    Condition::ServiceHealthy => {
                        progress("Container", &n, "Waiting");
                        self.wait_health(&c.id, &n)?;
                        progress("Container", &n, "Healthy");
                    }
                    Condition::ServiceCompletedSuccessfully => {
                        progress("Container", &n, "Waiting");
                        let code = self.wait_exit(&c.id)?;
                        if code != 0 {
                            return Err(Failure(format!(
                                "service \"{dep}\" didn't complete successfully: exit {code}"
                            )));
                        }
                        progress("Container", &n, "Exited");
                    }
                }
            }
        }
        Ok(())
    }

    /// Wait until the container is not running: its exit code.
    pub fn wait_exit(&self, id: &str) -> Result<i64> {
        let mut r = self
            .client
            .container_wait(id, berth_api::container::WaitCondition::NotRunning)?;
        let mut body = String::new();
        r.read_to_string(&mut body)
            .map_err(|e| Failure(e.to_string()))?;
        let w: berth_api::container::WaitResponse =
            serde_json::from_str(body.trim()).map_err(|e| Failure(format!("wait: {e}")))?;
        Ok(w.status_code)
    }

    fn wait_health(&self, id: &str, name: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let i = self.client.container_inspect(id, false)?;
            let st = &i.state;
            let health = st.health.as_ref().map(|h| h.status.as_str().to_string());
            match health.as_deref() {
                Some("healthy") => return Ok(()),
                Some("unhealthy") => {
                    return Err(Failure(format!(
                        "dependency failed to start: container {name} is unhealthy"
                    )));
                }
                None => {
                    return Err(Failure(format!(
                        "dependency failed to start: container {name} has no healthcheck configured"
                    )));
                }
                _ => {}
            }
            if !st.running {
                return Err(Failure(format!(
                    "dependency failed to start: container {name} exited ({})",
                    st.exit_code
                )));
            }
            if Instant::now() > deadline {
                return Err(Failure(format!(
                    "dependency failed to start: container {name} is not healthy in time"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_healthy_or_running(&self, name: &str) -> Result<()> {
        let i = self.client.container_inspect(name, false)?;
        if i.config.healthcheck.as_ref().is_some_and(|h| {
            h.test
                .as_ref()
                .is_some_and(|t| t.first().map(String::as_str) != Some("NONE"))
        }) {
            progress("Container", name, "Waiting");
            self.wait_health(name, name)?;
            progress("Container", name, "Healthy");
        } else if !i.state.running {
            return Err(Failure(format!("container {name} exited")));
        }
        Ok(())
    }

    fn stop_remove(&self, id: &str, name: &str, timeout: Option<i64>, volumes: bool) -> Result<()> {
        progress("Container", name, "Stopping");
        match self.client.container_stop(
            id,
            &query::container::Stop {
                t: timeout,
                ..Default::default()
            },
        ) {
            Err(e) if e.status() != Some(304) && !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
        progress("Container", name, "Stopped");
        progress("Container", name, "Removing");
        match self.client.container_remove(
            id,
            &query::container::Remove {
                force: true,
                volumes,
                link: false,
            },
        ) {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
        progress("Container", name, "Removed");
        Ok(())
    }

    /// Containers of services the project no longer has.
    fn orphans(&self) -> Result<Vec<Summary>> {
        Ok(self
            .containers(true, None, false)?
            .into_iter()
            .filter(|c| {
                !self
                    .project
                    .services
                    .contains_key(label_of(c, labels::SERVICE))
            })
            .collect())
    }

    fn remove_orphans(&self, timeout: Option<i64>) -> Result<()> {
        for c in self.orphans()? {
            self.stop_remove(&c.id, &name_of(&c), timeout, false)?;
        }
        Ok(())
    }

    /// `down`: containers (dependents first), then networks, then (`-v`)
    /// volumes and (`--rmi`) images.
    pub fn down(&self, o: &DownOptions) -> Result<()> {
        let all = self.containers(true, None, true)?;
        let order = plan::order(&self.project, &[]).unwrap_or_default();
        let rank: BTreeMap<String, usize> = order
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.iter().map(move |n| (n.clone(), i)))
            .collect();
        let mut by_level: BTreeMap<usize, Vec<&Summary>> = BTreeMap::new();
        let known: Vec<&Summary> = all
            .iter()
            .filter(|c| {
                o.remove_orphans
                    || rank.contains_key(label_of(c, labels::SERVICE))
                    || label_of(c, labels::ONEOFF) == "True"
            })
            .collect();
        for c in known {
            let lvl = rank
                .get(label_of(c, labels::SERVICE))
                .copied()
                .unwrap_or(usize::MAX);
            by_level.entry(lvl).or_default().push(c);
        }
        let mut errors = Vec::new();
        for (_, cs) in by_level.into_iter().rev() {
            let rs: Vec<Result<()>> = std::thread::scope(|sc| {
                let hs: Vec<_> = cs
                    .iter()
                    .map(|c| {
                        sc.spawn(move || self.stop_remove(&c.id, &name_of(c), o.timeout, true))
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Failure("panicked".into()))))
                    .collect()
            });
            errors.extend(rs.into_iter().filter_map(|r| r.err()));
        }
        let orphans = if o.remove_orphans {
            Vec::new()
        } else {
            self.orphans()?
        };
        if !orphans.is_empty() {
            eprintln!(
                "WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                orphans.iter().map(name_of).collect::<Vec<_>>().join(", ")
            );
        }
        for n in self.project.networks.values().filter(|n| !n.external) {
            if self
                .client
                .network_inspect(&n.name, &Default::default())
                .is_err()
            {
                continue;
            }
            progress("Network", &n.name, "Removing");
            match self.client.network_remove(&n.name) {
                Ok(()) => progress("Network", &n.name, "Removed"),
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(e.into()),
            }
        }
        if o.volumes {
            for v in self.project.volumes.values().filter(|v| !v.external) {
                if self.client.volume_inspect(&v.name).is_err() {
                    continue;
                }
                progress("Volume", &v.name, "Removing");
                match self.client.volume_remove(&v.name, false) {
                    Ok(()) => progress("Volume", &v.name, "Removed"),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => errors.push(e.into()),
                }
            }
        }
        if let Some(which) = &o.rmi {
            let mut images = BTreeSet::new();
            for s in self.project.services.values() {
                if which == "all" || s.image.is_none() {
                    images.insert(image_of(&self.project, s));
                }
            }
            for i in images {
                if self.client.image_inspect(&i).is_err() {
                    continue;
                }
                progress("Image", &i, "Removing");
                match self.client.image_remove(&i, &Default::default()) {
                    Ok(_) => progress("Image", &i, "Removed"),
                    Err(e) => errors.push(e.into()),
                }
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The containers of the named services (all when none), running ones
    /// only unless `all`.
    pub fn service_containers(&self, services: &[String], all: bool) -> Result<Vec<Summary>> {
        let selected = self.select(services)?;
        Ok(self
            .containers(all, None, false)?
            .into_iter()
            .filter(|c| selected.iter().any(|s| s == label_of(c, labels::SERVICE)))
            .collect())
    }

    /// `stop`, `start`, `restart`, `kill`, `pause`, `unpause`, `rm` over
    /// the services' containers (dependents first for stopping ones).
    pub fn each(
        &self,
        services: &[String],
        action: Action,
        timeout: Option<i64>,
        signal: &str,
    ) -> Result<()> {
        let all = !matches!(action, Action::Pause | Action::Kill);
        let mut cs = self.service_containers(services, all || matches!(action, Action::Start))?;
        let order = if matches!(action, Action::Start) {
            plan::order(&self.project, &self.select(services)?)?
        } else {
            plan::order(&self.project, &self.select(services)?).unwrap_or_default()
        };
        let rank: BTreeMap<String, usize> = order
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.iter().map(move |n| (n.clone(), i)))
            .collect();
        let rank_of = |c: &Summary| rank.get(label_of(c, labels::SERVICE)).copied().unwrap_or(0);
        match action {
            // dependencies first
            Action::Start | Action::Restart | Action::Unpause => cs.sort_by_key(|c| rank_of(c)),
            // dependents first
            Action::Stop | Action::Pause | Action::Kill | Action::Remove { .. } => {
                cs.sort_by_key(|c| std::cmp::Reverse(rank_of(c)))
            }
        }
        for c in cs {
            let n = name_of(&c);
            let (doing, done) = action.words();
            match action {
                Action::Remove { .. } if c.state == Status::Running => continue,
                Action::Start if c.state == Status::Running => continue,
                // only running, unpaused ones can be paused, only paused ones unpaused
                Action::Pause if c.state == Status::Paused => continue,
                Action::Unpause if c.state != Status::Paused => continue,
                _ => {}
            }
            progress("Container", &n, doing);
            let stop_q = query::container::Stop {
                t: timeout,
                ..Default::default()
            };
            let r = match action {
                Action::Stop => self.client.container_stop(&c.id, &stop_q),
                Action::Start => self.client.container_start(&c.id),
                Action::Restart => self.client.container_restart(&c.id, &stop_q),
                Action::Kill => self.client.container_kill(&c.id, signal),
                Action::Pause => self.client.container_pause(&c.id),
                Action::Unpause => self.client.container_unpause(&c.id),
                Action::Remove { volumes } => self.client.container_remove(
                    &c.id,
                    &query::container::Remove {
                        force: false,
                        volumes,
                        link: false,
                    },
                ),
            };
            match r {
                Err(e) if e.status() != Some(304) => return Err(e.into()),
                _ => progress("Container", &n, done),
            }
        }
        Ok(())
    }

    /// `run`: a one-off container of `service` (its dependencies started
    /// first unless `no_deps`), created, not started: the caller attaches.
    pub fn create_oneoff(&self, service: &str, o: &RunOptions) -> Result<String> {
        let mut s = self
            .project
            .services
            .get(service)
            .cloned()
            .ok_or_else(|| Failure(format!("no such service: {service}")))?;
        // Its dependencies (not the whole project: an empty list is all).
        let deps: Vec<String> = s
            .depends_on
            .iter()
            .filter(|(d, dep)| dep.required || self.project.services.contains_key(*d))
            .map(|(d, _)| d.clone())
            .collect();
        self.ensure_image(&s, o.build)?;
        if !o.no_deps && !deps.is_empty() {
            self.up(&UpOptions {
                services: deps,
                build: o.build,
                ..Default::default()
            })?;
        }
        // The one-off's own networks (its dependencies' may be others).
        let used: BTreeSet<String> = if s.network_mode.is_none() {
            s.networks.keys().cloned().collect()
        } else {
            BTreeSet::new()
        };
        self.ensure_networks(&used)?;
        self.ensure_volumes()?;
        if let Some(cmd) = &o.command {
            s.command = Some(cmd.clone());
        }
        if let Some(ep) = &o.entrypoint {
            s.entrypoint = Some(ep.clone());
        }
        for e in &o.env {
            let (k, v) = e
                .split_once('=')
                .map(|(k, v)| (k, Some(v.to_string())))
                .unwrap_or((e, None));
            s.environment.insert(k.to_string(), v);
        }
        if !o.service_ports {
            s.ports.clear();
        }
        s.restart = None;
        if let Some(u) = &o.user {
            s.user = Some(u.clone());
        }
        if let Some(w) = &o.workdir {
            s.working_dir = Some(w.clone());
        }
        s.tty = o.tty;
        s.stdin_open = o.interactive;
        let slug: String = berth_hex_slug();
        let name = o
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}-run-{slug}", self.project.name, service));
        let hash = plan::config_hash(&s);
        let resolve = |svc: &str| self.first_container(svc);
        let mut req = api::create_request(&self.project, &s, 1, &name, true, &hash, &resolve);
        if let Some(hc) = req.host_config.as_mut() {
            hc.auto_remove = o.rm;
        }
        req.config.attach_stdin = o.interactive;
        req.config.attach_stdout = true;
        req.config.attach_stderr = true;
        req.config.stdin_once = o.interactive;
        let created = self.client.container_create(
            &query::container::Create {
                name: Some(name.clone()),
                ..Default::default()
            },
            &req,
        )?;
        Ok(created.id)
    }
}

/// A random 12-hex slug (one-off container names).
fn berth_hex_slug() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("random bytes");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub name: Option<String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub rm: bool,
    pub no_deps: bool,
    pub service_ports: bool,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub build: crate::build::BuildPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Stop,
    Start,
    Restart,
    Kill,
    Pause,
    Unpause,
    /// `rm` (`volumes`: `-v`, the containers' anonymous volumes too).
    Remove {
        volumes: bool,
    },
}

impl Action {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Action::Stop => ("Stopping", "Stopped"),
            Action::Start => ("Starting", "Started"),
            Action::Restart => ("Restarting", "Started"),
            Action::Kill => ("Killing", "Killed"),
            Action::Pause => ("Pausing", "Paused"),
            Action::Unpause => ("Unpausing", "Unpaused"),
            Action::Remove { .. } => ("Removing", "Removed"),
        }
    }
}

/// `image[:tag]` → (repository, tag); a digest stays in the repository.
pub fn split_tag(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(split_tag("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split_tag("busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(
            split_tag("127.0.0.1:5000/x"),
            ("127.0.0.1:5000/x".into(), "latest".into())
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/x:t"),
            ("127.0.0.1:5000/x".into(), "t".into())
        );
    }
}
