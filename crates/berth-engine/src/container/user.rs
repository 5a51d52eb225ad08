//! `--user` (`name|uid[:group|gid]`) and `--group-add` resolved against
//! the image's /etc/passwd and /etc/group, as Docker does.

use std::path::Path;

use oci_spec::runtime::{User, UserBuilder};

use crate::{Error, Result};

/// The entries of an /etc/passwd- or /etc/group-like file in the image,
/// read without following a symlink out of the rootfs.
pub(crate) fn entries(rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    let p = rootfs.join(file.trim_start_matches('/'));
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.is_file() => {}
        _ => return Vec::new(),
    }
    parse_entries(&std::fs::read_to_string(p).unwrap_or_default())
}

/// The id (third field) of the entry named `name` in a passwd or group file.
pub(crate) fn id_of(entries: &[Vec<String>], name: &str) -> Option<u32> {
    entries
        .iter()
        .find(|e| e.first().is_some_and(|v| v == name))
        .and_then(|e| e.get(2)?.parse().ok())
}

fn parse_entries(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

/// Resolve `spec` and `group_add` with the image's files.
pub fn resolve(rootfs: &Path, spec: &str, group_add: &[String]) -> Result<User> {
    resolve_with(
        &entries(rootfs, "/etc/passwd"),
        &entries(rootfs, "/etc/group"),
        spec,
        group_add,
    )
}

/// The same, from parsed files (tested without a rootfs).
pub fn resolve_with(
    passwd: &[Vec<String>],
    groups: &[Vec<String>],
    spec: &str,
    group_add: &[String],
) -> Result<User> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
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
                Error::invalid(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                ))
            })?;
        (
            e.get(2).and_then(|v| v.parse().ok()).unwrap_or(0),
            e.get(3).and_then(|v| v.parse().ok()).unwrap_or(0),
            Some(u.to_string()),
        )
    };
    let group_id = |g: &str| -> Result<u32> {
        match g.parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => id_of(groups, g).ok_or_else(|| {
                Error::invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            }),
        }
    };
    if let Some(g) = g {
        gid = group_id(g)?;
    }
    // The primary group first, then the groups naming the user (only when
    // no group was given), then --group-add: dockerd's list, as it is.
    let mut extra: Vec<u32> = vec![gid];
    if let (Some(name), None) = (name, g) {
        for e in groups {
            if e.get(3).is_some_and(|m| m.split(',').any(|x| x == name))
                && let Some(id) = e.get(2).and_then(|v| v.parse().ok())
            {
                extra.push(id);
            }
        }
    }
    for g in group_add {
        extra.push(group_id(g)?);
    }
    UserBuilder::default()
        .uid(uid)
        .gid(gid)
        .additional_gids(extra)
        .build()
        .map_err(|e| Error::system(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_groups_and_group_add() {
        let passwd = parse_entries("root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n");
        let groups = parse_entries("root:x:0:\nwww:x:33:\naudio:x:29:www\nvideo:x:44:\n");
        let u = resolve_with(&passwd, &groups, "www", &[]).unwrap();
        assert_eq!((u.uid(), u.gid()), (33, 33));
        assert_eq!(u.additional_gids().as_deref(), Some(&[33, 29][..]));
        // a group given: the user's memberships are not added
        let u = resolve_with(&passwd, &groups, "www:video", &[]).unwrap();
        assert_eq!(u.additional_gids().as_deref(), Some(&[44][..]));
        let u = resolve_with(
            &passwd,
            &groups,
            "1000:video",
            &["audio".into(), "7".into()],
        )
        .unwrap();
        assert_eq!((u.uid(), u.gid()), (1000, 44));
        assert_eq!(u.additional_gids().as_deref(), Some(&[44, 29, 7][..]));
        let u = resolve_with(&passwd, &groups, "", &[]).unwrap();
        assert_eq!((u.uid(), u.gid()), (0, 0));
        assert_eq!(u.additional_gids().as_deref(), Some(&[0][..]));
        assert_eq!(
            resolve_with(&passwd, &groups, "nobody", &[])
                .unwrap_err()
                .message,
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert!(resolve_with(&passwd, &groups, "", &["nogroup".into()]).is_err());
    }
}
