#!/usr/bin/env bash
# The cluster tier of `make test`: brings the one-machine cluster up (building it the first time),
# imports the runner image built from this checkout, runs tests/cluster against it, and takes the
# cluster down again if this tier brought it up. Without Go >= 1.26 it says so in one line and
# exits 0: the tier did not run, and the line says why.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/versions.sh"

# Go is often installed outside the default PATH of a non-login shell (CI): look there too.
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"

go_ok() {
  local v
  v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "$(printf '%s\n1.26\n' "${v%%[a-z]*}" | sort -V | head -n1)" = "1.26" ]
}
if ! go_ok; then
  echo "cluster tier NOT RUN: it builds Kubernetes from the Go module proxy and needs Go >= 1.26 (found: $(go env GOVERSION 2>/dev/null || echo none))"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "cluster tier NOT RUN: it needs root (containerd, kubelet, iptables)"; exit 0; }

# The kubelet refuses and evicts pods under 2 % free disk (kubelet.yaml); a runner image build takes ~8 GB.
read -r disk_size disk_free < <(df -B1 --output=size,avail /var/lib | tail -n1)
disk_need=$((disk_size / 50 + 8 * 1024 ** 3))
if [ "$disk_free" -lt "$disk_need" ]; then
  echo "cluster tier: only $((disk_free >> 30)) GB free on /var/lib's disk, it needs $((disk_need >> 30)) GB (the node refuses pods under 2 % free; an image build takes ~8 GB): free some (docker image prune -a)" >&2
  exit 1
fi

. "$here/daemons.sh"
was_up=0
pid_of kube-apiserver >/dev/null && was_up=1
bash "$here/install-host-deps.sh" || exit 1
# (not `tee /dev/stderr`: reopening a stderr that is a log file truncates it)
up_log=$(mktemp); trap 'rm -f "$up_log"' EXIT
bash "$here/cluster-up.sh" | tee "$up_log" || exit 1
eval "$(tail -n1 "$up_log")"
image=$(bash "$here/runner-image.sh") || exit 1
dynamo_image=$(bash "$here/dynamo-image.sh") || exit 1
export FT_CLUSTER_REQUIRED=1
start=$SECONDS
FT_CLUSTER_RUNNER_IMAGE=$image FT_CLUSTER_DYNAMO_IMAGE=$dynamo_image "$repo/.venv/bin/python" -m pytest -m cluster "$repo/tests/cluster" "$@"
rc=$?
echo "cluster tier: pytest exit $rc in $((SECONDS - start)) s"
[ $rc -eq 5 ] && { echo "cluster tier: no test collected: that is a defect here" >&2; rc=1; }
[ $was_up -eq 1 ] || bash "$here/cluster-down.sh" >/dev/null
exit $rc
