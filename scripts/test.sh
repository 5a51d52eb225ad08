#!/usr/bin/env bash
# The whole test suite (run as root on Debian): unit tests, the runtime's
# behaviour tests against berth-runc and against runc (the reference), the
# containerd acceptance test, the cgroup v2 tests in a VM, and every fuzz target
# for 30 s (cargo-fuzz on the nightly toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH=$HOME/.cargo/bin:$PATH
# A failing test's message, not a backtrace, is what the end of a log should show.
export RUST_BACKTRACE=0
if ! cargo nextest --version >/dev/null 2>&1; then
	cargo install --locked cargo-nextest
fi

cargo build --workspace --all-targets
echo "== berth: every test"
cargo nextest run --workspace --no-fail-fast
echo "== the runtime behaviour tests against runc (the reference)"
BERTH_TEST_RUNTIME=$(command -v runc) cargo nextest run -p berth-runc --no-fail-fast \
	-E 'not test(vm_cgroup_v2)'
echo "== fuzzing berth's parsers, 30 s per target (scripts/fuzz.sh SECONDS for longer)"
scripts/fuzz.sh 30
