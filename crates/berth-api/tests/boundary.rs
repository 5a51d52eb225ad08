//! The API boundary: only berth-api spells Docker's JSON field names and
//! query parameter names. This test collects them from berth-api's own
//! sources (serde renames, `rename_all` fields, `params!` keys) and fails
//! if any other crate's code (`src/`, `benches/`) has one as a string
//! literal. Tests are exempt: they speak the wire format on purpose.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Literals that equal a field name but mean something else where they
/// are used: (literal, file path part, reason).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "Created",
        "",
        "a never-started container's status text in docker ps",
    ),
    (
        "ID",
        "berth-runc/src/commands/info.rs",
        "runc list's column header",
    ),
    (
        "Container",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "Network",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "Volume",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "Image",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "Running",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "Error",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "Paused",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "Restarting",
        "berth-compose/src/engine.rs",
        "a word of docker compose's progress lines",
    ),
    (
        "throttled_time",
        "berth-cgroups/",
        "a key of the kernel's cpu.stat",
    ),
];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn camel(snake: &str) -> String {
    let p = pascal(snake);
    let mut c = p.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Names distinctive enough to check: Capitalised, camelCase, or with a
/// separator (`cpu_stats`, `one-shot`). Single lower-case words (`name`,
/// `status`) are everyday words and OCI's too.
fn distinctive(n: &str) -> bool {
    n.len() > 1
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && (n.starts_with(|c: char| c.is_ascii_uppercase())
            || n.chars().skip(1).any(|c| c.is_ascii_uppercase())
            || n.contains(['_', '-']))
}

fn vocabulary() -> BTreeSet<String> {
    let rename = regex::Regex::new(r#"rename\s*=\s*"([^"]+)""#).unwrap();
    let param = regex::Regex::new(r#"\w+\s*:\s*[\w<>]+\s*=\s*"([^"]+)""#).unwrap();
    let field = regex::Regex::new(r"^\s*pub\s+(\w+)\s*:").unwrap();
    let mut names = BTreeSet::new();
    let mut files = Vec::new();
    rs_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for c in rename.captures_iter(&text) {
            names.insert(c[1].to_string());
        }
        for c in param.captures_iter(&text) {
            names.insert(c[1].to_string());
        }
        // Fields of structs: renamed by rename_all, or as written.
        let mut pending: Option<&str> = None;
        let mut case: Option<&str> = None;
        let mut skip_next = false;
        for line in text.lines() {
            if line.contains("rename_all = \"PascalCase\"") {
                pending = Some("pascal");
            } else if line.contains("rename_all = \"camelCase\"") {
                pending = Some("camel");
            } else if line.trim_start().starts_with("pub struct") {
                case = line.contains('{').then(|| pending.unwrap_or("plain"));
                pending = None;
            } else if line.starts_with('}') || line.trim_start().starts_with("pub enum") {
                case = None;
                pending = None;
            }
            if line.contains("rename =") || line.contains("flatten") {
                skip_next = true;
                continue;
            }
            if let Some(k) = case
                && let Some(c) = field.captures(line)
            {
                if !skip_next {
                    let n = &c[1];
                    names.insert(match k {
                        "pascal" => pascal(n),
                        "camel" => camel(n),
                        _ => n.to_string(),
                    });
                }
                skip_next = false;
            }
        }
    }
    names.retain(|n| distinctive(n));
    names
}

/// The string literals of a Rust source, outside comments.
fn literals(src: &str) -> Vec<(usize, String)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                if b[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            // A char literal ('"', '\'', '\n') or a lifetime.
            if b.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c == 'r'
            && (b.get(i + 1) == Some(&'"') || b.get(i + 1) == Some(&'#'))
            && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'))
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                i += 1;
                continue;
            }
            j += 1;
            let start = j;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    break;
                }
                j += 1;
            }
            let s: String = b[start..j.min(b.len())].iter().collect();
            line += s.matches('\n').count();
            out.push((line, s));
            i = j + 1 + hashes;
        } else if c == '"' {
            let mut j = i + 1;
            let mut s = String::new();
            while j < b.len() && b[j] != '"' {
                if b[j] == '\\' {
                    s.push(b[j]);
                    j += 1;
                }
                if j < b.len() {
                    s.push(b[j]);
                }
                j += 1;
            }
            line += s.matches('\n').count();
            out.push((line, s));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn the_vocabulary_is_found() {
    let v = vocabulary();
    for n in [
        "PortBindings",
        "HostConfig",
        "RestartPolicy",
        "MaximumRetryCount",
        "Id",
        "RepoTags",
        "IPv4Address",
        "fromImage",
        "noOverwriteDirNonDir",
        "progressDetail",
        "cpu_stats",
        "timeNano",
        "linkTarget",
        "diff_ids",
    ] {
        assert!(v.contains(n), "{n} missing from the vocabulary");
    }
    assert!(!v.contains("name") && !v.contains("status"));
}

#[test]
fn no_docker_field_name_outside_berth_api() {
    let vocab = vocabulary();
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir(crates_dir()) else {
        panic!("no crates dir");
    };
    for c in rd.flatten() {
        if c.file_name() == "berth-api" {
            continue;
        }
        let mut files = Vec::new();
        rs_files(&c.path().join("src"), &mut files);
        rs_files(&c.path().join("benches"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // Unit tests inside a source file speak the wire format too.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (line, lit) in literals(code) {
                let fname = f.to_string_lossy();
                let allowed = ALLOWED
                    .iter()
                    .any(|(l, p, _)| *l == lit && fname.contains(p));
                if vocab.contains(&lit) && !allowed {
                    found.push(format!(
                        "{}:{line}: \"{lit}\"",
                        f.strip_prefix(crates_dir()).unwrap_or(&f).display()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "Docker field names outside berth-api ({}):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_literal_scanner() {
    let l = literals(
        "let a = \"X\"; // \"Y\"\nlet c = '\"'; let d = r#\"Z\"#; /* \"W\" */ f(\"V\\\"\");",
    );
    let s: Vec<&str> = l.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(s, ["X", "Z", "V\\\""]);
}
