#!/usr/bin/env bash
# Create the project's virtualenv; on a bare Debian/Ubuntu install python3-venv first.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if ! "$python" -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 14)' 2>/dev/null; then
  echo "error: $python is not Python 3.11-3.13 (ai-dynamo and aiperf need it); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  echo "installing python${ver}-venv (needs root)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "python${ver}-venv" || apt-get install -y -qq python3-venv
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
