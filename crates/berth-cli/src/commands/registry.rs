//! `docker login`, `docker logout`, `docker search`, and the login prompt
//! that pull, push and search fall back to when the daemon answers 401.

use std::io::Read;

use anyhow::{Result, anyhow};
use berth_api::auth::AuthConfig;
use berth_api::cli::SearchContext;
use berth_api::query;
use clap::Args;

use crate::commands::Ctx;
use crate::credentials::{Config, INDEX_SERVER, convert_to_hostname};
use crate::format::{context, ellipsis, render, tval};
use crate::prompt;

#[derive(Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    #[arg(value_name = "SERVER")]
    pub server: Vec<String>,
}

#[derive(Args)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Vec<String>,
}

#[derive(Args)]
pub struct SearchArgs {
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub limit: i64,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "TERM")]
    pub term: Vec<String>,
}

/// docker's argument-count error (cobra's `ExactArgs`, `RequiresMaxArgs`).
pub fn args_error(cmd: &str, want: &str, usage: &str) -> anyhow::Error {
    // docker 28's "at most" message has a stray "S" before "Run".
    let s = if want.starts_with("at most") { "S" } else { "" };
    // `image pull` as typed
    let path = crate::command_path();
    let cmd = if path.ends_with(cmd) {
        path.as_str()
    } else {
        cmd
    };
    crate::status(
        1,
        format!(
            "docker: 'docker {cmd}' requires {want}\n\nUsage:  docker {cmd} {usage}\n\n{s}Run 'docker {cmd} --help' for more information"
        ),
    )
}

/// docker's flag-value error.
fn flag_error(cmd: &str, usage: &str, value: &str, flag: &str, why: &str) -> anyhow::Error {
    crate::status(
        125,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {why}\n\nUsage:  docker {cmd} {usage}\n\nRun 'docker {cmd} --help' for more information"
        ),
    )
}

/// docker's `RegistryAuthenticationPrivilegedFunc`: after a 401, asks for
/// credentials (as docker 28 does, with Docker Hub's hints whatever the
/// registry) and returns them for one more try.
pub fn request_privilege(cfg: &Config, key: &str, cmd: &str) -> Result<AuthConfig> {
    println!("\nLogin prior to {cmd}:");
    let server = if key == INDEX_SERVER {
        key.to_string()
    } else {
        convert_to_hostname(key)
    };
    let stored = match cfg.get(&server) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Unable to retrieve stored credentials for {INDEX_SERVER}, error: {e:#}.");
            AuthConfig::default()
        }
    };
    let mut a = prompt::user_credentials("", "", &stored.username, INDEX_SERVER)?;
    a.serveraddress = server;
    Ok(a)
}

/// Calls `f` with the stored credentials; on a 401, once more with what
/// the user types (docker's PrivilegeFunc).
pub fn with_privilege<T>(
    cfg: &Config,
    key: &str,
    auth: &AuthConfig,
    cmd: &str,
    mut f: impl FnMut(&AuthConfig) -> berth_client::Result<T>,
) -> Result<T> {
    match f(auth) {
        Err(e) if e.status() == Some(401) => {
            let a = request_privilege(cfg, key, cmd)?;
            Ok(f(&a)?)
        }
        r => Ok(r?),
    }
}

