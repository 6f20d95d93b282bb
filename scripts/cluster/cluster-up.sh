#!/usr/bin/env bash
# Brings up the one-machine Kubernetes cluster (idempotent: a running cluster is left as it is).
# Builds what is missing first (scripts/cluster/build-cluster.sh, cached by version), then starts
# etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet and kube-proxy as host
# daemons, CoreDNS and an S3 server (versitygw) as pods, and prints `export KUBECONFIG=...` as its last line.
#
# Network rules: pods get routes to the pod and Service ranges only (no default route), the FT-CLUSTER
# chains drop anything a pod sends elsewhere, nothing is masqueraded, and CoreDNS answers
# cluster.local only (no forwarder). The daemons listen on loopback and the node's bridge address.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
. "$here/network.sh"
. "$here/pki.sh"
. "$here/daemons.sh"

STATE=$CLUSTER_STATE
PKI=$STATE/pki
LOGS=$STATE/logs
NODE_NAME=ftnode
K8S_BIN=$CLUSTER_CACHE/kubernetes-$KUBERNETES_VERSION
CTR_BIN=$CLUSTER_CACHE/containerd-$CONTAINERD_VERSION
CTR_SOCK=$RUN/containerd.sock
KUBECTL="$K8S_BIN/kubectl --kubeconfig $STATE/admin.kubeconfig"
export PATH="$CTR_BIN:$K8S_BIN:$PATH"

step() { echo "[cluster-up $(date +%T)] $*"; }
die() { echo "cluster-up: $*" >&2; exit 1; }

check_host() {
  [ "$(id -u)" = 0 ] || die "needs root (it runs containerd, the kubelet and iptables)"
  for tool in openssl iptables runc; do
    command -v $tool >/dev/null || die "$tool is missing: run scripts/cluster/install-host-deps.sh"
  done
  [ -x /usr/lib/cni/bridge ] || die "CNI plugins missing: run scripts/cluster/install-host-deps.sh"
}

