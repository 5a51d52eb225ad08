//! Typed instructions: each raw [`Node`] read as Docker's instruction
//! parser reads it (flags, forms, name=value pairs), grouped into stages.
//! Words are not expanded here: which words an instruction expands, and
//! with what, is the executor's business at dispatch time (see
//! [`crate::plan`]).

use crate::ast::{Dockerfile, Heredoc, Node};
use crate::parser::ParseError;

/// A command line in exec (JSON) or shell form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdLine {
    Exec(Vec<String>),
    Shell(String),
}

impl CmdLine {
    fn of(n: &Node) -> CmdLine {
        match &n.json {
            Some(v) => CmdLine::Exec(v.clone()),
            None => CmdLine::Shell(n.rest.clone()),
        }
    }

    /// The argv for a shell (`["/bin/sh","-c"]` by default): exec form as
    /// is, shell form appended to the shell.
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(s) => {
                let mut v = shell.to_vec();
                v.push(s.clone());
                v
            }
        }
    }
}

/// `HEALTHCHECK`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Health {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub start_period_ns: i64,
    pub start_interval_ns: i64,
    pub retries: i64,
}

/// `COPY` and `ADD`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Copy {
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub excludes: Vec<String>,
    /// `COPY <<EOF /dst`: sources that are here-documents.
    pub heredocs: Vec<Heredoc>,
}

/// `RUN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub cmd: CmdLine,
    /// `--mount=…` values, as written.
    pub mounts: Vec<String>,
    /// `--network=default|none|host`.
    pub network: Option<String>,
    /// `--security=…`.
    pub security: Option<String>,
    pub heredocs: Vec<Heredoc>,
}

/// One instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instruction {
    Arg(Vec<(String, Option<String>)>),
    Run(Run),
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Shell(Vec<String>),
    StopSignal(String),
    /// `None`: `HEALTHCHECK NONE`.
    Healthcheck(Health),
    Onbuild(String),
    Maintainer(String),
    Copy(Copy),
    Add(Copy),
}

/// An instruction with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    /// The instruction as written (`node.Original`), for `Step n/m : …`.
    pub original: String,
    pub instruction: Instruction,
}

/// `FROM … [AS name]` and what follows until the next FROM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages (`COPY --from=0`).
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base as written (expanded with the meta args at build time).
    pub base: String,
    pub platform: Option<String>,
    pub line: usize,
    pub original: String,
    pub steps: Vec<Step>,
}

/// The whole file: meta `ARG`s before the first FROM, then the stages.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Stages {
    pub meta_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
    pub escape: char,
}

fn err(n: &Node, message: impl Into<String>) -> ParseError {
    ParseError {
        line: n.start_line,
        message: message.into(),
    }
}

/// Splits `--name=value` / `--name` flags into (name, value).
fn flag_pairs(n: &Node) -> Vec<(String, Option<String>)> {
    n.flags
        .iter()
        .map(|f| {
            let f = f.trim_start_matches('-');
            match f.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(unquote(v))),
                None => (f.to_string(), None),
            }
        })
        .collect()
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Flags allowed per instruction; an unknown one is Docker's "unknown flag".
fn check_flags(n: &Node, allowed: &[&str]) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let pairs = flag_pairs(n);
    for (k, _) in &pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(err(n, format!("Unknown flag: {k}")));
        }
    }
    Ok(pairs)
}

fn flag(pairs: &[(String, Option<String>)], name: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone().unwrap_or_default())
}

fn bool_flag(n: &Node, pairs: &[(String, Option<String>)], name: &str) -> Result<bool, ParseError> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(false),
        Some((_, None)) => Ok(true),
        Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(err(
                n,
                format!("expecting boolean value for flag {name}, not: {v}"),
            )),
        },
    }
}

