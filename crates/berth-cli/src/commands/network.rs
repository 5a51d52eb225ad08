//! `docker network`: create, ls, inspect, rm, prune, connect, disconnect.

use std::cmp::Ordering;
use std::net::IpAddr;

use anyhow::{Result, anyhow, bail};
use berth_api::cli::NetworkContext;
use berth_api::filters::Filters;
use berth_api::network::{
    ConfigReference, ConnectRequest, CreateRequest, DisconnectRequest, EndpointIpamConfig,
    EndpointSettings, Inspect, Ipam, IpamConfig,
};
use berth_api::version::ApiVersion;
use berth_api::{StringMap, query};
use clap::{Args, Subcommand};

use crate::commands::Ctx;
use crate::commands::container::inspect::print_inspect;
use crate::commands::container::misc::confirm;
use crate::format::{render, short_id, tval, unescape, with_method, with_title};
use crate::opts::filters;
use crate::template::{TVal, Template};

#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Args)]
#[command(override_usage = "berth network create [OPTIONS] NETWORK")]
pub struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from", value_name = "string")]
    pub config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long, value_name = "string", default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings", value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment (default true)
    #[arg(long, value_name = "bool", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv4: Option<String>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, value_name = "bool", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv6: Option<String>,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long, value_name = "map")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long, value_name = "string")]
    pub scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub subnet: Vec<String>,
    #[arg(value_name = "NETWORK", hide = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth network ls [OPTIONS]")]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
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
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth network inspect [OPTIONS] NETWORK [NETWORK...]")]
pub struct InspectArgs {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    /// Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
    #[arg(short = 'f', long, value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(value_name = "NETWORK", hide = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth network rm NETWORK [NETWORK...]")]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "NETWORK", hide = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth network prune [OPTIONS]")]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth network connect [OPTIONS] NETWORK CONTAINER")]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(
        long = "gw-priority",
        value_name = "int",
        default_value_t = 0,
        hide_default_value = true,
        allow_hyphen_values = true,
        verbatim_doc_comment
    )]
    pub gw_priority: i64,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long, value_name = "string")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_name = "list")]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings", value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    #[arg(value_name = "NETWORK", hide = true)]
    pub args: Vec<String>,
}

#[derive(Args)]
#[command(override_usage = "berth network disconnect [OPTIONS] NETWORK CONTAINER")]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "NETWORK", hide = true)]
    pub args: Vec<String>,
}

pub fn dispatch(ctx: &Ctx, cmd: NetworkCmd) -> Result<i32> {
    match cmd {
        NetworkCmd::Connect(a) => connect(ctx, a),
        NetworkCmd::Create(a) => create(ctx, a),
        NetworkCmd::Disconnect(a) => disconnect(ctx, a),
        NetworkCmd::Inspect(a) => inspect(ctx, a),
        NetworkCmd::Ls(a) => ls(ctx, a),
        NetworkCmd::Prune(a) => prune(ctx, a),
        NetworkCmd::Rm(a) => rm(ctx, a),
    }
}

// ------------------------------------------------------- docker's arg checks

/// cobra's argument-count error (exit 1), in docker's words.
fn arity(cmd: &str, usage: &str, what: &str) -> anyhow::Error {
    // docker's own inconsistency: RequiresMinArgs says "See", the others "Run".
    let verb = if what.starts_with("requires at least") {
        "See"
    } else {
        "Run"
    };
    crate::status(
        1,
        format!(
            "docker: 'docker network {cmd}' {what}\n\nUsage:  docker network {cmd} {usage}\n\n{verb} 'docker network {cmd} --help' for more information"
        ),
    )
}

/// A flag value rejected while parsing (exit 125), in docker's words.
fn bad_flag(cmd: &str, usage: &str, flag: &str, value: &str, why: &str) -> anyhow::Error {
    crate::status(
        125,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {why}\n\nUsage:  docker network {cmd} {usage}\n\nRun 'docker network {cmd} --help' for more information"
        ),
    )
}

