//! `create` (and the first half of `run`).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use berth_cgroups::Cgroup;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::{Runtime, write_pid_file};
use crate::caps::Sets;
use crate::channel::{Channel, Msg};
use crate::hooks::{self, Kind};
use crate::namespaces;
use crate::process::init::{self, Gate, Init};
use crate::process::spawn::{self, Spawned};
use crate::state::{self, EXEC_FIFO, OciState, State, Status};
use crate::{Context, Error, Result, StartFailure, cgroup, idmap, lsm, seccomp, spec};

/// Options of `create` and `run`.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// How the created container will be started.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartBy {
    /// A later `start` command, through the exec fifo.
    Fifo,
    /// This process (`run`), through the channel.
    Channel,
}

/// A container this process just created and still holds on to.
pub(crate) struct Created {
    pub state: State,
    pub spawned: Spawned,
    pub channel: Channel,
    /// Our end of the console socket pair when `run -t` proxies the terminal.
    pub console: Option<UnixStream>,
    /// The program the container runs (for error messages).
    pub arg0: String,
}

/// Undo a half-done creation: kill the process, remove the cgroup and the state
/// directory. Disarmed once the container is fully created.
struct Undo<'a> {
    rt: &'a Runtime,
    id: String,
    cgroup: Option<Cgroup>,
    child: Option<(i32, OwnedFd)>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some((pid, pidfd)) = &self.child {
            let _ = berth_sys::pidfd::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(*pid), None);
        }
        if let Some(cg) = &self.cgroup
            && let Err(e) = cg.destroy()
        {
            tracing::warn!("removing the cgroup of {}: {e}", self.id);
        }
        let _ = std::fs::remove_dir_all(state::container_dir(&self.rt.root, &self.id));
    }
}

fn rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

impl Runtime {
    /// `create`: set the container up and leave its process waiting for `start`.
    pub fn create(&self, o: &CreateOptions) -> Result<State> {
        let created = self.create_inner(o, StartBy::Fifo)?;
        Ok(created.state)
    }

