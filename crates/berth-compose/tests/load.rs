//! Loader behaviour against docker compose's, on projects written to temporary directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_compose::{
    Condition, Error, LoadOptions, Project, Service, VolumeKind, config, labels, load, load_in,
    plan,
};
use tempfile::TempDir;

/// A project directory named `name` inside a fresh temp dir, with `files` written into it.
fn tree(name: &str, files: &[(&str, &str)]) -> (TempDir, PathBuf) {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    (tmp, dir)
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn opts(dir: &Path, files: &[&str]) -> LoadOptions {
    LoadOptions {
        files: files.iter().map(|f| dir.join(f)).collect(),
        environ: env(&[("HOME", "/home/u")]),
        ..Default::default()
    }
}

fn load_one(yaml: &str) -> Project {
    let (_t, dir) = tree("proj", &[("compose.yaml", yaml)]);
    load(&opts(&dir, &["compose.yaml"])).unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(yaml: &str) -> String {
    let (_t, dir) = tree("proj", &[("compose.yaml", yaml)]);
    load(&opts(&dir, &["compose.yaml"]))
        .unwrap_err()
        .to_string()
}

fn svc<'p>(p: &'p Project, name: &str) -> &'p Service {
    &p.services[name]
}

// ---------------------------------------------------------------- interpolation

#[test]
fn interpolation_with_dotenv_and_environ() {
    let (_t, dir) = tree(
        "proj",
        &[
            (
                ".env",
                "TAG=1.0\nPORT=8080\nFROM_ENV_FILE=dotenv\nCOMBINED=${TAG}-x\n",
            ),
            (
                "compose.yaml",
                "services:\n  web:\n    image: \"busybox:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    environment:\n      A: ${FROM_ENV_FILE}\n      B: ${SHELL_ONLY:-fallback}\n      C: $$NOT_INTERPOLATED\n      D: ${COMBINED}\n      E: ${UNSET}\n",
            ),
        ],
    );
    let mut o = opts(&dir, &["compose.yaml"]);
    o.environ.insert("PORT".into(), "9090".into());
    let p = load(&o).unwrap();
    let web = svc(&p, "web");
    assert_eq!(web.image.as_deref(), Some("busybox:1.0"));
    assert_eq!(
        web.ports[0].published.as_deref(),
        Some("9090"),
        "environ overrides .env"
    );
    assert_eq!(web.environment["A"].as_deref(), Some("dotenv"));
    assert_eq!(web.environment["B"].as_deref(), Some("fallback"));
    assert_eq!(web.environment["C"].as_deref(), Some("$NOT_INTERPOLATED"));
    assert_eq!(web.environment["D"].as_deref(), Some("1.0-x"));
    assert_eq!(web.environment["E"].as_deref(), Some(""));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("\"UNSET\" variable is not set")),
        "{:?}",
        p.warnings
    );
    assert_eq!(p.env_files, vec![dir.join(".env")]);
    assert_eq!(p.environment["TAG"], "1.0");
}

#[test]
fn missing_required_variable() {
    let e = load_err("services:\n  web:\n    image: ${IMAGE:?the image must be set}\n");
    assert!(
        e.contains("required variable IMAGE is missing a value: the image must be set"),
        "{e}"
    );
    assert!(e.contains("services.web.image"), "{e}");
    let e =
        load_err("services:\n  web:\n    image: busybox\n    environment: [\"X=${EMPTY:?}\"]\n");
    assert!(
        e.ends_with("required variable EMPTY is missing a value"),
        "{e}"
    );
}

#[test]
fn invalid_interpolation() {
    let e = load_err("services:\n  web:\n    image: busybox\n    command: echo ${oops\n");
    assert!(e.contains("invalid interpolation format"), "{e}");
}

#[test]
fn explicit_env_file_and_numbers_from_strings() {
    let (_t, dir) = tree(
        "proj",
        &[
            ("custom.env", "REPLICAS=2\nRO=true\nMEM=64m\n"),
            (".env", "REPLICAS=9\n"),
            (
                "compose.yaml",
                "services:\n  w:\n    image: busybox\n    scale: ${REPLICAS}\n    read_only: ${RO}\n    mem_limit: ${MEM}\n",
            ),
        ],
    );
    let mut o = opts(&dir, &["compose.yaml"]);
    o.env_files = vec![dir.join("custom.env")];
    let p = load(&o).unwrap();
    assert_eq!(svc(&p, "w").scale, 2);
    assert!(svc(&p, "w").read_only);
    assert_eq!(svc(&p, "w").mem_limit, Some(64 << 20));
}

// ---------------------------------------------------------------- short syntaxes

