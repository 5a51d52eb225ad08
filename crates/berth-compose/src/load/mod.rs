//! Loading a compose project: file discovery, `.env`, interpolation, merge of
//! several files, `extends`, `include`, profiles, normalisation.
//!
//! The steps, in docker compose's order:
//!
//! 1. the environment: `--env-file`s (or `<project dir>/.env`), overridden by
//!    the process environment;
//! 2. the files: `-f`, else `COMPOSE_FILE`, else discovery of `compose.yaml`,
//!    `compose.yml`, `docker-compose.yml`, `docker-compose.yaml` in the working
//!    directory and its parents (plus a `compose.override.y(a)ml` /
//!    `docker-compose.override.y(a)ml` beside it);
//! 3. the project name: `-p`, `COMPOSE_PROJECT_NAME`, top-level `name:`, the
//!    project directory's basename (normalised);
//! 4. for each file: YAML (anchors, merge keys), interpolation, key validation,
//!    conversion to long syntax, `extends`, `include`; then the files are merged;
//! 5. conversion to the typed model, profiles, consistency checks.

mod canonical;
mod convert;
pub mod dotenv;
pub mod interpolate;
mod merge;
mod schema;
pub mod units;
mod yaml;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::{Error, Project};
use canonical::{clean_join, scalar_string};

/// The default compose file names, in discovery order.
pub const DEFAULT_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
/// The override files loaded after a discovered compose file.
pub const DEFAULT_OVERRIDE_FILE_NAMES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// What to load, as the `docker compose` global flags say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `-f` (several; `-` is standard input). Empty: `COMPOSE_FILE`, else discovery.
    pub files: Vec<PathBuf>,
    /// `-p`; else `COMPOSE_PROJECT_NAME`, else top-level `name:`, else the
    /// project directory's basename, normalised.
    pub project_name: Option<String>,
    /// `--project-directory`; else the first file's directory.
    pub project_dir: Option<PathBuf>,
    /// `--env-file`; else `<project dir>/.env` if present.
    pub env_files: Vec<PathBuf>,
    /// `--profile` (`COMPOSE_PROFILES` is added).
    pub profiles: Vec<String>,
    /// The process environment (passed in so that tests can control it).
    pub environ: BTreeMap<String, String>,
}

impl LoadOptions {
    /// Options with `environ` set to the current process environment.
    pub fn from_process_env() -> Self {
        LoadOptions {
            environ: std::env::vars().collect(),
            ..Default::default()
        }
    }
}

/// Loads and normalises a compose project.
pub fn load(opts: &LoadOptions) -> Result<Project, Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    load_in(opts, &cwd)
}

