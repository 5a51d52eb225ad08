#!/usr/bin/env bash
# Install what building and testing berth needs on Debian (run as root).
# Safe to run again: apt-get skips what is already installed.
set -euo pipefail
pkgs=(
	build-essential pkg-config libseccomp-dev   # build (libseccomp for the seccomp crate)
	busybox-static                              # test images and bundles
	runc containerd                             # reference runtime, containerd acceptance test
	docker.io tini                              # reference engine (compat tests, bench); tini-static for --init
	qemu-system-x86 cpio                        # pure cgroup v2 tests in a VM
	iproute2 nftables procps file bsdutils      # networking and test helpers (script: tty tests)
	python3 python3-venv                        # the docker SDK conformance test (venv from PyPI)
	docker-registry skopeo                      # local registries for pull/push tests, seeding them
	apache2-utils openssl curl                  # their htpasswd auth, TLS and token keys, probes
	debootstrap                                 # the multi-layer Debian test image
	docker-compose                              # compose 1.29, a real client of volumes and stacks
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