/// `--filter` values: `name=value`, as docker's FilterOpt checks them.
fn check_filters(cmd: &str, usage: &str, flag: &str, filters: &[String]) -> Result<()> {
    for f in filters.iter().filter(|f| !f.is_empty()) {
        if !f.contains('=') {
            return Err(bad_flag(
                cmd,
                usage,
                flag,
                f,
                "bad format of filter (expected name=value)",
            ));
        }
    }
    Ok(())
}

fn filters_of(flags: &[String]) -> Result<Filters> {
    let f: Vec<String> = flags.iter().filter(|f| !f.is_empty()).cloned().collect();
    filters(&f)
}

/// Go's strconv.ParseBool.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `k=v` flags (docker's MapOpts) into a map; a bare `k` maps to "".
pub(crate) fn kv_map(items: &[String]) -> StringMap {
    let mut m = StringMap::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i, ""));
        m.insert(k.to_string(), v.to_string());
    }
    m
}

// ------------------------------------------------------------------- create

/// Go's net.ParseCIDR: the network (address masked) and its prefix length.
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || bits.len() > 3 {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then(|| (mask(ip, bits), bits))
}

fn mask(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// docker's subnetMatches: whether `data` (an address, or an address/prefix)
/// lies in `subnet`.
fn subnet_matches(subnet: &str, data: &str) -> Result<bool> {
    let (net, bits) = parse_cidr(subnet)
        .ok_or_else(|| anyhow!("invalid subnet: invalid CIDR address: {subnet}"))?;
    let ip = if let Some((addr, _)) = data.split_once('/') {
        parse_cidr(data).ok_or_else(|| anyhow!("invalid CIDR address: {data}"))?;
        addr.parse::<IpAddr>().ok()
    } else {
        data.parse::<IpAddr>().ok()
    };
    let ip = match (ip, net) {
        (Some(IpAddr::V6(v6)), IpAddr::V4(_)) => v6.to_ipv4_mapped().map(IpAddr::V4),
        (ip, _) => ip,
    };
    Ok(match ip {
        Some(ip) if ip.is_ipv4() == net.is_ipv4() => mask(ip, bits) == net,
        _ => false,
    })
}

/// docker's createIPAMConfig: ranges, gateways and auxiliary addresses
/// grouped under the subnet they belong to.
fn ipam_config(a: &CreateArgs) -> Result<Vec<IpamConfig>> {
    if a.subnet.len() < a.ip_range.len() || a.subnet.len() < a.gateway.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let mut cfgs: Vec<IpamConfig> = Vec::new();
    for s in &a.subnet {
        for k in &cfgs {
            if subnet_matches(s, &k.subnet)? || subnet_matches(&k.subnet, s)? {
                bail!("multiple overlapping subnet configuration is not supported");
            }
        }
        cfgs.push(IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        });
    }
    for r in &a.ip_range {
        let mut matched = false;
        for c in cfgs.iter_mut() {
            if parse_cidr(r).is_none() {
                bail!("invalid CIDR address: {r}");
            }
            if !subnet_matches(&c.subnet, r)? {
                continue;
            }
            if !c.ip_range.is_empty() {
                bail!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                    c.ip_range,
                    c.subnet
                );
            }
            c.ip_range = r.clone();
            matched = true;
        }
        if !matched {
            bail!("no matching subnet for range {r}");
        }
    }
    for g in &a.gateway {
        let mut matched = false;
        for c in cfgs.iter_mut() {
            if !subnet_matches(&c.subnet, g)? {
                continue;
            }
            if !c.gateway.is_empty() {
                bail!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                    c.gateway,
                    c.subnet
                );
            }
            c.gateway = g.clone();
            matched = true;
        }
        if !matched {
            bail!("no matching subnet for gateway {g}");
        }
    }
    for (k, addr) in kv_map(&a.aux_address) {
        let mut matched = false;
        for c in cfgs.iter_mut() {
            if subnet_matches(&c.subnet, &addr)? {
                c.auxiliary_addresses
                    .get_or_insert_default()
                    .insert(k.clone(), addr.clone());
                matched = true;
            }
        }
        if !matched {
            bail!("no matching subnet for aux-address {addr}");
        }
    }
    Ok(cfgs)
}

