#!/usr/bin/env bash
# Installs the helm binary into $1 (filled in by the chart work).
set -euo pipefail
