//! `docker volume`: create, ls, inspect, rm, prune.

use anyhow::Result;
use berth_api::cli::VolumeContext;
use berth_api::cli::volume_fields as vf;
use berth_api::filters::Filters;
use berth_api::query;
use berth_api::version::ApiVersion;
use berth_api::volume::{CreateRequest, Volume};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::commands::Ctx;
use crate::commands::container::misc::confirm;
use crate::commands::network::{context_exec_error, go_node_col, kv_map, natural_cmp};
use crate::credentials::Config;
use crate::format::{human_size, render, tval, unescape, with_json_form, with_method, with_title};
use crate::opts::filters;
use crate::template::{GO_TYPE, TVal, Template, go_map};

#[derive(Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
    /// Remove one or more volumes
    #[command(
        visible_alias = "remove",
        long_about = "Remove one or more volumes. You cannot remove a volume that is in use by a container."
    )]
    Rm(RmArgs),
}

#[derive(Args)]
#[command(override_usage = "berth volume create [OPTIONS] [VOLUME]")]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long, value_name = "map")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long, value_name = "string", hide = true, default_value = "")]
    pub name: String,
    #[arg(value_name = "VOLUME", hide = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth volume ls [OPTIONS]")]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    /// Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
    #[arg(long, value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth volume inspect [OPTIONS] VOLUME [VOLUME...]")]
pub struct InspectArgs {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    /// Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
    #[arg(short = 'f', long, value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", hide = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth volume rm [OPTIONS] VOLUME [VOLUME...]")]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "VOLUME", hide = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth volume prune [OPTIONS]")]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

pub fn dispatch(ctx: &Ctx, cmd: VolumeCmd) -> Result<i32> {
    match cmd {
        VolumeCmd::Create(a) => create(ctx, a),
        VolumeCmd::Inspect(a) => inspect(ctx, a),
        VolumeCmd::Ls(a) => ls(ctx, a),
        VolumeCmd::Prune(a) => prune(ctx, a),
        VolumeCmd::Rm(a) => rm(ctx, a),
    }
}

// ------------------------------------------------------- docker's arg checks

const CREATE_USAGE: &str = "[OPTIONS] [VOLUME]";
const LS_USAGE: &str = "[OPTIONS]";
const INSPECT_USAGE: &str = "[OPTIONS] VOLUME [VOLUME...]";
const RM_USAGE: &str = "[OPTIONS] VOLUME [VOLUME...]";
const PRUNE_USAGE: &str = "[OPTIONS]";

/// cobra's argument-count error (exit 1), in docker 28's words, down to its
/// "SRun" for RequiresMaxArgs.
fn arity(cmd: &str, usage: &str, what: &str) -> anyhow::Error {
    let verb = if what.starts_with("requires at least") {
        "See"
    } else if what.starts_with("requires at most") {
        "SRun"
    } else {
        "Run"
    };
    crate::status(
        1,
        format!(
            "docker: 'docker volume {cmd}' {what}\n\nUsage:  docker volume {cmd} {usage}\n\n{verb} 'docker volume {cmd} --help' for more information"
        ),
    )
}

/// A flag value rejected while parsing (exit 125), in docker's words.
fn bad_flag(cmd: &str, usage: &str, flag: &str, value: &str, why: &str) -> anyhow::Error {
    crate::status(
        125,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {why}\n\nUsage:  docker volume {cmd} {usage}\n\nRun 'docker volume {cmd} --help' for more information"
        ),
    )
}

/// `--filter` values as docker's FilterOpt takes them: `name=value`, and
/// empty ones ignored.
fn filter_flags(cmd: &str, usage: &str, flag: &str, flags: &[String]) -> Result<Filters> {
    let f: Vec<String> = flags.iter().filter(|f| !f.is_empty()).cloned().collect();
    if let Some(bad) = f.iter().find(|f| !f.contains('=')) {
        return Err(bad_flag(
            cmd,
            usage,
            flag,
            bad,
            "bad format of filter (expected name=value)",
        ));
    }
    filters(&f)
}