pub fn login(ctx: &Ctx, a: LoginArgs) -> Result<i32> {
    if a.server.len() > 1 {
        return Err(args_error(
            "login",
            "at most 1 argument",
            "[OPTIONS] [SERVER]",
        ));
    }
    // verifyLoginFlags
    if a.password_stdin {
        if a.password.is_some() {
            return Err(anyhow!(
                "conflicting options: cannot specify both --password and --password-stdin"
            ));
        }
        if a.username.is_none() {
            return Err(anyhow!(
                "the --password-stdin option requires --username to be set"
            ));
        }
    }
    if a.username.as_deref() == Some("") {
        return Err(anyhow!("username is empty"));
    }
    if a.password.as_deref() == Some("") {
        return Err(anyhow!("password is empty"));
    }
    let user = a.username.clone().unwrap_or_default();
    let mut password = a.password.clone().unwrap_or_default();
    // verifyLoginOptions
    if !password.is_empty() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password_stdin {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        let s = String::from_utf8_lossy(&buf).into_owned();
        let s = s.strip_suffix('\n').unwrap_or(&s);
        password = s.strip_suffix('\r').unwrap_or(s).to_string();
    }

    let server = match a.server.first().map(String::as_str) {
        Some(s) if !s.is_empty() && s != "docker.io" => s.to_string(),
        _ => INDEX_SERVER.to_string(),
    };
    let is_default = server == INDEX_SERVER;
    let mut cfg = Config::load_default(ctx.config_dir.as_deref());

    // GetDefaultAuthConfig
    let server = if is_default {
        server
    } else {
        convert_to_hostname(&server)
    };
    let check_store = user.is_empty() && password.is_empty();
    let (mut stored, stored_err) = if check_store {
        match cfg.get(&server) {
            Ok(a) => (a, false),
            Err(_) => (AuthConfig::default(), true),
        }
    } else {
        (AuthConfig::default(), false)
    };
    stored.serveraddress = server.clone();
    stored.identitytoken.clear();

    // Connected when first needed, as docker's client is.
    let mut client: Option<berth_client::Client> = None;
    let mut login_with = |a: &AuthConfig| -> Result<berth_api::auth::AuthResponse> {
        if client.is_none() {
            client = Some(ctx.client()?);
        }
        Ok(client.as_ref().expect("connected").login(a)?)
    };
    let mut msg = String::new();
    let mut failed = stored_err;
    if !stored_err && !stored.username.is_empty() && !stored.password.is_empty() {
        // loginWithStoredCredentials
        eprintln!(
            "Authenticating with existing credentials... [Username: {}]",
            stored.username
        );
        prompt::note(
            &mut std::io::stderr(),
            crate::term::is_tty(2),
            "To login with a different account, run 'docker logout' followed by 'docker login'",
        );
        eprint!("\n\n");
        let resp = match login_with(&stored) {
            Ok(r) => Some(r),
            Err(e) => {
                let status = e
                    .downcast_ref::<berth_client::Error>()
                    .and_then(|e| e.status());
                if status == Some(401) {
                    eprintln!("Stored credentials invalid or expired");
                } else {
                    eprintln!("Login did not succeed, error: {e}");
                }
                failed = true;
                None
            }
        };
        let mut to_store = stored.clone();
        if let Some(r) = &resp
            && !r.identity_token.is_empty()
        {
            to_store.password.clear();
            to_store.identitytoken = r.identity_token.clone();
        }
        // (a failure to store sends docker on to the login prompt too)
        if cfg.store(to_store).is_err() {
            failed = true;
        } else if let Some(r) = resp {
            msg = r.status;
        }
    }
    if failed || stored.username.is_empty() || stored.password.is_empty() {
        // loginUser
        if (user.is_empty() || password.is_empty()) && !crate::term::is_tty(0) {
            return Err(anyhow!(
                "Error: Cannot perform an interactive login from a non TTY device"
            ));
        }
        if server == INDEX_SERVER && user.is_empty() && password.is_empty() {
            // docker tries Docker Hub's web-based (device code) login first;
            // berth has none and goes on as docker does when it fails.
            eprint!("Failed to start web-based login - falling back to command line login...\n\n");
        }
        let mut auth =
            prompt::user_credentials(&user, &password, &stored.username, &stored.serveraddress)?;
        let resp = login_with(&auth)?;
        if !resp.identity_token.is_empty() {
            auth.password.clear();
            auth.identitytoken = resp.identity_token.clone();
        }
        cfg.store(auth)
            .map_err(|e| anyhow!("Error saving credentials: {e:#}"))?;
        msg = resp.status;
    }
    if !msg.is_empty() {
        println!("{msg}");
    }
    Ok(0)
}

pub fn logout(ctx: &Ctx, a: LogoutArgs) -> Result<i32> {
    if a.server.len() > 1 {
        return Err(args_error("logout", "at most 1 argument", "[SERVER]"));
    }
    let (server, is_default) = match a.server.first() {
        Some(s) if !s.is_empty() => (s.clone(), false),
        _ => (INDEX_SERVER.to_string(), true),
    };
    let mut regs = vec![server.clone()];
    let mut host = server.clone();
    if !is_default {
        host = convert_to_hostname(&server);
        regs.extend([
            host.clone(),
            format!("http://{host}"),
            format!("https://{host}"),
        ]);
    }
    let mut cfg = Config::load_default(ctx.config_dir.as_deref());
    println!("Removing login credentials for {host}");
    // Keyed by address as docker's map: a server given as host[:port] is
    // in the list twice, and then the warning never shows.
    let mut errs: Vec<(String, anyhow::Error)> = Vec::new();
    for r in &regs {
        if let Err(e) = cfg.erase(r) {
            match errs.iter_mut().find(|(k, _)| k == r) {
                Some(slot) => slot.1 = e,
                None => errs.push((r.clone(), e)),
            }
        }
    }
    if errs.len() == regs.len() {
        eprintln!("WARNING: could not erase credentials:");
        for (k, e) in errs {
            eprintln!("{k}: {e:#}");
        }
    }
    Ok(0)
}

/// The registry a search term names: `host:5000/term` searches that
/// registry, anything else Docker Hub (`ParseSearchIndexInfo`).
fn search_index_key(term: &str) -> String {
    let index = match term.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    };
    crate::reference::auth_key_of(index)
}