/// The body of `POST /networks/create`.
fn create_body(a: &CreateArgs, name: &str) -> Result<CreateRequest> {
    const USAGE: &str = "[OPTIONS] NETWORK";
    for l in &a.label {
        let k = l.split_once('=').map_or(l.as_str(), |(k, _)| k).trim();
        if k.is_empty() {
            return Err(bad_flag(
                "create",
                USAGE,
                "--label",
                l,
                &format!("invalid label '{l}': empty name"),
            ));
        }
        if k.contains(char::is_whitespace) {
            return Err(bad_flag(
                "create",
                USAGE,
                "--label",
                l,
                &format!("label '{k}' contains whitespaces"),
            ));
        }
    }
    let flag_bool = |flag: &str, v: &Option<String>| -> Result<Option<bool>> {
        match v {
            None => Ok(None),
            Some(s) => parse_bool(s).map(Some).ok_or_else(|| {
                bad_flag(
                    "create",
                    USAGE,
                    flag,
                    s,
                    &format!("strconv.ParseBool: parsing \"{s}\": invalid syntax"),
                )
            }),
        }
    };
    let ipv4 = flag_bool("--ipv4", &a.ipv4)?;
    let ipv6 = flag_bool("--ipv6", &a.ipv6)?;
    let cfgs = ipam_config(a)?;
    let opts = kv_map(&a.opt);
    let labels = kv_map(&a.label);
    Ok(CreateRequest {
        name: name.to_string(),
        driver: a.driver.clone(),
        scope: a.scope.clone().unwrap_or_default(),
        enable_ipv4: ipv4,
        enable_ipv6: ipv6,
        ipam: Some(Ipam {
            driver: a.ipam_driver.clone(),
            options: Some(kv_map(&a.ipam_opt)),
            config: Some(cfgs),
        }),
        internal: a.internal,
        attachable: a.attachable,
        ingress: a.ingress,
        config_only: a.config_only,
        config_from: a
            .config_from
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|c| ConfigReference { network: c.into() }),
        options: (!opts.is_empty()).then_some(opts),
        labels: (!labels.is_empty()).then_some(labels),
        ..Default::default()
    })
}

pub fn create(ctx: &Ctx, a: CreateArgs) -> Result<i32> {
    if a.names.len() != 1 {
        return Err(arity("create", "[OPTIONS] NETWORK", "requires 1 argument"));
    }
    let mut body = create_body(&a, &a.names[0])?;
    let client = ctx.client()?;
    // As the Go client: daemons before API 1.44 refuse a duplicate name
    // only when asked to.
    body.check_duplicate = !client.version_at_least(ApiVersion(1, 44));
    let v = client.network_create(&body)?;
    if !v.warning.is_empty() {
        eprintln!("{}", v.warning);
    }
    println!("{}", v.id);
    Ok(0)
}

// ----------------------------------------------------------------------- ls

fn header() -> TVal {
    let t = |s: &str| s.to_string();
    let h = NetworkContext {
        created_at: t("CREATED AT"),
        driver: t("DRIVER"),
        id: t("NETWORK ID"),
        ipv4: t("IPV4"),
        ipv6: t("IPV6"),
        internal: t("INTERNAL"),
        labels: t("LABELS"),
        name: t("NAME"),
        scope: t("SCOPE"),
    };
    with_title(tval(&h), "Label", "LABEL")
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// fvbommel/sortorder's NaturalLess: digit runs compare as numbers, digits
/// sort before other bytes.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (nz_a, nz_b) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (la, lb) = (i - nz_a, j - nz_b);
        if la != lb {
            return la.cmp(&lb);
        }
        let (na, nb) = (&a[nz_a..i], &b[nz_b..j]);
        if na != nb {
            return na.cmp(nb);
        }
        if nz_a != nz_b {
            return nz_a.cmp(&nz_b);
        }
    }
    (a.len()).cmp(&b.len())
}

