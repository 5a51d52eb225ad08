//! Device access rules: the v1 `devices` controller and the v2 eBPF device program.

use std::path::Path;

use berth_sys::bpf::{self, BpfInsn};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::fs;

fn rule_type(r: &LinuxDeviceCgroup) -> char {
    match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => 'p',
        LinuxDeviceType::A => 'a',
    }
}

fn access(r: &LinuxDeviceCgroup) -> Result<String> {
    let a = r.access().as_deref().unwrap_or("rwm");
    let a = if a.is_empty() { "rwm" } else { a };
    if let Some(bad) = a.chars().find(|c| !"rwm".contains(*c)) {
        return Err(Error::Invalid(format!(
            "invalid device access {a:?} in linux.resources.devices: unknown character {bad:?}"
        )));
    }
    Ok(a.to_string())
}

/// The state of a v1 `devices` cgroup, as the kernel keeps it: a default
/// (allow or deny) and exceptions to it, each device key with its access bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct V1State {
    pub default_allow: bool,
    /// (type, major, minor) with `*` as None → access bits (r=1, w=2, m=4).
    pub exceptions: std::collections::BTreeMap<(char, Option<i64>, Option<i64>), u8>,
}

const R: u8 = 1;
const W: u8 = 2;
const M: u8 = 4;

fn bits(acc: &str) -> u8 {
    acc.chars().fold(0, |b, c| {
        b | match c {
            'r' => R,
            'w' => W,
            'm' => M,
            _ => 0,
        }
    })
}

fn acc_text(b: u8) -> String {
    [(R, 'r'), (W, 'w'), (M, 'm')]
        .iter()
        .filter(|(bit, _)| b & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

fn key_text(k: &(char, Option<i64>, Option<i64>)) -> String {
    let n = |v: Option<i64>| v.map_or("*".to_string(), |n| n.to_string());
    format!("{} {}:{}", k.0, n(k.1), n(k.2))
}

impl V1State {
    /// A new cgroup under the root: everything allowed.
    pub fn allow_all() -> V1State {
        V1State {
            default_allow: true,
            exceptions: Default::default(),
        }
    }

    /// From `devices.list`. The kernel lists a default-allow cgroup as
    /// `a *:* rwm` alone (its deny exceptions are not shown: none are assumed).
    pub fn parse_list(text: &str) -> V1State {
        let mut st = V1State {
            default_allow: false,
            exceptions: Default::default(),
        };
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                continue;
            }
            if f[0] == "a" {
                return V1State::allow_all();
            }
            let Some((maj, min)) = f[1].split_once(':') else {
                continue;
            };
            let num = |s: &str| s.parse::<i64>().ok();
            let t = f[0].chars().next().unwrap_or('a');
            *st.exceptions.entry((t, num(maj), num(min))).or_default() |= bits(f[2]);
        }
        st
    }

    /// Apply one rule as the kernel does.
    pub fn apply(&mut self, t: char, major: Option<i64>, minor: Option<i64>, acc: u8, allow: bool) {
        if t == 'a' {
            self.default_allow = allow;
            self.exceptions.clear();
            return;
        }
        let key = (t, major, minor);
        // An exception is an allow in a default-deny cgroup, a deny otherwise.
        if allow != self.default_allow {
            *self.exceptions.entry(key).or_default() |= acc;
        } else if let Some(b) = self.exceptions.get_mut(&key) {
            *b &= !acc;
            if *b == 0 {
                self.exceptions.remove(&key);
            }
        }
    }

    /// The writes (file, line) that take `self` to `target` with the fewest
    /// changes: no write when nothing changes, and no moment where a device
    /// both states allow is denied (runc's "minimal transition").
    pub fn transition(&self, target: &V1State) -> Vec<(&'static str, String)> {
        let (grant, revoke) = if target.default_allow {
            ("devices.deny", "devices.allow")
        } else {
            ("devices.allow", "devices.deny")
        };
        let mut out = Vec::new();
        let from = if self.default_allow != target.default_allow {
            // A new default resets every exception.
            out.push((revoke, "a".to_string()));
            &V1State {
                default_allow: target.default_allow,
                exceptions: Default::default(),
            }
        } else {
            self
        };
        // Exceptions first added, then removed: an allow list only grows before
        // it shrinks.
        for (k, want) in &target.exceptions {
            let have = from.exceptions.get(k).copied().unwrap_or(0);
            if want & !have != 0 {
                out.push((grant, format!("{} {}", key_text(k), acc_text(want & !have))));
            }
        }
        for (k, have) in &from.exceptions {
            let want = target.exceptions.get(k).copied().unwrap_or(0);
            if have & !want != 0 {
                out.push((
                    revoke,
                    format!("{} {}", key_text(k), acc_text(have & !want)),
                ));
            }
        }
        out
    }
}