write_if_changed() {  # write_if_changed FILE < content: kube-proxy exits when its config file changes
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

running() { pid_of "$1" >/dev/null; }

daemon() {  # daemon NAME CMD...: start CMD in the background unless it runs; log in $LOGS/NAME.log
  local name=$1; shift
  running "$name" && return
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

await() {  # await WHAT SECONDS CMD...: poll CMD until it succeeds, or fail with the log's tail
  local what=$1 limit=$2 start=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "cluster-up: $what not ready after ${limit}s" >&2
      tail -n 25 "$LOGS/$what.log" 2>/dev/null >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  step "$what ready ($((SECONDS - start)) s)"
}

start_etcd() {
  daemon etcd "$CLUSTER_CACHE/etcd-$ETCD_VERSION/etcd" --name ftnode --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster ftnode=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --quota-backend-bytes 2147483648 --log-level warn
  await etcd 60 curl -fsS http://127.0.0.1:2381/health
}

start_apiserver() {
  daemon kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --secure-port 6443 --advertise-address "$NODE_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=false --profiling=false --event-ttl 2h --v 1
  await kube-apiserver 120 $KUBECTL get --raw /readyz
}

start_control_plane() {
  daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials --leader-elect=false --bind-address 127.0.0.1 \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --controllers '*,-cloud-node-lifecycle'
  daemon kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" --leader-elect=false --bind-address 127.0.0.1
  await kube-controller-manager 60 curl -fsSk https://127.0.0.1:10257/healthz
  await kube-scheduler 60 curl -fsSk https://127.0.0.1:10259/healthz
}

start_containerd() {
  mkdir -p "$STATE/containerd" "$STATE/cni/net.d"
  sed -e "s|@STATE@|$STATE|g" -e "s|@RUN@|$RUN|g" -e "s|@PAUSE@|ft.local/pause:$PAUSE_VERSION|" \
    "$here/containerd.toml" | write_if_changed "$STATE/containerd/config.toml"
  cni_config | write_if_changed "$STATE/cni/net.d/10-ft-runner.conflist"
  daemon containerd "$CTR_BIN/containerd" --config "$STATE/containerd/config.toml"
  await containerd 60 "$CTR_BIN/ctr" --address "$CTR_SOCK" version
}

import_images() {
  local tar name
  for tar in "$CLUSTER_CACHE"/images/*.tar; do
    name=$(basename "$tar" .tar)
    if [ "$(cat "$STATE/images/$name" 2>/dev/null)" = "$(stat -c %Y "$tar")" ]; then continue; fi
    step "importing image $name"
    "$CTR_BIN/ctr" --address "$CTR_SOCK" -n k8s.io images import --no-unpack=false "$tar" 2>&1 >/dev/null | { grep -v "cgroup v1 is deprecated" >&2 || true; }
    mkdir -p "$STATE/images"; stat -c %Y "$tar" >"$STATE/images/$name"
  done
}

start_kubelet() {
  mkdir -p "$STATE/kubelet"
  printf 'nameserver %s\nsearch svc.cluster.local cluster.local\noptions ndots:5\n' "$DNS_SERVICE_IP" \
    | write_if_changed "$STATE/kubelet/resolv.conf"
  sed -e "s|@STATE@|$STATE|g" -e "s|@RUN@|$RUN|g" -e "s|@PKI@|$PKI|g" -e "s|@DNS@|$DNS_SERVICE_IP|g" \
    -e "s|@NODE_IP@|$NODE_IP|g" "$here/kubelet.yaml" | write_if_changed "$STATE/kubelet/config.yaml"
  daemon kubelet "$K8S_BIN/kubelet" --config "$STATE/kubelet/config.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --root-dir "$STATE/kubelet/root" --v 1
  await kubelet 120 $KUBECTL get node "$NODE_NAME"
}

start_proxy() {
  sed -e "s|@STATE@|$STATE|g" -e "s|@POD_CIDR@|$POD_CIDR|g" -e "s|@NODE_IP@|$NODE_IP|g" \
    -e "s|@NODE@|$NODE_NAME|g" "$here/kube-proxy.yaml" | write_if_changed "$STATE/kube-proxy.yaml"
  daemon kube-proxy "$K8S_BIN/kube-proxy" --config "$STATE/kube-proxy.yaml" --v 1
  await kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
}

s3_secret() {  # the in-cluster S3 server's root credentials: made once, kept in $STATE/s3-credentials
  local creds="$STATE/s3-credentials"
  if [ ! -f "$creds" ]; then
    (umask 077; printf 'access_key_id=FT%s\nsecret_access_key=%s\n' "$(openssl rand -hex 8 | tr a-f A-F)" "$(openssl rand -hex 20)" >"$creds")
  fi
  $KUBECTL create namespace ft-s3 --dry-run=client -o yaml | $KUBECTL apply -f - >/dev/null
  $KUBECTL -n ft-s3 create secret generic s3-root --from-env-file "$creds" --dry-run=client -o yaml \
    | $KUBECTL apply -f - >/dev/null
}

start_addons() {
  local manifest
  s3_secret
  for manifest in "$here"/addons/*.yaml; do
    sed -e "s|@DNS@|$DNS_SERVICE_IP|g" -e "s|@COREDNS_IMAGE@|ft.local/coredns:$COREDNS_VERSION|g" \
      -e "s|@S3_IMAGE@|ft.local/versitygw:$VERSITYGW_VERSION|g" "$manifest" | $KUBECTL apply -f - >/dev/null
  done
  await node 120 $KUBECTL wait --for condition=Ready "node/$NODE_NAME" --timeout 1s
  await coredns 180 $KUBECTL -n kube-system rollout status deploy/coredns --timeout 1s
  await s3 180 $KUBECTL -n ft-s3 rollout status deploy/s3 --timeout 1s
}

DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

clear_stale_state() {  # a cluster half up (a daemon died, or the machine rebooted) is removed first
  local d up=0
  for d in "${DAEMONS[@]}"; do running "$d" && up=$((up + 1)); done
  if [ $up -lt ${#DAEMONS[@]} ] && { [ $up -gt 0 ] || [ -d "$STATE" ]; }; then
    step "$up of ${#DAEMONS[@]} daemons running: removing the stale cluster first"
    bash "$here/cluster-down.sh" >/dev/null
  fi
}

main() {
  check_host
  bash "$here/build-cluster.sh"
  clear_stale_state
  mkdir -p "$STATE" "$LOGS" "$RUN"
  step "host network: bridge $BRIDGE $NODE_IP, pods $POD_CIDR, services $SERVICE_CIDR"
  network_up
  pki_all
  kubeconfig admin "https://127.0.0.1:6443"
  for who in controller-manager scheduler proxy kubelet; do kubeconfig $who "https://127.0.0.1:6443"; done
  start_etcd
  start_apiserver
  start_control_plane
  start_containerd
  import_images
  start_kubelet
  start_proxy
  start_addons
  step "cluster up: $($KUBECTL version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'), node $NODE_NAME Ready"
  echo "export KUBECONFIG=$STATE/admin.kubeconfig"
}

main "$@"
