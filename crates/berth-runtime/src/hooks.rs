//! OCI hooks: run with the container state on stdin, within their timeout.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::state::OciState;
use crate::{Error, Result};

/// The hook points of the runtime spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in a spec.
    pub fn of(self, spec: &oci_spec::runtime::Spec) -> Vec<Hook> {
        let Some(h) = spec.hooks().as_ref() else {
            return vec![];
        };
        #[allow(deprecated)]
        let list = match self {
            Kind::Prestart => h.prestart(),
            Kind::CreateRuntime => h.create_runtime(),
            Kind::CreateContainer => h.create_container(),
            Kind::StartContainer => h.start_container(),
            Kind::Poststart => h.poststart(),
            Kind::Poststop => h.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

/// Run every hook in order; the first failure stops the rest.
pub fn run_all(kind: Kind, hooks: &[Hook], state: &OciState) -> Result<()> {
    let input = serde_json::to_vec(state).expect("state serialises");
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, &input).map_err(|e| {
            Error::Hook(format!(
                "error running {} hook #{i} ({}): {e}",
                kind.name(),
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

fn run_one(hook: &Hook, input: &[u8]) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    // The hook may not read its stdin: a broken pipe is fine.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        }),
    );
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None => {
                if deadline.is_some_and(|d| Instant::now() > d) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("timeout after {}s", hook.timeout().unwrap_or(0)));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    };
    let stdout = readers.0.join().unwrap_or_default();
    let stderr = readers.1.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{status}, stdout: {}, stderr: {}",
            stdout.trim(),
            stderr.trim()
        ))
    }
}
