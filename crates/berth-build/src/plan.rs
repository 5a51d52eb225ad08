//! The build planner and the pure half of dispatch: which stages a target
//! needs and in what order (independent ones may run at once), build
//! arguments with Docker's scoping rules, and the metadata instructions
//! applied to a config (with the history comment Docker's legacy builder
//! writes for each).

use std::collections::{BTreeMap, BTreeSet};

use berth_api::container::{Config, HealthConfig, StrSlice};

use crate::instructions::{CmdLine, Instruction, Stages};
use crate::shell::Lexer;

/// A planning or dispatch error, in Docker's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

fn perr(s: impl Into<String>) -> PlanError {
    PlanError(s.into())
}

/// Arguments every build knows without an `ARG` (Docker's builtin list):
/// usable in RUN when given, never reported as unconsumed.
pub const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Platform arguments (BuildKit's automatic args), defined in the global
/// scope and brought into a stage by an `ARG` without a value.
pub fn platform_args(os: &str, arch: &str, variant: &str) -> Vec<(String, String)> {
    let plat = if variant.is_empty() {
        format!("{os}/{arch}")
    } else {
        format!("{os}/{arch}/{variant}")
    };
    let mut v = Vec::new();
    for p in ["TARGET", "BUILD"] {
        v.push((format!("{p}PLATFORM"), plat.clone()));
        v.push((format!("{p}OS"), os.to_string()));
        v.push((format!("{p}ARCH"), arch.to_string()));
        v.push((format!("{p}VARIANT"), variant.to_string()));
    }
    v
}

/// The build arguments of one build: given ones (`--build-arg`), the meta
/// ones (ARG before FROM), and per stage the declared ones.
#[derive(Clone, Debug, Default)]
pub struct BuildArgs {
    /// `--build-arg k=v` (None: given without a value and unset on the client).
    pub given: BTreeMap<String, Option<String>>,
    /// Meta args with their effective values.
    pub meta: BTreeMap<String, Option<String>>,
    /// Automatic args (platform).
    pub automatic: BTreeMap<String, String>,
    /// Args some stage declared or referenced (for the unconsumed warning).
    pub consumed: BTreeSet<String>,
}

impl BuildArgs {
    pub fn new(
        given: BTreeMap<String, Option<String>>,
        meta_args: &[(String, Option<String>)],
        automatic: Vec<(String, String)>,
    ) -> BuildArgs {
        let mut b = BuildArgs {
            given,
            automatic: automatic.into_iter().collect(),
            ..Default::default()
        };
        for (k, default) in meta_args {
            let v = b.given_value(k).or_else(|| default.clone());
            b.meta.insert(k.clone(), v);
        }
        b
    }

    fn given_value(&self, k: &str) -> Option<String> {
        self.given.get(k).cloned().flatten()
    }

    /// Lookup for FROM lines and stage references: meta args, then automatic ones.
    pub fn meta_lookup(&self, k: &str) -> Option<String> {
        match self.meta.get(k) {
            Some(v) => v.clone(),
            None => self.automatic.get(k).cloned(),
        }
    }

    /// Given args no stage or meta ARG declared (Docker's warning).
    pub fn unconsumed(&self) -> Vec<String> {
        self.given
            .keys()
            .filter(|k| {
                !self.consumed.contains(*k)
                    && !self.meta.contains_key(*k)
                    && !BUILTIN_ARGS.contains(&k.as_str())
            })
            .cloned()
            .collect()
    }
}

/// The arguments in scope in one stage.
#[derive(Clone, Debug, Default)]
pub struct StageArgs {
    /// Declared in the stage, in order, with effective values.
    pub declared: Vec<(String, Option<String>)>,
    /// Builtin args given to the build (usable without ARG).
    pub builtin: Vec<(String, String)>,
}

impl StageArgs {
    pub fn new(b: &BuildArgs) -> StageArgs {
        StageArgs {
            declared: Vec::new(),
            builtin: BUILTIN_ARGS
                .iter()
                .filter_map(|k| b.given_value(k).map(|v| (k.to_string(), v)))
                .collect(),
        }
    }

    /// `ARG k[=v]` in the stage: the given value wins, then the default,
    /// then (no default) the meta or automatic arg of that name.
    pub fn declare(&mut self, b: &mut BuildArgs, k: &str, default: Option<String>) {
        b.consumed.insert(k.to_string());
        let v = b.given_value(k).or(default).or_else(|| b.meta_lookup(k));
        self.declared.retain(|(n, _)| n != k);
        self.declared.push((k.to_string(), v));
    }

    fn value(&self, k: &str) -> Option<Option<String>> {
        self.declared
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                self.builtin
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| Some(v.clone()))
            })
    }

    /// The args a RUN's history names: builtin (proxy) args only when the
    /// stage declared them (Docker's IsReferencedOrNotBuiltin).
    pub fn history_args(&self, allowed: &[String]) -> Vec<String> {
        allowed
            .iter()
            .filter(|kv| {
                let k = kv.split('=').next().unwrap_or("");
                !BUILTIN_ARGS.contains(&k) || self.declared.iter().any(|(n, _)| n == k)
            })
            .cloned()
            .collect()
    }

    /// `k=v` of the args with a value that no ENV of `env` overrides
    /// (Docker's FilterAllowed), sorted by name.
    pub fn allowed(&self, env: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        for (k, v) in self
            .declared
            .iter()
            .rev()
            .map(|(k, v)| (k, v.clone()))
            .chain(self.builtin.iter().map(|(k, v)| (k, Some(v.clone()))))
        {
            if !seen.insert(k.clone()) {
                continue;
            }
            let Some(v) = v else { continue };
            if env.iter().any(|e| e.split('=').next() == Some(k)) {
                continue;
            }
            out.push(format!("{k}={v}"));
        }
        out.sort();
        out
    }
}

