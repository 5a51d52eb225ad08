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

/// Write the rules, in order, to `devices.allow` / `devices.deny`.
pub(crate) fn apply_v1(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for r in rules {
        let t = rule_type(r);
        if t == 'p' {
            continue;
        }
        let acc = access(r)?;
        let line = if t == 'a' {
            "a".to_string()
        } else {
            let num = |v: Option<i64>| match v {
                Some(n) if n >= 0 => n.to_string(),
                _ => "*".into(),
            };
            format!("{t} {}:{} {acc}", num(r.major()), num(r.minor()))
        };
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
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