fn search_header() -> crate::template::TVal {
    tval(&SearchContext {
        description: "DESCRIPTION".into(),
        is_official: "OFFICIAL".into(),
        name: "NAME".into(),
        star_count: "STARS".into(),
    })
}

/// The template's first field that a search row does not have.
fn unknown_field(format: &str) -> Option<(usize, String)> {
    // the context's fields, as it serialises them
    let known: Vec<String> = match serde_json::to_value(SearchContext::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let re = regex::Regex::new(r"\.([A-Za-z_][A-Za-z0-9_]*)").ok()?;
    let mut in_action = false;
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if format[i..].starts_with("{{") {
            in_action = true;
            i += 2;
            continue;
        }
        if format[i..].starts_with("}}") {
            in_action = false;
            i += 2;
            continue;
        }
        if in_action
            && bytes[i] == b'.'
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'$'))
            && let Some(m) = re.captures(&format[i..])
            && m.get(0).is_some_and(|m| m.start() == 0)
        {
            let f = m[1].to_string();
            if !known.contains(&f) {
                return Some((i, f));
            }
            i += m[0].len();
            continue;
        }
        i += 1;
    }
    None
}

pub fn search(ctx: &Ctx, a: SearchArgs) -> Result<i32> {
    const USAGE: &str = "[OPTIONS] TERM";
    for f in &a.filter {
        if !f.contains('=') {
            return Err(flag_error(
                "search",
                USAGE,
                f,
                "-f, --filter",
                "bad format of filter (expected name=value)",
            ));
        }
    }
    if a.term.len() != 1 {
        return Err(args_error("search", "1 argument", USAGE));
    }
    let term = &a.term[0];
    let filters = crate::opts::filters(&a.filter)?;
    if filters.contains("is-automated") {
        eprintln!(
            "WARNING: the \"is-automated\" filter is deprecated, and searching for \"is-automated=true\" will not yield any results in future."
        );
    }
    let key = search_index_key(term);
    let cfg = Config::load_default(ctx.config_dir.as_deref());
    let auth = cfg.get(&key).unwrap_or_default();
    let client = ctx.client()?;
    let q = query::image::Search {
        term: term.clone(),
        limit: (a.limit > 0).then_some(a.limit),
        filters,
    };
    let results = with_privilege(&cfg, &key, &auth, "search", |au| {
        client.image_search(&q, Some(au))
    })?;

    let format = match a.format.as_deref() {
        None | Some("") | Some("table") => {
            "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}".to_string()
        }
        Some(f) => f.to_string(),
    };
    // docker's formatter: "table" cut, spaces trimmed, \t and \n made real
    let final_format = match format.strip_prefix("table") {
        Some(rest) => rest,
        None if format == "json" => "{{json .}}",
        None => &format,
    };
    let final_format = crate::format::unescape(final_format.trim_matches(' '));
    if !results.is_empty()
        && let Some((at, f)) = unknown_field(&final_format)
    {
        let before = &final_format[..at];
        let line = before.matches('\n').count() + 1;
        let col = at - before.rfind('\n').map_or(0, |i| i + 1);
        return Err(crate::status(
            1,
            format!(
                "template parsing error: template: :{line}:{col}: executing \"\" at <.{f}>: can't evaluate field {f} in type *registry.searchContext"
            ),
        ));
    }
    let trunc = !a.no_trunc;
    let rows: Vec<_> = results
        .iter()
        .map(|r| {
            let desc = r.description.replace(['\n', '\r'], " ");
            let desc = if trunc { ellipsis(&desc, 45) } else { desc };
            let row = SearchContext {
                description: desc,
                is_official: if r.is_official { "[OK]" } else { "" }.into(),
                name: r.name.clone(),
                star_count: r.star_count.to_string(),
            };
            let json = SearchContext {
                is_official: r.is_official.to_string(),
                ..row.clone()
            };
            crate::format::with_json_form(context(&row), context(&json))
        })
        .collect();
    print!("{}", render(&format, &rows, &search_header())?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_registries() {
        assert_eq!(search_index_key("busybox"), INDEX_SERVER);
        assert_eq!(search_index_key("user/app"), INDEX_SERVER);
        assert_eq!(search_index_key("127.0.0.1:5000/app"), "127.0.0.1:5000");
        assert_eq!(search_index_key("localhost/app"), "localhost");
    }

    #[test]
    fn unknown_template_fields() {
        assert_eq!(
            unknown_field("{{.IsAutomated}}"),
            Some((2, "IsAutomated".into()))
        );
        assert_eq!(unknown_field("{{.Name}}\t{{.StarCount}}"), None);
        assert_eq!(unknown_field("{{json .}}"), None);
        assert_eq!(
            unknown_field("x.y {{.Name}} {{.Nope}}"),
            Some((16, "Nope".into()))
        );
    }
}