/// Variable lookup for a stage's words: ENV first, then the stage's args.
pub fn lookup<'a>(cfg: &'a Config, args: &'a StageArgs) -> impl Fn(&str) -> Option<String> + 'a {
    move |k: &str| {
        for e in cfg.env().iter().rev() {
            if let Some((n, v)) = e.split_once('=')
                && n == k
            {
                return Some(v.to_string());
            }
        }
        args.value(k).flatten()
    }
}

/// What the build needs: stages in an order that respects dependencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Stage indices to build, dependencies first.
    pub order: Vec<usize>,
    /// Per stage index: the stages it needs (FROM a stage, COPY --from).
    pub deps: BTreeMap<usize, Vec<usize>>,
    /// The stage whose result is the build's image.
    pub target: usize,
    /// Steps counted as Docker counts them (`Step n/total`): a FROM and
    /// each instruction of the stages built.
    pub total_steps: usize,
    /// Per stage: the number of the stage's FROM step (1-based).
    pub first_step: BTreeMap<usize, usize>,
}

/// A stage reference (`FROM <x>`, `COPY --from=<x>`) to an earlier
/// stage before `before`: by name, or by index for `--from`.
pub fn stage_ref(stages: &Stages, name: &str, before: usize, by_index: bool) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(s) = stages.stages[..before]
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(s.index);
    }
    if by_index && let Ok(i) = name.parse::<usize>() {
        return (i < before).then_some(i);
    }
    None
}

/// Plans a build of `target` (the last stage when None).
pub fn plan(stages: &Stages, target: Option<&str>, args: &BuildArgs) -> Result<Plan, PlanError> {
    let lex = Lexer::new(stages.escape);
    let look = |k: &str| args.meta_lookup(k);
    let target = match target.filter(|t| !t.is_empty()) {
        None => stages.stages.len() - 1,
        Some(t) => stages
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .map(|s| s.index)
            .ok_or_else(|| perr(format!("failed to reach build target {t} in Dockerfile")))?,
    };
    let mut deps: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    // Errors of stages that may not be needed: reported only if they are.
    let mut bad: BTreeMap<usize, PlanError> = BTreeMap::new();
    for s in &stages.stages[..=target] {
        let mut d = Vec::new();
        let base = lex
            .process_word(&s.base, &look)
            .map_err(|e| perr(e.to_string()))?
            .value;
        if let Some(i) = stage_ref(stages, &base, s.index, false) {
            d.push(i);
        }
        for st in &s.steps {
            let from = match &st.instruction {
                Instruction::Copy(c) => c.from.clone(),
                Instruction::Run(r) => r.mounts.iter().find_map(|m| {
                    m.split(',')
                        .find_map(|kv| kv.strip_prefix("from=").map(str::to_string))
                }),
                _ => None,
            };
            if let Some(f) = from {
                let f = lex
                    .process_word(&f, &look)
                    .map_err(|e| perr(e.to_string()))?
                    .value;
                if let Some(i) = stage_ref(stages, &f, s.index, true) {
                    d.push(i);
                } else if let Ok(i) = f.parse::<usize>()
                    && i >= s.index
                {
                    bad.entry(s.index).or_insert_with(|| {
                        perr(format!(
                            "invalid from flag value {f}: refers to current or future build stage"
                        ))
                    });
                }
            }
        }
        d.sort();
        d.dedup();
        deps.insert(s.index, d);
    }
    // Dependencies of the target, transitively, in index order (a stage
    // only refers to earlier ones, so index order is a topological order).
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed.insert(i) {
            todo.extend(deps[&i].iter().copied());
        }
    }
    let order: Vec<usize> = needed.into_iter().collect();
    if let Some(e) = order.iter().find_map(|i| bad.remove(i)) {
        return Err(e);
    }
    let mut first_step = BTreeMap::new();
    let mut n = 1;
    for &i in &order {
        first_step.insert(i, n);
        n += 1 + stages.stages[i].steps.len();
    }
    deps.retain(|k, _| order.contains(k));
    Ok(Plan {
        order,
        deps,
        target,
        total_steps: n - 1,
        first_step,
    })
}