/// [`load`] with an explicit current working directory (relative `-f`,
/// `--project-directory` and `--env-file` paths, and discovery, start there).
pub fn load_in(opts: &LoadOptions, cwd: &Path) -> Result<Project, Error> {
    let abs = |p: &Path| clean_join(cwd, p);
    let mut warnings = Vec::new();
    let project_dir_opt = opts.project_dir.as_deref().map(abs);
    let base_dir = project_dir_opt.clone().unwrap_or_else(|| cwd.to_path_buf());
    let explicit_env: Vec<PathBuf> = opts.env_files.iter().map(|p| abs(p)).collect();

    // 1. preliminary environment (COMPOSE_FILE, COMPOSE_PROJECT_NAME may be in .env)
    let (mut env, mut env_files) = environment(&explicit_env, &base_dir, &opts.environ)?;

    // 2. files
    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files
            .iter()
            .map(|f| {
                if f.as_os_str() == "-" {
                    f.clone()
                } else {
                    abs(f)
                }
            })
            .collect()
    } else if let Some(cf) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .unwrap_or(":");
        cf.split(sep)
            .filter(|s| !s.is_empty())
            .map(|f| clean_join(&base_dir, Path::new(f)))
            .collect()
    } else {
        discover(&base_dir, &mut warnings)?
    };
    for f in &files {
        if f.as_os_str() != "-" && !f.exists() {
            return Err(Error::Io {
                path: f.clone(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
    }
    let project_dir = match &project_dir_opt {
        Some(d) => d.clone(),
        None => match files.first() {
            Some(f) if f.as_os_str() != "-" => f
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.to_path_buf()),
            _ => cwd.to_path_buf(),
        },
    };
    if explicit_env.is_empty() && project_dir != base_dir {
        (env, env_files) = environment(&[], &project_dir, &opts.environ)?;
    }
    let home = env.get("HOME").cloned();

    // profiles
    let mut profiles: Vec<String> = Vec::new();
    let from_env = env.get("COMPOSE_PROFILES").cloned().unwrap_or_default();
    for p in opts
        .profiles
        .iter()
        .map(String::as_str)
        .chain(from_env.split(','))
    {
        let p = p.trim();
        if !p.is_empty() && !profiles.iter().any(|x| x == p) {
            profiles.push(p.to_string());
        }
    }

    // read and parse every file once
    let mut parsed: Vec<(PathBuf, Vec<Mapping>)> = Vec::new();
    for f in &files {
        let text = read_file(f)?;
        parsed.push((f.clone(), yaml::parse(f, &text)?));
    }

    // 3. project name
    let name = match (
        opts.project_name.as_deref().filter(|s| !s.is_empty()),
        env.get("COMPOSE_PROJECT_NAME")
            .map(String::as_str)
            .filter(|s| !s.is_empty()),
    ) {
        (Some(n), _) | (None, Some(n)) => {
            if normalize_project_name(n) != *n {
                return Err(Error::Other(format!(
                    "invalid project name {n:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
                )));
            }
            n.to_string()
        }
        (None, None) => {
            let mut from_files = None;
            for (_, docs) in &parsed {
                for d in docs {
                    if let Some(mut n) = d.get("name").cloned() {
                        let lookup = |k: &str| env.get(k).cloned();
                        let mut unset = vec![];
                        interpolate::interpolate_value(&mut n, "name", &lookup, &mut unset)?;
                        if let Some(n) = scalar_string(&n)
                            .map(|n| normalize_project_name(&n))
                            .filter(|n| !n.is_empty())
                        {
                            from_files = Some(n);
                        }
                    }
                }
            }
            match from_files {
                Some(n) => n,
                None => {
                    let base = project_dir
                        .file_name()
                        .map(|b| b.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    normalize_project_name(&base)
                }
            }
        }
    };
    if name.is_empty() {
        return Err(Error::Other("project name must not be empty".to_string()));
    }
    env.insert("COMPOSE_PROJECT_NAME".to_string(), name.clone());

    // 4. per-file processing and merge
    let mut ctx = Ctx {
        env,
        home,
        warnings,
        unset: Vec::new(),
        include_stack: Vec::new(),
    };
    let mut doc = Mapping::new();
    for (path, docs) in parsed {
        let mut file_doc = ctx.process_docs(&path, docs)?;
        ctx.apply_extends(&path, &mut file_doc)?;
        ctx.apply_includes(&path, &mut file_doc)?;
        doc = merge::merge_docs(doc, file_doc)?;
    }
    let mut value = Value::Mapping(doc);
    yaml::strip_tags(&mut value);
    let Value::Mapping(mut doc) = value else {
        unreachable!()
    };
    merge::enforce_unicity(&mut doc);

    let mut warnings = std::mem::take(&mut ctx.warnings);
    let mut unset = std::mem::take(&mut ctx.unset);
    unset.sort();
    unset.dedup();
    for v in unset {
        warnings.push(format!(
            "The {v:?} variable is not set. Defaulting to a blank string."
        ));
    }

    // 5. typed model
    let env = ctx.env;
    let mut project = Project {
        name: name.clone(),
        working_dir: project_dir.clone(),
        config_files: files,
        env_files,
        profiles: profiles.clone(),
        ..Default::default()
    };
    let mut conv = convert::Conv {
        dir: &project_dir,
        env: &env,
        home: ctx.home.as_deref(),
        project: &name,
        warnings: &mut warnings,
    };
    let mut all = BTreeMap::new();
    if let Some(Value::Mapping(services)) = doc.get("services") {
        for (k, body) in services {
            let k = k.as_str().unwrap_or_default();
            all.insert(k.to_string(), conv.service(k, body)?);
        }
    }
    let sections = |key: &str| -> Vec<(String, Value)> {
        match doc.get(key) {
            Some(Value::Mapping(m)) => m
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone()))
                .collect(),
            _ => vec![],
        }
    };
    for (k, v) in sections("networks") {
        let n = conv.network(&k, &v)?;
        project.networks.insert(k, n);
    }
    if all.values().any(|s| s.networks.contains_key("default"))
        && !project.networks.contains_key("default")
    {
        project.networks.insert(
            "default".to_string(),
            conv.network("default", &Value::Null)?,
        );
    }
    for (k, v) in sections("volumes") {
        let vol = conv.volume_def(&k, &v)?;
        project.volumes.insert(k, vol);
    }
    for (k, v) in sections("secrets") {
        let s = conv.secret(&k, &v)?;
        project.secrets.insert(k, s);
    }
    for (k, v) in sections("configs") {
        let c = conv.config(&k, &v)?;
        project.configs.insert(k, c);
    }
    for (k, s) in all {
        if s.enabled_for(&profiles) {
            project.services.insert(k, s);
        } else {
            project.disabled.insert(k, s);
        }
    }
    project.environment = env;
    project.warnings = warnings;
    convert::check_consistency(&project)?;
    Ok(project)
}

/// Docker compose's normalisation of a project name: lowercase, only
/// `[a-z0-9_-]`, no leading `_` or `-`.
pub fn normalize_project_name(s: &str) -> String {
    let lower = s.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Finds the compose file(s) in `dir` or its parents.
pub fn discover(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>, Error> {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let found: Vec<&str> = DEFAULT_FILE_NAMES
            .iter()
            .copied()
            .filter(|n| d.join(n).is_file())
            .collect();
        if let Some(first) = found.first() {
            if found.len() > 1 {
                let all: Vec<String> = found
                    .iter()
                    .map(|f| d.join(f).display().to_string())
                    .collect();
                warnings.push(format!(
                    "Found multiple config files with supported names: {}\nUsing {}",
                    all.join(", "),
                    all[0]
                ));
            }
            let mut files = vec![d.join(first)];
            if let Some(o) = DEFAULT_OVERRIDE_FILE_NAMES
                .iter()
                .find(|n| d.join(n).is_file())
            {
                files.push(d.join(o));
            }
            return Ok(files);
        }
        cur = d.parent();
    }
    Err(Error::NoConfigFile)
}

fn read_file(path: &Path) -> Result<String, Error> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads env files (`explicit`, else `<dir>/.env` when present) and lays the
/// process environment over them. Returns the environment and the files read.
fn environment(
    explicit: &[PathBuf],
    dir: &Path,
    environ: &BTreeMap<String, String>,
) -> Result<(BTreeMap<String, String>, Vec<PathBuf>), Error> {
    let files: Vec<PathBuf> = if explicit.is_empty() {
        let f = dir.join(".env");
        if f.is_file() { vec![f] } else { vec![] }
    } else {
        explicit.to_vec()
    };
    let mut env = BTreeMap::new();
    for f in &files {
        if f.is_dir() {
            return Err(Error::Other(format!("{} is a directory", f.display())));
        }
        let text = std::fs::read_to_string(f).map_err(|source| Error::Io {
            path: f.clone(),
            source,
        })?;
        let known = env.clone();
        let lookup = |k: &str| environ.get(k).cloned().or_else(|| known.get(k).cloned());
        for (k, v) in dotenv::parse(&text, &lookup).map_err(|message| Error::EnvFile {
            path: f.clone(),
            message,
        })? {
            env.insert(k, v);
        }
    }
    env.extend(environ.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok((env, files))
}

struct Ctx {
    env: BTreeMap<String, String>,
    home: Option<String>,
    warnings: Vec<String>,
    unset: Vec<String>,
    include_stack: Vec<PathBuf>,
}

impl Ctx {
    /// Reads, parses and processes one file (no extends / include).
    fn load_raw(&mut self, path: &Path) -> Result<Mapping, Error> {
        let text = read_file(path)?;
        let docs = yaml::parse(path, &text)?;
        self.process_docs(path, docs)
    }

    /// Interpolation, validation and canonical syntax of a file's documents, merged.
    fn process_docs(&mut self, path: &Path, docs: Vec<Mapping>) -> Result<Mapping, Error> {
        let mut acc = Mapping::new();
        for doc in docs {
            let mut value = Value::Mapping(doc);
            let env = &self.env;
            let lookup = |k: &str| env.get(k).cloned();
            interpolate::interpolate_value(&mut value, "", &lookup, &mut self.unset)?;
            let Value::Mapping(mut doc) = value else {
                unreachable!()
            };
            schema::validate(&doc).map_err(|e| e.in_file(path))?;
            if doc.contains_key("version") {
                self.warnings.push(format!(
                    "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                    path.display()
                ));
                doc.remove("version");
            }
            canonicalise(&mut doc).map_err(|e| e.in_file(path))?;
            acc = merge::merge_docs(acc, doc)?;
        }
        Ok(acc)
    }

    fn apply_extends(&mut self, file: &Path, doc: &mut Mapping) -> Result<(), Error> {
        let Some(Value::Mapping(services)) = doc.get_mut("services") else {
            return Ok(());
        };
        let names: Vec<String> = services
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        for name in names {
            let mut stack = Vec::new();
            self.resolve_extends(file, services, &name, &mut stack)?;
        }
        Ok(())
    }

    fn resolve_extends(
        &mut self,
        file: &Path,
        services: &mut Mapping,
        name: &str,
        stack: &mut Vec<(PathBuf, String)>,
    ) -> Result<Mapping, Error> {
        let svc = match services.get(name) {
            Some(Value::Mapping(m)) => m.clone(),
            _ => Mapping::new(),
        };
        let Some(ext) = svc.get("extends").cloned() else {
            return Ok(svc);
        };
        let key = (file.to_path_buf(), name.to_string());
        if stack.contains(&key) {
            let chain: Vec<String> = stack
                .iter()
                .chain(std::iter::once(&key))
                .map(|(f, n)| format!("{n} in {}", f.display()))
                .collect();
            return Err(Error::Other(format!(
                "circular reference with extends: {}",
                chain.join(" -> ")
            )));
        }
        stack.push(key);
        let base_name = ext
            .get("service")
            .and_then(scalar_string)
            .ok_or_else(|| Error::Other(format!("extends.{name}.service is required")))?;
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let base = match ext.get("file").and_then(scalar_string) {
            Some(other) => {
                let other_path = convert::join(&dir, &other);
                let mut other_doc = self.load_raw(&other_path)?;
                let Some(Value::Mapping(other_services)) = other_doc.get_mut("services") else {
                    return Err(Error::Other(format!(
                        "cannot extend service {name:?} in {}: no services section",
                        other_path.display()
                    )));
                };
                if !other_services.contains_key(base_name.as_str()) {
                    return Err(Error::Other(format!(
                        "cannot extend service {name:?} in {}: service {base_name:?} not found in {}",
                        file.display(),
                        other_path.display()
                    )));
                }
                let mut b = self.resolve_extends(&other_path, other_services, &base_name, stack)?;
                let other_dir = other_path.parent().unwrap_or(Path::new("/")).to_path_buf();
                canonical::rebase_service(&mut b, &other_dir, self.home.as_deref());
                b
            }
            None => {
                if !services.contains_key(base_name.as_str()) {
                    return Err(Error::Other(format!(
                        "cannot extend service {name:?} in {}: service {base_name:?} not found",
                        file.display()
                    )));
                }
                self.resolve_extends(file, services, &base_name, stack)?
            }
        };
        stack.pop();
        let mut child = svc;
        child.remove("extends");
        let mut merged = merge::merge_service(base, child)?;
        merged.remove("extends");
        services.insert(
            Value::String(name.to_string()),
            Value::Mapping(merged.clone()),
        );
        Ok(merged)
    }

    fn apply_includes(&mut self, file: &Path, doc: &mut Mapping) -> Result<(), Error> {
        let Some(inc) = doc.remove("include") else {
            return Ok(());
        };
        let items = match inc {
            Value::Sequence(s) => s,
            Value::Null => vec![],
            _ => return Err(Error::schema("include must be a list").in_file(file)),
        };
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        for item in items {
            let (paths, project_directory, env_files) = match &item {
                Value::Mapping(m) => {
                    let list = |k: &str| -> Vec<String> {
                        match m.get(k) {
                            Some(Value::Sequence(s)) => {
                                s.iter().filter_map(scalar_string).collect()
                            }
                            Some(v) => scalar_string(v).into_iter().collect(),
                            None => vec![],
                        }
                    };
                    (
                        list("path"),
                        m.get("project_directory").and_then(scalar_string),
                        list("env_file"),
                    )
                }
                other => (scalar_string(other).into_iter().collect(), None, vec![]),
            };
            if paths.is_empty() {
                return Err(Error::schema("include entries need a path").in_file(file));
            }
            let paths: Vec<PathBuf> = paths.iter().map(|p| convert::join(&dir, p)).collect();
            let inc_dir = match project_directory {
                Some(d) => convert::join(&dir, &d),
                None => paths[0].parent().unwrap_or(Path::new("/")).to_path_buf(),
            };
            for p in &paths {
                if self.include_stack.contains(p) {
                    return Err(Error::Other(format!(
                        "include cycle detected: {} is already included",
                        p.display()
                    )));
                }
            }
            // The included project's own .env is used for its interpolation, under the current environment.
            let env_files: Vec<PathBuf> =
                env_files.iter().map(|e| convert::join(&dir, e)).collect();
            let (inc_env, _) = environment(&env_files, &inc_dir, &BTreeMap::new())?;
            let saved = self.env.clone();
            for (k, v) in inc_env {
                self.env.entry(k).or_insert(v);
            }
            let mut included = Mapping::new();
            let mut result = Ok(());
            for p in &paths {
                self.include_stack.push(p.clone());
                let r = (|| {
                    let mut d = self.load_raw(p)?;
                    self.apply_extends(p, &mut d)?;
                    self.apply_includes(p, &mut d)?;
                    Ok::<_, Error>(d)
                })();
                self.include_stack.pop();
                match r {
                    Ok(d) => match merge::merge_docs(std::mem::take(&mut included), d) {
                        Ok(m) => included = m,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    },
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            self.env = saved;
            result?;
            if let Some(Value::Mapping(services)) = included.get_mut("services") {
                for (_, s) in services.iter_mut() {
                    if let Value::Mapping(s) = s {
                        canonical::rebase_service(s, &inc_dir, self.home.as_deref());
                    }
                }
            }
            canonical::rebase_top_level(&mut included, &inc_dir, self.home.as_deref());
            for section in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(Value::Mapping(from)) = included.remove(section) else {
                    continue;
                };
                let target = doc
                    .entry(Value::String(section.to_string()))
                    .or_insert_with(|| Value::Mapping(Mapping::new()));
                if target.is_null() {
                    *target = Value::Mapping(Mapping::new());
                }
                let Value::Mapping(target) = target else {
                    continue;
                };
                for (k, v) in from {
                    if target.contains_key(&k) {
                        return Err(Error::Other(format!(
                            "{}: {section}.{} conflicts with imported resource",
                            file.display(),
                            k.as_str().unwrap_or_default()
                        )));
                    }
                    target.insert(k, v);
                }
            }
        }
        Ok(())
    }
}

/// The value under `!reset` / `!override` tags.
fn untag_mut(v: &mut Value) -> &mut Value {
    match v {
        Value::Tagged(t) => untag_mut(&mut t.value),
        other => other,
    }
}

/// Canonical syntax for a whole document.
fn canonicalise(doc: &mut Mapping) -> Result<(), Error> {
    if let Some(Value::Mapping(services)) = doc.get_mut("services") {
        for (k, v) in services.iter_mut() {
            let name = k.as_str().unwrap_or_default().to_string();
            if v.is_null() {
                *v = Value::Mapping(Mapping::new());
            }
            if let Value::Mapping(s) = untag_mut(v) {
                canonical::service(s, &format!("services.{name}"))?;
            }
        }
    }
    for section in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Mapping(m)) = doc.get_mut(section) {
            for (k, v) in m.iter_mut() {
                let name = k.as_str().unwrap_or_default().to_string();
                if v.is_null() {
                    *v = Value::Mapping(Mapping::new());
                }
                if let Value::Mapping(body) = untag_mut(v) {
                    canonical::resource(body, &format!("{section}.{name}"))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_name_normalisation() {
        assert_eq!(normalize_project_name("My Project"), "myproject");
        assert_eq!(normalize_project_name("_-foo.bar-"), "foobar-");
        assert_eq!(normalize_project_name("Ünïcode_1"), "ncode_1");
        assert_eq!(normalize_project_name("web-app_2"), "web-app_2");
        assert_eq!(normalize_project_name("..."), "");
    }
}
