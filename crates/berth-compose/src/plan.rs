//! Dependency planning: start order, cycle detection, configuration hash.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};

use crate::{Error, Project, Service};

/// The levels of a topological order of `only` (all enabled services when
/// empty) plus their dependencies: every service of a level depends only on
/// services of earlier levels, so a level's services can start in parallel.
/// Services are sorted by name within a level. Stop in reverse order.
///
/// Naming a disabled service in `only` enables it (and its profiles), as
/// compose does for `docker compose up <svc>`. Errors:
/// * `no such service: x` for an unknown name in `only`;
/// * `service "web" depends on undefined service "db": invalid compose project`;
/// * `service "db" is required by "web" but is disabled. Can be enabled by profiles [dev]`;
/// * `dependency cycle detected: a -> b -> a`.
///
/// Optional dependencies (`required: false`) that are missing or disabled are skipped.
pub fn order(p: &Project, only: &[String]) -> Result<Vec<Vec<String>>, Error> {
    let enabled;
    let project = if only.iter().any(|n| !p.services.contains_key(n)) {
        enabled = p.with_services_enabled(only)?;
        &enabled
    } else {
        p
    };
    let roots: Vec<String> = if only.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        only.to_vec()
    };

    // Closure of the selection over required, enabled dependencies.
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut todo = roots;
    while let Some(name) = todo.pop() {
        if deps.contains_key(&name) {
            continue;
        }
        let s = project
            .services
            .get(&name)
            .ok_or_else(|| Error::Other(format!("no such service: {name}")))?;
        let mut mine = Vec::new();
        for (dep, d) in &s.depends_on {
            if project.services.contains_key(dep) {
                mine.push(dep.clone());
                todo.push(dep.clone());
            } else if !d.required {
                continue;
            } else if let Some(ds) = project.disabled.get(dep) {
                return Err(Error::Other(format!(
                    "service {dep:?} is required by {name:?} but is disabled. Can be enabled by profiles [{}]",
                    ds.profiles.join(" ")
                )));
            } else {
                return Err(Error::InvalidProject(format!(
                    "service {name:?} depends on undefined service {dep:?}"
                )));
            }
        }
        deps.insert(name, mine);
    }

    check_cycles(&deps)?;

    // Level = 1 + the highest level of the dependencies.
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    fn level_of<'a>(
        n: &'a str,
        deps: &'a BTreeMap<String, Vec<String>>,
        level: &mut BTreeMap<&'a str, usize>,
    ) -> usize {
        if let Some(l) = level.get(n) {
            return *l;
        }
        let l = deps[n]
            .iter()
            .map(|d| level_of(d, deps, level) + 1)
            .max()
            .unwrap_or(0);
        level.insert(n, l);
        l
    }
    let mut levels: Vec<Vec<String>> = Vec::new();
    for n in deps.keys() {
        let l = level_of(n, &deps, &mut level);
        if levels.len() <= l {
            levels.resize(l + 1, Vec::new());
        }
        levels[l].push(n.clone());
    }
    for l in &mut levels {
        l.sort();
    }
    Ok(levels)
}

fn check_cycles(deps: &BTreeMap<String, Vec<String>>) -> Result<(), Error> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        n: &'a str,
        deps: &'a BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Result<(), Error> {
        match marks.get(n) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Err(Error::Cycle(cycle));
            }
            None => {}
        }
        marks.insert(n, Mark::Visiting);
        path.push(n);
        let mut children: Vec<&String> =
            deps.get(n).map(|d| d.iter().collect()).unwrap_or_default();
        children.sort();
        for c in children {
            visit(c, deps, marks, path)?;
        }
        path.pop();
        marks.insert(n, Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for n in deps.keys() {
        visit(n, deps, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}

/// The services that depend (directly or not) on `name`, among the enabled
/// ones — what compose restarts with `restart: true` dependencies, or stops
/// before `name`.
pub fn dependents(p: &Project, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        for (other, s) in &p.services {
            if s.depends_on.contains_key(&n) && out.insert(other.clone()) {
                todo.push(other.clone());
            }
        }
    }
    out
}

/// The `com.docker.compose.config-hash` of a service: the sha256 (hex) of
/// its canonical JSON, leaving out what compose leaves out (the scale /
/// `deploy.replicas`, `build`, `pull_policy`, `depends_on`, `profiles`) so that
/// changing them does not recreate containers.
pub fn config_hash(s: &Service) -> String {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        for k in ["scale", "build", "pull_policy", "depends_on", "profiles"] {
            m.remove(k);
        }
    }
    let bytes = serde_json::to_vec(&v).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}
