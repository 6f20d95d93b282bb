#!/usr/bin/env bash
# Builds every binary and image of the one-machine cluster into the cache (keyed by version, see
# versions.sh). Cached pieces are skipped, so a warm run takes seconds. Progress goes to stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
if ! go version >/dev/null 2>&1; then
  echo "cluster-build: Go >= 1.26 is needed to build the cluster from the Go module proxy (go not found)" >&2
  exit 2
fi
mkdir -p "$CLUSTER_CACHE/images"
step() { echo "[cluster-build $(date +%T)] $*"; }

step "kubernetes $KUBERNETES_VERSION (cold: ~30 min on 2 cores)"
bash "$here/build-kubernetes.sh"
step "etcd $ETCD_VERSION"
bash "$here/build-go-module.sh" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3=etcd
step "containerd $CONTAINERD_VERSION"
GO_TAGS=no_btrfs GO_LDFLAGS="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
  bash "$here/build-go-module.sh" containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr
step "coredns $COREDNS_VERSION"
bash "$here/build-go-module.sh" coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns
step "versitygw $VERSITYGW_VERSION (S3)"
bash "$here/build-go-module.sh" versitygw github.com/versity/versitygw "$VERSITYGW_VERSION" \
  github.com/versity/versitygw/cmd/versitygw
step "images"
bash "$here/build-images.sh"
step "done: everything is in $CLUSTER_CACHE"
