//! start, run, kill, delete, pause, resume, update.

use std::os::fd::AsFd;

use berth_cgroups::FreezerState;
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxResources;

use super::create::CreateOptions;
use super::{Runtime, not_running};
use crate::hooks::{self, Kind};
use crate::process::foreground;
use crate::state::{EXEC_FIFO, State, Status};
use crate::{Context, Error, Result};

impl Runtime {
    /// `start`: release a created container's process.
    pub fn start(&self, id: &str) -> Result<()> {
        let (state, status) = self.load(id)?;
        match status {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::WrongState(
                    "cannot start a container that has stopped".into(),
                ));
            }
            _ => {
                return Err(Error::WrongState(
                    "cannot start an already running container".into(),
                ));
            }
        }
        // The pidfd first: opening the fifo releases the process, which may
        // run, exit and be reaped (by a shim) before a later pidfd_open.
        let pidfd = berth_sys::pidfd::pidfd_open(state.pid)
            .map_err(|_| Error::WrongState("cannot start a container that has stopped".into()))?;
        let fifo_path = state.dir(&self.root).join(EXEC_FIFO);
        let fifo = open(
            &fifo_path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .context(|| format!("open {}", fifo_path.display()))?;
        loop {
            let mut fds = [
                PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context(|| "poll the exec fifo".into()),
                Ok(_) => {}
            }
            let fifo_ready = fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN));
            let died = fds[1].revents().is_some_and(|r| !r.is_empty());
            if fifo_ready {
                let mut b = [0u8; 1];
                if nix::unistd::read(fifo.as_fd(), &mut b).unwrap_or(0) == 1 {
                    break;
                }
            }
            if died {
                let _ = std::fs::remove_file(&fifo_path);
                return Err(Error::WrongState(
                    "cannot start a container that has stopped".into(),
                ));
            }
        }
        std::fs::remove_file(&fifo_path).context(|| format!("remove {}", fifo_path.display()))?;
        self.poststart(&state);
        Ok(())
    }

    pub(crate) fn poststart(&self, state: &State) {
        let hooks = Kind::Poststart.of(&state.config);
        if hooks.is_empty() {
            return;
        }
        if let Err(e) = hooks::run_all(Kind::Poststart, &hooks, &state.oci_state(Status::Running)) {
            tracing::warn!("{e}");
        }
    }

    /// `run`: create and start; unless `detach`, wait for the container to exit,
    /// delete it and return its exit code.
    pub fn run(&self, o: &CreateOptions, detach: bool) -> Result<i32> {
        let mut held = self.create_held(o)?;
        let master = if detach { None } else { held.take_console()? };
        // Signals must be blocked before the process can start: none is lost.
        let sfd = if detach {
            None
        } else {
            Some(foreground::signal_fd()?)
        };
        self.start_held(&held)?;
        crate::timing::mark("run: started");
        let Some(sfd) = sfd else {
            return Ok(0);
        };
        let code = foreground::supervise(held.pid(), held.pidfd(), master, sfd)?;
        crate::timing::mark("run: exited");
        // Our own child has been reaped, but others may linger in its cgroup:
        // finishing kills what is left before removing it.
        self.finish_held(held)?;
        crate::timing::mark("run: deleted");
        Ok(code)
    }

    /// `kill`: signal the init process, or with `all` every process of the container.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let (state, status) = self.load(id)?;
        if all {
            // As runc: whatever is left in the cgroup is signalled, even once
            // init has exited; a cgroup already gone leaves nothing to signal.
            if status == Status::Stopped && !state.cgroup.exists() {
                return Ok(());
            }
            return Ok(state.cgroup.signal_all(signal)?);
        }
        if status == Status::Stopped {
            return Err(Error::WrongState("container not running".into()));
        }
        let pidfd = berth_sys::pidfd::pidfd_open(state.pid).context(|| "pidfd_open".into())?;
        // The pidfd pins the process: check it is still the one we started.
        if !state.alive() {
            return Err(Error::WrongState("container not running".into()));
        }
        berth_sys::pidfd::pidfd_send_signal(pidfd.as_fd(), signal)
            .context(|| format!("send signal {signal} to {}", state.pid))
    }

    /// `delete`: remove a stopped (or created) container; `force` kills a running one.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let (state, status) = match self.load(id) {
            Ok(x) => x,
            Err(Error::NotFound) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        match status {
            Status::Stopped => {}
            Status::Created => self.kill_and_wait(&state)?,
            Status::Running | Status::Paused | Status::Creating => {
                if !force {
                    return Err(Error::WrongState(format!(
                        "cannot delete container {id} that is not stopped: {status}"
                    )));
                }
                self.kill_and_wait(&state)?;
            }
        }
        self.destroy(&state)
    }

    fn kill_and_wait(&self, state: &State) -> Result<()> {
        let pidfd = berth_sys::pidfd::pidfd_open(state.pid).ok();
        if state.alive()
            && let Some(fd) = &pidfd
        {
            let _ = berth_sys::pidfd::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        }
        if state.cgroup.exists() {
            let _ = state.cgroup.signal_all(libc::SIGKILL);
        }
        if let Some(fd) = pidfd {
            let deadline = Instant::now() + Duration::from_secs(10);
            while state.alive() && Instant::now() < deadline {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(100u8));
            }
        }
        Ok(())
    }

    /// Remove everything of a stopped container and run its poststop hooks.
    pub(crate) fn destroy(&self, state: &State) -> Result<()> {
        state.cgroup.destroy()?;
        let poststop = Kind::Poststop.of(&state.config);
        if !poststop.is_empty()
            && let Err(e) =
                hooks::run_all(Kind::Poststop, &poststop, &state.oci_state(Status::Stopped))
        {
            tracing::warn!("{e}");
        }
        let dir = state.dir(&self.root);
        std::fs::remove_dir_all(&dir).context(|| format!("remove {}", dir.display()))
    }

    /// `pause`: freeze every process of the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        let (state, status) = self.load(id)?;
        if status != Status::Running {
            return Err(Error::WrongState("container not running".into()));
        }
        Ok(state.cgroup.set_freezer(FreezerState::Frozen)?)
    }

    /// `resume`: thaw a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        let (state, status) = self.load(id)?;
        if status != Status::Paused {
            return Err(Error::WrongState("container not paused".into()));
        }
        Ok(state.cgroup.set_freezer(FreezerState::Thawed)?)
    }

    /// `update`: apply new resource limits and remember them.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let (mut state, status) = self.load(id)?;
        if status == Status::Stopped {
            return Err(not_running(id, status, "update"));
        }
        state.cgroup.apply(resources)?;
        if let Some(devs) = resources.devices().as_ref().filter(|d| !d.is_empty()) {
            let _ = devs;
            let mut spec_for_rules = state.config.clone();
            merge(&mut spec_for_rules, resources);
            state
                .cgroup
                .apply_devices(&crate::cgroup::device_rules(&spec_for_rules))?;
        }
        merge(&mut state.config, resources);
        state.save(&self.root)
    }
}