#[test]
fn short_syntaxes() {
    let p = load_one(
        r#"
services:
  web:
    image: busybox
    command: sh -c 'echo "a b" c'
    entrypoint: /bin/sh -c
    environment:
      - A=1
      - B=
      - HOME
      - NOT_SET_ANYWHERE
    labels: [com.example=1, flag]
    ports:
      - 80
      - "8080:80"
      - "127.0.0.1:5353:53/udp"
      - "9000-9001:9000-9001"
      - target: 443
        published: 8443
        host_ip: 0.0.0.0
        mode: host
    expose: [3000, "4000/udp"]
    volumes:
      - ./data:/data:ro
      - named:/named
      - /anon
      - ~/cache:/cache
    networks: [front]
    depends_on: [db]
    healthcheck:
      test: wget -q -O - http://localhost/
      interval: 1m30s
      timeout: 5s
      start_period: 500ms
      retries: 3
    ulimits:
      nofile: 1024
      nproc: {soft: 10, hard: 20}
    sysctls: [net.core.somaxconn=1024]
    extra_hosts:
      host1: 10.0.0.1
    dns: 8.8.8.8
    tmpfs: /tmp
    secrets: [token]
    configs: [{source: conf, target: /etc/conf, mode: "0440"}]
    stop_grace_period: 1m
    shm_size: 1g
    cpus: "0.5"
    deploy:
      resources:
        limits: {memory: 512M}
      restart_policy: {condition: on-failure, max_attempts: 3}
  db:
    image: busybox
networks:
  front:
volumes:
  named:
secrets:
  token:
    file: ./token.txt
configs:
  conf:
    content: hello
"#,
    );
    let dir = p.working_dir.clone();
    let web = svc(&p, "web");
    assert_eq!(
        web.command.as_ref().unwrap(),
        &["sh", "-c", "echo \"a b\" c"]
    );
    assert_eq!(web.entrypoint.as_ref().unwrap(), &["/bin/sh", "-c"]);
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some(""));
    assert_eq!(
        web.environment["HOME"].as_deref(),
        Some("/home/u"),
        "valueless entries come from the environment"
    );
    assert_eq!(web.environment["NOT_SET_ANYWHERE"], None);
    assert_eq!(web.labels["com.example"], "1");
    assert_eq!(web.labels["flag"], "");

    type PortRow<'a> = (u16, Option<&'a str>, Option<&'a str>, &'a str, &'a str);
    let ports: Vec<PortRow> = web
        .ports
        .iter()
        .map(|p| {
            (
                p.target,
                p.published.as_deref(),
                p.host_ip.as_deref(),
                p.protocol.as_str(),
                p.mode.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        vec![
            (80, None, None, "tcp", "ingress"),
            (80, Some("8080"), None, "tcp", "ingress"),
            (53, Some("5353"), Some("127.0.0.1"), "udp", "ingress"),
            (9000, Some("9000"), None, "tcp", "ingress"),
            (9001, Some("9001"), None, "tcp", "ingress"),
            (443, Some("8443"), Some("0.0.0.0"), "tcp", "host"),
        ]
    );
    assert_eq!(web.expose, ["3000", "4000/udp"]);

    let v = &web.volumes;
    assert_eq!(v[0].kind, VolumeKind::Bind);
    assert_eq!(
        v[0].source.as_deref(),
        Some(dir.join("data").to_str().unwrap())
    );
    assert!(v[0].read_only && v[0].bind_create_host_path);
    assert_eq!(
        (v[1].kind, v[1].source.as_deref()),
        (VolumeKind::Volume, Some("named"))
    );
    assert_eq!(
        (v[2].kind, v[2].source.as_deref(), v[2].target.as_str()),
        (VolumeKind::Volume, None, "/anon")
    );
    assert_eq!(v[3].source.as_deref(), Some("/home/u/cache"));

    assert!(web.networks.contains_key("front") && !web.networks.contains_key("default"));
    assert_eq!(web.depends_on["db"], berth_compose::DependsOn::default());
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD-SHELL", "wget -q -O - http://localhost/"]);
    assert_eq!(hc.interval, Some(Duration::from_secs(90)));
    assert_eq!(hc.timeout, Some(Duration::from_secs(5)));
    assert_eq!(hc.start_period, Some(Duration::from_millis(500)));
    assert_eq!(hc.retries, Some(3));
    assert_eq!(
        (web.ulimits["nofile"].soft, web.ulimits["nofile"].hard),
        (1024, 1024)
    );
    assert_eq!(
        (web.ulimits["nproc"].soft, web.ulimits["nproc"].hard),
        (10, 20)
    );
    assert_eq!(web.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(web.extra_hosts, ["host1:10.0.0.1"]);
    assert_eq!(web.dns, ["8.8.8.8"]);
    assert_eq!(web.tmpfs, ["/tmp"]);
    assert_eq!(web.secrets[0].source, "token");
    assert_eq!(web.secrets[0].target, "/run/secrets/token");
    assert_eq!(web.configs[0].target, "/etc/conf");
    assert_eq!(web.configs[0].mode, Some(0o440));
    assert_eq!(web.stop_grace_period, Some(Duration::from_secs(60)));
    assert_eq!(web.shm_size, Some(1 << 30));
    assert_eq!(web.cpus, Some(0.5));
    assert_eq!(web.mem_limit, Some(512 << 20));
    assert_eq!(web.restart.as_deref(), Some("on-failure:3"));
    assert_eq!(
        p.secrets["token"].file.as_deref(),
        Some(dir.join("token.txt").as_path())
    );
    assert_eq!(p.secrets["token"].name, "proj_token");
    assert_eq!(p.configs["conf"].content.as_deref(), Some("hello"));
    // db has no networks: it gets the default one, which is then declared
    assert!(svc(&p, "db").networks.contains_key("default"));
    assert_eq!(p.networks["default"].name, "proj_default");
    assert_eq!(p.networks["front"].name, "proj_front");
}

#[test]
fn map_forms() {
    let p = load_one(
        "services:\n  w:\n    image: busybox\n    environment: {A: 1, B: true, C: null, D: ''}\n    labels: {x: y}\n    sysctls: {net.ipv4.ip_forward: 1}\n    extra_hosts: ['a=1.1.1.1', 'b:2.2.2.2']\n    networks:\n      n1: {aliases: [x], ipv4_address: 10.1.0.5, priority: 100}\n      n2:\n    depends_on:\n      db: {condition: service_healthy, required: false}\n  db:\n    image: busybox\nnetworks: {n1: {}, n2: {}}\n",
    );
    let w = svc(&p, "w");
    assert_eq!(w.environment["A"].as_deref(), Some("1"));
    assert_eq!(w.environment["B"].as_deref(), Some("true"));
    assert_eq!(w.environment["C"], None);
    assert_eq!(w.environment["D"].as_deref(), Some(""));
    assert_eq!(w.sysctls["net.ipv4.ip_forward"], "1");
    assert_eq!(w.extra_hosts, ["a:1.1.1.1", "b:2.2.2.2"]);
    assert_eq!(w.networks["n1"].aliases, ["x"]);
    assert_eq!(w.networks["n1"].ipv4_address.as_deref(), Some("10.1.0.5"));
    assert_eq!(w.networks["n1"].priority, 100);
    assert_eq!(w.networks["n2"], Default::default());
    let d = w.depends_on["db"];
    assert_eq!(
        (d.condition, d.required, d.restart),
        (Condition::ServiceHealthy, false, false)
    );
}

#[test]
fn healthcheck_forms() {
    let p = load_one(
        "services:\n  a: {image: busybox, healthcheck: {test: [CMD, true]}}\n  b: {image: busybox, healthcheck: {disable: true}}\n  c: {image: busybox, healthcheck: {test: [NONE]}}\n",
    );
    assert_eq!(
        svc(&p, "a").healthcheck.as_ref().unwrap().test,
        ["CMD", "true"]
    );
    let b = svc(&p, "b").healthcheck.as_ref().unwrap();
    assert!(b.disable);
    assert_eq!(b.test, ["NONE"]);
    assert_eq!(svc(&p, "c").healthcheck.as_ref().unwrap().test, ["NONE"]);
    let e = load_err("services:\n  a: {image: busybox, healthcheck: {test: [curl, x]}}\n");
    assert!(
        e.contains("healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\""),
        "{e}"
    );
    let e = load_err("services:\n  a: {image: busybox, healthcheck: {interval: 10}}\n");
    assert!(e.contains("missing unit in duration"), "{e}");
}

#[test]
fn long_volume_syntax() {
    let p = load_one(
        "services:\n  w:\n    image: busybox\n    volumes:\n      - {type: bind, source: ./src, target: /src, bind: {create_host_path: false, propagation: rshared}}\n      - {type: volume, source: v, target: /v, read_only: true, volume: {nocopy: true, subpath: sub}}\n      - {type: tmpfs, target: /t, tmpfs: {size: 1m, mode: 1777}}\nvolumes:\n  v:\n    external: true\n",
    );
    let v = &svc(&p, "w").volumes;
    assert!(!v[0].bind_create_host_path);
    assert_eq!(v[0].bind_propagation.as_deref(), Some("rshared"));
    assert!(v[1].read_only && v[1].volume_nocopy);
    assert_eq!(v[1].volume_subpath.as_deref(), Some("sub"));
    assert_eq!(v[2].tmpfs_size, Some(1 << 20));
    assert_eq!(v[2].tmpfs_mode, Some(1777));
    assert_eq!(p.volumes["v"].name, "v");
    assert!(p.volumes["v"].external);
}

#[test]
fn scale_and_replicas() {
    let p = load_one(
        "services:\n  a: {image: busybox}\n  b: {image: busybox, scale: 2}\n  c: {image: busybox, deploy: {replicas: 4}}\n",
    );
    assert_eq!(
        (svc(&p, "a").scale, svc(&p, "b").scale, svc(&p, "c").scale),
        (1, 2, 4)
    );
    let e = load_err("services:\n  a: {image: busybox, scale: 2, deploy: {replicas: 3}}\n");
    assert!(
        e.contains("can't set distinct values on 'scale' and 'deploy.replicas'"),
        "{e}"
    );
    let e = load_err("services:\n  a: {image: busybox, scale: 2, container_name: x}\n");
    assert!(e.contains("container name must be unique"), "{e}");
}

// ---------------------------------------------------------------- YAML

#[test]
fn anchors_and_merge_keys() {
    let p = load_one(
        "x-common: &common\n  image: busybox\n  restart: always\n  environment: &env\n    A: '1'\nservices:\n  a:\n    <<: *common\n    command: sleep 1\n  b:\n    <<: *common\n    restart: \"no\"\n    environment:\n      <<: *env\n      B: '2'\n",
    );
    assert_eq!(svc(&p, "a").restart.as_deref(), Some("always"));
    assert_eq!(svc(&p, "a").image.as_deref(), Some("busybox"));
    assert_eq!(svc(&p, "b").restart.as_deref(), Some("no"));
    assert_eq!(svc(&p, "b").environment["A"].as_deref(), Some("1"));
    assert_eq!(svc(&p, "b").environment["B"].as_deref(), Some("2"));
}

#[test]
fn yaml_error_names_file_and_line() {
    let (_t, dir) = tree(
        "proj",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: busybox: latest\n",
        )],
    );
    let e = load(&opts(&dir, &["compose.yaml"])).unwrap_err();
    assert!(matches!(e, Error::Yaml { line: Some(3), .. }), "{e:?}");
    let s = e.to_string();
    assert_eq!(
        s,
        format!(
            "{}: yaml: line 3: mapping values are not allowed in this context",
            dir.join("compose.yaml").display()
        )
    );
}