/// Docker's `parseWords`: whitespace-separated words, quotes and escapes
/// kept (expansion removes them later).
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push(c);
            esc = false;
            continue;
        }
        if c == escape && quote != Some('\'') {
            cur.push(c);
            esc = true;
            continue;
        }
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => {
                if c.is_whitespace() {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                } else {
                    if c == '"' || c == '\'' {
                        quote = Some(c);
                    }
                    cur.push(c);
                }
            }
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// `ENV`/`LABEL` arguments: `k=v k2="v 2"` pairs, or the legacy `k v…`.
fn name_vals(n: &Node, what: &str, escape: char) -> Result<Vec<(String, String)>, ParseError> {
    let words = split_words(&n.rest, escape);
    if words.is_empty() {
        return Err(err(n, format!("{what} requires at least one argument")));
    }
    if !words[0].contains('=') {
        // Legacy form: the first word is the name, the rest the value.
        if words.len() < 2 {
            return Err(err(n, format!("{what} must have two arguments")));
        }
        let name = words[0].clone();
        let value = n.rest[n.rest.find(&name).unwrap_or(0) + name.len()..]
            .trim()
            .to_string();
        return Ok(vec![(name, value)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(err(
                n,
                format!("Syntax error - can't find = in \"{w}\". Must be of the form: name=value"),
            ));
        };
        if k.is_empty() {
            return Err(err(n, format!("{what} names can not be blank")));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn one_arg(n: &Node, what: &str, escape: char) -> Result<String, ParseError> {
    let w = split_words(&n.rest, escape);
    if w.len() != 1 {
        return Err(err(n, format!("{what} requires exactly one argument")));
    }
    Ok(w[0].clone())
}

fn duration_flag(
    n: &Node,
    pairs: &[(String, Option<String>)],
    name: &str,
) -> Result<i64, ParseError> {
    let Some(v) = flag(pairs, name) else {
        return Ok(0);
    };
    if v.is_empty() {
        return Ok(0);
    }
    let d = berth_api::units::parse_go_duration(&v)
        .ok_or_else(|| err(n, format!("time: invalid duration \"{v}\"")))?;
    let ns = d.as_nanos() as i64;
    if ns != 0 && ns < 1_000_000 {
        return Err(err(
            n,
            format!("Interval \"{name}\" cannot be less than 1ms"),
        ));
    }
    Ok(ns)
}

fn copy_spec(n: &Node, add: bool, escape: char) -> Result<Copy, ParseError> {
    let what = if add { "ADD" } else { "COPY" };
    let allowed: &[&str] = if add {
        &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
            "unpack",
        ]
    } else {
        &["chown", "chmod", "link", "from", "parents", "exclude"]
    };
    let pairs = check_flags(n, allowed)?;
    let mut words = match &n.json {
        Some(v) => v.clone(),
        None => split_words(&n.rest, escape),
    };
    // Here-document sources are named by their `<<EOF` words.
    let heredocs = n.heredocs.clone();
    if !heredocs.is_empty() {
        words.retain(|w| !w.starts_with("<<"));
        if words.is_empty() {
            return Err(err(
                n,
                format!(
                    "{what} requires at least two arguments, but only one was provided. Destination could not be determined"
                ),
            ));
        }
    } else if words.len() < 2 {
        return Err(err(
            n,
            format!(
                "{what} requires at least two arguments, but only one was provided. Destination could not be determined"
            ),
        ));
    }
    let dest = words.pop().unwrap_or_default();
    Ok(Copy {
        sources: words,
        dest,
        from: flag(&pairs, "from"),
        chown: flag(&pairs, "chown").filter(|s| !s.is_empty()),
        chmod: flag(&pairs, "chmod").filter(|s| !s.is_empty()),
        link: bool_flag(n, &pairs, "link")?,
        parents: bool_flag(n, &pairs, "parents")?,
        checksum: flag(&pairs, "checksum").filter(|s| !s.is_empty()),
        keep_git_dir: bool_flag(n, &pairs, "keep-git-dir")?,
        excludes: pairs
            .iter()
            .filter(|(k, _)| k == "exclude")
            .filter_map(|(_, v)| v.clone())
            .collect(),
        heredocs,
    })
}

fn health(n: &Node, escape: char) -> Result<Health, ParseError> {
    let pairs = check_flags(
        n,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    )?;
    let words = split_words(&n.rest, escape);
    let Some(first) = words.first() else {
        return Err(err(n, "HEALTHCHECK requires an argument"));
    };
    match first.to_ascii_uppercase().as_str() {
        "NONE" => {
            if words.len() > 1 {
                return Err(err(n, "HEALTHCHECK NONE takes no arguments"));
            }
            if !pairs.is_empty() {
                return Err(err(n, "HEALTHCHECK NONE takes no arguments"));
            }
            Ok(Health {
                test: vec!["NONE".into()],
                ..Default::default()
            })
        }
        "CMD" => {
            let rest = n.rest.trim_start()[first.len()..].trim().to_string();
            if rest.is_empty() {
                return Err(err(n, "Missing command after HEALTHCHECK CMD"));
            }
            let test = match serde_json::from_str::<Vec<String>>(&rest) {
                Ok(v) if rest.starts_with('[') => {
                    let mut t = vec!["CMD".to_string()];
                    t.extend(v);
                    t
                }
                _ => vec!["CMD-SHELL".to_string(), rest],
            };
            let retries = match flag(&pairs, "retries") {
                Some(v) if !v.is_empty() => v.parse::<i64>().map_err(|_| {
                    err(
                        n,
                        format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"),
                    )
                })?,
                _ => 0,
            };
            if retries < 0 {
                return Err(err(n, "--retries cannot be negative"));
            }
            Ok(Health {
                test,
                interval_ns: duration_flag(n, &pairs, "interval")?,
                timeout_ns: duration_flag(n, &pairs, "timeout")?,
                start_period_ns: duration_flag(n, &pairs, "start-period")?,
                start_interval_ns: duration_flag(n, &pairs, "start-interval")?,
                retries,
            })
        }
        other => Err(err(
            n,
            format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)"),
        )),
    }
}

fn arg_pairs(n: &Node, escape: char) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let words = split_words(&n.rest, escape);
    if words.is_empty() {
        return Err(err(n, "ARG requires at least one argument"));
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) => {
                if k.is_empty() {
                    return Err(err(n, "ARG names can not be blank"));
                }
                out.push((k.to_string(), Some(v.to_string())));
            }
            None => out.push((w, None)),
        }
    }
    Ok(out)
}

