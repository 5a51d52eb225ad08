//! Acceptance: bad input gets docker's status and words, and leaves nothing
//! behind (no container record, mount, cgroup or process).

mod common;

use common::{code, err, out};

#[track_caller]
fn assert_error(got: (u16, String, String), status: u16, words: &str) {
    let (s, ctype, body) = got;
    assert_eq!(s, status, "{body}");
    assert_eq!(ctype, "application/json", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON error body");
    let msg = v["message"].as_str().expect("a message");
    assert!(msg.contains(words), "{words:?} in {msg:?}");
}

#[test]
fn bad_input_is_refused_cleanly() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let d = common::Daemon::start();
    d.load_busybox();

    // Malformed JSON bodies.
    for path in [
        "/v1.51/containers/create",
        "/v1.51/containers/create?name=berth-test-bad",
    ] {
        assert_error(d.api("POST", path, Some("{\"Image\": ")), 400, "");
    }
    assert_error(d.api("POST", "/containers/create", Some("[1,2]")), 400, "");
    // Unknown container / image, in docker's words.
    assert_error(
        d.api("GET", "/containers/nosuch/json", None),
        404,
        "No such container: nosuch",
    );
    assert_error(
        d.api("POST", "/containers/nosuch/start", None),
        404,
        "No such container: nosuch",
    );
    assert_error(
        d.api("GET", "/images/nosuch/json", None),
        404,
        "No such image: nosuch",
    );
    assert_error(
        d.api(
            "POST",
            "/containers/create",
            Some(r#"{"Image":"nosuch","Cmd":["true"]}"#),
        ),
        404,
        "No such image: nosuch",
    );
    // Name conflict.
    let create = r#"{"Image":"busybox","Cmd":["sleep","100"]}"#;
    let (s, _, body) = d.api(
        "POST",
        "/containers/create?name=berth-test-taken",
        Some(create),
    );
    assert_eq!(s, 201, "{body}");
    assert_error(
        d.api(
            "POST",
            "/containers/create?name=berth-test-taken",
            Some(create),
        ),
        409,
        "is already in use",
    );
    assert_error(
        d.api("POST", "/containers/create?name=bad%20name", Some(create)),
        400,
        "Invalid container name",
    );
    // Invalid memory values.
    assert_error(
        d.api(
            "POST",
            "/containers/create",
            Some(r#"{"Image":"busybox","HostConfig":{"Memory":1024}}"#),
        ),
        400,
        "Minimum memory limit allowed is 6MB",
    );
    assert_error(
        d.api(
            "POST",
            "/containers/create",
            Some(r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#),
        ),
        400,
        "",
    );
    let o = d.docker(&["run", "--rm", "-m", "lots", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(err(&o).contains("invalid argument \"lots\""), "{}", err(&o));
    // An image without a command, run without one.
    let empty = d.dir.join("empty.tar");
    std::fs::write(&empty, [0u8; 1024]).unwrap();
    let o = d.docker(&["import", empty.to_str().unwrap(), "berth-test-nocmd"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_error(
        d.api(
            "POST",
            "/containers/create",
            Some(r#"{"Image":"berth-test-nocmd"}"#),
        ),
        400,
        "no command specified",
    );
    let o = d.docker(&["run", "--rm", "berth-test-nocmd"]);
    assert_eq!(code(&o), 125);
    assert!(err(&o).contains("no command specified"), "{}", err(&o));
    // A command missing from the image: 127, and the --rm container is gone.
    let o = d.docker(&["run", "--rm", "busybox", "/no/such/command"]);
    assert_eq!(code(&o), 127, "{}", err(&o));
    // Unknown endpoint, bad parameters.
    let (s, _, _) = d.api("GET", "/v1.51/nosuch", None);
    assert_eq!(s, 404);
    assert_error(
        d.api(
            "POST",
            "/containers/berth-test-taken/wait?condition=bogus",
            None,
        ),
        400,
        "invalid condition",
    );
    assert_error(
        d.api(
            "POST",
            "/containers/berth-test-taken/kill?signal=SIGNOPE",
            None,
        ),
        400,
        "Invalid signal: SIGNOPE",
    );

    // Nothing was left half-made: only the one container created on purpose.
    let ps = out(&d.docker(&["ps", "-a", "--format", "{{.Names}}"]));
    assert_eq!(ps.trim(), "berth-test-taken");
    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
    assert!(d.cgroups().is_empty(), "cgroups left: {:?}", d.cgroups());
    let dirs = std::fs::read_dir(d.dir.join("data/containers"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(dirs, 1, "one container directory");
}
