//! state, list, ps, stats.

use berth_cgroups::Stats;

use super::Runtime;
use crate::state::{self, OciState, State, Status};
use crate::{Error, Result};

/// One container in a listing.
pub struct Listed {
    pub state: State,
    pub status: Status,
}

impl Runtime {
    /// `state`: the OCI state document.
    pub fn state(&self, id: &str) -> Result<OciState> {
        let (s, status) = self.load(id)?;
        Ok(s.oci_state(status))
    }

    /// `list`: every container under the root.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        for id in state::list_ids(&self.root)? {
            match self.load(&id) {
                Ok((state, status)) => out.push(Listed { state, status }),
                Err(Error::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `ps`: host pids of every process of the container.
    pub fn processes(&self, id: &str) -> Result<Vec<i32>> {
        let (s, _) = self.load(id)?;
        Ok(s.cgroup.processes()?)
    }

    /// Resource usage, from the cgroup.
    pub fn stats(&self, id: &str) -> Result<Stats> {
        let (s, status) = self.load(id)?;
        if status == Status::Stopped {
            return Err(Error::WrongState("container not running".into()));
        }
        Ok(s.cgroup.stats()?)
    }
}