/// The state the rules lead to from a new cgroup.
pub(crate) fn target_v1(rules: &[LinuxDeviceCgroup]) -> Result<V1State> {
    let mut st = V1State::allow_all();
    for r in rules {
        let t = rule_type(r);
        if t == 'p' {
            continue;
        }
        let acc = bits(&access(r)?);
        let num = |v: Option<i64>| v.filter(|n| *n >= 0);
        st.apply(t, num(r.major()), num(r.minor()), acc, r.allow());
    }
    Ok(st)
}

/// Bring the cgroup's device rules to what `rules` say, writing only what
/// changes (from `devices.list`), so an update that keeps the rules never
/// denies a running process its devices, even for a moment.
pub(crate) fn apply_v1(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let target = target_v1(rules)?;
    let current = match fs::read_opt(&dir.join("devices.list")) {
        Some(text) => V1State::parse_list(&text),
        None => V1State::allow_all(),
    };
    for (file, line) in current.transition(&target) {
        fs::write(&dir.join(file), &line)?;
    }
    Ok(())
}

/// Load the rules as a cgroup device program, attach it, then detach whatever was
/// attached before (so that the container is never without a filter on update).
pub(crate) fn apply_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let insns = compile_device_program(rules)?;
    let prog = bpf::load_cgroup_device_program(&insns)
        .map_err(|e| Error::io("load device program for", dir, e))?;
    let cg = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::io("open", dir, e.into()))?;
    use std::os::fd::AsFd;
    let before = bpf::query_device_programs(cg.as_fd()).unwrap_or_default();
    bpf::attach_device_program(cg.as_fd(), prog.as_fd())
        .map_err(|e| Error::io("attach device program to", dir, e))?;
    for id in before {
        if let Ok(old) = bpf::program_by_id(id) {
            let _ = bpf::detach_device_program(cg.as_fd(), old.as_fd());
        }
    }
    Ok(())
}

// eBPF opcodes used by the device program.
const BPF_LDX_MEM_W: u8 = 0x61; // LDX | MEM | W
const BPF_ALU32_AND_K: u8 = 0x54;
const BPF_ALU32_RSH_K: u8 = 0x74;
const BPF_ALU64_MOV_K: u8 = 0xb7;
const BPF_ALU32_MOV_X: u8 = 0xbc;
const BPF_JMP_JNE_K: u8 = 0x55;
const BPF_EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

