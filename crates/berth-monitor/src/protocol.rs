//! The monitor protocol, typed, shared by the monitor and the daemon.
//!
//! Control (the monitor's stdin/stdout, one JSON line each): the monitor
//! answers [`Reply::Created`] (or [`Reply::Failed`]) once the container
//! exists; the daemon writes `start\n`; the monitor answers
//! [`Reply::Started`] or [`Reply::Failed`]. EOF instead of `start` cancels.
//!
//! The socket: one [`Request`] line per connection; `wait` is answered
//! with an [`ExitLine`] at exit.

use serde::{Deserialize, Serialize};

/// Why creating or starting failed, from the runtime's typed reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// The executable does not exist (or is not in `$PATH`).
    NotFound,
    /// It exists but cannot be executed (permission, directory, format).
    NotExecutable,
    #[default]
    Other,
}

impl Failure {
    pub fn of(e: &berth_runtime::Error) -> Failure {
        match e {
            berth_runtime::Error::Start { kind, .. } => match kind {
                berth_runtime::StartFailure::NotFound => Failure::NotFound,
                berth_runtime::StartFailure::NotExecutable => Failure::NotExecutable,
                berth_runtime::StartFailure::Other => Failure::Other,
            },
            _ => Failure::Other,
        }
    }
}

/// A control reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    Created {
        pid: i32,
    },
    Started {
        started: bool,
    },
    Failed {
        error: String,
        #[serde(default)]
        failure: Failure,
    },
}

impl Reply {
    pub fn failed(e: &berth_runtime::Error) -> Reply {
        Reply::Failed {
            error: e.to_string(),
            failure: Failure::of(e),
        }
    }

    pub fn to_line(&self) -> String {
        format!(
            "{}\n",
            serde_json::to_string(self).expect("reply serialises")
        )
    }

    pub fn parse(line: &str) -> Result<Reply, String> {
        serde_json::from_str(line.trim()).map_err(|e| format!("monitor: {e}"))
    }
}

impl From<String> for Reply {
    fn from(error: String) -> Reply {
        Reply::Failed {
            error,
            failure: Failure::Other,
        }
    }
}

/// The daemon's word to go from created to started.
pub const START: &str = "start";

/// A socket request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Output in Docker's frames (raw with a tty); input to stdin.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Answered with the exit line at exit.
    Wait,
    /// Set the pty size; answered `ok` or `error <why>`.
    Resize { height: u16, width: u16 },
}

impl Request {
    pub fn to_line(&self) -> String {
        let b = |x: bool| u8::from(x);
        match self {
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                format!("attach {} {} {}\n", b(*stdin), b(*stdout), b(*stderr))
            }
            Request::Wait => "wait\n".into(),
            Request::Resize { height, width } => format!("resize {height} {width}\n"),
        }
    }

    pub fn parse(line: &str) -> Option<Request> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let flag = |i: usize| words.get(i).is_some_and(|w| *w == "1");
        let num = |i: usize| words.get(i).and_then(|v| v.parse().ok());
        Some(match *words.first()? {
            "attach" => Request::Attach {
                stdin: flag(1),
                stdout: flag(2),
                stderr: flag(3),
            },
            "wait" => Request::Wait,
            "resize" => Request::Resize {
                height: num(1)?,
                width: num(2)?,
            },
            _ => return None,
        })
    }
}

/// The answer to `wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitLine {
    pub exit_code: i32,
    #[serde(default)]
    pub oom_killed: bool,
}

impl ExitLine {
    pub fn to_line(&self) -> String {
        format!(
            "{}\n",
            serde_json::to_string(self).expect("exit serialises")
        )
    }

    pub fn parse(line: &str) -> Option<ExitLine> {
        serde_json::from_str(line.trim()).ok()
    }
}

/// The answer to `resize`.
pub fn resize_answer(r: Result<(), String>) -> String {
    match r {
        Ok(()) => "ok\n".into(),
        Err(e) => format!("error {e}\n"),
    }
}

/// Read a `resize` answer back.
pub fn parse_resize_answer(line: &str) -> Result<(), String> {
    match line.trim() {
        "ok" => Ok(()),
        other => Err(other.trim_start_matches("error ").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        for r in [
            Reply::Created { pid: 42 },
            Reply::Started { started: true },
            Reply::Failed {
                error: "exec: \"x\": executable file not found in $PATH".into(),
                failure: Failure::NotFound,
            },
        ] {
            assert_eq!(Reply::parse(&r.to_line()).unwrap(), r);
        }
        // An older monitor's error line (no failure) still parses.
        assert_eq!(
            Reply::parse("{\"error\":\"boom\"}").unwrap(),
            Reply::Failed {
                error: "boom".into(),
                failure: Failure::Other
            }
        );
        for q in [
            Request::Attach {
                stdin: true,
                stdout: true,
                stderr: false,
            },
            Request::Wait,
            Request::Resize {
                height: 33,
                width: 101,
            },
        ] {
            assert_eq!(Request::parse(&q.to_line()), Some(q));
        }
        assert_eq!(Request::parse("bogus"), None);
        let e = ExitLine {
            exit_code: 137,
            oom_killed: true,
        };
        assert_eq!(ExitLine::parse(&e.to_line()), Some(e));
        assert_eq!(
            parse_resize_answer(&resize_answer(Err("no tty".into()))),
            Err("no tty".into())
        );
    }
}
