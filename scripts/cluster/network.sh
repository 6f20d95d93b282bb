# The cluster's addresses and host network rules (sourced by cluster-up.sh and cluster-down.sh).
# Ranges chosen to overlap nothing seen on these machines: eth0 192.0.2.0/24, the resolver
# 10.255.255.53, Docker 172.17.0.0/16. cluster-up refuses to start if a range is already routed.
BRIDGE=ftbr0
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/24
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
# Host ports of the cluster's daemons: reachable on loopback and from pods on the bridge only.
DAEMON_PORTS=6443,2379,2380,2381,10250,10256,10257,10259

range_taken() {  # a route to the range exists on some device other than our bridge
  ip -4 route show to match "${1%/*}" | grep -v "dev $BRIDGE" | grep -qv '^default'
}

network_up() {
  local cidr
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    for cidr in "$POD_CIDR" "$SERVICE_CIDR"; do
      range_taken "$cidr" && { echo "cluster-up: $cidr is already routed on this machine: $(ip -4 route show to match "${cidr%/*}")" >&2; exit 1; }
    done
    ip link add "$BRIDGE" type bridge
    ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  # the Service range lives behind the bridge for the host too: host -> ClusterIP leaves with the
  # bridge's address, and an address nobody serves never falls through to the default route
  ip route replace "$SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP"
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
    fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=524288
  firewall_up
}

# FT-CLUSTER-FWD (first in FORWARD): pod-to-pod (also after a Service DNAT) is accepted, anything
# else from a pod is dropped, so no packet of a pod leaves through the machine's default route.
# FT-CLUSTER-IN (first in INPUT): the daemons' ports answer loopback and the bridge only.
firewall_up() {
  firewall_down
  iptables -N FT-CLUSTER-FWD
  iptables -A FT-CLUSTER-FWD -i "$BRIDGE" -o "$BRIDGE" -s "$POD_CIDR" -d "$POD_CIDR" -j ACCEPT
  iptables -A FT-CLUSTER-FWD -i "$BRIDGE" -j DROP
  iptables -A FT-CLUSTER-FWD -o "$BRIDGE" -j DROP
  iptables -I FORWARD 1 -j FT-CLUSTER-FWD
  iptables -N FT-CLUSTER-IN
  iptables -A FT-CLUSTER-IN -i lo -j RETURN
  iptables -A FT-CLUSTER-IN -i "$BRIDGE" -j RETURN
  iptables -A FT-CLUSTER-IN -p tcp -m multiport --dports "$DAEMON_PORTS" -j DROP
  iptables -I INPUT 1 -j FT-CLUSTER-IN
}

firewall_down() {
  local chain parent
  for chain in FT-CLUSTER-FWD:FORWARD FT-CLUSTER-IN:INPUT; do
    parent=${chain#*:}; chain=${chain%:*}
    while iptables -D "$parent" -j "$chain" 2>/dev/null; do :; done
    iptables -F "$chain" 2>/dev/null || true
    iptables -X "$chain" 2>/dev/null || true
  done
}

# Pods get routes to the pod and Service ranges only: a connection to anything else fails at once
# ("network unreachable") instead of trying the machine's network.
cni_config() {
  cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "ft-runner",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "$SERVICE_CIDR", "gw": "$NODE_IP"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}
