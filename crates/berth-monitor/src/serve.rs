//! The monitor's event loop: container output → log and attached clients,
//! clients' input → container stdin, and the exit.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use berth_runtime::container::{Held, Runtime};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::Options;
use crate::exit::ExitRecord;
use crate::logfile::LogFile;

/// How long output is still collected after the container's init exited.
const DRAIN: Duration = Duration::from_secs(2);

enum Kind {
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Wait,
}

struct Client {
    sock: UnixStream,
    kind: Kind,
    /// Still reading the client's input.
    reading: bool,
}

pub struct Monitor {
    o: Options,
    pub rt: Runtime,
    pub held: Held,
    listener: UnixListener,
    /// (stream, fd): stdout and stderr pipes, or the pty master as stream 1.
    outputs: Vec<(u8, OwnedFd)>,
    stdin: Option<OwnedFd>,
    master: Option<OwnedFd>,
    log: Option<LogFile>,
    clients: Vec<Client>,
    stdin_closed_once: bool,
}

impl Monitor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        o: Options,
        rt: Runtime,
        held: Held,
        listener: UnixListener,
        outputs: Vec<(u8, OwnedFd)>,
        stdin: Option<OwnedFd>,
        master: Option<OwnedFd>,
        log: Option<LogFile>,
    ) -> Monitor {
        Monitor {
            o,
            rt,
            held,
            listener,
            outputs,
            stdin,
            master,
            log,
            clients: Vec::new(),
            stdin_closed_once: false,
        }
    }

    /// The daemon gave up before start: remove the container.
    pub fn abort(self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.held.pid()),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.held.pid()), None);
        let _ = std::fs::remove_file(&self.o.socket);
        let _ = self.rt.finish_held(self.held);
    }

    /// start failed: the runtime already removed the container.
    pub fn cleanup_failed_start(self) {
        let _ = std::fs::remove_file(&self.o.socket);
    }

    /// Take the connections the daemon made before `start`.
    pub fn accept_pending(&mut self) {
        let _ = self.listener.set_nonblocking(true);
        while let Ok((sock, _)) = self.listener.accept() {
            self.add_client(sock);
        }
    }

    fn add_client(&mut self, sock: UnixStream) {
        let _ = sock.set_nonblocking(false);
        let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
        let Some(line) = read_line(&sock) else {
            return;
        };
        let _ = sock.set_read_timeout(None);
        match crate::protocol::Request::parse(&line) {
            Some(crate::protocol::Request::Attach {
                stdin,
                stdout,
                stderr,
            }) => self.clients.push(Client {
                kind: Kind::Attach {
                    stdin,
                    stdout,
                    stderr,
                },
                reading: stdin,
                sock,
            }),
            Some(crate::protocol::Request::Wait) => self.clients.push(Client {
                sock,
                kind: Kind::Wait,
                reading: false,
            }),
            Some(crate::protocol::Request::Resize { height, width }) => {
                let answer = crate::protocol::resize_answer(match &self.master {
                    Some(m) => berth_sys::pty::set_winsize(
                        m.as_fd(),
                        berth_sys::pty::WinSize {
                            rows: height,
                            cols: width,
                        },
                    )
                    .map_err(|e| e.to_string()),
                    None => Err("the container has no tty".into()),
                });
                let mut s = sock;
                let _ = s.write_all(answer.as_bytes());
            }
            None => {}
        }
    }

    /// Run until the container has exited and everything is recorded.
    pub fn serve(mut self) {
        let _ = self.listener.set_nonblocking(true);
        let mut exited: Option<i32> = None;
        let mut drain_until: Option<Instant> = None;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if exited.is_some()
                && (self.outputs.is_empty() || drain_until.is_some_and(|d| Instant::now() >= d))
            {
                break;
            }
            let timeout = match drain_until {
                Some(d) => PollTimeout::try_from(
                    d.saturating_duration_since(Instant::now()).as_millis() as i32 + 1,
                )
                .unwrap_or(PollTimeout::ZERO),
                None => PollTimeout::NONE,
            };
            // Indices: 0 listener, 1 pidfd, then outputs, then reading clients.
            let mut fds = vec![
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(
                    self.held.pidfd().as_fd(),
                    if exited.is_none() {
                        PollFlags::POLLIN
                    } else {
                        PollFlags::empty()
                    },
                ),
            ];
            for (_, fd) in &self.outputs {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            let reading: Vec<usize> = (0..self.clients.len())
                .filter(|i| self.clients[*i].reading)
                .collect();
            for i in &reading {
                fds.push(PollFd::new(
                    self.clients[*i].sock.as_fd(),
                    PollFlags::POLLIN,
                ));
            }
            match poll(&mut fds, timeout) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
                Ok(_) => {}
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            let nout = self.outputs.len();
            // Output first, so nothing produced before the exit is lost.
            let mut closed = Vec::new();
            for k in 0..nout {
                if !ready[2 + k] {
                    continue;
                }
                let (stream, fd) = &self.outputs[k];
                let stream = *stream;
                match nix::unistd::read(fd.as_fd(), &mut buf) {
                    Ok(0) | Err(nix::errno::Errno::EIO) => closed.push(k),
                    Ok(n) => self.output(stream, &buf[..n]),
                    Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                    Err(_) => closed.push(k),
                }
            }
            for k in closed.into_iter().rev() {
                self.outputs.remove(k);
            }
            for (j, ci) in reading.iter().enumerate().rev() {
                if ready[2 + nout + j] {
                    self.client_input(*ci, &mut buf);
                }
            }
            if ready[0] {
                while let Ok((sock, _)) = self.listener.accept() {
                    self.add_client(sock);
                }
            }
            if exited.is_none() && ready[1] {
                let status = nix::sys::wait::waitpid(
                    nix::unistd::Pid::from_raw(self.held.pid()),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
                if let Ok(st) = status
                    && let Some(code) = berth_runtime::process::foreground::exit_code(st)
                {
                    exited = Some(code);
                    drain_until = Some(Instant::now() + DRAIN);
                }
            }
        }
        self.finish(exited.unwrap_or(255));
    }

    fn output(&mut self, stream: u8, data: &[u8]) {
        if let Some(l) = &mut self.log {
            l.write(stream, data);
        }
        let attached = self
            .clients
            .iter()
            .any(|c| matches!(c.kind, Kind::Attach { .. }));
        if !attached {
            return;
        }
        let tty = self.master.is_some();
        let mut frame = Vec::with_capacity(8 + data.len());
        if !tty {
            frame.extend_from_slice(&[stream, 0, 0, 0]);
            frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        }
        frame.extend_from_slice(data);
        self.clients.retain_mut(|c| match c.kind {
            Kind::Attach { stdout, stderr, .. } => {
                let wanted = if stream == 2 { stderr } else { stdout };
                !wanted || c.sock.write_all(&frame).is_ok()
            }
            Kind::Wait => true,
        });
    }

    fn client_input(&mut self, ci: usize, buf: &mut [u8]) {
        let n = match self.clients[ci].sock.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => 0,
        };
        let wants_stdin = matches!(self.clients[ci].kind, Kind::Attach { stdin: true, .. });
        if n == 0 {
            self.clients[ci].reading = false;
            if wants_stdin && self.o.stdin_once && !self.stdin_closed_once {
                self.stdin_closed_once = true;
                self.stdin = None;
            }
            return;
        }
        if !wants_stdin {
            return;
        }
        let target = self.stdin.as_ref().or(self.master.as_ref());
        if let Some(fd) = target
            && !berth_runtime::process::foreground::write_all(fd.as_fd(), &buf[..n])
        {
            self.stdin = None;
        }
    }

    fn finish(mut self, code: i32) {
        // A daemon that connected just before the exit must get its answer,
        // not a reset connection.
        self.accept_pending();
        if let Some(l) = &mut self.log {
            l.flush();
        }
        let oom = self.held.oom_killed();
        let record = ExitRecord::now(code, oom);
        if let Err(e) = record.save(&self.o.dir) {
            eprintln!("berth-monitor: record exit of {}: {e}", self.o.id);
        }
        let Monitor {
            rt,
            held,
            clients,
            o,
            ..
        } = self;
        if let Err(e) = rt.finish_held(held) {
            eprintln!("berth-monitor: clean up {}: {e}", o.id);
        }
        let line = crate::protocol::ExitLine {
            exit_code: code,
            oom_killed: oom,
        }
        .to_line();
        for mut c in clients {
            if matches!(c.kind, Kind::Wait) {
                let _ = c.sock.write_all(line.as_bytes());
            }
            let _ = c.sock.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&o.socket);
    }
}

fn read_line(sock: &UnixStream) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    let mut s = sock;
    while line.len() < 256 {
        match s.read(&mut b) {
            Ok(1) if b[0] == b'\n' => return String::from_utf8(line).ok(),
            Ok(1) => line.push(b[0]),
            _ => return None,
        }
    }
    None
}