    pub(crate) fn create_inner(&self, o: &CreateOptions, start_by: StartBy) -> Result<Created> {
        crate::timing::mark("create: begin");
        spec::validate_id(&o.id)?;
        let bundle = std::fs::canonicalize(&o.bundle)
            .map_err(|e| Error::Config(format!("bundle {}: {e}", o.bundle.display())))?;
        let mut spec: Spec = spec::load(&bundle)?;
        spec::validate(&spec)?;
        // May re-execute this process: before any side effect.
        let sealing =
            crate::exeseal::prepare(&self.root, crate::exeseal::ptrace_exposed(&spec, None))?;
        let rootfs = spec::rootfs(&spec, &bundle)?;
        if let Some(root) = spec.root().clone() {
            let mut root = root;
            root.set_path(rootfs.clone());
            spec.set_root(Some(root));
        }
        let process = spec.process().clone().expect("validated");
        let caps = Sets::from_spec(process.capabilities().as_ref(), "process.capabilities")?;
        caps.check_available("process.capabilities")?;
        lsm::check(
            process.apparmor_profile().as_deref(),
            process.selinux_label().as_deref(),
            "process",
        )?;
        let terminal = process.terminal() == Some(true);
        if terminal && o.console_socket.is_none() && start_by == StartBy::Fifo {
            return Err(Error::Config(
                "cannot allocate tty if runc will detach without setting console socket".into(),
            ));
        }

        self.ensure_root()?;
        let dir = state::container_dir(&self.root, &o.id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(o.id.clone()));
            }
            Err(e) => return Err(e).context(|| format!("create {}", dir.display())),
        }
        let mut undo = Undo {
            rt: self,
            id: o.id.clone(),
            cgroup: None,
            child: None,
            armed: true,
        };

        crate::timing::mark("create: spec loaded");
        let cg = cgroup::for_spec(&spec, &o.id, self.systemd_cgroup)?;
        let cg = if rootless() && !cgroup::delegated(&cg) {
            tracing::warn!("rootless container without cgroups: the cgroup tree is not writable");
            Cgroup::none(cg.mode)
        } else {
            cg
        };
        if cg.exists() {
            // A cgroup made by someone else: a frozen one would stop the
            // container's init forever; one with processes is shared.
            if cg.freezer_state() == berth_cgroups::FreezerState::Frozen {
                return Err(Error::Config(
                    "container's cgroup unexpectedly frozen".into(),
                ));
            }
            let n = cg.processes().map_or(0, |p| p.len());
            if n > 0 {
                tracing::warn!("container's cgroup is not empty: {n} process(es) found");
            }
        }
        undo.cgroup = Some(cg.clone());
        cgroup::prepare(&cg, &spec)?;
        crate::timing::mark("create: cgroup ready");

        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(s) => Some(seccomp::prepare(s, &self.seccomp_cache())?),
            None => None,
        };
        let mut plan = namespaces::plan(&spec)?;

        let fifo: Option<OwnedFd> = if start_by == StartBy::Fifo {
            let path = dir.join(EXEC_FIFO);
            nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o622))
                .context(|| format!("mkfifo {}", path.display()))?;
            crate::rootfs::mounts::chmod(&path, 0o622)?;
            Some(
                open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                    .context(|| format!("open {}", path.display()))?,
            )
        } else {
            None
        };

        let (console_child, console_ours) = match (terminal, &o.console_socket) {
            (true, Some(path)) => (Some(crate::tty::connect(path)?), None),
            (true, None) => {
                let (a, b) = UnixStream::pair().context(|| "socketpair".into())?;
                (Some(b), Some(a))
            }
            (false, _) => (None, None),
        };

        let (ours, theirs) = Channel::pair()?;
        let hooks_state = OciState {
            oci_version: crate::OCI_VERSION.into(),
            id: o.id.clone(),
            pid: 0,
            status: Status::Creating,
            bundle: bundle.clone(),
            rootfs: None,
            created: None,
            owner: None,
            annotations: spec
                .annotations()
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        };
        let prestart = Kind::Prestart.of(&spec);
        let create_runtime = Kind::CreateRuntime.of(&spec);
        let cgroup_fd = match cg.open_v2() {
            Some(Ok(fd)) => Some(fd),
            Some(Err(e)) if rootless() => {
                tracing::debug!("{e}");
                None
            }
            Some(Err(e)) => return Err(e.into()),
            None => None,
        };

        // Joins the parent performs (user, pid, time) move to the parent's plan;
        // the child enters the rest itself.
        let in_userns =
            plan.creates(LinuxNamespaceType::User) || plan.joins(LinuxNamespaceType::User);
        let mut parent_plan = namespaces::Plan {
            clone_flags: plan.clone_flags,
            unshare_flags: 0,
            unshare_cgroup: plan.unshare_cgroup,
            time_offsets: plan.time_offsets.clone(),
            joins: Vec::new(),
        };
        for t in [
            LinuxNamespaceType::User,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Time,
        ] {
            if let Some(fd) = plan.take_join(t) {
                parent_plan.joins.push(namespaces::Join { typ: t, fd });
            }
        }
        // The mapped root may not be able to reach a bind source: clone them
        // now, as the host's root, for the container to attach.
        let bind_sources = if in_userns {
            crate::rootfs::mounts::open_bind_sources(&spec, &bundle)
        } else {
            Vec::new()
        };
        let init_cfg = Init {
            bind_sources: &bind_sources,
            spec: &spec,
            bundle: &bundle,
            rootfs: &rootfs,
            cgroup: &cg,
            plan: &plan,
            in_userns,
            channel: &theirs,
            gate: match &fifo {
                Some(f) => Gate::Fifo(f),
                None => Gate::Channel,
            },
            console: console_child.as_ref(),
            seccomp: seccomp.as_ref(),
            caps: &caps,
            hooks_state: &hooks_state,
            runtime_hooks: !prestart.is_empty() || !create_runtime.is_empty(),
            no_pivot: o.no_pivot,
            trampoline: match &sealing {
                crate::exeseal::Sealing::Trampoline(fd) => Some(fd),
                crate::exeseal::Sealing::Direct => None,
            },
            no_new_keyring: o.no_new_keyring,
            preserve_fds: o.preserve_fds,
            id: &o.id,
        };
        crate::timing::mark("create: clone");
        let spawned = spawn::spawn(
            &mut parent_plan,
            cgroup_fd.as_ref().map(|f| f.as_fd()),
            move || init::main(init_cfg),
        )?;
        drop(theirs);
        drop(console_child);
        drop(cgroup_fd);
        undo.child = Some((
            spawned.pid,
            spawned.pidfd.try_clone().context(|| "dup pidfd".into())?,
        ));

        if plan.creates(LinuxNamespaceType::User) {
            let linux = spec.linux().as_ref().expect("validated");
            idmap::write(
                spawned.pid,
                linux.uid_mappings().as_deref().unwrap_or(&[]),
                linux.gid_mappings().as_deref().unwrap_or(&[]),
            )?;
        }
        if !spawned.in_v2_cgroup {
            cg.add_process_v2(spawned.pid)?;
        }
        cgroup::finish(&cg, &spec)?;
        ours.send(&Msg::Continue)?;
        crate::timing::mark("create: continue sent");
        loop {
            match ours.recv()? {
                Some(Msg::RunHooks) => {
                    let mut st = hooks_state.clone();
                    st.pid = spawned.pid;
                    hooks::run_all(Kind::Prestart, &prestart, &st)?;
                    hooks::run_all(Kind::CreateRuntime, &create_runtime, &st)?;
                    ours.send(&Msg::HooksDone)?;
                }
                Some(Msg::Ready) => {
                    crate::timing::mark("create: ready");
                    break;
                }
                Some(Msg::Error { kind, message }) => return Err(Error::Start { kind, message }),
                Some(other) => {
                    return Err(Error::Other(format!(
                        "unexpected message from the container process: {other:?}"
                    )));
                }
                None => {
                    return Err(Error::Start {
                        kind: StartFailure::Other,
                        message: "container init exited during setup".into(),
                    });
                }
            }
        }

        let state = State {
            id: o.id.clone(),
            bundle,
            rootfs,
            pid: spawned.pid,
            pid_start: state::process_start_time(spawned.pid).unwrap_or(0),
            created: state::now_rfc3339(),
            owner: String::new(),
            cgroup: cg,
            systemd_cgroup: self.systemd_cgroup,
            config: spec,
        };
        state.save(&self.root)?;
        if let Some(p) = &o.pid_file {
            write_pid_file(p, spawned.pid)?;
        }
        undo.armed = false;
        crate::timing::mark("create: saved");
        Ok(Created {
            state,
            spawned,
            channel: ours,
            console: console_ours,
            arg0: process
                .args()
                .as_ref()
                .and_then(|a| a.first().cloned())
                .unwrap_or_default(),
        })
    }
}
