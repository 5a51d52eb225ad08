//! `docker top`: the container's processes as `ps -ef` shows them.

use berth_api::container::TopResponse;

use crate::util::runtime;
use crate::{Engine, Error, Result};

const TITLES: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// One row from /proc/<pid> (status and cmdline).
fn row(pid: i32, status: &str, cmdline: &[u8]) -> Vec<String> {
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let uid = field("Uid:");
    let cmd = cmdline
        .split(|x| *x == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        if uid == "0" { "root".to_string() } else { uid },
        pid.to_string(),
        field("PPid:"),
        "0".into(),
        String::new(),
        "?".into(),
        "00:00:00".into(),
        cmd,
    ]
}

impl Engine {
    /// `GET /containers/{id}/top`.
    pub async fn container_top(&self, r: &str) -> Result<TopResponse> {
        let c = self.containers.get(r)?;
        if !c.running() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let rt = self.runtime();
        let id = c.id.clone();
        let pids = runtime(move || rt.processes(&id)).await?;
        let processes = pids
            .into_iter()
            .map(|pid| {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                row(pid, &status, &cmd)
            })
            .collect();
        Ok(TopResponse {
            titles: TITLES.iter().map(|s| s.to_string()).collect(),
            processes,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows() {
        let r = super::row(
            7,
            "Name:\tsh\nPPid:\t1\nUid:\t0\t0\t0\t0\n",
            b"sleep\x00100\x00",
        );
        assert_eq!(r, ["root", "7", "1", "0", "", "?", "00:00:00", "sleep 100"]);
        let r = super::row(8, "Uid:\t1000\t1000\n", b"");
        assert_eq!(r[0], "1000");
    }
}
