#!/usr/bin/env bash
# Fuzzes berth's parsers of untrusted input (the cargo-fuzz targets in
# fuzz/) for SECONDS each, default 30: `scripts/fuzz.sh [SECONDS]`.
#
# The seeds committed in fuzz/corpus/<target>/ are copied to a scratch
# corpus first, so a run never adds to or reduces them. Each target runs
# with its own TMPDIR under the scratch directory, removed at the end.
# Prints one line per target (runs executed, result) and exits non-zero
# if any target crashed, hung (an input over 10 s) or ran out of memory;
# the input that did it stays in fuzz/artifacts/<target>/, and
# `cargo +nightly fuzz run <target> <that file>` (in fuzz/) replays it.
#
# Needs the nightly toolchain (cargo-fuzz's sanitizer flags).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-30}
case $secs in
'' | *[!0-9]*)
	echo "usage: scripts/fuzz.sh [SECONDS]" >&2
	exit 2
	;;
esac

export PATH=$HOME/.cargo/bin:$PATH
if ! cargo fuzz --version >/dev/null 2>&1; then
	cargo install --locked cargo-fuzz
fi

cd fuzz
cargo +nightly fuzz build
targets=$(cargo +nightly fuzz list)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/berth-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
summary=()
for t in $targets; do
	corpus=$scratch/corpus/$t
	mkdir -p "$corpus" "$scratch/tmp/$t"
	if [ -d "corpus/$t" ]; then
		cp -R "corpus/$t/." "$corpus/"
	fi
	log=$scratch/$t.log
	rc=0
	TMPDIR=$scratch/tmp/$t cargo +nightly fuzz run "$t" "$corpus" -- \
		-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		</dev/null >"$log" 2>&1 || rc=$?
	# libFuzzer's last status line (`#1234 pulse …`, `Done 1234 runs …`).
	runs=$(grep -aoE '^Done [0-9]+ runs|^#[0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+' || true)
	if [ "$rc" -eq 0 ]; then
		result=ok
	elif grep -aq 'libFuzzer: timeout' "$log"; then
		result=hang
	elif grep -aq 'libFuzzer: out-of-memory\|malloc limit\|allocation-size-too-big' "$log"; then
		result=oom
	elif grep -aqE 'deadly signal|AddressSanitizer|LeakSanitizer|panicked|fuzz target exited' "$log"; then
		result=crash
	else
		result="failed (exit $rc)"
	fi
	line=$(printf '%-22s %12s runs  %s' "$t" "${runs:-0}" "$result")
	summary+=("$line")
	echo "$line"
	if [ "$result" = ok ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		# The cause and the artifact, not the whole log.
		grep -aE "panicked at|^thread '|ERROR: |SUMMARY: |Test unit written|^Output of|^Reproduce|^	cargo" "$log" | head -n 20 | sed 's/^/    /'
		grep -aA3 'panicked at' "$log" | head -n 8 | sed 's/^/    /'
	fi
done

echo "== fuzzing, ${secs}s per target"
printf '%s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
