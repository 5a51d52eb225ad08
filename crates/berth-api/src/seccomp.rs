//! Docker's seccomp profile format (`--security-opt seccomp=<file>`):
//! like the OCI one, plus `archMap` and single-name rules, and the
//! `includes`/`excludes` conditions on capabilities and architectures.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_two: Option<u64>,
    pub op: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Filter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Syscall {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    pub includes: Filter,
    pub excludes: Filter,
}

impl Syscall {
    /// `name` and `names` together.
    pub fn all_names(&self) -> Vec<String> {
        let mut n = self.names.clone();
        if !self.name.is_empty() {
            n.push(self.name.clone());
        }
        n
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    pub sub_architectures: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    pub arch_map: Vec<ArchMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    pub flags: Vec<String>,
    pub syscalls: Vec<Syscall>,
}

impl Profile {
    /// Every architecture the profile names (`architectures`, then each
    /// `archMap` entry with its sub-architectures).
    pub fn all_architectures(&self) -> Vec<String> {
        let mut a = self.architectures.clone();
        for m in &self.arch_map {
            a.push(m.architecture.clone());
            a.extend(m.sub_architectures.iter().cloned());
        }
        a
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn docker_profile() {
        let p: super::Profile = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
            "syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":1,"includes":{"caps":["X"]}},{"names":["a","b"],"action":"SCMP_ACT_LOG"}]}"#,
        )
        .unwrap();
        assert_eq!(p.all_architectures(), ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        assert_eq!(p.syscalls[0].all_names(), ["mkdir"]);
        assert_eq!(p.syscalls[1].all_names(), ["a", "b"]);
        assert_eq!(p.syscalls[0].includes.caps, ["X"]);
    }
}
