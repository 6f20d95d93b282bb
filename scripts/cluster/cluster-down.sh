#!/usr/bin/env bash
# Removes the one-machine cluster: stops its daemons and every container, unmounts and deletes its
# state, removes its bridge and firewall chains. The build cache is kept. Idempotent.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
. "$here/network.sh"
. "$here/daemons.sh"
STATE=$CLUSTER_STATE
CTR="$CLUSTER_CACHE/containerd-$CONTAINERD_VERSION/ctr --address $RUN/containerd.sock"
step() { echo "[cluster-down $(date +%T)] $*"; }

stop() {  # stop NAME: SIGTERM, then SIGKILL after 10 s
  local pidfile="$RUN/$1.pid" pid i
  [ -f "$pidfile" ] || return 0
  if pid=$(pid_of "$1"); then
    kill "$pid" 2>/dev/null
    for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
  step "stopped $1"
}

kill_containers() {  # every task of containerd's k8s.io namespace, then the shims
  local id
  if [ -S "$RUN/containerd.sock" ]; then
    for id in $($CTR -n k8s.io tasks ls -q 2>/dev/null); do $CTR -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
  fi
  pkill -9 -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $RUN/containerd.sock" 2>/dev/null
}

unmount_under() {  # lazily unmount everything mounted below a directory, deepest first
  local dir=$1
  awk -v d="$dir" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
}

[ "$(id -u)" = 0 ] || { echo "cluster-down: needs root" >&2; exit 1; }
for d in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver; do stop $d; done
kill_containers
stop containerd
stop etcd
pkill -9 -f "containerd-shim-runc-v2 .*-address $RUN/containerd.sock" 2>/dev/null
unmount_under "$STATE"
unmount_under "$RUN"
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" 2>/dev/null; done
# kube-proxy's rules: every KUBE-* chain of the filter and nat tables
for table in filter nat mangle; do
  iptables -t $table -S 2>/dev/null | awk '/^-A (PREROUTING|OUTPUT|POSTROUTING|INPUT|FORWARD) .*KUBE-/{sub(/^-A/,"-D"); print}' \
    | while read -r rule; do eval iptables -t $table $rule 2>/dev/null; done
  for chain in $(iptables -t $table -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do iptables -t $table -F "$chain" 2>/dev/null; done
  for chain in $(iptables -t $table -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do iptables -t $table -X "$chain" 2>/dev/null; done
done
firewall_down
ip link delete "$BRIDGE" 2>/dev/null && step "removed bridge $BRIDGE"
rm -rf "$STATE" "$RUN" /var/lib/cni/networks/ft-runner
step "cluster removed (build cache kept in $CLUSTER_CACHE)"