#[test]
fn unknown_keys_are_errors() {
    let e = load_err("services:\n  web:\n    image: busybox\n    foo: bar\n");
    assert!(
        e.contains("services.web Additional property foo is not allowed"),
        "{e}"
    );
    assert!(e.contains("compose.yaml"), "{e}");
    let e = load_err("services: {}\nvolumez: {}\n");
    assert!(
        e.contains("(root) Additional property volumez is not allowed"),
        "{e}"
    );
    // extensions are fine anywhere
    let p = load_one(
        "x-top: 1\nservices:\n  web:\n    image: busybox\n    x-custom: {a: b}\nnetworks:\n  n:\n    x-note: hi\n",
    );
    assert!(p.services.contains_key("web"));
}

#[test]
fn version_is_obsolete_but_accepted() {
    let p = load_one("version: '3.8'\nservices:\n  web: {image: busybox}\n");
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("`version` is obsolete"))
    );
}

#[test]
fn service_needs_image_or_build() {
    let e = load_err("services:\n  web:\n    command: true\n");
    assert_eq!(
        e,
        "service \"web\" has neither an image nor a build context specified: invalid compose project"
    );
}

// ---------------------------------------------------------------- merging files

#[test]
fn merge_of_two_files() {
    let (_t, dir) = tree(
        "proj",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    image: busybox\n    command: [httpd, -f]\n    environment: {A: '1', B: '2'}\n    labels: [l1=a]\n    ports: ['8080:80']\n    expose: ['1000']\n    volumes: ['./a:/data', 'cache:/cache']\n    dns: [1.1.1.1]\n    healthcheck: {test: [CMD, a], interval: 5s}\n    logging: {driver: json-file, options: {max-size: 1m}}\n  db:\n    image: busybox\nvolumes:\n  cache:\n",
            ),
            (
                "override/compose.override.yaml",
                "services:\n  web:\n    image: busybox:1.36\n    command: sleep 1\n    environment: [B=3, C=4]\n    labels: {l2: b}\n    ports: ['8080:80', '9090:90']\n    expose: ['1000', '2000']\n    volumes: ['./b:/data']\n    dns: 8.8.8.8\n    healthcheck: {test: [CMD, b]}\n    logging: {options: {max-file: '3'}}\n  extra:\n    image: busybox\n",
            ),
        ],
    );
    let p = load(&opts(
        &dir,
        &["compose.yaml", "override/compose.override.yaml"],
    ))
    .unwrap();
    let web = svc(&p, "web");
    assert_eq!(web.image.as_deref(), Some("busybox:1.36"));
    assert_eq!(
        web.command.as_ref().unwrap(),
        &["sleep", "1"],
        "command is replaced"
    );
    let env: Vec<(&str, Option<&str>)> = web
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    assert_eq!(
        env,
        vec![("A", Some("1")), ("B", Some("3")), ("C", Some("4"))]
    );
    assert_eq!(web.labels.len(), 2);
    assert_eq!(web.ports.len(), 2, "ports appended and de-duplicated");
    assert_eq!(web.expose, ["1000", "2000"]);
    assert_eq!(web.volumes.len(), 2, "volumes merged by target");
    // relative paths of every file are relative to the project directory (the first file's)
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(dir.join("b").to_str().unwrap())
    );
    assert_eq!(web.dns, ["1.1.1.1", "8.8.8.8"]);
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD", "b"]);
    assert_eq!(hc.interval, Some(Duration::from_secs(5)));
    let log = web.logging.as_ref().unwrap();
    assert_eq!(log.driver.as_deref(), Some("json-file"));
    assert_eq!(log.options.len(), 2);
    assert!(p.services.contains_key("extra"));
    assert_eq!(
        p.config_files,
        vec![
            dir.join("compose.yaml"),
            dir.join("override/compose.override.yaml")
        ]
    );
    assert_eq!(p.working_dir, dir);
}

