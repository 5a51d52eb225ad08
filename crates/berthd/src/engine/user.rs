//! `--user` (`name|uid[:group|gid]`) resolved against the image's
//! /etc/passwd and /etc/group, as Docker does.

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

fn entries(rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    // The image's file, read without following symlinks out of the rootfs.
    let p = rootfs.join(file.trim_start_matches('/'));
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.is_file() => {}
        _ => return Vec::new(),
    }
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

pub fn resolve(rootfs: &Path, spec: &str) -> ApiResult<Value> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = entries(rootfs, "/etc/passwd");
    let (uid, mut gid, name) = if u.is_empty() {
        (0, 0, Some("root".to_string()))
    } else if let Ok(n) = u.parse::<u32>() {
        let e = passwd.iter().find(|e| e.get(2).is_some_and(|v| v == u));
        let gid = e.and_then(|e| e.get(3)?.parse().ok()).unwrap_or(0);
        (n, gid, e.map(|e| e[0].clone()))
    } else {
        let e = passwd
            .iter()
            .find(|e| e.first().is_some_and(|v| v == u))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                ))
            })?;
        (
            e.get(2).and_then(|v| v.parse().ok()).unwrap_or(0),
            e.get(3).and_then(|v| v.parse().ok()).unwrap_or(0),
            Some(u.to_string()),
        )
    };
    let groups = entries(rootfs, "/etc/group");
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|e| e.first().is_some_and(|v| v == g))
                .and_then(|e| e.get(2)?.parse().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut extra: Vec<u32> = Vec::new();
    if let Some(name) = name {
        for e in &groups {
            if e.get(3).is_some_and(|m| m.split(',').any(|x| x == name))
                && let Some(id) = e.get(2).and_then(|v| v.parse().ok())
                && id != gid
            {
                extra.push(id);
            }
        }
    }
    let mut v = json!({"uid": uid, "gid": gid});
    if !extra.is_empty() {
        v["additionalGids"] = json!(extra);
    }
    Ok(v)
}