/// Go's `%q` of a string slice (`["a" "b"]`), as the history of CMD and
/// ENTRYPOINT shows it.
pub fn go_quote_list(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of a string slice (`[a b]`).
pub fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

fn go_duration(ns: i64) -> String {
    berth_api::units::format_go_duration(std::time::Duration::from_nanos(ns.max(0) as u64))
}

/// Go's `%q` of an integer: a quoted character (`'\x04'`, `'A'`).
pub fn go_char(n: i64) -> String {
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some('\'') => "'\\''".into(),
        Some('\\') => "'\\\\'".into(),
        Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
        _ if (0..0x80).contains(&n) => format!("'\\x{n:02x}'"),
        _ => format!("'\\u{n:04x}'"),
    }
}

/// The shell of a config (`SHELL`, else `/bin/sh -c`).
pub fn shell_of(cfg: &Config) -> Vec<String> {
    match &cfg.shell {
        Some(s) if !s.0.is_empty() => s.0.clone(),
        _ => vec!["/bin/sh".into(), "-c".into()],
    }
}

/// Docker's WORKDIR rule: relative paths join the current one.
pub fn workdir(current: &str, new: &str) -> String {
    // An absolute path is kept as written; a relative one is joined and
    // cleaned (Go's filepath.Join), as dockerd does.
    if new.starts_with('/') {
        return new.to_string();
    }
    let base = if current.is_empty() { "/" } else { current };
    clean_path(&format!("{}/{}", base.trim_end_matches('/'), new))
}

/// Go's `path.Clean` for absolute paths.
pub fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// Docker's EXPOSE port specs to `port/proto` keys.
pub fn exposed_ports(spec: &str) -> Result<Vec<String>, PlanError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let container = parts.last().copied().unwrap_or("");
    let (port, proto) = match container.split_once('/') {
        Some((p, pr)) => (p, pr.to_ascii_lowercase()),
        None => (container, "tcp".to_string()),
    };
    if port.is_empty() {
        return Err(perr(format!("no port specified: {spec}<empty>")));
    }
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(perr(format!("invalid proto: {proto}")));
    }
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (a, b),
        None => (port, port),
    };
    let bad = || perr(format!("invalid containerPort: {port}"));
    let s: u16 = start.parse().map_err(|_| bad())?;
    let e: u16 = end.parse().map_err(|_| bad())?;
    if e < s {
        return Err(bad());
    }
    Ok((s..=e).map(|p| format!("{p}/{proto}")).collect())
}

/// Docker's signal names and numbers for STOPSIGNAL.
pub fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<i32>() {
        return n > 0 && n < 65;
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    NAMES.contains(&name)
        || name
            .strip_prefix("RTMIN")
            .or_else(|| name.strip_prefix("RTMAX"))
            .is_some_and(|r| r.is_empty() || r.trim_start_matches(['+', '-']).parse::<u8>().is_ok())
}

fn expand(
    lex: &Lexer,
    w: &str,
    look: &dyn Fn(&str) -> Option<String>,
    used: &mut BTreeSet<String>,
) -> Result<String, PlanError> {
    let e = lex.process_word(w, look).map_err(|e| perr(e.to_string()))?;
    used.extend(e.used);
    Ok(e.value)
}

