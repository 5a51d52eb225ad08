#!/usr/bin/env bash
# Run a program inside a small VM whose only cgroup hierarchy is cgroup v2, the
# layout most users have. The host here is cgroup v1 hybrid, so this is how the
# test suite checks berth on pure v2 for real.
#
#   scripts/vm-cgroup2.sh PROGRAM [ARGS...]
#
# The VM boots Debian's kernel (unpacked from the package linux-image-amd64
# depends on, with apt-get download + dpkg -x, not installed) under qemu (TCG,
# no KVM needed) from an initramfs that holds busybox-static, PROGRAM and
# $BERTH_RUNC (default: target/debug/berth-runc) at their host paths, plus the
# shared libraries they load. /init mounts cgroup2 at /sys/fs/cgroup, enables
# every controller for children, runs PROGRAM and powers off. The script exits
# with PROGRAM's exit code.
#
# Environment: BERTH_VM_TIMEOUT (seconds, default 900), BERTH_VM_CACHE (kernel
# cache, default /var/cache/berth-vm), BERTH_VM_MEM (MiB, default 2048),
# BERTH_VM_FILES (more host files to include, space-separated).
set -euo pipefail

prog=${1:?usage: vm-cgroup2.sh PROGRAM [ARGS...]}
shift
prog=$(readlink -f "$prog")
repo=$(cd "$(dirname "$0")/.." && pwd)
runc=$(readlink -f "${BERTH_RUNC:-$repo/target/debug/berth-runc}")
cache=${BERTH_VM_CACHE:-/var/cache/berth-vm}
timeout_s=${BERTH_VM_TIMEOUT:-900}

need() { command -v "$1" >/dev/null || { echo "vm-cgroup2: $1 is missing (apt-get install $2)" >&2; exit 2; }; }
need qemu-system-x86_64 qemu-system-x86
need cpio cpio
need busybox busybox-static
[ -x "$prog" ] || { echo "vm-cgroup2: $prog is not executable" >&2; exit 2; }
[ -x "$runc" ] || { echo "vm-cgroup2: $runc is missing (cargo build first)" >&2; exit 2; }

# The kernel: cached per package version.
kernel() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$pkg" ] || { echo "vm-cgroup2: no linux-image-amd64 package known to apt (apt-get update?)" >&2; exit 2; }
	local dir=$cache/$pkg
	if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
		mkdir -p "$cache"
		local dl
		dl=$(mktemp -d "$cache/dl.XXXXXX")
		chmod 755 "$dl" # apt's download user must be able to write here
		chown _apt "$dl" 2>/dev/null || true
		(cd "$dl" && apt-get download -q "$pkg" >&2)
		rm -rf "$dir.tmp"
		dpkg -x "$dl"/*.deb "$dir.tmp"
		rm -rf "$dl" "$dir"
		mv "$dir.tmp" "$dir"
	fi
	ls "$dir"/boot/vmlinuz-* | head -1
}
vmlinuz=$(kernel)

work=$(mktemp -d /tmp/berth-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"

# busybox and its applets.
bb=$(readlink -f "$(command -v busybox)")
cp "$bb" "$root/bin/busybox"
for a in $(busybox --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
[ "$bb" = /bin/busybox ] || { mkdir -p "$root$(dirname "$bb")"; [ -e "$root$bb" ] || cp "$bb" "$root$bb"; }
[ -e "$root/usr/bin/busybox" ] || ln -s /bin/busybox "$root/usr/bin/busybox"

# A file at its host path, with the shared libraries it needs.
add() {
	local f=$1
	[ -e "$root$f" ] && return 0
	mkdir -p "$root$(dirname "$f")"
	cp -L "$f" "$root$f"
	ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
add "$prog"
add "$runc"
for f in ${BERTH_VM_FILES:-}; do add "$(readlink -f "$f")"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"

# The command line, one argument per line (NUL would be safer, but tests do
# not pass newlines).
printf '%s\n' "$prog" "$@" >"$root/cmdline"
cwd=$(pwd)
mkdir -p "$root/mnt"
cat >"$root/init" <<EOF
#!/bin/sh
# pivot_root cannot move the initramfs (rootfs): continue from a tmpfs copy, as
# a real system continues from its disk. /tmp stays on that tmpfs root: the
# programs under test may live there.
if [ ! -e /.switched ]; then
	mount -t tmpfs -o mode=755 tmpfs /mnt
	for d in /*; do
		case \$d in /mnt|/proc|/sys|/dev) ;; *) cp -a "\$d" /mnt/ ;; esac
	done
	mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/mnt
	touch /mnt/.switched
	exec switch_root /mnt /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for c in \$(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+\$c" >/sys/fs/cgroup/cgroup.subtree_control
done
echo "berth-vm: cgroup2 controllers: \$(cat /sys/fs/cgroup/cgroup.subtree_control)"
hostname berth-vm
ip link set lo up 2>/dev/null
mkdir -p "$cwd" && cd "$cwd"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
export BERTH_IN_VM=1 BERTH_RUNC="$runc" RUST_BACKTRACE=1
set --
while IFS= read -r a; do set -- "\$@" "\$a"; done </cmdline
"\$@"
echo "BERTH-VM-EXIT=\$?"
sync
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initrd"

log=$work/console
set +e
timeout "$timeout_s" qemu-system-x86_64 \
	-machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m "${BERTH_VM_MEM:-2048}" \
	-kernel "$vmlinuz" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet panic=-1 rdinit=/init" \
	-nographic -no-reboot -nic none </dev/null | tee "$log" | sed -u 's/\r$//'
qemu=${PIPESTATUS[0]}
set -e
code=$(sed -n 's/.*BERTH-VM-EXIT=\([0-9]*\).*/\1/p' "$log" | tail -1)
if [ -z "$code" ]; then
	[ "$qemu" = 124 ] && echo "vm-cgroup2: timed out after ${timeout_s}s" >&2
	echo "vm-cgroup2: the program did not finish (qemu exit $qemu)" >&2
	exit 1
fi
exit "$code"
