#!/usr/bin/env bash
# build-go-module.sh NAME MODULE VERSION PACKAGE[=BINARY]... : builds the packages' binaries of one module at one
# version into $CLUSTER_CACHE/NAME-VERSION/, once. A throwaway wrapper module requires the module, so
# relative `replace` lines in its go.mod (which make `go install mod@v` refuse) do not apply.
# GO_TAGS, GO_LDFLAGS and CGO_ENABLED (default 0) are passed to `go build`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
name=$1 module=$2 version=$3; shift 3
out="$CLUSTER_CACHE/$name-$version"
if [ -f "$out/.done" ]; then echo "$name $version: cached in $out"; exit 0; fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
pins="$here/gomod/$name-$version"  # the committed go.mod + go.sum pin every module of the build
printf '//go:build tools\n\npackage tools\n\nimport (\n' > tools.go
for spec in "$@"; do printf '\t_ "%s"\n' "${spec%%=*}" >> tools.go; done
printf ')\n' >> tools.go
if [ -f "$pins/go.sum" ]; then
  cp "$pins/go.mod" "$pins/go.sum" .
  echo "$name $version: downloading pinned modules"
  go mod download
else
  printf 'module ftrunner.local/build\n\ngo 1.26\n\nrequire %s %s\n' "$module" "$version" > go.mod
  echo "$name $version: resolving dependencies (no pins in $pins yet: they are written there; commit them)"
  go mod tidy 2>&1 | grep -v '^go: downloading' || true
  mkdir -p "$pins" && cp go.mod go.sum "$pins/"
fi
mkdir -p "$out.tmp"
for spec in "$@"; do
  pkg=${spec%%=*} bin=${spec#*=}; [ "$bin" != "$spec" ] || bin=${pkg##*/}
  echo "$name $version: building $bin ($(date +%T))"
  CGO_ENABLED=${CGO_ENABLED:-0} go build -mod=readonly -trimpath -tags "${GO_TAGS:-}" -ldflags "-s -w ${GO_LDFLAGS:-}" \
    -o "$out.tmp/$bin" "$pkg"
done
cp go.mod go.sum "$out.tmp/"
rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.done"
echo "$name $version: built into $out"