/// Go's time.Time String() for the daemon's RFC 3339 `Created`.
fn go_time_string(rfc: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc) else {
        return "0001-01-01 00:00:00 +0000 UTC".into();
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.format("%z").to_string();
    let zone = if rfc.ends_with('Z') || rfc.ends_with('z') || off == "+0000" {
        "UTC".to_string()
    } else {
        off.clone()
    };
    format!("{s} {off} {zone}")
}

fn row(n: &Inspect, trunc: bool) -> TVal {
    let labels = n
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let ctx = NetworkContext {
        created_at: go_time_string(&n.created),
        driver: n.driver.clone(),
        id: if trunc { short_id(&n.id) } else { n.id.clone() },
        ipv4: n.enable_ipv4.to_string(),
        ipv6: n.enable_ipv6.to_string(),
        internal: n.internal.to_string(),
        labels,
        name: n.name.clone(),
        scope: n.scope.clone(),
    };
    with_method(crate::format::context(&ctx), "Label", &n.labels)
}

pub fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32> {
    if !a.args.is_empty() {
        return Err(arity("ls", "[OPTIONS]", "accepts no arguments"));
    }
    check_filters("ls", "[OPTIONS]", "-f, --filter", &a.filter)?;
    let client = ctx.client()?;
    let mut items = client.network_list(&query::network::List {
        filters: filters_of(&a.filter)?,
    })?;
    items.sort_by(|x, y| natural_cmp(&x.name, &y.name));
    let format = match a.format.as_deref().unwrap_or("") {
        "" | "table" if a.quiet => "{{.ID}}",
        "" | "table" => DEFAULT_TABLE,
        "raw" if a.quiet => "network_id: {{.ID}}",
        "raw" => {
            "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n"
        }
        f => f,
    };
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
    let rows: Vec<TVal> = items.iter().map(|n| row(n, !a.no_trunc)).collect();
    let text = render(format, &rows, &header()).map_err(|e| exec_error(body, &e.to_string()))?;
    print!("{text}");
    Ok(0)
}

/// A template execution error in docker's words, e.g. `template parsing
/// error: template: :1:2: executing "" at <.Nope>: can't evaluate field Nope
/// in type *network.networkContext`.
fn exec_error(format: &str, msg: &str) -> anyhow::Error {
    context_exec_error(format, msg, "*network.networkContext")
}

/// As [`exec_error`], for the docker CLI format context of Go type `typ`.
pub(crate) fn context_exec_error(format: &str, msg: &str, typ: &str) -> anyhow::Error {
    let node = msg
        .split_once("at <")
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(n, _)| n);
    let msg = msg.replacen(">: template: ", ">: ", 1);
    let msg = msg.strip_prefix("template: ").unwrap_or(&msg);
    if msg.starts_with("function \"") && msg.ends_with("not defined") {
        // Go finds undefined functions while parsing.
        return crate::status(1, format!("template parsing error: template: :1: {msg}"));
    }
    let col = node
        .and_then(|n| go_node_col(&unescape(format), n))
        .unwrap_or(0);
    let msg = match (node, msg.contains("map has no entry for key")) {
        (Some(n), true) => format!(
            "executing \"\" at <{n}>: can't evaluate field {} in type {typ}",
            msg.split_once("map has no entry for key \"")
                .and_then(|(_, k)| k.split_once('"'))
                .map_or_else(|| n.rsplit('.').next().unwrap_or(n), |(k, _)| k)
        ),
        _ => msg.to_string(),
    };
    crate::status(
        1,
        format!("template parsing error: template: :1:{col}: {msg}"),
    )
}

