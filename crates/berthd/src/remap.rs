//! `--userns-remap` (daemon.json `userns-remap`): `default` or
//! `user[:group]` (names or ids) resolved as dockerd resolves it — the
//! user's subordinate uids from /etc/subuid, the group's gids from
//! /etc/subgid. `default` is dockerd's `dockremap` user, created (a system
//! user, with 65536 subordinate ids from the first free range at or above
//! 100000) when it does not exist yet, as dockerd creates it; sharing the
//! name means a host moving from Docker keeps the same ids.

use std::process::Command;

use berth_engine::{IdMap, Remap};

/// The user `--userns-remap default` stands for.
pub const DEFAULT_USER: &str = "dockremap";
/// Where dockerd starts looking for a free subordinate range, and its size.
const RANGE_START: u32 = 100_000;
const RANGE_SIZE: u32 = 65_536;

/// `user[:group]` → (user, group); the group defaults to the user.
pub fn split_spec(spec: &str) -> (String, Option<String>) {
    match spec.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (spec.to_string(), None),
    }
}

/// The ranges `(start, count)` of `name` (or of its numeric `id`) in
/// /etc/subuid or /etc/subgid text, in the file's order.
pub fn ranges(text: &str, name: &str, id: Option<u32>) -> Vec<(u32, u32)> {
    let id = id.map(|i| i.to_string());
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if who != name && Some(who) != id.as_deref() {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// The first start at or above 100000 where `RANGE_SIZE` ids overlap no
/// range of any user in `text`.
pub fn free_range(text: &str) -> u32 {
    let mut taken: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':').skip(1);
            let s: u64 = f.next()?.parse().ok()?;
            let n: u64 = f.next()?.parse().ok()?;
            Some((s, s + n))
        })
        .collect();
    taken.sort();
    let mut start = u64::from(RANGE_START);
    for (s, e) in taken {
        if s < start + u64::from(RANGE_SIZE) && e > start {
            start = e;
        }
    }
    start as u32
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let o = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Make `dockremap` (a system user and group) and its subordinate ranges,
/// where they are missing.
fn ensure_default_user() -> Result<(), String> {
    let fail =
        |e: String| format!("Can't create ID mappings: failed to create {DEFAULT_USER} user: {e}");
    if nix::unistd::User::from_name(DEFAULT_USER)
        .ok()
        .flatten()
        .is_none()
    {
        run(Command::new("useradd").args(["--system", "-s", "/bin/false", DEFAULT_USER]))
            .map_err(fail)?;
    }
    // usermod -v adds subordinate uids, -w gids.
    for (file, flag) in [("/etc/subuid", "-v"), ("/etc/subgid", "-w")] {
        if ranges(&read(file), DEFAULT_USER, None).is_empty() {
            let s = free_range(&read(file));
            let range = format!("{s}-{}", s + RANGE_SIZE - 1);
            run(Command::new("usermod").args([flag, range.as_str(), DEFAULT_USER]))
                .map_err(fail)?;
        }
    }
    Ok(())
}

/// Resolve `--userns-remap` (None: remapping off, as for `root`, which
/// dockerd turns off with a warning).
pub fn resolve(spec: &str) -> Result<Option<Remap>, String> {
    let (user, group) = if spec == "default" {
        ensure_default_user()?;
        (DEFAULT_USER.to_string(), Some(DEFAULT_USER.to_string()))
    } else {
        split_spec(spec)
    };
    let u = match user.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .ok_or_else(|| format!("Uid {uid} has no entry in /etc/passwd"))?,
        Err(_) => nix::unistd::User::from_name(&user)
            .ok()
            .flatten()
            .ok_or_else(|| {
                format!("Error during uid lookup for \"{user}\": user: unknown user {user}")
            })?,
    };
    if u.uid.is_root() {
        tracing::warn!(
            "User namespaces: root cannot be remapped with itself; user namespaces are OFF"
        );
        return Ok(None);
    }
    let group = group.unwrap_or_else(|| u.name.clone());
    let g = match group.parse::<u32>() {
        Ok(gid) => nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
            .ok()
            .flatten()
            .ok_or_else(|| format!("Gid {gid} has no entry in /etc/group"))?,
        Err(_) => nix::unistd::Group::from_name(&group)
            .ok()
            .flatten()
            .ok_or_else(|| {
                format!("Error during gid lookup for \"{group}\": group: unknown group {group}")
            })?,
    };
    let uids = ranges(&read("/etc/subuid"), &u.name, Some(u.uid.as_raw()));
    if uids.is_empty() {
        return Err(format!(
            "Can't create ID mappings: No subuid ranges found for user \"{}\"",
            u.name
        ));
    }
    let gids = ranges(&read("/etc/subgid"), &g.name, Some(g.gid.as_raw()));
    if gids.is_empty() {
        return Err(format!(
            "Can't create ID mappings: No subgid ranges found for group \"{}\"",
            g.name
        ));
    }
    tracing::info!(
        "User namespaces: ID ranges will be mapped to subuid/subgid ranges of: {}",
        u.name
    );
    Ok(Some(Remap {
        user: u.name,
        group: g.name,
        map: IdMap::from_subordinate(&uids, &gids),
        idmapped_layers: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_ranges_as_dockerd_reads_them() {
        assert_eq!(split_spec("app"), ("app".into(), None));
        assert_eq!(
            split_spec("app:staff"),
            ("app".into(), Some("staff".into()))
        );
        let text = "alice:100000:65536\ndockremap:165536:65536\n1001:300000:10\nbob:bad:1\ndockremap:400000:0\ndockremap:500000:5\n";
        assert_eq!(
            ranges(text, "dockremap", None),
            [(165536, 65536), (500000, 5)]
        );
        assert_eq!(ranges(text, "carol", Some(1001)), [(300000, 10)]);
        assert!(ranges(text, "bob", None).is_empty());
        assert!(ranges("", "alice", Some(1000)).is_empty());
    }

    #[test]
    fn a_free_range_overlaps_none() {
        assert_eq!(free_range(""), 100000);
        assert_eq!(free_range("a:100000:65536\n"), 165536);
        assert_eq!(free_range("a:200000:65536\n"), 100000, "the gap below fits");
        assert_eq!(
            free_range("a:150000:10\n"),
            150010,
            "the gap below is too small"
        );
        assert_eq!(
            free_range("a:100000:65536\nb:165536:65536\nc:1000000:5\n"),
            231072
        );
    }
}
