//! The local-registry harness (tests/common/registry.rs) against its real
//! peers: each mode of Debian's docker-registry takes a busybox push from
//! skopeo and shows it back; the token server's answers are what
//! distribution 2.8 accepts (and refuses); curl sees the TLS and auth
//! challenges a docker client would.

mod common;

use std::process::Command;

use common::registry::{Mode, Registry, busybox_archive, which};

const MANIFEST_TYPES: &str = "Accept: application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Root and the tools the harness drives, else a note and false.
fn ready() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return false;
    }
    for (bin, pkg) in [
        ("skopeo", "skopeo"),
        ("curl", "curl"),
        ("busybox", "busybox-static"),
    ] {
        if which(bin).is_none() {
            eprintln!("SKIPPED: {bin} is not installed (apt-get install {pkg})");
            return false;
        }
    }
    true
}

/// curl with `args`: (exit code, status, headers, body).
fn curl(args: &[&str]) -> (i32, u16, String, String) {
    let o = Command::new("curl")
        .args(["-s", "-S", "-i", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let code = o.status.code().unwrap_or(-1);
    if code != 0 {
        eprintln!("curl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    (code, status, head.to_string(), body.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Push busybox and find it again with skopeo: the digest pushed is the
/// one inspected, a v2 manifest with one layer, amd64 config.
fn push_busybox(r: &Registry) -> String {
    let t = std::time::Instant::now();
    let digest = r.push_archive(&busybox_archive(), "berth-test/busybox:latest");
    eprintln!("{:?}: pushed busybox in {:.2?}", r.mode, t.elapsed());
    assert!(digest.starts_with("sha256:"), "{digest}");
    let v = r.inspect("berth-test/busybox:latest");
    assert_eq!(v["image"]["Digest"], digest.as_str(), "{v}");
    assert_eq!(v["raw"]["schemaVersion"], 2, "{v}");
    assert_eq!(
        v["raw"]["layers"].as_array().map(|l| l.len()),
        Some(1),
        "{v}"
    );
    let config = r.inspect_config("berth-test/busybox:latest", None);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["sh"]),
        "{config}"
    );
    assert!(
        r.inspect_raw("berth-test/nothing:here").is_err(),
        "a missing image inspects"
    );
    digest
}

fn timed_start(mode: Mode) -> Option<Registry> {
    let t = std::time::Instant::now();
    let r = Registry::start(mode)?;
    eprintln!(
        "{mode:?}: registry up on {} in {:.2?}",
        r.addr(),
        t.elapsed()
    );
    Some(r)
}

#[test]
fn plain_registry_takes_a_push() {
    if !ready() {
        return;
    }
    let Some(r) = timed_start(Mode::Plain) else {
        return;
    };
    let (_, status, head, _) = curl(&[&format!("{}/v2/", r.url())]);
    assert_eq!(status, 200, "{head}");
    push_busybox(&r);
    let (_, status, _, body) = curl(&[&format!("{}/v2/_catalog", r.url())]);
    assert_eq!(status, 200);
    assert!(body.contains("berth-test/busybox"), "{body}");
    // Drop stops it and removes everything.
    let (dir, pid) = (r.dir.clone(), r.pid());
    drop(r);
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn tls_registry_wants_its_ca() {
    if !ready() {
        return;
    }
    let Some(r) = timed_start(Mode::Tls) else {
        return;
    };
    let ca = r.ca_cert.to_str().unwrap().to_string();
    let (code, status, _, _) = curl(&["--cacert", &ca, &format!("{}/v2/", r.url())]);
    assert_eq!((code, status), (0, 200));
    let (code, _, _, _) = curl(&[
        "--cacert",
        &ca,
        &format!("https://localhost:{}/v2/", r.port),
    ]);
    assert_eq!(code, 0, "localhost is in the certificate");
    // Without the CA: curl's "SSL certificate problem" (60).
    let (code, _, _, _) = curl(&[&format!("{}/v2/", r.url())]);
    assert_eq!(code, 60);
    // Plain HTTP to the TLS port gets a 400 from Go's TLS server.
    let (_, status, _, _) = curl(&[&format!("http://{}/v2/", r.addr())]);
    assert_eq!(status, 400);
    let certs = r.dir.join("certs.d");
    let host = r.certs_d(&certs);
    assert_eq!(host, certs.join(format!("127.0.0.1:{}", r.port)));
    assert_eq!(
        std::fs::read(host.join("ca.crt")).unwrap(),
        std::fs::read(&r.ca_cert).unwrap()
    );
    // The guard removes its entry, and the certs.d dir it made.
    let system = r.dir.join("etc-docker/certs.d");
    let guard = r.install_certs_d(&system);
    assert!(guard.host.join("ca.crt").is_file());
    drop(guard);
    assert!(!system.exists());
    push_busybox(&r);
    // skopeo without the CA refuses the registry.
    let o = Command::new("skopeo")
        .env("REGISTRY_AUTH_FILE", r.dir.join("none.json"))
        .args(["inspect", "--raw"])
        .arg(format!("docker://{}", r.image("berth-test/busybox:latest")))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("certificate"), "{e}");
}

#[test]
fn htpasswd_registry_wants_basic_auth() {
    if !ready() {
        return;
    }
    let Some(r) = timed_start(Mode::Htpasswd) else {
        return;
    };
    let v2 = format!("{}/v2/", r.url());
    let (_, status, head, _) = curl(&[&v2]);
    assert_eq!(status, 401, "{head}");
    assert_eq!(
        header(&head, "www-authenticate"),
        Some("Basic realm=\"berth-test-realm\"")
    );
    let creds = format!("{}:{}", r.user, r.password);
    let (_, status, _, _) = curl(&["-u", &creds, &v2]);
    assert_eq!(status, 200);
    let (_, status, _, _) = curl(&["-u", &format!("{}:wrong", r.user), &v2]);
    assert_eq!(status, 401);
    push_busybox(&r);
}

#[test]
fn token_registry_takes_tokens_from_the_harness() {
    if !ready() {
        return;
    }
    let Some(r) = timed_start(Mode::Token) else {
        return;
    };
    let realm = r.token_realm();
    let service = r.service.clone();
    // The challenge on /v2/.
    let (_, status, head, _) = curl(&[&format!("{}/v2/", r.url())]);
    assert_eq!(status, 401, "{head}");
    assert_eq!(
        header(&head, "www-authenticate"),
        Some(format!("Bearer realm=\"{realm}\",service=\"{service}\"").as_str()),
        "{head}"
    );
    assert_eq!(r.token_requests(), 0);

    // skopeo logs in with the password (GET /token, basic auth).
    push_busybox(&r);
    let after_push = r.token_requests();
    assert!(after_push > 0);
    assert!(
        r.token_log()
            .iter()
            .all(|q| q.status == 200 && q.user.as_deref() == Some(r.user.as_str())),
        "{:?}",
        r.token_log()
    );

    let manifest = format!("{}/v2/berth-test/busybox/manifests/latest", r.url());
    let scope = "repository:berth-test/busybox:pull";
    let token_of = |body: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["token"], v["access_token"], "{v}");
        assert_eq!(v["expires_in"], 300, "{v}");
        assert!(
            v["issued_at"].as_str().is_some_and(|s| s.ends_with('Z')),
            "{v}"
        );
        v["token"].as_str().unwrap().to_string()
    };
    let get_manifest = |token: &str| {
        curl(&[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            MANIFEST_TYPES,
            &manifest,
        ])
    };
    // Without a token, or with an anonymous one: 401 and the scope needed.
    let (_, status, head, _) = curl(&[&manifest]);
    assert_eq!(status, 401);
    assert!(
        header(&head, "www-authenticate")
            .is_some_and(|h| h.contains(&format!("scope=\"{scope}\""))),
        "{head}"
    );
    let q = format!("{realm}?service={service}&scope={scope}");
    let (_, status, _, body) = curl(&[&q]);
    assert_eq!(status, 200, "{body}");
    let anon = token_of(&body);
    assert!(!body.contains("refresh_token"));
    let (_, status, head, body) = get_manifest(&anon);
    assert_eq!(status, 401, "{head}{body}");
    assert!(
        header(&head, "www-authenticate").is_some_and(|h| h.contains("insufficient_scope")),
        "{head}"
    );
    // An anonymous token still opens /v2/ (it asks for no access).
    let (_, status, _, _) = curl(&[
        "-H",
        &format!("Authorization: Bearer {anon}"),
        &format!("{}/v2/", r.url()),
    ]);
    assert_eq!(status, 200);

    // With the password: the manifest.
    let creds = format!("{}:{}", r.user, r.password);
    let (_, status, _, body) = curl(&["-u", &creds, &q]);
    assert_eq!(status, 200, "{body}");
    let (_, status, head, body) = get_manifest(&token_of(&body));
    assert_eq!(status, 200, "{head}{body}");
    assert!(body.contains("\"schemaVersion\":2") || body.contains("\"schemaVersion\": 2"));

    // A wrong password: 401 and Docker Hub's words.
    let (_, status, _, body) = curl(&["-u", &format!("{}:wrong", r.user), &q]);
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"details": "incorrect username or password"})
    );

    // offline_token: a refresh token, good for POST /token.
    let (_, status, _, body) = curl(&[
        "-u",
        &creds,
        &format!("{q}&offline_token=true&client_id=berth-test"),
    ]);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(r.refresh_tokens(), vec![refresh.clone()]);
    let post = |form: &str| curl(&["--data", form, &realm]);
    let (_, status, _, body) = post(&format!(
        "grant_type=refresh_token&refresh_token={refresh}&service={service}&scope={scope}&client_id=berth-test"
    ));
    assert_eq!(status, 200, "{body}");
    let (_, status, _, _) = get_manifest(&token_of(&body));
    assert_eq!(status, 200);
    let (_, status, _, body) = post(&format!(
        "grant_type=password&username={}&password={}&service={service}&scope={scope}&client_id=berth-test&access_type=offline",
        r.user, r.password
    ));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["refresh_token"].is_string(), "{v}");
    let (_, status, _, _) = get_manifest(&token_of(&body));
    assert_eq!(status, 200);
    let (_, status, _, _) = post(&format!(
        "grant_type=refresh_token&refresh_token=bogus&service={service}&scope={scope}&client_id=berth-test"
    ));
    assert_eq!(status, 401);
    let (_, status, _, _) = post(&format!(
        "grant_type=password&username={}&password={}&service={service}&scope={scope}",
        r.user, r.password
    ));
    assert_eq!(status, 400, "client_id is required");

    // A token for the wrong audience is refused by the registry; one the
    // harness mints directly is taken.
    let (_, status, _, _) = curl(&[&format!("{realm}?service=elsewhere&scope={scope}")]);
    assert_eq!(status, 400);
    let (_, status, _, _) = get_manifest(&r.mint_token(&[scope]));
    assert_eq!(status, 200);

    // Anonymous pulls when allowed.
    r.allow_anonymous_pull(true);
    let (_, _, _, body) = curl(&[&format!("{q},push")]);
    let (_, status, _, _) = get_manifest(&token_of(&body));
    assert_eq!(status, 200);

    let log = r.token_log();
    assert_eq!(log.len(), r.token_requests());
    assert!(log.len() > after_push + 8);
    let last = log.last().unwrap();
    assert_eq!(last.method, "GET");
    assert_eq!(
        last.param("scope"),
        Some("repository:berth-test/busybox:pull,push")
    );
    assert_eq!(last.user, None);
}

