#!/usr/bin/env bash
# Builds the runner image where no registry image can be pulled (CI, this project's machines):
#   1. starts a Docker daemon (Debian's docker.io) unless one answers;
#   2. makes a base image from a debootstrap of Debian bookworm with Python, carrying this host's CA
#      bundle and a pip config pointing at it (the registries are reached through a TLS proxy with
#      its own CA); cached: an existing base image of that tag is kept;
#   3. docker build --build-arg BASE_IMAGE=<that base> of the repository's Dockerfile.
# Users build with the Dockerfile's default base (the official Python slim image) instead.
#
#   scripts/build-image-ci.sh [IMAGE_TAG]        (default dynamo-ft-runner:ci)
# DOCKERFILE and CONTEXT build another image of ours on the same base (scripts/cluster/dynamo-image.sh).
# Prints the seconds each step took. Needs root, docker.io and debootstrap
# (scripts/install-system-test-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-dynamo-ft-runner:ci}
base=${FT_CI_BASE_IMAGE:-ft-runner-ci-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
docker=${DOCKER:-/usr/bin/docker}
command -v "$docker" >/dev/null 2>&1 || docker=docker
state=${FT_DOCKERD_DIR:-/var/tmp/ft-dockerd}
root=""

step() { printf '[build-image-ci] %s\n' "$*" >&2; }
timed() {  # timed LABEL CMD...: run and print its wall time
  local label=$1 start=$SECONDS
  shift
  "$@"
  step "$label: $((SECONDS - start)) s"
}

start_dockerd() {
  if "$docker" info >/dev/null 2>&1; then
    return
  fi
  command -v dockerd >/dev/null 2>&1 || { echo "error: dockerd not found: install docker.io (scripts/install-system-test-deps.sh)" >&2; exit 2; }
  mkdir -p "$state"
  step "starting dockerd (log: $state/dockerd.log)"
  nohup dockerd --host=unix:///var/run/docker.sock >"$state/dockerd.log" 2>&1 &
  echo $! >"$state/dockerd.pid"
  local i
  for i in $(seq 1 60); do
    "$docker" info >/dev/null 2>&1 && return
    kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null || break
    sleep 1
  done
  echo "error: dockerd did not come up; its log:" >&2
  tail -n 30 "$state/dockerd.log" >&2
  exit 1
}

make_base() {
  if "$docker" image inspect "$base" >/dev/null 2>&1; then
    step "base image $base exists: kept"
    return
  fi
  [ -r "$ca_bundle" ] || { echo "error: CA bundle $ca_bundle not readable" >&2; exit 2; }
  root=$(mktemp -d /var/tmp/ft-base.XXXXXX)
  trap 'rm -rf "$root" "$root.log"' EXIT
  step "debootstrap bookworm into $root"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
  rm -f "$root.log"
  install -m 0644 "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | "$docker" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$base" >/dev/null
  rm -rf "$root"
}

total=$SECONDS
timed "docker daemon" start_dockerd
timed "base image" make_base
timed "docker build" "$docker" build --build-arg "BASE_IMAGE=$base" -t "$image" \
  -f "${DOCKERFILE:-Dockerfile}" "${CONTEXT:-.}" >&2
# A rebuilt tag leaves the previous image and its build stage untagged (1.4 GB each): drop them, or the
# machine's disk fills night after night (the build cache lives in the tagged images that stay).
"$docker" image prune -f >/dev/null
step "built $image in $((SECONDS - total)) s"
echo "$image"