/// Applies a metadata instruction (everything but RUN, COPY, ADD) to the
/// stage's config; answers the history comment Docker writes for it
/// (`ENV a=1`), after expansion. `maintainer` receives MAINTAINER.
pub fn apply_meta(
    inst: &Instruction,
    cfg: &mut Config,
    args: &mut StageArgs,
    build_args: &mut BuildArgs,
    lex: &Lexer,
    maintainer: &mut String,
) -> Result<String, PlanError> {
    let mut used = BTreeSet::new();
    let comment = match inst {
        Instruction::Env(pairs) => {
            // Every word of the line is expanded with the environment from
            // before it, as Docker does.
            let mut expanded = Vec::new();
            {
                let look = lookup(cfg, args);
                for (k, v) in pairs {
                    expanded.push((
                        expand(lex, k, &look, &mut used)?,
                        expand(lex, v, &look, &mut used)?,
                    ));
                }
            }
            let mut comment = String::from("ENV");
            for (k, v) in expanded {
                let kv = format!("{k}={v}");
                comment.push(' ');
                comment.push_str(&kv);
                let env = cfg.env.get_or_insert_with(Vec::new);
                match env
                    .iter_mut()
                    .find(|e| e.split('=').next() == Some(k.as_str()))
                {
                    Some(e) => *e = kv,
                    None => env.push(kv),
                }
            }
            comment
        }
        Instruction::Label(pairs) => {
            let mut comment = String::from("LABEL");
            let mut out = Vec::new();
            {
                let look = lookup(cfg, args);
                for (k, v) in pairs {
                    let k = expand(lex, k, &look, &mut used)?;
                    let v = expand(lex, v, &look, &mut used)?;
                    comment.push_str(&format!(" {k}={v}"));
                    out.push((k, v));
                }
            }
            let labels = cfg.labels.get_or_insert_with(Default::default);
            for (k, v) in out {
                labels.insert(k, v);
            }
            comment
        }
        Instruction::Expose(ports) => {
            let mut words = Vec::new();
            // dockerd sorts the words as written, then expands them.
            let mut ports = ports.clone();
            ports.sort();
            {
                let look = lookup(cfg, args);
                for p in &ports {
                    let (w, u) = lex
                        .process_words(p, &look)
                        .map_err(|e| perr(e.to_string()))?;
                    used.extend(u);
                    words.extend(w);
                }
            }
            let set = cfg.exposed_ports.get_or_insert_with(Default::default);
            for w in &words {
                for p in exposed_ports(w)? {
                    set.insert(p, Default::default());
                }
            }
            format!("EXPOSE {}", words.join(" "))
        }
        Instruction::Volume(vols) => {
            let mut out = Vec::new();
            {
                let look = lookup(cfg, args);
                for v in vols {
                    let v = expand(lex, v, &look, &mut used)?;
                    if v.is_empty() {
                        return Err(perr("VOLUME specified can not be an empty string"));
                    }
                    out.push(v);
                }
            }
            let set = cfg.volumes.get_or_insert_with(Default::default);
            for v in &out {
                set.insert(v.clone(), Default::default());
            }
            format!("VOLUME {}", go_list(&out))
        }
        Instruction::User(u) => {
            let u = expand(lex, u, &lookup(cfg, args), &mut used)?;
            cfg.user = u.clone();
            format!("USER {u}")
        }
        Instruction::Workdir(w) => {
            let w = expand(lex, w, &lookup(cfg, args), &mut used)?;
            cfg.working_dir = workdir(&cfg.working_dir, &w);
            format!("WORKDIR {}", cfg.working_dir)
        }
        Instruction::Shell(s) => {
            cfg.shell = Some(StrSlice(s.clone()));
            format!("SHELL {}", go_list(s))
        }
        Instruction::StopSignal(s) => {
            let s = expand(lex, s, &lookup(cfg, args), &mut used)?;
            if !valid_signal(&s) {
                return Err(perr(format!("Invalid signal: {s}")));
            }
            cfg.stop_signal = s.clone();
            format!("STOPSIGNAL {s}")
        }
        Instruction::Healthcheck(h) => {
            // Zero fields keep the parent's, as dockerd's commit merges them.
            let old = cfg.healthcheck.clone().unwrap_or_default();
            let pick = |n: i64, o: i64| if n == 0 { o } else { n };
            let hc = HealthConfig {
                test: Some(h.test.clone()),
                interval: pick(h.interval_ns, old.interval),
                timeout: pick(h.timeout_ns, old.timeout),
                start_period: pick(h.start_period_ns, old.start_period),
                start_interval: pick(h.start_interval_ns, old.start_interval),
                retries: pick(h.retries, old.retries),
            };
            let comment = format!(
                "HEALTHCHECK &{{{} \"{}\" \"{}\" \"{}\" {}}}",
                go_quote_list(&h.test),
                go_duration(h.interval_ns),
                go_duration(h.timeout_ns),
                go_duration(h.start_period_ns),
                go_char(h.retries)
            );
            cfg.healthcheck = Some(hc);
            comment
        }
        Instruction::Onbuild(expr) => {
            cfg.on_build.get_or_insert_with(Vec::new).push(expr.clone());
            format!("ONBUILD {expr}")
        }
        Instruction::Maintainer(m) => {
            *maintainer = m.clone();
            format!("MAINTAINER {m}")
        }
        Instruction::Cmd(c) => {
            let argv = c.argv(&shell_of(cfg));
            cfg.args_escaped = false;
            cfg.cmd = Some(StrSlice(argv.clone()));
            format!("CMD {}", go_quote_list(&argv))
        }
        Instruction::Entrypoint(c) => {
            let argv = match c {
                CmdLine::Shell(s) if s.is_empty() => Vec::new(),
                c => c.argv(&shell_of(cfg)),
            };
            cfg.entrypoint = Some(StrSlice(argv.clone()));
            format!("ENTRYPOINT {}", go_quote_list(&argv))
        }
        Instruction::Arg(pairs) => {
            let mut parts = Vec::new();
            for (k, v) in pairs {
                let v = match v {
                    Some(v) => Some(expand(lex, v, &lookup(cfg, args), &mut used)?),
                    None => None,
                };
                parts.push(match &v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                });
                args.declare(build_args, k, v);
            }
            format!("ARG {}", parts.join(" "))
        }
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) => {
            return Err(perr("not a metadata instruction"));
        }
    };
    build_args.consumed.extend(used);
    Ok(comment)
}