/// Where Go's text/template places a failing node such as `.Name.X`: at
/// its second field when it has several (the parser makes a chain of them).
pub(crate) fn go_node_col(format: &str, node: &str) -> Option<usize> {
    let at = format.find(node)?;
    let fields: Vec<&str> = node.split('.').collect();
    Some(match fields.as_slice() {
        ["", first, _, ..] => at + 1 + first.len(),
        _ => at,
    })
}

// ------------------------------------------------------------------ inspect

pub fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<i32> {
    if a.names.is_empty() {
        return Err(arity(
            "inspect",
            "[OPTIONS] NETWORK [NETWORK...]",
            "requires at least 1 argument",
        ));
    }
    let client = ctx.client()?;
    let q = query::network::Inspect {
        verbose: a.verbose,
        scope: String::new(),
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        if n.is_empty() {
            errors.push("Error: No such network: ".to_string());
            continue;
        }
        match client.network_inspect_bytes(n, &q) {
            Ok(r) => raws.push(r),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if a.format.as_deref() == Some("json") {
        // docker's JSON inspector: one compact array.
        let items: Vec<String> = raws
            .iter()
            .map(|r| compact_json(&String::from_utf8_lossy(r)))
            .collect();
        println!("[{}]", items.join(","));
    } else {
        print_inspect(&raws, a.format.as_deref())?;
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(crate::status(1, errors.join("\n")))
    }
}

/// Raw JSON without the whitespace between tokens, keeping the key order.
fn compact_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_str, mut esc) = (false, false);
    for c in raw.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

// ----------------------------------------------------------------------- rm

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    if a.names.is_empty() {
        return Err(arity(
            "rm",
            "NETWORK [NETWORK...]",
            "requires at least 1 argument",
        ));
    }
    let client = ctx.client()?;
    let mut failed = false;
    for n in &a.names {
        match client.network_remove(n) {
            Ok(_) => println!("{n}"),
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        // docker's StatusError for network rm carries this text.
        Err(crate::status(1, "exit status 1"))
    } else {
        Ok(0)
    }
}

// -------------------------------------------------------------------- prune

pub fn prune(ctx: &Ctx, a: PruneArgs) -> Result<i32> {
    if !a.args.is_empty() {
        return Err(arity("prune", "[OPTIONS]", "accepts no arguments"));
    }
    check_filters("prune", "[OPTIONS]", "--filter", &a.filter)?;
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(0);
    }
    let client = ctx.client()?;
    let v = client.network_prune(&query::container::Prune {
        filters: filters_of(&a.filter)?,
    })?;
    let deleted = v.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        // docker prints the report with Fprintln: a blank line ends it.
        let mut out = String::from("Deleted Networks:\n");
        for d in deleted {
            out.push_str(&d);
            out.push('\n');
        }
        println!("{out}");
    }
    Ok(0)
}

// ------------------------------------------------------ connect, disconnect

pub fn connect(ctx: &Ctx, a: ConnectArgs) -> Result<i32> {
    if a.args.len() != 2 {
        return Err(arity(
            "connect",
            "[OPTIONS] NETWORK CONTAINER",
            "requires 2 arguments",
        ));
    }
    let mut driver_opts = StringMap::new();
    for o in &a.driver_opt {
        match o.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                driver_opts.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => bail!("invalid key/value pair format in driver options"),
        }
    }
    let ipam = EndpointIpamConfig {
        ipv4_address: a.ip.clone().unwrap_or_default(),
        ipv6_address: a.ip6.clone().unwrap_or_default(),
        link_local_ips: (!a.link_local_ip.is_empty()).then(|| a.link_local_ip.clone()),
    };
    let body = ConnectRequest {
        container: a.args[1].clone(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: Some(ipam),
            links: (!a.link.is_empty()).then(|| a.link.clone()),
            aliases: Some(a.alias.clone()),
            driver_opts: Some(driver_opts),
            gw_priority: a.gw_priority,
            ..Default::default()
        }),
    };
    let client = ctx.client()?;
    client.network_connect(&a.args[0], &body)?;
    Ok(0)
}

