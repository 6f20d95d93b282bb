# Building our own images (the runner, the mocker runtime) and putting them on the node, for
# runner-image.sh and dynamo-image.sh (sourced after versions.sh, from the repository root).

build_and_save() {  # build_and_save NAME TAR: scripts/build-image-ci.sh (DOCKERFILE/CONTEXT from env), docker save
  local name=$1 tar=$2
  export FT_DOCKERD_DIR=${FT_DOCKERD_DIR:-/var/tmp/ft-dockerd}
  rm -f "$FT_DOCKERD_DIR/dockerd.pid"  # build-image-ci.sh writes it only if it starts the daemon
  bash scripts/build-image-ci.sh "$name" >/dev/null
  docker save "$name" -o "$tar.tmp" && mv "$tar.tmp" "$tar"
  drop_older_builds "$name"
  [ -f "$FT_DOCKERD_DIR/dockerd.pid" ] && kill "$(cat "$FT_DOCKERD_DIR/dockerd.pid")" 2>/dev/null || true
}

drop_older_builds() {  # drop_older_builds NAME: Docker keeps every build (1.5 GB each); only NAME's stays
  # (their untagged build stages went already: build-image-ci.sh prunes after each build)
  docker image ls --format '{{.Repository}}:{{.Tag}}' "${1%%:*}" | grep -vxF "$1" | xargs -r docker rmi >/dev/null || true
}

keep_newest() {  # keep_newest DIR N: only the N newest archives stay in the cache
  ls -t "$1"/*.tar | tail -n +$(($2 + 1)) | xargs -r rm -f
}

import_to_node() {  # import_to_node NAME TAR: into the cluster's containerd unless it is there
  local name=$1 tar=$2
  local ctr="$CLUSTER_CACHE/containerd-$CONTAINERD_VERSION/ctr --address /run/ft-runner-cluster/containerd.sock -n k8s.io"
  $ctr images ls -q 2>/dev/null | grep -qx "$name" && return
  echo "[$(basename "$0" .sh)] importing $name" >&2
  $ctr images import "$tar" 2>&1 >/dev/null | { grep -v "cgroup v1 is deprecated" >&2 || true; }
  # the node keeps one build of each of our images: earlier ones would fill the disk over a session
  $ctr images ls -q 2>/dev/null | grep "^${name%%:*}:" | grep -vxF "$name" | xargs -r $ctr images rm >/dev/null 2>&1 || true
}
