#!/usr/bin/env bash
# System packages the test suite needs (filled in by the chart/image and report work).
set -euo pipefail