/// docker's opts.ValidateLabel: a key that is not empty once leading
/// blanks are trimmed, and holds no blanks.
fn validate_label(l: &str) -> Result<()> {
    const BLANKS: &[char] = &[' ', '\t'];
    let k = l.split_once('=').map_or(l, |(k, _)| k);
    let k = k.trim_start_matches(BLANKS);
    if k.is_empty() {
        return Err(bad_flag(
            "create",
            CREATE_USAGE,
            "--label",
            l,
            &format!("invalid label '{l}': empty name"),
        ));
    }
    if k.contains(BLANKS) {
        return Err(bad_flag(
            "create",
            CREATE_USAGE,
            "--label",
            l,
            &format!("label '{k}' contains whitespaces"),
        ));
    }
    Ok(())
}

/// The Go client's trimID: names are trimmed, and an empty one never
/// reaches the daemon.
fn volume_name(name: &str) -> Result<&str, String> {
    match name.trim() {
        "" => Err("invalid volume name or ID: value is empty".into()),
        n => Ok(n),
    }
}

// ------------------------------------------------------------------- create

fn create_body(a: &CreateArgs) -> Result<CreateRequest> {
    for l in &a.label {
        validate_label(l)?;
    }
    if a.names.len() > 1 {
        return Err(arity("create", CREATE_USAGE, "requires at most 1 argument"));
    }
    let name = match a.names.first() {
        Some(_) if !a.name.is_empty() => {
            return Err(crate::status(
                1,
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ));
        }
        Some(n) => n.clone(),
        None => a.name.clone(),
    };
    let opts = kv_map(&a.opt);
    let labels = kv_map(&a.label);
    Ok(CreateRequest {
        name,
        driver: a.driver.clone(),
        driver_opts: (!opts.is_empty()).then_some(opts),
        labels: (!labels.is_empty()).then_some(labels),
    })
}

pub fn create(ctx: &Ctx, a: CreateArgs) -> Result<i32> {
    let body = create_body(&a)?;
    let v = ctx.client()?.volume_create(&body)?;
    println!("{}", v.name);
    Ok(0)
}

// ----------------------------------------------------------------------- ls

const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";
const LS_CONTEXT_TYPE: &str = "*formatter.volumeContext";

fn header() -> TVal {
    let t = |s: &str| s.to_string();
    let h = tval(&VolumeContext {
        availability: t("AVAILABILITY"),
        driver: t("DRIVER"),
        group: t("GROUP"),
        labels: t("LABELS"),
        links: t("LINKS"),
        mountpoint: t("MOUNTPOINT"),
        name: t("VOLUME NAME"),
        scope: t("SCOPE"),
        size: t("SIZE"),
        status: t("STATUS"),
    });
    with_title(h, "Label", "LABEL")
}

fn row(v: &Volume) -> TVal {
    let labels = v.labels.clone().unwrap_or_default();
    let na = || "N/A".to_string();
    let ctx = VolumeContext {
        // cluster (swarm) volumes only
        availability: na(),
        group: na(),
        status: na(),
        driver: v.driver.clone(),
        labels: labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        links: v
            .usage_data
            .as_ref()
            .map_or_else(na, |u| u.ref_count.to_string()),
        mountpoint: v.mountpoint.clone(),
        name: v.name.clone(),
        scope: v.scope.clone(),
        size: v
            .usage_data
            .as_ref()
            .map_or_else(na, |u| human_size(u.size as f64)),
    };
    with_method(crate::format::context(&ctx), "Label", &labels)
}

/// docker's NewVolumeFormat: what `table` and `raw` stand for.
fn ls_format(format: &str, quiet: bool) -> &str {
    match format {
        "table" if quiet => "{{.Name}}",
        "table" => DEFAULT_TABLE,
        "raw" if quiet => "name: {{.Name}}",
        "raw" => "name: {{.Name}}\\ndriver: {{.Driver}}\\n",
        f => f,
    }
}