/// An ENTRYPOINT instruction resets CMD unless this stage set CMD: the
/// executor calls this after applying ENTRYPOINT.
pub fn reset_cmd_after_entrypoint(cfg: &mut Config, cmd_set_in_stage: bool) {
    if !cmd_set_in_stage {
        cfg.cmd = None;
    }
}

/// The `created_by` of a RUN as Docker's legacy builder records it: the
/// argv, prefixed by `|N k=v…` when build args are in scope.
/// `allowed_args` are those the history names ([`StageArgs::history_args`]);
/// `any_in_scope`: some arg is in the RUN's environment (then even none
/// named gives `|0`, as dockerd writes it).
pub fn run_created_by(argv: &[String], allowed_args: &[String], any_in_scope: bool) -> Vec<String> {
    if !any_in_scope {
        return argv.to_vec();
    }
    let mut v = vec![format!("|{}", allowed_args.len())];
    v.extend(allowed_args.iter().cloned());
    v.extend(argv.iter().cloned());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::stages;
    use crate::parser::parse;

    fn plan_of(df: &str, target: Option<&str>) -> Result<Plan, PlanError> {
        let s = stages(&parse(df).unwrap()).unwrap();
        let b = BuildArgs::new(BTreeMap::new(), &s.meta_args, vec![]);
        plan(&s, target, &b)
    }

    #[test]
    fn only_needed_stages() {
        let df = "FROM busybox AS a\nRUN a\nFROM busybox AS b\nRUN b\nFROM a AS c\nCOPY --from=b /x /y\nFROM busybox AS unused\nRUN u\n";
        let p = plan_of(df, Some("c")).unwrap();
        assert_eq!(p.order, vec![0, 1, 2]);
        assert_eq!(p.deps[&2], vec![0, 1]);
        assert!(p.deps[&0].is_empty() && p.deps[&1].is_empty());
        assert_eq!(p.total_steps, 6);
        assert_eq!(p.first_step[&2], 5);
        let p = plan_of(df, None).unwrap();
        assert_eq!(p.order, vec![3]);
        let p = plan_of(df, Some("a")).unwrap();
        assert_eq!(p.order, vec![0]);
    }

    #[test]
    fn from_index_and_bad_target() {
        let df = "FROM busybox\nRUN a\nFROM scratch\nCOPY --from=0 /x /y\n";
        let p = plan_of(df, None).unwrap();
        assert_eq!(p.order, vec![0, 1]);
        assert_eq!(
            plan_of(df, Some("nope")).unwrap_err().0,
            "failed to reach build target nope in Dockerfile"
        );
        let df = "FROM busybox\nCOPY --from=1 /x /y\nFROM scratch\n";
        assert!(plan_of(df, Some("")).is_ok());
    }

    #[test]
    fn meta_args_in_from() {
        let df = "ARG BASE=a\nFROM busybox AS a\nFROM ${BASE}\n";
        let p = plan_of(df, None).unwrap();
        assert_eq!(p.order, vec![0, 1]);
    }

    #[test]
    fn args_scoping() {
        let mut given = BTreeMap::new();
        given.insert("A".to_string(), Some("given".to_string()));
        given.insert("UNUSED".to_string(), Some("x".to_string()));
        given.insert("http_proxy".to_string(), Some("p".to_string()));
        let mut b = BuildArgs::new(given, &[("M".into(), Some("meta".into()))], vec![]);
        let mut s = StageArgs::new(&b);
        s.declare(&mut b, "A", Some("default".into()));
        s.declare(&mut b, "M", None);
        s.declare(&mut b, "D", Some("d".into()));
        let cfg = Config {
            env: Some(vec!["D=env".into()]),
            ..Default::default()
        };
        assert_eq!(
            s.allowed(cfg.env()),
            vec!["A=given", "M=meta", "http_proxy=p"]
        );
        let look = lookup(&cfg, &s);
        assert_eq!(look("D").as_deref(), Some("env"));
        assert_eq!(look("A").as_deref(), Some("given"));
        assert_eq!(b.unconsumed(), vec!["UNUSED"]);
    }

    #[test]
    fn meta_comments() {
        let lex = Lexer::new('\\');
        let mut cfg = Config::default();
        let mut b = BuildArgs::default();
        let mut a = StageArgs::new(&b);
        let mut m = String::new();
        let mut ap = |i: Instruction, cfg: &mut Config| {
            apply_meta(&i, cfg, &mut a, &mut b, &lex, &mut m).unwrap()
        };
        assert_eq!(
            ap(
                Instruction::Env(vec![("A".into(), "1".into()), ("B".into(), "$A-x".into())]),
                &mut cfg
            ),
            "ENV A=1 B=-x"
        );
        // Words of one line see the environment from before it.
        assert_eq!(cfg.env(), &["A=1".to_string(), "B=-x".to_string()]);
        assert_eq!(
            ap(Instruction::Workdir("app".into()), &mut cfg),
            "WORKDIR /app"
        );
        assert_eq!(
            ap(Instruction::Workdir("../b/./c".into()), &mut cfg),
            "WORKDIR /b/c"
        );
        assert_eq!(
            ap(Instruction::Workdir("/x/./y".into()), &mut cfg),
            "WORKDIR /x/./y"
        );
        assert_eq!(
            ap(Instruction::Cmd(CmdLine::Shell("echo hi".into())), &mut cfg),
            "CMD [\"/bin/sh\" \"-c\" \"echo hi\"]"
        );
        assert_eq!(
            ap(
                Instruction::Expose(vec!["80".into(), "53/udp".into()]),
                &mut cfg
            ),
            "EXPOSE 53/udp 80"
        );
        assert!(cfg.exposed_ports.as_ref().unwrap().contains_key("53/udp"));
        assert_eq!(
            ap(
                Instruction::Volume(vec!["/data".into(), "/b".into()]),
                &mut cfg
            ),
            "VOLUME [/data /b]"
        );
        assert_eq!(
            ap(
                Instruction::Healthcheck(crate::instructions::Health {
                    test: vec!["CMD-SHELL".into(), "true".into()],
                    interval_ns: 5_000_000_000,
                    retries: 3,
                    ..Default::default()
                }),
                &mut cfg
            ),
            "HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"0s\" \"0s\" '\\x03'}"
        );
    }

    #[test]
    fn ports_and_signals() {
        assert_eq!(exposed_ports("8000-8002/udp").unwrap().len(), 3);
        assert_eq!(exposed_ports("80").unwrap(), vec!["80/tcp"]);
        assert!(exposed_ports("80/foo").is_err());
        assert!(valid_signal("SIGTERM") && valid_signal("9") && valid_signal("usr1"));
        assert!(!valid_signal("SIGFOO"));
        assert_eq!(
            run_created_by(
                &["/bin/sh".into(), "-c".into(), "x".into()],
                &["A=1".into()],
                true
            ),
            vec!["|1", "A=1", "/bin/sh", "-c", "x"]
        );
        assert_eq!(run_created_by(&["x".into()], &[], true), vec!["|0", "x"]);
        assert_eq!(run_created_by(&["x".into()], &[], false), vec!["x"]);
    }
}
