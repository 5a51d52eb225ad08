//! Loads every project of tests/corpus and checks what each is about.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use berth_compose::{Condition, LoadOptions, Project, VolumeKind, load, plan};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn environ() -> BTreeMap<String, String> {
    [("HOME".to_string(), "/home/test".to_string())]
        .into_iter()
        .collect()
}

fn load_corpus(name: &str, profiles: &[&str]) -> Project {
    let opts = LoadOptions {
        files: vec![corpus_dir().join(name).join("compose.yaml")],
        profiles: profiles.iter().map(|s| s.to_string()).collect(),
        environ: environ(),
        ..Default::default()
    };
    load(&opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_corpus_project_loads_and_plans() {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("compose.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let p = load_corpus(name, &["*"]);
        assert!(!p.services.is_empty(), "{name}");
        let levels = plan::order(&p, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            levels.iter().map(Vec::len).sum::<usize>(),
            p.services.len(),
            "{name}"
        );
        for (sname, s) in &p.services {
            // Only busybox (the one image available offline), or images built FROM busybox.
            match (&s.image, &s.build) {
                (_, Some(b)) => {
                    let dockerfile =
                        std::fs::read_to_string(b.context.join(&b.dockerfile)).unwrap();
                    assert!(dockerfile.starts_with("FROM busybox"), "{name}/{sname}");
                }
                (Some(img), None) => assert_eq!(img, "busybox", "{name}/{sname}"),
                (None, None) => unreachable!(),
            }
            assert_eq!(plan::config_hash(s).len(), 64);
        }
        let yaml = berth_compose::config::to_yaml(&p);
        assert!(
            yaml.starts_with(&format!("name: {}\n", p.name)),
            "{name}: {yaml}"
        );
        assert!(p.warnings.is_empty(), "{name}: {:?}", p.warnings);
    }
}

#[test]
fn web_db() {
    let p = load_corpus("web-db", &[]);
    assert_eq!(p.name, "web-db");
    let web = &p.services["web"];
    assert_eq!(web.ports[0].target, 80);
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
    assert_eq!(web.command.as_ref().unwrap()[0..2], ["sh", "-c"]);
    assert_eq!(
        p.services["db"].volumes[0].source.as_deref(),
        Some("dbdata")
    );
    assert_eq!(
        p.services["db"].stop_grace_period,
        Some(Duration::from_secs(2))
    );
    assert_eq!(p.volumes["dbdata"].name, "web-db_dbdata");
    assert_eq!(p.networks["default"].name, "web-db_default");
    assert_eq!(
        plan::order(&p, &[]).unwrap(),
        vec![vec!["db".to_string()], vec!["web".to_string()]]
    );
}

#[test]
fn healthcheck_gated() {
    let p = load_corpus("healthcheck", &[]);
    let db = &p.services["db"];
    let hc = db.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD-SHELL", "test -f /tmp/ready"]);
    assert_eq!(hc.interval, Some(Duration::from_secs(1)));
    assert_eq!(hc.retries, Some(10));
    let dep = p.services["app"].depends_on["db"];
    assert_eq!(dep.condition, Condition::ServiceHealthy);
    assert!(!dep.restart && dep.required);
    assert_eq!(
        p.services["worker"].depends_on["migrate"].condition,
        Condition::ServiceCompletedSuccessfully
    );
    assert_eq!(
        plan::order(&p, &["worker".to_string()]).unwrap(),
        vec![
            vec!["db".to_string()],
            vec!["migrate".to_string()],
            vec!["worker".to_string()]
        ]
    );
}

#[test]
fn build_from_dockerfile() {
    let p = load_corpus("build", &[]);
    let dir = corpus_dir().join("build");
    let b = p.services["site"].build.as_ref().unwrap();
    assert_eq!(b.context, dir);
    assert_eq!(b.dockerfile, "Dockerfile");
    assert_eq!(b.args["GREETING"].as_deref(), Some("bonjour"));
    assert_eq!(b.labels["org.example.corpus"], "build");
    assert_eq!(
        p.services["site"].ports[0].host_ip.as_deref(),
        Some("127.0.0.1")
    );
    let plain = &p.services["plain"];
    assert_eq!(plain.build.as_ref().unwrap().context, dir);
    assert_eq!(plain.image_name(&p.name), "build-plain");
}

#[test]
fn two_networks_with_aliases() {
    let p = load_corpus("networks", &[]);
    assert_eq!(
        p.services["app"].networks["front"].aliases,
        ["api", "backend-api"]
    );
    assert_eq!(p.services["app"].networks["back"].aliases, ["app.internal"]);
    assert!(p.services["proxy"].networks.contains_key("front"));
    assert!(!p.services["proxy"].networks.contains_key("back"));
    assert!(p.networks["back"].internal);
    assert_eq!(p.networks["back"].name, "networks_back");
    assert!(!p.networks.contains_key("default"));
}

#[test]
fn replicas() {
    let p = load_corpus("replicas", &[]);
    assert_eq!(p.services["web"].scale, 3);
    assert_eq!(p.services["client"].scale, 1);
    assert_eq!(
        plan::config_hash(&p.services["web"]),
        plan::config_hash(&berth_compose::Service {
            scale: 1,
            ..p.services["web"].clone()
        })
    );
}

#[test]
fn env_interpolation_and_profiles() {
    let p = load_corpus("env-profiles", &[]);
    let web = &p.services["web"];
    assert_eq!(
        web.environment["GREETING"].as_deref(),
        Some("hello from .env")
    );
    assert_eq!(web.environment["MODE"].as_deref(), Some("production"));
    assert_eq!(web.ports[0].published.as_deref(), Some("8082"));
    assert!(web.command.as_ref().unwrap()[2].contains("echo \"$GREETING\""));
    assert!(p.disabled.contains_key("debug"));
    assert!(!p.services.contains_key("debug"));

    let p = load_corpus("env-profiles", &["debug"]);
    assert_eq!(
        p.services["debug"].command.as_ref().unwrap(),
        &["sleep", "3600"]
    );

    // the shell environment wins over .env
    let mut environ = environ();
    environ.insert("WEB_PORT".into(), "9999".into());
    environ.insert("COMPOSE_PROFILES".into(), "debug".into());
    let opts = LoadOptions {
        files: vec![corpus_dir().join("env-profiles/compose.yaml")],
        environ,
        ..Default::default()
    };
    let p = load(&opts).unwrap();
    assert_eq!(
        p.services["web"].ports[0].published.as_deref(),
        Some("9999")
    );
    assert!(p.services.contains_key("debug"));
}

#[test]
fn one_off_target() {
    let p = load_corpus("oneoff", &[]);
    assert!(p.disabled.contains_key("task"));
    // naming the service (as `run task` does) enables it
    let levels = plan::order(&p, &["task".to_string()]).unwrap();
    assert_eq!(
        levels,
        vec![vec!["app".to_string()], vec!["task".to_string()]]
    );
    let enabled = p.with_services_enabled(&["task".to_string()]).unwrap();
    let task = &enabled.services["task"];
    assert_eq!(task.entrypoint.as_ref().unwrap(), &["sh", "-c"]);
    assert!(task.tty && task.stdin_open);
    assert_eq!(p.volumes["shared"].name, "oneoff_shared");
}

#[test]
fn env_file_stack() {
    let p = load_corpus("env-file", &[]);
    let app = &p.services["app"];
    assert_eq!(app.environment["APP_NAME"].as_deref(), Some("corpus-app"));
    assert_eq!(app.environment["APP_COLOR"].as_deref(), Some("blue")); // later file wins
    assert_eq!(app.environment["APP_LEVEL"].as_deref(), Some("4")); // environment wins
    assert_eq!(app.environment["SHARED"].as_deref(), Some("yes"));
    assert_eq!(app.env_file.len(), 2);
    assert_eq!(
        p.services["sidecar"].environment["SHARED"].as_deref(),
        Some("yes")
    );
}

#[test]
fn mounts() {
    let p = load_corpus("mounts", &[]);
    let dir = corpus_dir().join("mounts");
    let app = &p.services["app"];
    assert_eq!(app.tmpfs, ["/tmp", "/run:size=16m,mode=1777"]);
    let v = &app.volumes;
    assert_eq!(v[0].kind, VolumeKind::Bind);
    assert_eq!(
        v[0].source.as_deref(),
        Some(dir.join("config").to_str().unwrap())
    );
    assert!(v[0].read_only && v[0].bind_create_host_path);
    assert_eq!(v[1].kind, VolumeKind::Volume);
    assert!(v[1].volume_nocopy);
    assert_eq!(v[2].kind, VolumeKind::Tmpfs);
    assert_eq!(v[2].tmpfs_size, Some(8 << 20));
    assert_eq!(
        v[3].source.as_deref(),
        Some(dir.join("config/app.conf").to_str().unwrap())
    );
    assert_eq!(
        (v[4].kind, v[4].source.as_deref(), v[4].target.as_str()),
        (VolumeKind::Volume, None, "/anonymous")
    );
    assert_eq!(p.volumes["data"].labels["purpose"], "corpus");
}

#[test]
fn extends_across_files() {
    let p = load_corpus("extends", &[]);
    let base_dir = corpus_dir().join("extends/base");
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("busybox"));
    assert_eq!(
        web.command.as_ref().unwrap(),
        &["httpd", "-f", "-p", "80", "-h", "/www"]
    );
    assert_eq!(web.environment["LOG_LEVEL"].as_deref(), Some("debug"));
    assert_eq!(web.environment["REGION"].as_deref(), Some("eu"));
    assert_eq!(web.restart.as_deref(), Some("on-failure"));
    // relative paths of the extended file are relative to its directory
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(base_dir.join("www").to_str().unwrap())
    );
    assert_eq!(p.services["worker"].labels["org.example.tier"], "worker");
    let local = &p.services["local"];
    assert_eq!(local.command.as_ref().unwrap(), &["sleep", "3600"]);
    assert_eq!(local.labels["org.example.tier"], "worker");
    assert_eq!(
        local.volumes[0].source.as_deref(),
        Some(base_dir.join("www").to_str().unwrap())
    );
    assert!(!p.services.contains_key("base"));
}
