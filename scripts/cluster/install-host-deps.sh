#!/usr/bin/env bash
# Debian packages the one-machine cluster needs on the host: runc, the CNI plugins, iptables and
# conntrack, openssl and curl; docker.io and debootstrap build the runner image. Idempotent.
set -euo pipefail
pkgs=(runc containernetworking-plugins iptables conntrack openssl curl gcc libc6-dev docker.io debootstrap)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
