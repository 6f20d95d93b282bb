#!/usr/bin/env bash
# Builds the Kubernetes binaries from the k8s.io/kubernetes Go module into the cache, once per version.
# `go install` refuses that module (its go.mod replaces the k8s.io staging modules with local paths),
# so a throwaway wrapper module requires it and pins every staging module to the matching v0.X.Y.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
out="$CLUSTER_CACHE/kubernetes-$KUBERNETES_VERSION"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
if [ -f "$out/.done" ]; then echo "kubernetes $KUBERNETES_VERSION: cached in $out"; exit 0; fi
staging="v0.${KUBERNETES_VERSION#v1.}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pins="$here/gomod/kubernetes-$KUBERNETES_VERSION"  # the committed go.mod + go.sum pin every module
if [ -f "$pins/go.sum" ]; then
  cp "$pins/go.mod" "$pins/go.sum" "$work/"
else
  echo "kubernetes $KUBERNETES_VERSION: fetching the module"
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module ftrunner.local/kubebuild"
    echo "go $(awk '/^go /{print $2}' "$gomod")"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo "replace ("
    awk -v v="$staging" '/=> \.\/staging\/src\// {print "\t" $1 " => " $1 " " v}' "$gomod"
    echo ")"
  } > "$work/go.mod"
fi
cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
cd "$work"
if [ -f "$pins/go.sum" ]; then
  echo "kubernetes $KUBERNETES_VERSION: downloading pinned modules"
  go mod download
else
  echo "kubernetes $KUBERNETES_VERSION: resolving dependencies (no pins in $pins yet: written there; commit them)"
  go mod tidy
  mkdir -p "$pins" && cp go.mod go.sum "$pins/"
fi
minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p "$out.tmp"
for b in "${bins[@]}"; do
  echo "kubernetes $KUBERNETES_VERSION: building $b ($(date +%T))"
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w$ld" -o "$out.tmp/$b" "k8s.io/kubernetes/cmd/$b"
done
cp go.mod go.sum "$out.tmp/"
rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done"
echo "kubernetes $KUBERNETES_VERSION: built into $out"