#[test]
fn oci_index_with_three_platforms() {
    if !ready() {
        return;
    }
    let Some(r) = timed_start(Mode::Plain) else {
        return;
    };
    let bb = busybox_archive();
    let t = std::time::Instant::now();
    let digest = r.push_oci_index(
        "berth-test/multi:1",
        &[
            ("linux", "amd64", None, &bb),
            ("linux", "arm64", Some("v8"), &bb),
            ("linux", "arm", Some("v7"), &bb),
        ],
    );
    eprintln!("pushed a 3-platform index in {:.2?}", t.elapsed());
    let index = r.inspect_raw("berth-test/multi:1").unwrap();
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            format!(
                "{}/{}{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap(),
                p["variant"]
                    .as_str()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    // The index is stored as pushed: its digest is the one reported.
    let (_, status, head, _) = curl(&[
        "-H",
        MANIFEST_TYPES,
        &format!("{}/v2/berth-test/multi/manifests/1", r.url()),
    ]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "docker-content-digest"),
        Some(digest.as_str())
    );
    // Each platform's config says its platform; the layers are shared.
    let arm = r.inspect_config("berth-test/multi:1", Some(("linux", "arm", Some("v7"))));
    assert_eq!(arm["architecture"], "arm");
    assert_eq!(arm["variant"], "v7");
    let arm64 = r.inspect_config("berth-test/multi:1", Some(("linux", "arm64", Some("v8"))));
    assert_eq!(arm64["architecture"], "arm64");
    let amd64 = r.inspect_config("berth-test/multi:1", Some(("linux", "amd64", None)));
    assert_eq!(amd64["architecture"], "amd64");
    assert!(amd64.get("variant").is_none());
    assert_eq!(amd64["rootfs"], arm["rootfs"]);
    // Plain images next to it.
    push_busybox(&r);
}

