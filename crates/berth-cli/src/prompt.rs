//! Asking for credentials as the docker CLI does (`PromptUserForCredentials`,
//! `internal/prompt`, `internal/tui`'s notes).

use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use anyhow::{Result, anyhow};
use berth_api::auth::AuthConfig;
use nix::sys::termios::{self, LocalFlags, SetArg};

use crate::credentials::INDEX_SERVER;

const REGISTER_SUGGEST: &str = "Log in with your Docker ID or email address to push and pull images from Docker Hub. If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.";
const PAT_SUGGEST: &str = "You can log in with your password or a Personal Access Token (PAT). Using a limited-scope PAT grants better security and is required for organizations using SSO. Learn more at https://docs.docker.com/go/access-tokens/";

/// `DOCKER_CLI_HINTS` (on unless it parses as false).
pub fn hints_enabled() -> bool {
    match std::env::var("DOCKER_CLI_HINTS") {
        Ok(v) if !v.is_empty() => {
            !matches!(v.as_str(), "0" | "f" | "F" | "false" | "FALSE" | "False")
        }
        _ => true,
    }
}

/// `tui.Output.PrintNote`: an " Info -> " note (coloured on a terminal).
pub fn note(out: &mut dyn Write, is_terminal: bool, text: &str) {
    let (header, width) = if is_terminal {
        (
            "\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo \u{2192} \x1b[0m\x1b[0m",
            9,
        )
    } else {
        (" Info -> ", 9)
    };
    let text = if is_terminal {
        text.replace("--platform", "\x1b[1m--platform\x1b[0m")
    } else {
        text.to_string()
    };
    let mut s = format!("\n{header}");
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            s.push_str(&" ".repeat(width));
        }
        if is_terminal {
            s.push_str(&format!("\x1b[3m{line}\x1b[0m\n"));
        } else {
            s.push_str(line);
            s.push('\n');
        }
    }
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// `prompt.ReadInput`: `message` on stdout, then one line of stdin,
/// trimmed (empty at the end of input, where docker would wait forever).
pub fn read_input(message: &str) -> String {
    let mut out = io::stdout().lock();
    let _ = out.write_all(message.as_bytes());
    let _ = out.flush();
    drop(out);
    let mut line = Vec::new();
    let mut stdin = io::stdin().lock();
    let mut b = [0u8; 1];
    loop {
        match stdin.read(&mut b) {
            Ok(0) => break,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => line.push(b[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&line).trim().to_string()
}

/// Echo off on stdin until dropped (`prompt.DisableInputEcho`).
pub struct EchoOff(termios::Termios);

impl EchoOff {
    pub fn new() -> Result<EchoOff> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).map_err(|e| anyhow!("{}", errno_text(e)))?;
        let mut t = saved.clone();
        t.local_flags.remove(LocalFlags::ECHO);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &t)
            .map_err(|e| anyhow!("{}", errno_text(e)))?;
        Ok(EchoOff(saved))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}

/// Go's lower-case errno text (`inappropriate ioctl for device`).
fn errno_text(e: nix::errno::Errno) -> String {
    if e == nix::errno::Errno::ENOTTY {
        return "inappropriate ioctl for device".into();
    }
    let d = e.desc();
    let mut c = d.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `PromptUserForCredentials`: asks for what the flags did not give.
pub fn user_credentials(
    arg_user: &str,
    arg_password: &str,
    default_user: &str,
    server: &str,
) -> Result<AuthConfig> {
    let mut user = arg_user.trim().to_string();
    if user.is_empty() {
        if server == INDEX_SERVER {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{REGISTER_SUGGEST}");
            if hints_enabled() {
                let _ = writeln!(out, "{PAT_SUGGEST}");
                let _ = writeln!(out);
            }
        }
        let default_user = default_user.trim();
        let msg = if default_user.is_empty() {
            "Username: ".to_string()
        } else {
            format!("Username ({default_user}): ")
        };
        user = read_input(&msg);
        if user.is_empty() {
            user = default_user.to_string();
        }
        if user.is_empty() {
            return Err(anyhow!("Error: Non-null Username Required"));
        }
    }
    let mut password = arg_password.trim().to_string();
    if password.is_empty() {
        let echo = EchoOff::new()?;
        if server == INDEX_SERVER {
            note(
                &mut io::stderr(),
                crate::term::is_tty(2),
                "A Personal Access Token (PAT) can be used instead.\nTo create a PAT, visit \x1b[4mhttps://app.docker.com/settings\x1b[0m\n\n",
            );
        }
        password = read_input("Password: ");
        println!();
        drop(echo);
        if password.is_empty() {
            return Err(anyhow!("Error: Password Required"));
        }
    }
    Ok(AuthConfig {
        username: user,
        password,
        serveraddress: server.to_string(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes() {
        let mut out = Vec::new();
        note(&mut out, false, "one\ntwo");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\n Info -> one\n         two\n"
        );
        let mut out = Vec::new();
        note(&mut out, true, "x");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\n\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo \u{2192} \x1b[0m\x1b[0m\x1b[3mx\x1b[0m\n"
        );
    }
}