/// Compile OCI device rules into a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
///
/// Register use: r2 = device type, r3 = requested access, r4 = major, r5 = minor.
/// Rules are checked from last to first; the first that matches decides, which gives
/// the v1 semantics of "later rules override earlier ones". Nothing matching: deny.
pub fn compile_device_program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<BpfInsn>> {
    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    let mut p = vec![
        insn(BPF_LDX_MEM_W, 2, 1, 0, 0),
        insn(BPF_ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(BPF_LDX_MEM_W, 3, 1, 0, 0),
        insn(BPF_ALU32_RSH_K, 3, 0, 0, 16),
        insn(BPF_LDX_MEM_W, 4, 1, 4, 0),
        insn(BPF_LDX_MEM_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let t = rule_type(r);
        if t == 'p' {
            continue;
        }
        let acc = access(r)?;
        let mut bits = 0i32;
        for c in acc.chars() {
            bits |= match c {
                'm' => 1, // BPF_DEVCG_ACC_MKNOD
                'r' => 2, // BPF_DEVCG_ACC_READ
                'w' => 4, // BPF_DEVCG_ACC_WRITE
                _ => 0,
            };
        }
        let mut block: Vec<BpfInsn> = Vec::new();
        // Each check is a "jump to the end of this block if it does not match"; the
        // offsets are filled in once the block length is known.
        if t != 'a' {
            let ty = if t == 'b' { 1 } else { 2 }; // BPF_DEVCG_DEV_BLOCK / _CHAR
            block.push(insn(BPF_JMP_JNE_K, 2, 0, 0, ty));
        }
        if bits != 7 {
            // r1 = access & ~bits; if r1 != 0: some requested access is not granted.
            block.push(insn(BPF_ALU32_MOV_X, 1, 3, 0, 0));
            block.push(insn(BPF_ALU32_AND_K, 1, 0, 0, !bits));
            block.push(insn(BPF_JMP_JNE_K, 1, 0, 0, 0));
        }
        if let Some(maj) = r.major().filter(|m| *m >= 0) {
            block.push(insn(BPF_JMP_JNE_K, 4, 0, 0, maj as i32));
        }
        if let Some(min) = r.minor().filter(|m| *m >= 0) {
            block.push(insn(BPF_JMP_JNE_K, 5, 0, 0, min as i32));
        }
        block.push(insn(BPF_ALU64_MOV_K, 0, 0, 0, i32::from(r.allow())));
        block.push(insn(BPF_EXIT, 0, 0, 0, 0));
        let len = block.len();
        let mut conditional = false;
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == BPF_JMP_JNE_K {
                ins.off = (len - i - 1) as i16;
                conditional = true;
            }
        }
        p.extend(block);
        if !conditional {
            // A rule matching every device decides everything; the verifier
            // rejects the unreachable code any further rule would add.
            return Ok(p);
        }
    }
    p.push(insn(BPF_ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(BPF_EXIT, 0, 0, 0, 0));
    Ok(p)
}

#[cfg(test)]
mod tests {

    #[test]
    fn v1_transitions_are_minimal() {
        let list = "c 1:3 rwm\nc 1:5 rwm\nc *:* m\nc 136:* rwm\n";
        let cur = V1State::parse_list(list);
        assert!(!cur.default_allow);
        let mut target = V1State::allow_all();
        target.apply('a', None, None, R | W | M, false);
        for (t, maj, min, acc) in [
            ('c', Some(1), Some(3), "rwm"),
            ('c', Some(1), Some(5), "rwm"),
            ('c', None, None, "m"),
            ('c', Some(136), None, "rwm"),
        ] {
            target.apply(t, maj, min, bits(acc), true);
        }
        // The same rules: nothing to write.
        assert_eq!(cur, target);
        assert!(cur.transition(&target).is_empty());
        // One device more, one access less: only those.
        let mut more = target.clone();
        more.apply('c', Some(10), Some(200), R | W, true);
        more.apply('c', Some(1), Some(5), W, false);
        assert_eq!(
            cur.transition(&more),
            [
                ("devices.allow", "c 10:200 rw".to_string()),
                ("devices.deny", "c 1:5 w".to_string()),
            ]
        );
        // From allow-all (a new cgroup) to an allow list: deny all, then allow.
        let t = V1State::allow_all().transition(&target);
        assert_eq!(t[0], ("devices.deny", "a".to_string()));
        assert_eq!(t.len(), 5);
        assert!(V1State::parse_list("a *:* rwm\n").default_allow);
        // Back to allow-all.
        assert_eq!(
            cur.transition(&V1State::allow_all()),
            [("devices.allow", "a".to_string())]
        );
    }

    use super::*;

    /// Run the program on (type, access, major, minor) with a tiny interpreter of
    /// the opcodes we emit, to check the rule logic without loading it.
    fn run(p: &[BpfInsn], ty: u32, acc: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(acc << 16) | ty, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                BPF_LDX_MEM_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                BPF_ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                BPF_ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                BPF_ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                BPF_ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                BPF_JMP_JNE_K => {
                    if r[dst] != i.imm as u32 as u64 {
                        pc += i.off as usize;
                    }
                }
                BPF_EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        t: LinuxDeviceType,
        maj: Option<i64>,
        min: Option<i64>,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(Some(t));
        r.set_major(maj);
        r.set_minor(min);
        r.set_access(Some(acc.to_string()));
        r
    }

    #[test]
    fn later_rules_win_and_default_is_deny() {
        let rules = vec![
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(5), "r"),
            rule(true, LinuxDeviceType::C, None, None, "m"),
        ];
        let p = compile_device_program(&rules).unwrap();
        const CHAR: u32 = 2;
        const BLOCK: u32 = 1;
        assert_eq!(run(&p, CHAR, 2 | 4, 1, 3), 1, "/dev/null rw allowed");
        assert_eq!(run(&p, CHAR, 2, 1, 5), 1, "/dev/zero r allowed");
        assert_eq!(run(&p, CHAR, 4, 1, 5), 0, "/dev/zero w denied");
        assert_eq!(run(&p, BLOCK, 2, 8, 0), 0, "/dev/sda denied");
        assert_eq!(run(&p, CHAR, 1, 99, 99), 1, "mknod of any char allowed");
        assert_eq!(run(&p, BLOCK, 1, 8, 0), 0, "mknod of block denied");
        assert_eq!(run(&compile_device_program(&[]).unwrap(), CHAR, 2, 1, 3), 0);
        assert_all_reachable(&p);
    }

    /// The kernel's verifier refuses programs with unreachable instructions.
    fn assert_all_reachable(p: &[BpfInsn]) {
        let mut seen = vec![false; p.len()];
        let mut todo = vec![0usize];
        while let Some(pc) = todo.pop() {
            if pc >= p.len() || seen[pc] {
                continue;
            }
            seen[pc] = true;
            match p[pc].code {
                BPF_EXIT => {}
                BPF_JMP_JNE_K => todo.extend([pc + 1, pc + 1 + p[pc].off as usize]),
                _ => todo.push(pc + 1),
            }
        }
        let dead: Vec<usize> = (0..p.len()).filter(|i| !seen[*i]).collect();
        assert!(dead.is_empty(), "unreachable instructions {dead:?}");
    }

    #[test]
    fn a_rule_for_every_device_ends_the_program() {
        // The default spec: deny all first, then allow a few; and an allow-all
        // (privileged) rule last.
        let deny_all_first = vec![
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        ];
        let p = compile_device_program(&deny_all_first).unwrap();
        assert_all_reachable(&p);
        assert_eq!(run(&p, 2, 2, 1, 3), 1);
        assert_eq!(run(&p, 2, 2, 1, 4), 0);
        let allow_all_last = vec![
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::A, None, None, "rwm"),
        ];
        let p = compile_device_program(&allow_all_last).unwrap();
        assert_all_reachable(&p);
        assert_eq!(run(&p, 1, 2, 8, 0), 1);
    }
}
