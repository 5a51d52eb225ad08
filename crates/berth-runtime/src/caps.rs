//! Capability sets.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::{Error, Result};

/// The five sets a process gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

fn convert(set: &Option<Capabilities>, field: &str) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let cap: Capability = name.parse().map_err(|_| {
            Error::Config(format!(
                "{field}: capability {name} is unknown to this runtime"
            ))
        })?;
        out.insert(cap);
    }
    Ok(out)
}

impl Sets {
    pub fn from_spec(c: Option<&LinuxCapabilities>, field: &str) -> Result<Sets> {
        let Some(c) = c else {
            return Ok(Sets::default());
        };
        Ok(Sets {
            bounding: convert(c.bounding(), &format!("{field}.bounding"))?,
            effective: convert(c.effective(), &format!("{field}.effective"))?,
            permitted: convert(c.permitted(), &format!("{field}.permitted"))?,
            inheritable: convert(c.inheritable(), &format!("{field}.inheritable"))?,
            ambient: convert(c.ambient(), &format!("{field}.ambient"))?,
        })
    }

    /// Every capability asked for must be in the runtime's own bounding set: what
    /// the runtime does not have, it cannot give.
    pub fn check_available(&self, field: &str) -> Result<()> {
        let have = caps::read(None, CapSet::Bounding)
            .map_err(|e| Error::Other(format!("read the capability bounding set: {e}")))?;
        let all = [
            &self.bounding,
            &self.effective,
            &self.permitted,
            &self.inheritable,
            &self.ambient,
        ];
        let mut missing: Vec<String> = all
            .iter()
            .flat_map(|s| s.iter())
            .filter(|c| !have.contains(c))
            .map(|c| c.to_string())
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Config(format!(
            "{field}: {} not in the runtime's capability bounding set, so the container cannot be given {}",
            if missing.len() == 1 {
                format!("{} is", missing[0])
            } else {
                format!("{} are", missing.join(", "))
            },
            if missing.len() == 1 { "it" } else { "them" }
        )))
    }

    /// Drop everything outside the bounding set (needs CAP_SETPCAP: do it before
    /// changing user).
    pub fn apply_bounding(&self) -> Result<()> {
        let have = caps::read(None, CapSet::Bounding)
            .map_err(|e| Error::Other(format!("read the capability bounding set: {e}")))?;
        for c in have.difference(&self.bounding) {
            caps::drop(None, CapSet::Bounding, *c)
                .map_err(|e| Error::Other(format!("drop {c} from the bounding set: {e}")))?;
        }
        Ok(())
    }

    /// Set the effective, permitted, inheritable and ambient sets.
    pub fn apply(&self) -> Result<()> {
        let err = |what: &str, e: caps::errors::CapsError| {
            Error::Other(format!("apply {what} capabilities: {e}"))
        };
        // Permitted first may remove what effective still holds: set effective to
        // the intersection first, then permitted, then the real effective set.
        let eff_now: CapsHashSet = self
            .effective
            .intersection(&self.permitted)
            .cloned()
            .collect();
        caps::set(None, CapSet::Effective, &eff_now).map_err(|e| err("effective", e))?;
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| err("inheritable", e))?;
        caps::set(None, CapSet::Permitted, &self.permitted).map_err(|e| err("permitted", e))?;
        caps::set(None, CapSet::Effective, &self.effective).map_err(|e| err("effective", e))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
        // An ambient capability must also be permitted and inheritable; like runc,
        // ignore those that are not (the default spec lists ambient ones only).
        for c in &self.ambient {
            if let Err(e) = caps::raise(None, CapSet::Ambient, *c) {
                tracing::debug!("cannot raise ambient capability {c}: {e}");
            }
        }
        Ok(())
    }
}

/// Every capability the kernel and this runtime know, by name.
pub fn known_names() -> Vec<String> {
    let mut v: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    v.sort();
    v
}
