#!/usr/bin/env bash
# Builds the runner image from this checkout (as CI does: scripts/build-image-ci.sh) unless an image
# of the same sources is cached, imports it into the cluster's containerd, and prints its name.
# The tag is a hash of everything the Dockerfile copies, so a changed source means a new image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/versions.sh"
cd "$repo"
tag=$(cat Dockerfile pyproject.toml README.md requirements/image.txt $(git ls-files runner templates 2>/dev/null || find runner templates -type f | sort) \
  | sha256sum | cut -c1-12)
name="ft.local/dynamo-ft-runner:$tag"
dir="$CLUSTER_CACHE/runner-images"; tar="$dir/$tag.tar"
mkdir -p "$dir"
if [ ! -f "$tar" ]; then
  echo "[runner-image] building $name (cold: ~5 min)" >&2
  export FT_DOCKERD_DIR=${FT_DOCKERD_DIR:-/var/tmp/ft-dockerd}
  rm -f "$FT_DOCKERD_DIR/dockerd.pid"  # build-image-ci.sh writes it only if it starts the daemon
  bash scripts/build-image-ci.sh "$name" >/dev/null
  docker save "$name" -o "$tar.tmp" && mv "$tar.tmp" "$tar"
  [ -f "$FT_DOCKERD_DIR/dockerd.pid" ] && kill "$(cat "$FT_DOCKERD_DIR/dockerd.pid")" 2>/dev/null || true
  ls -t "$dir"/*.tar | tail -n +4 | xargs -r rm -f  # keep the last three
fi
ctr="$CLUSTER_CACHE/containerd-$CONTAINERD_VERSION/ctr --address /run/ft-runner-cluster/containerd.sock -n k8s.io"
if ! $ctr images ls -q | grep -qx "$name"; then
  echo "[runner-image] importing $name" >&2
  $ctr images import "$tar" 2>&1 >/dev/null | { grep -v "cgroup v1 is deprecated" >&2 || true; }
fi
echo "$name"
