#!/usr/bin/env bash
# Puts a Prometheus Pushgateway binary at $1/prometheus-pushgateway (default .venv/tools), for the
# test of `exports.pushgateway_url`. The binary comes from Debian's prometheus-pushgateway package,
# unpacked with dpkg-deb -x rather than installed: no service is registered or started. Idempotent.
set -euo pipefail

dest=${1:-.venv/tools}
if [ -x "$dest/prometheus-pushgateway" ]; then
  echo "pushgateway already installed: $dest/prometheus-pushgateway"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's download user must be able to write there
if ! (cd "$work" && apt-get download -qq prometheus-pushgateway 2>/dev/null); then
  apt-get update -qq
  (cd "$work" && apt-get download -qq prometheus-pushgateway)
fi
dpkg-deb -x "$work"/prometheus-pushgateway_*.deb "$work/x"
mkdir -p "$dest"
install -m 755 "$work/x/usr/bin/prometheus-pushgateway" "$dest/prometheus-pushgateway"
echo "pushgateway installed: $dest/prometheus-pushgateway ($("$dest/prometheus-pushgateway" --version 2>&1 | head -1))"