pub fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32> {
    let f = filter_flags("ls", LS_USAGE, "-f, --filter", &a.filter)?;
    if !a.args.is_empty() {
        return Err(arity("ls", LS_USAGE, "accepts no arguments"));
    }
    let client = ctx.client()?;
    let mut items = client
        .volume_list(&query::volume::List { filters: f })?
        .volumes;
    items.sort_by(|x, y| natural_cmp(&x.name, &y.name));
    let format = match a.format.clone().filter(|f| !f.is_empty()) {
        Some(f) => f,
        None => {
            let cfg = Config::load_default(ctx.config_dir.as_deref()).file;
            if !cfg.volumes_format.is_empty() && !a.quiet {
                cfg.volumes_format
            } else {
                "table".into()
            }
        }
    };
    let format = ls_format(&format, a.quiet);
    let body = match format.strip_prefix("table") {
        Some(rest) => rest.trim_start(),
        None if format == "json" => "",
        None => format,
    };
    if let Err(e) = Template::parse(&unescape(body)) {
        let msg = e.to_string();
        let msg = msg.strip_prefix("template: ").unwrap_or(&msg);
        return Err(crate::status(
            1,
            format!("template parsing error: template: :1: {msg}"),
        ));
    }
    let rows: Vec<TVal> = items.iter().map(row).collect();
    let text = render(format, &rows, &header())
        .map_err(|e| context_exec_error(body, &e.to_string(), LS_CONTEXT_TYPE))?;
    print!("{text}");
    Ok(0)
}

// ------------------------------------------------------------------ inspect

/// The volume as Go's json.Marshal writes the docker CLI's `volume.Volume`:
/// its fields in Go's order, the `omitempty` ones left out when empty.
fn go_json(v: &Volume) -> Value {
    let mut m = Map::new();
    let map = |x: &Option<berth_api::StringMap>| {
        x.as_ref()
            .map_or(Value::Null, |x| serde_json::to_value(x).unwrap_or_default())
    };
    if !v.created_at.is_empty() {
        m.insert(vf::CREATED_AT.into(), v.created_at.clone().into());
    }
    m.insert(vf::DRIVER.into(), v.driver.clone().into());
    m.insert(vf::LABELS.into(), map(&v.labels));
    m.insert(vf::MOUNTPOINT.into(), v.mountpoint.clone().into());
    m.insert(vf::NAME.into(), v.name.clone().into());
    m.insert(vf::OPTIONS.into(), map(&v.options));
    m.insert(vf::SCOPE.into(), v.scope.clone().into());
    if v.status.as_ref().is_some_and(|s| !s.is_empty()) {
        m.insert(vf::STATUS.into(), map(&v.status));
    }
    if let Some(u) = &v.usage_data {
        m.insert(vf::USAGE_DATA.into(), {
            let mut u2 = Map::new();
            u2.insert(vf::REF_COUNT.into(), u.ref_count.into());
            u2.insert(vf::SIZE.into(), u.size.into());
            Value::Object(u2)
        });
    }
    Value::Object(m)
}

