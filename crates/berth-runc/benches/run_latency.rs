//! Benchmark: a container running `true` from a busybox bundle, created, started,
//! waited for and deleted — berth-runc against runc, interleaved in one run.
//!
//!     cargo bench -p berth-runc --bench run_latency [-- ROUNDS]
//!
//! Two shapes are measured for each runtime:
//! * `run`: one `run` command (create + start + wait + delete in one process);
//! * `create/start/delete`: the separate commands containerd issues, waiting for
//!   the exit by polling `state`.
//!
//! Reports medians (and p10/p90) and the ratio berth/runc.

#[path = "../tests/common/bundle.rs"]
mod bundle;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_cmd(rt: &str, root: &Path, args: &[&str]) -> bool {
    Command::new(rt)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn one_run(rt: &str, root: &Path, bundle: &Path, id: &str) -> Duration {
    let t = Instant::now();
    let ok = run_cmd(rt, root, &["run", "--bundle", bundle.to_str().unwrap(), id]);
    let d = t.elapsed();
    assert!(ok, "{rt} run failed");
    d
}

fn one_sequence(rt: &str, root: &Path, bundle: &Path, id: &str) -> Duration {
    let t = Instant::now();
    assert!(
        run_cmd(
            rt,
            root,
            &["create", "--bundle", bundle.to_str().unwrap(), id]
        ),
        "{rt} create"
    );
    assert!(run_cmd(rt, root, &["start", id]), "{rt} start");
    loop {
        let out = Command::new(rt)
            .arg("--root")
            .arg(root)
            .args(["state", id])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if v["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(run_cmd(rt, root, &["delete", id]), "{rt} delete");
    t.elapsed()
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = v.len();
    (ms(v[n / 2]), ms(v[n / 10]), ms(v[(n * 9) / 10]))
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let berth = env!("CARGO_BIN_EXE_berth-runc");
    let runc = which("runc").expect("runc is not installed: apt-get install runc");
    let id = bundle::unique_id("bench");
    let b = bundle::Bundle::new(&id, &["true"]);
    let roots = tempfile::Builder::new()
        .prefix("berth-test-bench-")
        .tempdir()
        .unwrap();
    let runtimes = [("berth-runc", berth.to_string()), ("runc", runc)];
    // Warm up caches (page cache, seccomp cache, dentries).
    for (_, rt) in &runtimes {
        let root = roots.path().join(Path::new(rt).file_name().unwrap());
        one_run(rt, &root, b.path(), &format!("{id}-warm"));
    }
    for (shape, f) in [
        ("run", one_run as fn(&str, &Path, &Path, &str) -> Duration),
        ("create/start/delete", one_sequence),
    ] {
        let mut results: Vec<Vec<Duration>> = vec![Vec::new(), Vec::new()];
        for i in 0..rounds {
            // Alternate the order so that drift affects both runtimes alike.
            let order: [usize; 2] = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for k in order {
                let rt = &runtimes[k].1;
                let root = roots.path().join(Path::new(rt).file_name().unwrap());
                results[k].push(f(rt, &root, b.path(), &format!("{id}-{i}")));
            }
        }
        let (bm, b10, b90) = stats(results[0].clone());
        let (rm, r10, r90) = stats(results[1].clone());
        println!("{shape:<22} berth-runc median {bm:7.2} ms (p10 {b10:.2}, p90 {b90:.2})");
        println!("{shape:<22} runc       median {rm:7.2} ms (p10 {r10:.2}, p90 {r90:.2})");
        println!(
            "{shape:<22} ratio berth/runc = {:.3} ({} rounds)",
            bm / rm,
            rounds
        );
    }
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .map(|p| p.to_string_lossy().into_owned())
}
