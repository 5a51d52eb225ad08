//! A 2 GiB body sent to `POST /containers/create` is refused after the
//! first few MiB, without berthd's memory growing past 50 MB (it used to
//! buffer the whole body before answering 400). Image archives stream
//! both ways: `import`, `save` and `load` of a 200 MiB image keep berthd's
//! peak RSS small too.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// berthd's peak resident set (VmHWM) in bytes.
fn peak_rss(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap()
        * 1024
}

#[test]
fn huge_json_body_is_refused_without_buffering() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = common::Daemon::start();
    let before = peak_rss(d.pid());
    let mut s = UnixStream::connect(d.sock().trim_start_matches("unix://")).unwrap();
    let total: u64 = 2 << 30;
    write!(
        s,
        "POST /v1.51/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {total}\r\n\r\n{{\"Image\":\""
    )
    .unwrap();
    // Stream the body until the daemon answers or hangs up.
    s.set_nonblocking(true).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent: u64 = 0;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while sent < total && std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        match s.write(&chunk) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            Err(_) => break,
        }
    }
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("request body too large"), "{text}");
    assert!(
        sent < 64 << 20,
        "the daemon read {sent} bytes before refusing"
    );
    let after = peak_rss(d.pid());
    eprintln!(
        "berthd peak RSS {} MB before, {} MB after; {} MiB sent",
        before >> 20,
        after >> 20,
        sent >> 20
    );
    assert!(
        after < 50 << 20,
        "berthd's peak RSS grew to {} MB",
        after >> 20
    );
    // The daemon still answers.
    let (status, _, _) = d.api("GET", "/_ping", None);
    assert_eq!(status, 200);
}

#[test]
fn import_save_load_stream_without_holding_the_archive() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = common::Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("rootfs.tar");
    {
        // One 200 MiB file of incompressible bytes in a tar.
        let mut b = tar::Builder::new(std::fs::File::create(&big).unwrap());
        let mut h = tar::Header::new_gnu();
        let size: u64 = 200 << 20;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let noise = std::iter::repeat_with(move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()
        })
        .flatten()
        .take(size as usize)
        .collect::<Vec<u8>>();
        b.append_data(&mut h, "big", &noise[..]).unwrap();
        b.finish().unwrap();
    }
    let name = format!("berth-test-big-{}", std::process::id());
    let saved = dir.path().join("saved.tar");
    common::ok(&d, &["import", big.to_str().unwrap(), &name]);
    common::ok(&d, &["save", "-o", saved.to_str().unwrap(), &name]);
    common::ok(&d, &["rmi", &name]);
    let loaded = common::ok(&d, &["load", "-i", saved.to_str().unwrap()]);
    assert!(
        loaded.contains(&format!("Loaded image: {name}:latest")),
        "{loaded}"
    );
    let again = dir.path().join("again.tar");
    common::ok(&d, &["save", "-o", again.to_str().unwrap(), &name]);
    assert!(
        std::fs::read(&saved).unwrap() == std::fs::read(&again).unwrap(),
        "load then save gives back other bytes"
    );
    let peak = peak_rss(d.pid());
    eprintln!("berthd peak RSS {} MB", peak >> 20);
    assert!(
        peak < 60 << 20,
        "berthd's peak RSS grew to {} MB",
        peak >> 20
    );
    common::ok(&d, &["rmi", &name]);
}