#[test]
fn reset_and_override_tags() {
    let (_t, dir) = tree(
        "proj",
        &[
            (
                "a.yaml",
                "services:\n  web:\n    image: busybox\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
            ),
            (
                "b.yaml",
                "services:\n  web:\n    ports: !reset []\n    environment: !override {C: '3'}\n",
            ),
        ],
    );
    let p = load(&opts(&dir, &["a.yaml", "b.yaml"])).unwrap();
    let web = svc(&p, "web");
    assert!(web.ports.is_empty());
    assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["C"]);

    // a whole service replaced, still in short syntax
    std::fs::write(
        dir.join("c.yaml"),
        "services:\n  web: !override\n    image: busybox:new\n    ports: ['81:81']\n",
    )
    .unwrap();
    let p = load(&opts(&dir, &["a.yaml", "c.yaml"])).unwrap();
    let web = svc(&p, "web");
    assert_eq!(web.image.as_deref(), Some("busybox:new"));
    assert_eq!(web.ports.len(), 1);
    assert_eq!(web.ports[0].target, 81);
    assert!(web.environment.is_empty());
}

// ---------------------------------------------------------------- extends / include

#[test]
fn extends_same_file_and_other_file() {
    let (_t, dir) = tree(
        "proj",
        &[
            (
                "compose.yaml",
                "services:\n  base:\n    image: busybox\n    environment: {A: base}\n    ports: ['80']\n  child:\n    extends: base\n    environment: {B: child}\n    ports: ['81']\n  grandchild:\n    extends: {service: child}\n    command: sleep 1\n  remote:\n    extends:\n      file: lib/common.yaml\n      service: tool\n    environment: {X: mine}\n",
            ),
            (
                "lib/common.yaml",
                "services:\n  tool:\n    image: busybox\n    env_file: tool.env\n    build: ./ctx\n    volumes: ['./data:/data']\n    environment: {X: theirs, Y: theirs}\n",
            ),
            ("lib/tool.env", "FROM_FILE=1\n"),
        ],
    );
    let p = load(&opts(&dir, &["compose.yaml"])).unwrap();
    let child = svc(&p, "child");
    assert_eq!(child.image.as_deref(), Some("busybox"));
    assert_eq!(child.environment.len(), 2);
    assert_eq!(child.ports.len(), 2);
    let gc = svc(&p, "grandchild");
    assert_eq!(gc.environment["B"].as_deref(), Some("child"));
    assert_eq!(gc.command.as_ref().unwrap(), &["sleep", "1"]);
    let remote = svc(&p, "remote");
    let lib = dir.join("lib");
    assert_eq!(remote.environment["X"].as_deref(), Some("mine"));
    assert_eq!(remote.environment["Y"].as_deref(), Some("theirs"));
    assert_eq!(remote.environment["FROM_FILE"].as_deref(), Some("1"));
    assert_eq!(remote.build.as_ref().unwrap().context, lib.join("ctx"));
    assert_eq!(
        remote.volumes[0].source.as_deref(),
        Some(lib.join("data").to_str().unwrap())
    );
}

