//! `--security-opt seccomp=<profile>`: a Docker seccomp profile (JSON the
//! client sends in the create request) converted to OCI's form by the
//! engine (`spec::docker_seccomp_to_oci`), then checked and compiled to BPF
//! by berth-seccomp as the runtime will (`validate`, `compile`; nothing
//! is loaded).
#![no_main]

use berth_engine::container::spec::docker_seccomp_to_oci;
use libfuzzer_sys::fuzz_target;

/// The runtime's profiles come in a create request, bounded by berthd.
const MAX_INPUT: usize = 256 << 10;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(oci) = docker_seccomp_to_oci(text) else {
        return;
    };
    if berth_seccomp::validate(&oci).is_err() {
        return;
    }
    let compiled = berth_seccomp::compile(&oci).expect("a validated profile compiles");
    assert!(
        !compiled.program.is_empty() && compiled.program.len() % 8 == 0,
        "a BPF program is whole sock_filter instructions"
    );
});