pub fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> Result<i32> {
    if a.args.len() != 2 {
        return Err(arity(
            "disconnect",
            "[OPTIONS] NETWORK CONTAINER",
            "requires 2 arguments",
        ));
    }
    let body = DisconnectRequest {
        container: a.args[1].clone(),
        force: a.force,
    };
    let client = ctx.client()?;
    client.network_disconnect(&a.args[0], &body)?;
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
        let t = T::try_parse_from(argv).unwrap();
        create_body(&t.a, "n")
    }

    #[test]
    fn natural_order() {
        let mut v = vec![
            "net10", "net2", "bridge", "Net", "host", "net02", "none", "1a",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "1a", "Net", "bridge", "host", "net2", "net02", "net10", "none"
            ]
        );
    }

    #[test]
    fn create_bodies() {
        let v = serde_json::to_value(body(&[]).unwrap()).unwrap();
        assert_eq!(v["Name"], "n");
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(
            v["IPAM"],
            serde_json::json!({"Driver": "default", "Options": {}, "Config": []})
        );
        assert!(v.get("EnableIPv6").is_none() && v["Labels"].is_null());
        let b = body(&[
            "--subnet",
            "10.1.2.0/24",
            "--gateway",
            "10.1.2.1",
            "--ip-range",
            "10.1.2.128/25",
            "--internal",
            "--attachable",
            "--ipv6",
            "--label",
            "a=b",
            "--label",
            "c",
            "-o",
            "com.docker.network.bridge.name=br9",
        ])
        .unwrap();
        let v = serde_json::to_value(b).unwrap();
        assert_eq!(v["EnableIPv6"], true);
        assert_eq!(v["Internal"], true);
        assert_eq!(v["Attachable"], true);
        assert_eq!(v["Labels"], serde_json::json!({"a": "b", "c": ""}));
        assert_eq!(
            v["Options"],
            serde_json::json!({"com.docker.network.bridge.name": "br9"})
        );
        assert_eq!(
            v["IPAM"],
            serde_json::json!({"Driver": "default", "Options": {}, "Config": [
                {"Subnet": "10.1.2.0/24", "IPRange": "10.1.2.128/25", "Gateway": "10.1.2.1"}]})
        );
        let e = |args: &[&str]| body(args).unwrap_err().to_string();
        assert_eq!(
            e(&["--gateway", "10.0.0.1"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24", "--gateway", "x"]),
            "no matching subnet for gateway x"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24", "--ip-range", "x"]),
            "invalid CIDR address: x"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.0/33"]),
            "invalid CIDR address: 10.0.0.0/33"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24,10.0.0.0/16"]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            e(&["--subnet", "x", "--gateway", "10.0.0.1"]),
            "invalid subnet: invalid CIDR address: x"
        );
        assert!(e(&["--ipv6=maybe"]).contains("strconv.ParseBool"));
        assert!(e(&["--label", ""]).contains("invalid label '': empty name"));
    }

    #[test]
    fn compact() {
        assert_eq!(
            compact_json("{\"a b\": [1, 2],\n \"c\": \"x \\\" y\"}\n"),
            "{\"a b\":[1,2],\"c\":\"x \\\" y\"}"
        );
    }

    #[test]
    fn go_times() {
        assert_eq!(
            go_time_string("2025-03-04T05:06:07.120000000Z"),
            "2025-03-04 05:06:07.12 +0000 UTC"
        );
        assert_eq!(
            go_time_string("0001-01-01T00:00:00Z"),
            "0001-01-01 00:00:00 +0000 UTC"
        );
    }
}