/// Go's json.Marshal escapes `<`, `>`, `&`, U+2028 and U+2029 (only ever
/// inside strings in JSON text).
fn escape_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The volume as a template sees the Go struct: every field (nil maps print
/// `map[]`, nil pointers `<nil>`), unknown ones an error naming the type,
/// and `{{json .}}` its JSON.
fn template_data(v: &Volume) -> TVal {
    let json: TVal = serde_json::from_value(go_json(v)).unwrap_or(TVal::Null);
    let usage = match &v.usage_data {
        Some(u) => TVal::Obj(vec![
            (vf::REF_COUNT.into(), TVal::Int(u.ref_count)),
            (vf::SIZE.into(), TVal::Int(u.size)),
            (GO_TYPE.into(), TVal::s("volume.UsageData")),
        ]),
        None => TVal::Null,
    };
    let o = TVal::Obj(vec![
        (vf::CLUSTER_VOLUME.into(), TVal::Null),
        (vf::CREATED_AT.into(), TVal::s(v.created_at.as_str())),
        (vf::DRIVER.into(), TVal::s(v.driver.as_str())),
        (vf::LABELS.into(), go_map(v.labels.as_ref())),
        (vf::MOUNTPOINT.into(), TVal::s(v.mountpoint.as_str())),
        (vf::NAME.into(), TVal::s(v.name.as_str())),
        (vf::OPTIONS.into(), go_map(v.options.as_ref())),
        (vf::SCOPE.into(), TVal::s(v.scope.as_str())),
        (vf::STATUS.into(), go_map(v.status.as_ref())),
        (vf::USAGE_DATA.into(), usage),
        (GO_TYPE.into(), TVal::s("volume.Volume")),
    ]);
    // docker's `json` template function does not escape HTML
    with_json_form(o, json)
}

/// A template execution error as docker's inspect reports it, e.g.
/// `template parsing error: template: :1:2: executing "" at <.Nope>: can't
/// evaluate field Nope in type volume.Volume`.
fn inspect_exec_error(format: &str, msg: &str) -> String {
    let msg = msg.replacen(">: template: ", ">: ", 1);
    let msg = msg.strip_prefix("template: ").unwrap_or(&msg).to_string();
    let col = msg
        .split_once("at <")
        .and_then(|(_, r)| r.split_once('>'))
        .and_then(|(node, _)| go_node_col(format, node))
        .unwrap_or(0);
    format!("template parsing error: template: :1:{col}: {msg}")
}

pub fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<i32> {
    if a.names.is_empty() {
        return Err(arity(
            "inspect",
            INSPECT_USAGE,
            "requires at least 1 argument",
        ));
    }
    let format = a.format.clone().unwrap_or_default();
    let tmpl = match format.as_str() {
        "" | "json" => None,
        f => match Template::parse(&unescape(f)) {
            Ok(t) => Some(t),
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.strip_prefix("template: ").unwrap_or(&msg);
                return Err(crate::status(
                    64,
                    format!("template parsing error: template: :1: {msg}"),
                ));
            }
        },
    };
    let client = ctx.client()?;
    let unescaped = unescape(&format);
    let mut found = Vec::new();
    let mut out = String::new();
    let mut errors = Vec::new();
    for n in &a.names {
        let v = match volume_name(n) {
            Err(e) => {
                errors.push(e);
                continue;
            }
            Ok(n) => match client.volume_inspect(n) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            },
        };
        match &tmpl {
            None => found.push(v),
            Some(t) => match t.render(&template_data(&v)) {
                Ok(s) => {
                    out.push_str(&s);
                    out.push('\n');
                }
                Err(e) => errors.push(inspect_exec_error(&unescaped, &e.to_string())),
            },
        }
    }
    match tmpl {
        None => {
            let items: Vec<Value> = found.iter().map(go_json).collect();
            let text = if format == "json" {
                serde_json::to_string(&items)?
            } else {
                let mut buf = Vec::new();
                let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
                items.serialize(&mut ser)?;
                String::from_utf8(buf)?
            };
            println!("{}", escape_html(&text));
        }
        Some(_) => {
            // docker's TemplateInspector prints a newline when nothing else
            if out.is_empty() {
                out.push('\n');
            }
            print!("{out}");
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(crate::status(1, errors.join("\n")))
    }
}

// ----------------------------------------------------------------------- rm

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    if a.names.is_empty() {
        return Err(arity("rm", RM_USAGE, "requires at least 1 argument"));
    }
    let client = ctx.client()?;
    let mut errors = Vec::new();
    for n in &a.names {
        match volume_name(n) {
            Err(e) => errors.push(e),
            Ok(id) => match client.volume_remove(id, a.force) {
                Ok(()) => println!("{n}"),
                Err(e) => errors.push(e.to_string()),
            },
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(crate::status(1, errors.join("\n")))
    }
}

// -------------------------------------------------------------------- prune

const UNUSED_WARNING: &str =
    "WARNING! This will remove anonymous local volumes not used by at least one container.";
const ALL_WARNING: &str =
    "WARNING! This will remove all local volumes not used by at least one container.";

/// docker's command.PruneFilters: the config file's `pruneFilters` added to
/// the flags' (a `label` one the flags negate, or the reverse, left out).
fn with_config_filters(mut f: Filters, config: &[String]) -> Filters {
    for c in config {
        let Some((k, v)) = c.split_once('=') else {
            continue;
        };
        let negated = match k {
            "label" => "label!",
            "label!" => "label",
            _ => "",
        };
        if f.contains(negated) && f.exact(negated, v) {
            continue;
        }
        f.add(k, v);
    }
    f
}