/// Reads one node as an instruction (not FROM).
pub fn instruction(n: &Node, escape: char) -> Result<Instruction, ParseError> {
    let no_flags = |n: &Node| check_flags(n, &[]);
    let needs_arg = |n: &Node, what: &str| {
        if n.rest.is_empty() && n.json.is_none() {
            Err(err(n, format!("{what} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    Ok(match n.keyword.as_str() {
        "arg" => {
            no_flags(n)?;
            Instruction::Arg(arg_pairs(n, escape)?)
        }
        "run" => {
            let pairs = check_flags(n, &["mount", "network", "security"])?;
            if n.heredocs.is_empty() {
                needs_arg(n, "RUN")?;
            }
            Instruction::Run(Run {
                cmd: CmdLine::of(n),
                mounts: pairs
                    .iter()
                    .filter(|(k, _)| k == "mount")
                    .filter_map(|(_, v)| v.clone())
                    .collect(),
                network: flag(&pairs, "network"),
                security: flag(&pairs, "security"),
                heredocs: n.heredocs.clone(),
            })
        }
        "cmd" => {
            no_flags(n)?;
            Instruction::Cmd(CmdLine::of(n))
        }
        "entrypoint" => {
            no_flags(n)?;
            Instruction::Entrypoint(CmdLine::of(n))
        }
        "env" => {
            no_flags(n)?;
            Instruction::Env(name_vals(n, "ENV", escape)?)
        }
        "label" => {
            no_flags(n)?;
            Instruction::Label(name_vals(n, "LABEL", escape)?)
        }
        "expose" => {
            no_flags(n)?;
            let w = split_words(&n.rest, escape);
            if w.is_empty() {
                return Err(err(n, "EXPOSE requires at least one argument"));
            }
            Instruction::Expose(w)
        }
        "volume" => {
            no_flags(n)?;
            let v = match &n.json {
                Some(v) => v.clone(),
                None => split_words(&n.rest, escape),
            };
            if v.is_empty() {
                return Err(err(n, "VOLUME requires at least one argument"));
            }
            Instruction::Volume(v)
        }
        "user" => {
            no_flags(n)?;
            Instruction::User(one_arg(n, "USER", escape)?)
        }
        "workdir" => {
            no_flags(n)?;
            Instruction::Workdir(one_arg(n, "WORKDIR", escape)?)
        }
        "shell" => {
            no_flags(n)?;
            match &n.json {
                Some(v) if !v.is_empty() => Instruction::Shell(v.clone()),
                Some(_) => return Err(err(n, "SHELL requires at least one argument")),
                None => {
                    return Err(err(n, "SHELL requires the arguments to be in JSON form"));
                }
            }
        }
        "stopsignal" => {
            no_flags(n)?;
            Instruction::StopSignal(one_arg(n, "STOPSIGNAL", escape)?)
        }
        "healthcheck" => Instruction::Healthcheck(health(n, escape)?),
        "onbuild" => {
            no_flags(n)?;
            let expr = n.rest.trim().to_string();
            let kw = expr
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match kw.as_str() {
                "" => return Err(err(n, "ONBUILD requires at least one argument")),
                "ONBUILD" => {
                    return Err(err(
                        n,
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    ));
                }
                "MAINTAINER" | "FROM" => {
                    return Err(err(n, format!("{kw} isn't allowed as an ONBUILD trigger")));
                }
                _ => {}
            }
            Instruction::Onbuild(expr)
        }
        "maintainer" => {
            no_flags(n)?;
            if n.rest.is_empty() {
                return Err(err(n, "MAINTAINER requires exactly one argument"));
            }
            Instruction::Maintainer(n.rest.clone())
        }
        "copy" => Instruction::Copy(copy_spec(n, false, escape)?),
        "add" => Instruction::Add(copy_spec(n, true, escape)?),
        other => {
            return Err(err(
                n,
                format!("unknown instruction: {}", other.to_uppercase()),
            ));
        }
    })
}

/// Groups a parsed file into stages.
pub fn stages(df: &Dockerfile) -> Result<Stages, ParseError> {
    let escape = df.directives.escape;
    let mut out = Stages {
        escape,
        ..Default::default()
    };
    for n in &df.nodes {
        if n.keyword == "from" {
            let pairs = check_flags(n, &["platform"])?;
            let words = split_words(&n.rest, escape);
            let (base, name) = match words.len() {
                1 => (words[0].clone(), None),
                3 if words[1].eq_ignore_ascii_case("as") => {
                    let name = words[2].to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(err(
                            n,
                            format!(
                                "invalid name for build stage: \"{}\", name can't start with a number or contain symbols",
                                words[2]
                            ),
                        ));
                    }
                    if out.stages.iter().any(|s| s.name.as_deref() == Some(&name)) {
                        return Err(err(n, format!("duplicate stage name \"{}\"", words[2])));
                    }
                    (words[0].clone(), Some(name))
                }
                _ => return Err(err(n, "FROM requires either one or three arguments")),
            };
            out.stages.push(Stage {
                index: out.stages.len(),
                name,
                base,
                platform: flag(&pairs, "platform"),
                line: n.start_line,
                original: n.original.clone(),
                steps: Vec::new(),
            });
            continue;
        }
        let inst = instruction(n, escape)?;
        match out.stages.last_mut() {
            Some(s) => s.steps.push(Step {
                line: n.start_line,
                original: n.original.clone(),
                instruction: inst,
            }),
            None => match inst {
                Instruction::Arg(a) => out.meta_args.extend(a),
                _ => {
                    return Err(err(n, "no build stage in current context"));
                }
            },
        }
    }
    if out.stages.is_empty() {
        return Err(ParseError {
            line: 0,
            message: "file with no instructions".into(),
        });
    }
    Ok(out)
}

fn valid_stage_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_lowercase())
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn st(s: &str) -> Stages {
        stages(&parse(s).unwrap()).unwrap()
    }

    fn st_err(s: &str) -> String {
        match parse(s) {
            Err(e) => e.to_string(),
            Ok(df) => stages(&df).unwrap_err().to_string(),
        }
    }

    #[test]
    fn stages_and_meta_args() {
        let s = st(
            "ARG V=1\nFROM busybox:$V AS Build\nRUN true\nFROM scratch\nCOPY --from=build /a /b\n",
        );
        assert_eq!(s.meta_args, vec![("V".into(), Some("1".into()))]);
        assert_eq!(s.stages.len(), 2);
        assert_eq!(s.stages[0].name.as_deref(), Some("build"));
        assert_eq!(s.stages[0].base, "busybox:$V");
        match &s.stages[1].steps[0].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.from.as_deref(), Some("build"));
                assert_eq!(c.sources, vec!["/a"]);
                assert_eq!(c.dest, "/b");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn env_forms() {
        let s = st("FROM x\nENV a=1 b=\"two words\" c=3\nENV legacy some value here\n");
        assert_eq!(
            s.stages[0].steps[0].instruction,
            Instruction::Env(vec![
                ("a".into(), "1".into()),
                ("b".into(), "\"two words\"".into()),
                ("c".into(), "3".into())
            ])
        );
        assert_eq!(
            s.stages[0].steps[1].instruction,
            Instruction::Env(vec![("legacy".into(), "some value here".into())])
        );
    }

    #[test]
    fn cmd_forms() {
        let s = st("FROM x\nCMD [\"a\",\"b\"]\nENTRYPOINT echo hi\n");
        assert_eq!(
            s.stages[0].steps[0].instruction,
            Instruction::Cmd(CmdLine::Exec(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            s.stages[0].steps[1].instruction,
            Instruction::Entrypoint(CmdLine::Shell("echo hi".into()))
        );
        assert_eq!(
            CmdLine::Shell("echo".into()).argv(&["/bin/sh".into(), "-c".into()]),
            vec!["/bin/sh", "-c", "echo"]
        );
    }

    #[test]
    fn healthcheck() {
        let s = st(
            "FROM x\nHEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/\nHEALTHCHECK NONE\nHEALTHCHECK CMD [\"true\"]\n",
        );
        let Instruction::Healthcheck(h) = &s.stages[0].steps[0].instruction else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://x/"]);
        assert_eq!(h.interval_ns, 5_000_000_000);
        assert_eq!(h.retries, 3);
        let Instruction::Healthcheck(h) = &s.stages[0].steps[1].instruction else {
            panic!()
        };
        assert_eq!(h.test, vec!["NONE"]);
        let Instruction::Healthcheck(h) = &s.stages[0].steps[2].instruction else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD", "true"]);
    }

    #[test]
    fn errors_in_dockers_words() {
        assert_eq!(
            st_err("FROM x\nRUN true\nFOO bar\n"),
            "dockerfile parse error on line 3: unknown instruction: FOO"
        );
        assert_eq!(
            st_err("FROM x\nCOPY onlyone\n"),
            "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
        );
        assert_eq!(
            st_err("FROM x\nCOPY --bogus=1 a b\n"),
            "dockerfile parse error on line 2: Unknown flag: bogus"
        );
        assert_eq!(
            st_err("RUN true\n"),
            "dockerfile parse error on line 1: no build stage in current context"
        );
        assert!(st_err("FROM a b\n").contains("FROM requires either one or three arguments"));
        assert!(st_err("FROM x\nONBUILD ONBUILD RUN x\n").contains("Chaining ONBUILD"));
        assert!(st_err("FROM x\nSHELL /bin/bash -c\n").contains("JSON form"));
        assert!(st_err("FROM x AS a\nFROM y AS A\n").contains("duplicate stage name"));
    }

    #[test]
    fn copy_flags() {
        let s = st(
            "FROM x\nCOPY --chown=app:app --chmod=755 a b c/\nADD --checksum=sha256:abc http://h/f /f\n",
        );
        let Instruction::Copy(c) = &s.stages[0].steps[0].instruction else {
            panic!()
        };
        assert_eq!(c.chown.as_deref(), Some("app:app"));
        assert_eq!(c.chmod.as_deref(), Some("755"));
        assert_eq!(c.sources, vec!["a", "b"]);
        assert_eq!(c.dest, "c/");
        let Instruction::Add(a) = &s.stages[0].steps[1].instruction else {
            panic!()
        };
        assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            split_words(r#"a "b c" 'd e' f\ g"#, '\\'),
            vec!["a", "\"b c\"", "'d e'", "f\\ g"]
        );
    }

    #[test]
    fn args() {
        let s = st("FROM x\nARG a b=2\n");
        assert_eq!(
            s.stages[0].steps[0].instruction,
            Instruction::Arg(vec![("a".into(), None), ("b".into(), Some("2".into()))])
        );
    }
}
