#!/usr/bin/env bash
# Build a busybox image from Debian's busybox-static, as one tar that both
# `docker load` (manifest.json) and OCI tools such as `ctr import` (index.json,
# oci-layout) accept. No registry needed.
#
#   scripts/make-busybox-image.sh OUT.tar [REPO:TAG]   (default busybox:latest)
set -euo pipefail

out=${1:?usage: make-busybox-image.sh OUT.tar [REPO:TAG]}
ref=${2:-busybox:latest}
repo=${ref%:*}
tag=${ref##*:}
[ "$repo" = "$ref" ] && tag=latest
case $repo in
*/*) full=$repo ;;
*) full=docker.io/library/$repo ;;
esac

bb=$(command -v busybox || true)
if [ -z "$bb" ] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
	[ -x /bin/busybox ] && bb=/bin/busybox
fi
[ -x "$bb" ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-image-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev,var/run,usr/bin}
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"

blobs=$work/image/blobs/sha256
mkdir -p "$blobs"
# A reproducible layer: fixed order, times and owners.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/layer.tar" .
layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar")
mv "$work/layer.tar" "$blobs/$layer"

printf '%s' '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:'"$layer"'"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"berth: busybox-static '"$("$bb" 2>&1 | head -1 | cut -d' ' -f2)"'"}]}' >"$work/config.json"
config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")
mv "$work/config.json" "$blobs/$config"

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config"'","size":'"$config_size"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$layer"'","size":'"$layer_size"'}]}' >"$work/manifest"
manifest=$(sha256sum "$work/manifest" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$work/manifest")
mv "$work/manifest" "$blobs/$manifest"

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$manifest"'","size":'"$manifest_size"',"annotations":{"io.containerd.image.name":"'"$full:$tag"'","org.opencontainers.image.ref.name":"'"$tag"'"}}]}' >"$work/image/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$work/image/oci-layout"
printf '%s' '[{"Config":"blobs/sha256/'"$config"'","RepoTags":["'"$repo:$tag"'"],"Layers":["blobs/sha256/'"$layer"'"]}]' >"$work/image/manifest.json"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/image" -cf "$out" .
echo "$out: $repo:$tag (sha256:$config)"