pub fn prune(ctx: &Ctx, a: PruneArgs) -> Result<i32> {
    let client = ctx.client()?;
    if a.all && !client.version_at_least(ApiVersion(1, 42)) {
        // docker checks the flag's "version" annotation before the other
        // flags' values and the arguments
        return Err(crate::status(
            1,
            format!(
                "\"--all\" requires API version 1.42, but the Docker daemon API version is {}",
                client.api_version()
            ),
        ));
    }
    let f = filter_flags("prune", PRUNE_USAGE, "--filter", &a.filter)?;
    if !a.args.is_empty() {
        return Err(arity("prune", PRUNE_USAGE, "accepts no arguments"));
    }
    let cfg = Config::load_default(ctx.config_dir.as_deref()).file;
    let mut f = with_config_filters(f, &cfg.prune_filters);
    let mut warning = UNUSED_WARNING;
    if client.version_at_least(ApiVersion(1, 42)) {
        if a.all {
            if f.contains("all") {
                return Err(crate::status(
                    1,
                    "conflicting options: cannot specify both --all and --filter all=1",
                ));
            }
            f.add("all", "true");
            warning = ALL_WARNING;
        }
    } else {
        // before API 1.42 the daemon prunes named volumes too
        warning = ALL_WARNING;
    }
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let report = client.volume_prune(&query::container::Prune { filters: f })?;
    let deleted = report.volumes_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        // docker Fprintln's the report: a blank line ends it
        let mut out = String::from("Deleted Volumes:\n");
        for d in deleted {
            out.push_str(&d);
            out.push('\n');
        }
        println!("{out}");
    }
    println!(
        "Total reclaimed space: {}",
        human_size(report.space_reclaimed as f64)
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn body(args: &[&str]) -> Result<CreateRequest> {
        let mut argv = vec!["create"];
        argv.extend_from_slice(args);
        create_body(&T::try_parse_from(argv).unwrap().a)
    }

    #[test]
    fn create_bodies() {
        let b = body(&[]).unwrap();
        assert_eq!((b.name.as_str(), b.driver.as_str()), ("", "local"));
        assert!(b.labels.is_none() && b.driver_opts.is_none());
        let b = body(&[
            "--label",
            "a=b",
            "--label",
            "c",
            "-o",
            "type=tmpfs",
            "--opt",
            "o=size=1m",
            "v1",
        ])
        .unwrap();
        assert_eq!(b.name, "v1");
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["Labels"], serde_json::json!({"a": "b", "c": ""}));
        assert_eq!(
            v["DriverOpts"],
            serde_json::json!({"type": "tmpfs", "o": "size=1m"})
        );
        assert_eq!(body(&["--name", "n"]).unwrap().name, "n");
        let e = |args: &[&str]| body(args).unwrap_err().to_string();
        assert!(e(&["--name", "n", "m"]).starts_with("conflicting options"));
        assert!(e(&["a", "b"]).contains("requires at most 1 argument"));
        assert!(e(&["--label", "=x"]).contains("invalid label '=x': empty name"));
        assert!(e(&["--label", " k =v"]).contains("label 'k ' contains whitespaces"));
        // a bad label is found before the arguments are counted
        assert!(e(&["--label", "", "a", "b"]).contains("invalid label '': empty name"));
    }

    #[test]
    fn ls_rows() {
        let v = Volume {
            name: "v".into(),
            driver: "local".into(),
            scope: "local".into(),
            mountpoint: "/m".into(),
            labels: Some([("b".into(), "2".into()), ("a".into(), "1".into())].into()),
            ..Default::default()
        };
        let out = render(
            "{{.Name}} {{.Labels}} {{.Label \"a\"}} {{.Label \"x\"}}|{{.Size}} {{.Links}}",
            &[row(&v)],
            &header(),
        )
        .unwrap();
        assert_eq!(out, "v a=1,b=2 1 |N/A N/A\n");
        let out = render("json", &[row(&v)], &header()).unwrap();
        assert_eq!(
            out,
            "{\"Availability\":\"N/A\",\"Driver\":\"local\",\"Group\":\"N/A\",\"Labels\":\"a=1,b=2\",\
             \"Links\":\"N/A\",\"Mountpoint\":\"/m\",\"Name\":\"v\",\"Scope\":\"local\",\
             \"Size\":\"N/A\",\"Status\":\"N/A\"}\n"
        );
        let out = render(DEFAULT_TABLE, &[row(&v)], &header()).unwrap();
        assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     v\n");
        let e = render("{{.CreatedAt}}", &[row(&v)], &header()).unwrap_err();
        let e = context_exec_error("{{.CreatedAt}}", &e.to_string(), LS_CONTEXT_TYPE);
        assert_eq!(
            e.to_string(),
            "template parsing error: template: :1:2: executing \"\" at <.CreatedAt>: \
             can't evaluate field CreatedAt in type *formatter.volumeContext"
        );
        assert_eq!(ls_format("table", true), "{{.Name}}");
        let out = render("table {{.Label \"com.x-y_z\"}}", &[row(&v)], &header()).unwrap();
        assert_eq!(out, "x y z\n\n");
    }

    #[test]
    fn inspect_templates() {
        let v = Volume {
            name: "v".into(),
            driver: "local".into(),
            scope: "local".into(),
            mountpoint: "/m<".into(),
            created_at: "2026-01-02T03:04:05Z".into(),
            ..Default::default()
        };
        let r = |f: &str| {
            Template::parse(f)
                .unwrap()
                .render(&template_data(&v))
                .map_err(|e| inspect_exec_error(f, &e.to_string()))
        };
        assert_eq!(
            r("{{.Name}} {{.Labels}} {{.Status}} {{.UsageData}} {{len .Options}}").unwrap(),
            "v map[] map[] <nil> 0"
        );
        assert_eq!(
            r("{{json .}}").unwrap(),
            "{\"CreatedAt\":\"2026-01-02T03:04:05Z\",\"Driver\":\"local\",\"Labels\":null,\
             \"Mountpoint\":\"/m<\",\"Name\":\"v\",\"Options\":null,\"Scope\":\"local\"}"
        );
        assert_eq!(
            r("{{json .Labels}} {{.Labels.x}}").unwrap(),
            "null <no value>"
        );
        assert_eq!(
            r("{{.}}").unwrap(),
            "{<nil> 2026-01-02T03:04:05Z local map[] /m< v map[] local map[] <nil>}"
        );
        assert_eq!(
            r("{{.Nope}}").unwrap_err(),
            "template parsing error: template: :1:2: executing \"\" at <.Nope>: \
             can't evaluate field Nope in type volume.Volume"
        );
        assert_eq!(
            r("{{.Name.X}}").unwrap_err(),
            "template parsing error: template: :1:7: executing \"\" at <.Name.X>: \
             can't evaluate field X in type string"
        );
        let mut v2 = v.clone();
        v2.labels = Some([("A".into(), "b".into())].into());
        let t = Template::parse("{{.Labels}} {{.Labels.A}} {{index .Labels \"q\"}}|").unwrap();
        assert_eq!(t.render(&template_data(&v2)).unwrap(), "map[A:b] b |");
    }

    #[test]
    fn inspect_json_like_go() {
        let v = Volume {
            name: "v".into(),
            driver: "local".into(),
            labels: Some([("k".into(), "<&>".into())].into()),
            ..Default::default()
        };
        let j = escape_html(&serde_json::to_string(&[go_json(&v)]).unwrap());
        assert_eq!(
            j,
            "[{\"Driver\":\"local\",\"Labels\":{\"k\":\"\\u003c\\u0026\\u003e\"},\
             \"Mountpoint\":\"\",\"Name\":\"v\",\"Options\":null,\"Scope\":\"\"}]"
        );
    }

    #[test]
    fn config_prune_filters() {
        let f = Filters::new().with("label!", "a=1");
        let f = with_config_filters(
            f,
            &[
                "label=a=1".into(),
                "label=b".into(),
                "until=24h".into(),
                "bad".into(),
            ],
        );
        assert!(!f.exact("label", "a=1"));
        assert!(f.exact("label", "b") && f.exact("until", "24h"));
        let f = with_config_filters(Filters::new(), &["label=zz".into()]);
        assert_eq!(f.to_json(), r#"{"label":{"zz":true}}"#);
    }
}
