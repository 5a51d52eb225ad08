//! The default config.json of `spec`, as runc writes it.

use serde_json::{Value, json};

/// runc's template, with berth's hostname. `rootless` adapts it for an
/// unprivileged user (user namespace with the caller's ids, no cgroup limits).
pub fn default_spec(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let linux = spec["linux"].as_object_mut().expect("object");
        linux.remove("resources");
        linux.insert(
            "uidMappings".into(),
            json!([{"containerID": 0, "hostID": uid, "size": 1}]),
        );
        linux.insert(
            "gidMappings".into(),
            json!([{"containerID": 0, "hostID": gid, "size": 1}]),
        );
        linux["namespaces"] = json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
            {"type": "cgroup"}, {"type": "user"}
        ]);
        let mounts = spec["mounts"].as_array_mut().expect("array");
        mounts.retain(|m| m["destination"] != "/sys/fs/cgroup" && m["destination"] != "/sys");
        mounts.push(
            json!({"destination": "/sys", "type": "none", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
        );
        for m in mounts.iter_mut() {
            if m["destination"] == "/dev/pts" {
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620"
                ]);
            }
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_spec_parses_and_validates() {
        for rootless in [false, true] {
            let v = super::default_spec(rootless);
            let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
            crate::spec::validate(&spec).unwrap();
        }
    }
}
