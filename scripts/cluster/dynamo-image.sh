#!/usr/bin/env bash
# Builds the mocker's Dynamo runtime image (images/dynamo-mocker.Dockerfile: ai-dynamo 1.6.1 + the
# tiny model) on the CI base unless cached, imports it into the cluster's containerd, prints its name.
# Its tag is 1.6.1-<hash>: a semver pre-release, which the operator and our renderer take as 1.6.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/versions.sh"
. "$here/our-images.sh"
cd "$repo"
model=${FT_RUNNER_MODEL_DIR:-$HOME/.cache/dynamo-ft-runner/models/tiny-llm}
[ -f "$model/tokenizer.json" ] || .venv/bin/ft-runner make-model "$model" >&2
tag=1.6.1-$(cat images/dynamo-mocker.Dockerfile requirements/dynamo-image.txt "$model"/* | sha256sum | cut -c1-10)
name="ft.local/dynamo-mocker:$tag"
dir="$CLUSTER_CACHE/dynamo-images"; tar="$dir/$tag.tar"
mkdir -p "$dir"
if [ ! -f "$tar" ]; then
  echo "[dynamo-image] building $name" >&2
  ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
  cp images/dynamo-mocker.Dockerfile requirements/dynamo-image.txt "$ctx/"
  cp -r "$model" "$ctx/tiny-llm"
  DOCKERFILE="$ctx/dynamo-mocker.Dockerfile" CONTEXT="$ctx" build_and_save "$name" "$tar"
  keep_newest "$dir" 2
fi
import_to_node "$name" "$tar"
echo "$name"
