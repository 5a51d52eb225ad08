use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use berth_runtime::container::Runtime;
use berth_runtime::state::Status;
use berth_runtime::{Error, Result};
use serde_json::json;

use super::print_json;
use crate::cli::OutputFormat;

pub fn state(rt: &Runtime, id: &str) -> Result<i32> {
    print_json(&rt.state(id)?);
    Ok(0)
}

fn owner_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("#{uid}"))
}

pub fn list(rt: &Runtime, format: OutputFormat, quiet: bool) -> Result<i32> {
    let items = rt.list()?;
    if quiet {
        for i in &items {
            println!("{}", i.state.id);
        }
        return Ok(0);
    }
    let owner_of = |id: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(rt.root.join(id))
            .map(|m| owner_name(m.uid()))
            .unwrap_or_default()
    };
    match format {
        OutputFormat::Json => {
            let v: Vec<_> = items
                .iter()
                .map(|i| {
                    json!({
                        "ociVersion": berth_runtime::OCI_VERSION,
                        "id": i.state.id,
                        "pid": if i.status == Status::Stopped { 0 } else { i.state.pid },
                        "status": i.status,
                        "bundle": i.state.bundle,
                        "rootfs": i.state.rootfs,
                        "created": i.state.created,
                        "owner": owner_of(&i.state.id),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(v));
        }
        OutputFormat::Table => {
            let mut rows = vec![
                ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                    .map(String::from)
                    .to_vec(),
            ];
            for i in &items {
                let pid = if i.status == Status::Stopped {
                    0
                } else {
                    i.state.pid
                };
                rows.push(vec![
                    i.state.id.clone(),
                    pid.to_string(),
                    i.status.to_string(),
                    i.state.bundle.display().to_string(),
                    i.state.created.clone(),
                    owner_of(&i.state.id),
                ]);
            }
            print_table(&rows);
        }
    }
    Ok(0)
}

/// Columns padded like Go's tabwriter with padding 3.
fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0).max(12))
        .collect();
    let mut out = std::io::stdout().lock();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c] + 3));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

pub fn ps(rt: &Runtime, id: &str, format: OutputFormat, args: &[String]) -> Result<i32> {
    let pids = rt.processes(id)?;
    if format == OutputFormat::Json {
        println!("{}", serde_json::to_string(&pids).expect("serialises"));
        return Ok(0);
    }
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::Other(format!("run ps: {e}")))?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Other("couldn't find PID field in ps output".into()))?;
    println!("{header}");
    for l in lines {
        if let Some(pid) = l
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok())
            && pids.contains(&pid)
        {
            println!("{l}");
        }
    }
    Ok(0)
}

pub fn events(rt: &Runtime, id: &str, once: bool, interval: &str) -> Result<i32> {
    let interval: Duration = humantime::parse_duration(interval)
        .map_err(|e| Error::Config(format!("--interval {interval:?}: {e}")))?;
    if interval.is_zero() {
        return Err(Error::Config("--interval must be greater than 0".into()));
    }
    let emit = |kind: &str, data: serde_json::Value| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", json!({"type": kind, "id": id, "data": data}));
        let _ = out.flush();
    };
    if once {
        let s = rt.stats(id)?;
        emit("stats", serde_json::to_value(s).expect("serialises"));
        return Ok(0);
    }
    let mut last_ooms = rt.stats(id)?.memory.oom_kill;
    loop {
        let (state, status) = rt.load(id)?;
        if status == Status::Stopped {
            return Ok(0);
        }
        match state.cgroup.stats() {
            Ok(s) => {
                if s.memory.oom_kill > last_ooms {
                    emit("oom", serde_json::Value::Null);
                    last_ooms = s.memory.oom_kill;
                }
                emit("stats", serde_json::to_value(s).expect("serialises"));
            }
            Err(e) => tracing::warn!("stats of {id}: {e}"),
        }
        std::thread::sleep(interval);
    }
}

pub fn spec(bundle: Option<PathBuf>, rootless: bool) -> Result<i32> {
    let dir = bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Config(
            "File config.json exists. Remove it first".into(),
        ));
    }
    let v = berth_runtime::default_spec::default_spec(rootless);
    std::fs::write(&path, serde_json::to_string_pretty(&v).expect("serialises")).map_err(|e| {
        Error::Io {
            context: format!("write {}", path.display()),
            source: e,
        }
    })?;
    Ok(0)
}

pub fn features() -> Result<i32> {
    print_json(&berth_runtime::features::features());
    Ok(0)
}
