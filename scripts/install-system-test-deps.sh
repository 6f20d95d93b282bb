#!/usr/bin/env bash
# System packages the test suite needs (filled in by the chart/image and report work).
# Idempotent: only missing packages are installed, after one `apt-get update`.
set -euo pipefail

pkgs=()
# chart and image tests: a Docker engine, debootstrap for the CI base image, unzip for helm's layer zip
pkgs+=(docker.io debootstrap unzip)
# helm comes from the npm registry (scripts/install-helm.sh)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
# report tests: Debian's Chromium opens report.html headless
command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
# network-cut faults: iptables and ss (iproute2) on loopback; etcd/NATS outages: etcd (Debian etcd-server;
# nats-server comes from PyPI, the test extra)
command -v iptables >/dev/null 2>&1 || pkgs+=(iptables)
command -v ss >/dev/null 2>&1 || pkgs+=(iproute2)
command -v etcd >/dev/null 2>&1 || pkgs+=(etcd-server)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system test packages already installed"
  exit 0
fi
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
