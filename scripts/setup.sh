#!/usr/bin/env bash
# Build berth, install what it needs and its binaries, and run a container.
# Debian, as root. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH=$HOME/.cargo/bin:$PATH
cargo build --release
for b in berth-runc; do
	install -m 0755 "target/release/$b" /usr/local/bin/
done

# A busybox bundle, run by the runtime.
demo=$(mktemp -d /tmp/berth-demo-XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/rootfs/bin"
cp "$(readlink -f "$(command -v busybox)")" "$demo/rootfs/bin/busybox"
for a in sh echo uname cat hostname; do ln -s busybox "$demo/rootfs/bin/$a"; done
(cd "$demo" && berth-runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' \
	-e 's/"sh"$/"sh", "-c", "echo hello from a berth container on $(uname -r) as $(hostname)"/' \
	"$demo/config.json"
berth-runc run --bundle "$demo" "berth-demo-$$"
