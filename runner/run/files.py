"""The run's JSON files are written one way: indented, keys as given, non-JSON values as strings."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