/// Fold updated resources into the stored spec, field by field.
fn merge(spec: &mut oci_spec::runtime::Spec, new: &LinuxResources) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut r = linux.resources().clone().unwrap_or_default();
    if let Some(m) = new.memory() {
        let mut cur = r.memory().unwrap_or_default();
        if m.limit().is_some() {
            cur.set_limit(m.limit());
        }
        if m.reservation().is_some() {
            cur.set_reservation(m.reservation());
        }
        if m.swap().is_some() {
            cur.set_swap(m.swap());
        }
        r.set_memory(Some(cur));
    }
    if let Some(c) = new.cpu() {
        let mut cur = r.cpu().clone().unwrap_or_default();
        if c.shares().is_some() {
            cur.set_shares(c.shares());
        }
        if c.quota().is_some() {
            cur.set_quota(c.quota());
        }
        if c.period().is_some() {
            cur.set_period(c.period());
        }
        if c.cpus().is_some() {
            cur.set_cpus(c.cpus().clone());
        }
        if c.mems().is_some() {
            cur.set_mems(c.mems().clone());
        }
        r.set_cpu(Some(cur));
    }
    if new.pids().is_some() {
        r.set_pids(*new.pids());
    }
    if new.block_io().is_some() {
        r.set_block_io(new.block_io().clone());
    }
    if let Some(d) = new.devices().as_ref().filter(|d| !d.is_empty()) {
        let mut all = r.devices().clone().unwrap_or_default();
        all.extend(d.iter().cloned());
        r.set_devices(Some(all));
    }
    linux.set_resources(Some(r));
    spec.set_linux(Some(linux));
}