#[test]
fn extends_errors() {
    let e = load_err("services:\n  a:\n    extends: nope\n");
    assert!(
        e.contains("cannot extend service \"a\"") && e.contains("service \"nope\" not found"),
        "{e}"
    );
    let e = load_err(
        "services:\n  a: {extends: b, image: busybox}\n  b: {extends: a, image: busybox}\n",
    );
    assert!(e.contains("circular reference"), "{e}");
}

#[test]
fn include() {
    let (_t, dir) = tree(
        "proj",
        &[
            (
                "compose.yaml",
                "include:\n  - sub/compose.yaml\nservices:\n  web:\n    image: busybox\n    depends_on: [db]\n",
            ),
            (
                "sub/compose.yaml",
                "services:\n  db:\n    image: busybox\n    volumes: ['./data:/data', 'dbvol:/v']\nvolumes:\n  dbvol:\n",
            ),
        ],
    );
    let p = load(&opts(&dir, &["compose.yaml"])).unwrap();
    assert_eq!(
        svc(&p, "db").volumes[0].source.as_deref(),
        Some(dir.join("sub/data").to_str().unwrap())
    );
    assert_eq!(p.volumes["dbvol"].name, "proj_dbvol");
    assert_eq!(
        plan::order(&p, &[]).unwrap(),
        vec![vec!["db".to_string()], vec!["web".to_string()]]
    );

    let (_t, dir) = tree(
        "proj",
        &[
            (
                "compose.yaml",
                "include: [sub.yaml]\nservices:\n  db: {image: busybox}\n",
            ),
            ("sub.yaml", "services:\n  db: {image: busybox}\n"),
        ],
    );
    let e = load(&opts(&dir, &["compose.yaml"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("services.db conflicts with imported resource"),
        "{e}"
    );
}

// ---------------------------------------------------------------- profiles

#[test]
fn profiles() {
    let yaml = "services:\n  always: {image: busybox}\n  dbg: {image: busybox, profiles: [debug]}\n  multi: {image: busybox, profiles: [a, b]}\n";
    let (_t, dir) = tree("proj", &[("compose.yaml", yaml)]);
    let mut o = opts(&dir, &["compose.yaml"]);
    let p = load(&o).unwrap();
    assert_eq!(p.service_names(), ["always"]);
    assert_eq!(p.disabled.keys().collect::<Vec<_>>(), ["dbg", "multi"]);

    o.profiles = vec!["b".into()];
    let p = load(&o).unwrap();
    assert_eq!(p.service_names(), ["always", "multi"]);

    o.environ
        .insert("COMPOSE_PROFILES".into(), "debug, a".into());
    let p = load(&o).unwrap();
    assert_eq!(p.service_names(), ["always", "dbg", "multi"]);
    assert_eq!(p.profiles, ["b", "debug", "a"]);

    o.profiles = vec!["*".into()];
    o.environ.remove("COMPOSE_PROFILES");
    assert_eq!(load(&o).unwrap().services.len(), 3);
}

#[test]
fn disabled_dependencies() {
    let yaml = "services:\n  web: {image: busybox, depends_on: {db: {condition: service_started, required: false}}}\n  db: {image: busybox, profiles: [dev]}\n  admin: {image: busybox, profiles: [tools], depends_on: [db]}\n";
    let p = load_one(yaml);
    // an optional dependency that is disabled is skipped
    assert_eq!(plan::order(&p, &[]).unwrap(), vec![vec!["web".to_string()]]);
    // naming a service enables its profiles, but not those of its dependencies
    let e = plan::order(&p, &["admin".to_string()])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "service \"db\" is required by \"admin\" but is disabled. Can be enabled by profiles [dev]"
    );
    // a required dependency on a disabled service fails at load time, as in compose
    let e = load_err(
        "services:\n  web: {image: busybox, depends_on: [db]}\n  db: {image: busybox, profiles: [dev]}\n",
    );
    assert_eq!(
        e,
        "service \"web\" depends on undefined service \"db\": invalid compose project"
    );
}

// ---------------------------------------------------------------- planning

#[test]
fn dependency_levels() {
    let p = load_one(
        "services:\n  web: {image: busybox, depends_on: [api, cache]}\n  api: {image: busybox, depends_on: [db]}\n  db: {image: busybox}\n  cache: {image: busybox}\n  lonely: {image: busybox}\n",
    );
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        plan::order(&p, &[]).unwrap(),
        vec![s(&["cache", "db", "lonely"]), s(&["api"]), s(&["web"])]
    );
    assert_eq!(
        plan::order(&p, &s(&["api"])).unwrap(),
        vec![s(&["db"]), s(&["api"])]
    );
    assert_eq!(
        plan::order(&p, &s(&["web"])).unwrap(),
        vec![s(&["cache", "db"]), s(&["api"]), s(&["web"])]
    );
    assert_eq!(
        plan::dependents(&p, "db").into_iter().collect::<Vec<_>>(),
        s(&["api", "web"])
    );
    assert!(
        plan::order(&p, &s(&["nope"]))
            .unwrap_err()
            .to_string()
            .contains("no such service: nope")
    );
}

