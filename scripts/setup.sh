#!/usr/bin/env bash
# Build berth, install what it needs and its binaries, start the daemon, make
# a busybox image and run a container. Debian, as root. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH=$HOME/.cargo/bin:$PATH
cargo build --release
for b in berth berthd berth-runc; do
	install -m 0755 "target/release/$b" /usr/local/bin/
done

# The daemon, unless one already answers on the default socket.
if ! berth version >/dev/null 2>&1; then
	mkdir -p /var/log
	nohup berthd >/var/log/berthd.log 2>&1 &
	for _ in $(seq 100); do
		berth version >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
echo "berthd is running (pid $(cat /run/berth.pid)), API on unix:///run/berth.sock, log /var/log/berthd.log"

# A busybox image from Debian's busybox-static, and a container from it.
img=$(mktemp /tmp/berth-busybox-XXXXXX.tar)
trap 'rm -f "$img"' EXIT
scripts/make-busybox-image.sh "$img" busybox:latest
berth load -i "$img"
berth run --rm busybox echo hello
