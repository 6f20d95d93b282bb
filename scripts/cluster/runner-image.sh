#!/usr/bin/env bash
# Builds the runner image from this checkout (as CI does: scripts/build-image-ci.sh) unless an image
# of the same sources is cached, imports it into the cluster's containerd, and prints its name.
# The tag is a hash of everything the Dockerfile copies, so a changed source means a new image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/versions.sh"
. "$here/our-images.sh"
cd "$repo"
tag=$(cat Dockerfile pyproject.toml README.md requirements/image.txt $(git ls-files runner templates 2>/dev/null || find runner templates -type f | sort) \
  | sha256sum | cut -c1-12)
name="ft.local/dynamo-ft-runner:$tag"
dir="$CLUSTER_CACHE/runner-images"; tar="$dir/$tag.tar"
mkdir -p "$dir"
if [ ! -f "$tar" ]; then
  echo "[runner-image] building $name (cold: ~5 min)" >&2
  build_and_save "$name" "$tar"
  keep_newest "$dir" 3
fi
import_to_node "$name" "$tar"
echo "$name"