#[test]
fn dependency_cycles() {
    let p = {
        let mut p = load_one(
            "services:\n  a: {image: busybox}\n  b: {image: busybox}\n  c: {image: busybox}\n",
        );
        let dep = berth_compose::DependsOn::default();
        p.services
            .get_mut("a")
            .unwrap()
            .depends_on
            .insert("b".into(), dep);
        p.services
            .get_mut("b")
            .unwrap()
            .depends_on
            .insert("a".into(), dep);
        p
    };
    let e = plan::order(&p, &[]).unwrap_err();
    assert_eq!(e.to_string(), "dependency cycle detected: a -> b -> a");
    // from a file, the loader refuses the cycle already (as compose does)
    let e = load_err(
        "services:\n  a: {image: busybox, depends_on: [b]}\n  b: {image: busybox, depends_on: [c]}\n  c: {image: busybox, depends_on: [a]}\n",
    );
    assert_eq!(e, "dependency cycle detected: a -> b -> c -> a");
    assert_eq!(
        load_err("services:\n  a: {image: busybox, depends_on: [a]}\n"),
        "dependency cycle detected: a -> a"
    );
    // only the selected part of the graph is considered
    let mut p = load_one(
        "services:\n  a: {image: busybox}\n  b: {image: busybox}\n  c: {image: busybox}\n",
    );
    p.services
        .get_mut("a")
        .unwrap()
        .depends_on
        .insert("a".into(), Default::default());
    assert!(plan::order(&p, &["b".to_string()]).is_ok());
    assert!(plan::order(&p, &["a".to_string()]).is_err());
}

#[test]
fn undefined_dependency() {
    let e = load_err("services:\n  web: {image: busybox, depends_on: [db]}\n");
    assert_eq!(
        e,
        "service \"web\" depends on undefined service \"db\": invalid compose project"
    );
    let mut p = load_one("services:\n  web: {image: busybox}\n");
    p.services
        .get_mut("web")
        .unwrap()
        .depends_on
        .insert("db".into(), Default::default());
    assert_eq!(
        plan::order(&p, &[]).unwrap_err().to_string(),
        "service \"web\" depends on undefined service \"db\": invalid compose project"
    );
}

#[test]
fn implicit_dependencies() {
    let p = load_one(
        "services:\n  a: {image: busybox, network_mode: 'service:b', volumes_from: [c], links: ['d:alias']}\n  b: {image: busybox}\n  c: {image: busybox}\n  d: {image: busybox}\n",
    );
    let a = svc(&p, "a");
    assert_eq!(a.depends_on.keys().collect::<Vec<_>>(), ["b", "c", "d"]);
    assert!(a.networks.is_empty());
}

#[test]
fn undefined_references() {
    assert_eq!(
        load_err("services:\n  w: {image: busybox, networks: [nope]}\n"),
        "service \"w\" refers to undefined network nope: invalid compose project"
    );
    assert_eq!(
        load_err("services:\n  w: {image: busybox, volumes: ['nope:/x']}\n"),
        "service \"w\" refers to undefined volume nope: invalid compose project"
    );
    assert_eq!(
        load_err("services:\n  w: {image: busybox, secrets: [nope]}\n"),
        "service \"w\" refers to undefined secret nope: invalid compose project"
    );
    assert!(
        load_err("services:\n  w: {image: busybox, network_mode: host, networks: [n]}\nnetworks: {n: {}}\n")
            .contains("mutually exclusive")
    );
}