/// The 3-layer Debian image (minutes the first time: debootstrap from the
/// Debian mirror; cached in /var/cache/berth-test): run with --ignored.
#[test]
#[ignore]
fn debian_image_has_three_layers() {
    if !ready() {
        return;
    }
    let Some(tar) = common::registry::debian_archive() else {
        return;
    };
    let Some(r) = timed_start(Mode::Plain) else {
        return;
    };
    let t = std::time::Instant::now();
    r.push_archive(&tar, "berth-test/debian:bookworm");
    eprintln!("pushed debian in {:.2?}", t.elapsed());
    let v = r.inspect("berth-test/debian:bookworm");
    assert_eq!(
        v["raw"]["layers"].as_array().map(|l| l.len()),
        Some(3),
        "{v}"
    );
    let config = r.inspect_config("berth-test/debian:bookworm", None);
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["bash"]));
    assert_eq!(config["history"].as_array().map(|h| h.len()), Some(3));
    let size: u64 = v["raw"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    eprintln!("debian: {} MB compressed", size >> 20);
}

/// The reference client takes every mode: dockerd pushes to and pulls from
/// the registries, `docker login` goes through the token server (basic
/// auth with offline_token, then refresh-token POSTs), a multi-platform
/// index gives each platform its image.
#[test]
fn dockerd_uses_the_registries() {
    if !ready() {
        return;
    }
    if common::docker_bin().is_none() {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    }
    let Some(d) = common::dockerd::Dockerd::start("registry") else {
        return;
    };
    let ok = |args: &[&str]| {
        let o = d.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}{}",
            common::out(&o),
            common::err(&o)
        );
        common::out(&o)
    };
    let bb = busybox_archive();

    // Token: no pull before login, a wrong password in Docker Hub's words.
    let Some(t) = timed_start(Mode::Token) else {
        return;
    };
    t.push_archive(&bb, "berth-test/private:1");
    let private = t.image("berth-test/private:1");
    let o = d.docker(&["pull", &private]);
    assert!(!o.status.success());
    eprintln!("pull before login: {}", common::err(&o).trim());
    let o = d.docker(&["login", "-u", &t.user, "-p", "wrong", &t.addr()]);
    assert!(!o.status.success());
    assert!(
        common::err(&o).contains("incorrect username or password"),
        "{}",
        common::err(&o)
    );
    let o = ok(&["login", "-u", &t.user, "-p", &t.password, &t.addr()]);
    assert!(o.contains("Login Succeeded"), "{o}");
    // dockerd got a refresh token; the CLI keeps it instead of the password.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.dir.join("docker-config/config.json")).unwrap())
            .unwrap();
    let identity = config["auths"][t.addr()]["identitytoken"]
        .as_str()
        .unwrap_or_else(|| panic!("no identity token: {config}"))
        .to_string();
    assert!(t.refresh_tokens().contains(&identity));
    let before = t.token_requests();
    ok(&["pull", &private]);
    let log = t.token_log();
    let fresh = &log[before..];
    assert!(
        fresh.iter().any(|q| q.method == "POST"
            && q.param("grant_type") == Some("refresh_token")
            && q.param("refresh_token") == Some(identity.as_str())
            && q.status == 200),
        "{fresh:?}"
    );
    // Push through dockerd (pull,push scope).
    let pushed = t.image("berth-test/pushed:1");
    ok(&["tag", &private, &pushed]);
    ok(&["push", &pushed]);
    assert!(t.inspect_raw("berth-test/pushed:1").is_ok());
    drop(t);

    // Htpasswd: login and pull.
    let Some(h) = timed_start(Mode::Htpasswd) else {
        return;
    };
    h.push_archive(&bb, "berth-test/basic:1");
    assert!(
        !d.docker(&["pull", &h.image("berth-test/basic:1")])
            .status
            .success()
    );
    ok(&["login", "-u", &h.user, "-p", &h.password, &h.addr()]);
    ok(&["pull", &h.image("berth-test/basic:1")]);
    drop(h);

    // TLS (dockerd takes 127.0.0.0/8 as insecure: it does not check the
    // certificate, certs.d or not).
    let Some(s) = timed_start(Mode::Tls) else {
        return;
    };
    s.push_archive(&bb, "berth-test/tls:1");
    ok(&["pull", &s.image("berth-test/tls:1")]);
    drop(s);

    // Plain: a 3-platform index; each platform pulls its own config.
    let Some(p) = timed_start(Mode::Plain) else {
        return;
    };
    p.push_oci_index(
        "berth-test/multi:1",
        &[
            ("linux", "amd64", None, &bb),
            ("linux", "arm64", Some("v8"), &bb),
            ("linux", "arm", Some("v7"), &bb),
        ],
    );
    let multi = p.image("berth-test/multi:1");
    for (platform, arch) in [
        ("linux/arm64", "arm64"),
        ("linux/arm/v7", "arm"),
        ("linux/amd64", "amd64"),
    ] {
        ok(&["pull", "--platform", platform, &multi]);
        let got = ok(&["image", "inspect", "-f", "{{.Architecture}}", &multi]);
        assert_eq!(got.trim(), arch, "{platform}");
    }
}
