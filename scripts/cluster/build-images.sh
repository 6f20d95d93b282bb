#!/usr/bin/env bash
# The cluster's own images, built here and imported into containerd (there is no registry):
# pause (compiled from the kubernetes module's pause.c), CoreDNS and versitygw (their static binaries).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
img="$CLUSTER_CACHE/images"; mkdir -p "$img"
k8s_src=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBERNETES_VERSION

image() {  # image NAME TAG ENTRYPOINT_JSON USER FILE...
  local name=$1 tag=$2 entry=$3 user=$4; shift 4
  local out="$img/$name-$tag.tar" args=()
  [ -f "$out" ] && { echo "image ft.local/$name:$tag: cached"; return; }
  for f in "$@"; do args+=(--file "$f"); done
  python3 "$here/oci_image.py" "$out.tmp" "ft.local/$name:$tag" --entrypoint "$entry" --user "$user" "${args[@]}"
  mv "$out.tmp" "$out"; echo "image ft.local/$name:$tag: built"
}

if [ ! -f "$img/pause-$PAUSE_VERSION.tar" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  gcc -Os -static -DVERSION="v$PAUSE_VERSION" -o "$tmp/pause" "$k8s_src/build/pause/linux/pause.c"
  strip "$tmp/pause"
  image pause "$PAUSE_VERSION" '["/pause"]' 65535 "$tmp/pause:/pause"
fi
image coredns "$COREDNS_VERSION" '["/coredns"]' 65532 "$CLUSTER_CACHE/coredns-$COREDNS_VERSION/coredns:/coredns"
image versitygw "$VERSITYGW_VERSION" '["/versitygw"]' 65532 \
  "$CLUSTER_CACHE/versitygw-$VERSITYGW_VERSION/versitygw:/versitygw"