#[test]
fn config_hash() {
    let p = load_one(
        "services:\n  a: {image: busybox, command: sleep 1}\n  b: {image: busybox, command: sleep 1, scale: 3, depends_on: [a]}\n  c: {image: busybox, command: sleep 2}\n",
    );
    let (a, b, c) = (svc(&p, "a"), svc(&p, "b"), svc(&p, "c"));
    let ha = plan::config_hash(a);
    assert_eq!(ha.len(), 64);
    assert!(ha.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(ha, plan::config_hash(a), "stable");
    assert_eq!(
        ha,
        plan::config_hash(b),
        "scale and depends_on do not count"
    );
    assert_ne!(ha, plan::config_hash(c));
}

// ---------------------------------------------------------------- project name and discovery

#[test]
fn project_name_rules() {
    let (_t, dir) = tree(
        "My_Project.Dir",
        &[("compose.yaml", "services:\n  w: {image: busybox}\n")],
    );
    let mut o = opts(&dir, &["compose.yaml"]);
    assert_eq!(
        load(&o).unwrap().name,
        "my_projectdir",
        "basename, normalised"
    );

    std::fs::write(
        dir.join("compose.yaml"),
        "name: ${NAME:-From-File}\nservices:\n  w: {image: busybox}\n",
    )
    .unwrap();
    assert_eq!(
        load(&o).unwrap().name,
        "from-file",
        "top-level name, interpolated and normalised"
    );

    o.environ
        .insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
    assert_eq!(load(&o).unwrap().name, "fromenv");

    o.project_name = Some("fromflag".into());
    let p = load(&o).unwrap();
    assert_eq!(p.name, "fromflag");
    assert_eq!(p.networks["default"].name, "fromflag_default");
    assert_eq!(p.environment["COMPOSE_PROJECT_NAME"], "fromflag");

    o.project_name = Some("Bad Name".into());
    let e = load(&o).unwrap_err().to_string();
    assert!(e.contains("invalid project name \"Bad Name\""), "{e}");
    o.project_name = None;
    o.environ
        .insert("COMPOSE_PROJECT_NAME".into(), "_bad".into());
    assert!(load(&o).is_err());
}

#[test]
fn project_name_is_available_for_interpolation() {
    let (_t, dir) = tree(
        "proj",
        &[(
            "compose.yaml",
            "services:\n  w:\n    image: busybox\n    labels: {p: $COMPOSE_PROJECT_NAME}\n",
        )],
    );
    let mut o = opts(&dir, &["compose.yaml"]);
    o.project_name = Some("named".into());
    assert_eq!(svc(&load(&o).unwrap(), "w").labels["p"], "named");
}

#[test]
fn discovery_in_parents_with_override() {
    let (_t, dir) = tree(
        "proj",
        &[
            (
                "docker-compose.yml",
                "services:\n  w: {image: busybox, environment: {A: base}}\n",
            ),
            (
                "docker-compose.override.yml",
                "services:\n  w: {environment: {A: override}}\n",
            ),
            (".env", "X=1\n"),
            ("sub/deeper/.keep", ""),
        ],
    );
    let o = LoadOptions {
        environ: env(&[]),
        ..Default::default()
    };
    let p = load_in(&o, &dir.join("sub/deeper")).unwrap();
    assert_eq!(p.name, "proj");
    assert_eq!(p.working_dir, dir);
    assert_eq!(
        p.config_files,
        vec![
            dir.join("docker-compose.yml"),
            dir.join("docker-compose.override.yml")
        ]
    );
    assert_eq!(svc(&p, "w").environment["A"].as_deref(), Some("override"));
    assert_eq!(p.environment["X"], "1", ".env of the project directory");

    // compose.yaml is preferred over docker-compose.yml (with a warning)
    // (the override file is still picked up, whatever its prefix, as compose does)
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  w: {image: busybox}\n",
    )
    .unwrap();
    let p = load_in(&o, &dir).unwrap();
    assert_eq!(
        p.config_files,
        vec![
            dir.join("compose.yaml"),
            dir.join("docker-compose.override.yml")
        ]
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("Found multiple config files"))
    );

    let empty = TempDir::new().unwrap();
    let nothing = empty.path().join("a/b");
    std::fs::create_dir_all(&nothing).unwrap();
    // (a compose file in a parent of the temp dir would be found, as compose would)
    if !std::env::temp_dir().ancestors().any(|d| {
        berth_compose::load::DEFAULT_FILE_NAMES
            .iter()
            .any(|f| d.join(f).exists())
    }) {
        let e = load_in(&o, &nothing).unwrap_err();
        assert!(matches!(e, Error::NoConfigFile));
        assert_eq!(e.to_string(), "no configuration file provided: not found");
    }
}

#[test]
fn compose_file_variable_and_project_directory() {
    let (_t, dir) = tree(
        "proj",
        &[
            ("one.yaml", "services:\n  a: {image: busybox}\n"),
            (
                "two.yaml",
                "services:\n  b: {image: busybox, volumes: ['./x:/x']}\n",
            ),
            ("elsewhere/.env", "E=from-elsewhere\n"),
        ],
    );
    let o = LoadOptions {
        environ: env(&[("COMPOSE_FILE", "one.yaml:two.yaml")]),
        ..Default::default()
    };
    let p = load_in(&o, &dir).unwrap();
    assert_eq!(p.service_names(), ["a", "b"]);

    let o = LoadOptions {
        environ: env(&[
            ("COMPOSE_FILE", "one.yaml;two.yaml"),
            ("COMPOSE_PATH_SEPARATOR", ";"),
        ]),
        ..Default::default()
    };
    assert_eq!(load_in(&o, &dir).unwrap().services.len(), 2);

    let o = LoadOptions {
        files: vec![dir.join("two.yaml")],
        project_dir: Some(dir.join("elsewhere")),
        environ: env(&[]),
        ..Default::default()
    };
    let p = load(&o).unwrap();
    assert_eq!(p.name, "elsewhere");
    assert_eq!(p.environment["E"], "from-elsewhere");
    assert_eq!(
        svc(&p, "b").volumes[0].source.as_deref(),
        Some(dir.join("elsewhere/x").to_str().unwrap())
    );
}

#[test]
fn env_file_in_service() {
    let (_t, dir) = tree(
        "proj",
        &[
            ("a.env", "A=1\nB=from-a\nREF=${OUTER}\n"),
            (
                "compose.yaml",
                "services:\n  w:\n    image: busybox\n    env_file: [a.env, {path: missing.env, required: false}]\n    environment: {B: override}\n",
            ),
        ],
    );
    let mut o = opts(&dir, &["compose.yaml"]);
    o.environ.insert("OUTER".into(), "outer".into());
    let p = load(&o).unwrap();
    let w = svc(&p, "w");
    assert_eq!(w.environment["A"].as_deref(), Some("1"));
    assert_eq!(w.environment["B"].as_deref(), Some("override"));
    assert_eq!(w.environment["REF"].as_deref(), Some("outer"));
    assert_eq!(w.env_file, vec![dir.join("a.env")]);

    let e = load_err("services:\n  w: {image: busybox, env_file: nope.env}\n");
    assert!(
        e.contains("env file") && e.contains("nope.env not found"),
        "{e}"
    );
}

#[test]
fn resource_names() {
    let p = load_one(
        "services:\n  w:\n    image: busybox\n    networks: [a, b, c]\n    volumes: ['v1:/1', 'v2:/2', 'v3:/3']\nnetworks:\n  a: {}\n  b: {name: custom-net}\n  c: {external: true}\nvolumes:\n  v1: {}\n  v2: {name: custom-vol}\n  v3: {external: {name: legacy-ext}}\n",
    );
    assert_eq!(p.networks["a"].name, "proj_a");
    assert_eq!(p.networks["b"].name, "custom-net");
    assert_eq!(p.networks["c"].name, "c");
    assert!(p.networks["c"].external);
    assert!(!p.networks.contains_key("default"));
    assert_eq!(p.volumes["v1"].name, "proj_v1");
    assert_eq!(p.volumes["v2"].name, "custom-vol");
    assert_eq!(p.volumes["v3"].name, "legacy-ext");
    assert!(p.volumes["v3"].external);
}

#[test]
fn networks_top_level() {
    let p = load_one(
        "services:\n  w: {image: busybox, networks: [n]}\nnetworks:\n  n:\n    driver: bridge\n    driver_opts: {com.docker.network.bridge.name: br-x}\n    internal: true\n    attachable: true\n    enable_ipv6: false\n    labels: [a=b]\n    ipam:\n      driver: default\n      config:\n        - subnet: 172.28.0.0/16\n          gateway: 172.28.0.1\n          ip_range: 172.28.5.0/24\n",
    );
    let n = &p.networks["n"];
    assert_eq!(n.driver.as_deref(), Some("bridge"));
    assert_eq!(n.driver_opts["com.docker.network.bridge.name"], "br-x");
    assert!(n.internal && n.attachable);
    assert_eq!(n.enable_ipv6, Some(false));
    assert_eq!(n.labels["a"], "b");
    let ipam = n.ipam.as_ref().unwrap();
    assert_eq!(ipam.driver.as_deref(), Some("default"));
    assert_eq!(ipam.config[0].subnet.as_deref(), Some("172.28.0.0/16"));
    assert_eq!(ipam.config[0].gateway.as_deref(), Some("172.28.0.1"));
    assert_eq!(ipam.config[0].ip_range.as_deref(), Some("172.28.5.0/24"));
}

#[test]
fn to_yaml_output() {
    let p = load_one(
        "name: demo\nservices:\n  zeta: {image: busybox, healthcheck: {test: [CMD, 'true'], interval: 90s}}\n  alpha: {image: busybox, ports: ['8080:80']}\n",
    );
    let y = config::to_yaml(&p);
    assert!(y.starts_with("name: demo\nservices:\n  alpha:\n"), "{y}");
    assert!(y.find("  alpha:").unwrap() < y.find("  zeta:").unwrap());
    assert!(y.contains("interval: 1m30s"), "{y}");
    assert!(y.contains("published: '8080'"), "{y}");
    assert!(
        y.contains("networks:\n  default:\n    name: demo_default"),
        "{y}"
    );
    // the output is itself a loadable compose file
    let (_t, dir) = tree("again", &[("compose.yaml", &y)]);
    let again = load(&opts(&dir, &["compose.yaml"])).unwrap();
    assert_eq!(again.services, p.services);
}

#[test]
fn label_names() {
    assert_eq!(labels::PROJECT, "com.docker.compose.project");
    assert_eq!(labels::SERVICE, "com.docker.compose.service");
    assert_eq!(
        labels::CONTAINER_NUMBER,
        "com.docker.compose.container-number"
    );
    assert_eq!(labels::CONFIG_HASH, "com.docker.compose.config-hash");
    assert_eq!(labels::ONEOFF, "com.docker.compose.oneoff");
    assert_eq!(
        labels::WORKING_DIR,
        "com.docker.compose.project.working_dir"
    );
    assert_eq!(
        labels::CONFIG_FILES,
        "com.docker.compose.project.config_files"
    );
    assert_eq!(labels::VERSION, "com.docker.compose.version");
    assert_eq!(labels::NETWORK, "com.docker.compose.network");
    assert_eq!(labels::VOLUME, "com.docker.compose.volume");
    assert_eq!(labels::DEPENDS_ON, "com.docker.compose.depends_on");
    assert_eq!(labels::IMAGE, "com.docker.compose.image");
    let p = load_one(
        "services:\n  a: {image: busybox, depends_on: {b: {condition: service_healthy, restart: true}, c: {condition: service_started}}}\n  b: {image: busybox}\n  c: {image: busybox}\n",
    );
    assert_eq!(
        labels::depends_on_value(svc(&p, "a")),
        "b:service_healthy:true,c:service_started:false"
    );
}

#[test]
fn build_defaults() {
    let p = load_one(
        "services:\n  a: {build: .}\n  b: {build: {context: ./sub, dockerfile: alt.Dockerfile, target: dev, args: [X=1, FROM_HOME], cache_from: [busybox], network: host, shm_size: 64m, extra_hosts: {h: 1.2.3.4}}}\n  c: {build: {dockerfile_inline: 'FROM busybox'}}\n  d: {build: 'https://github.com/x/y.git#main'}\n",
    );
    let dir = &p.working_dir;
    let a = svc(&p, "a").build.as_ref().unwrap();
    assert_eq!((&a.context, a.dockerfile.as_str()), (dir, "Dockerfile"));
    let b = svc(&p, "b").build.as_ref().unwrap();
    assert_eq!(b.context, dir.join("sub"));
    assert_eq!(b.dockerfile, "alt.Dockerfile");
    assert_eq!(b.target.as_deref(), Some("dev"));
    assert_eq!(b.args["X"].as_deref(), Some("1"));
    assert_eq!(b.args["FROM_HOME"], None);
    assert_eq!(b.cache_from, ["busybox"]);
    assert_eq!(b.network.as_deref(), Some("host"));
    assert_eq!(b.shm_size, Some(64 << 20));
    assert_eq!(b.extra_hosts, ["h:1.2.3.4"]);
    let c = svc(&p, "c").build.as_ref().unwrap();
    assert_eq!(c.dockerfile_inline.as_deref(), Some("FROM busybox"));
    let d = svc(&p, "d").build.as_ref().unwrap();
    assert!(d.is_remote());
    assert_eq!(d.context, PathBuf::from("https://github.com/x/y.git#main"));
}
