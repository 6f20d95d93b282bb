"""Observation helpers shared by the platforms: the events log and Prometheus parsing."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

FRONTEND_REQUESTS = "dynamo_frontend_requests"
FRONTEND_MIGRATIONS = "dynamo_frontend_model_migration"
SCRAPE_HEADER = "# scrape "


def iso_from_ns(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    """events.jsonl: one JSON object per event, stamped with the runner's UTC clock."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a")
        self._lock = threading.Lock()

    def write(self, reason: str, obj: str, **detail) -> None:
        ns = time.time_ns()
        line = json.dumps({"time_ns": ns, "time": iso_from_ns(ns), "reason": reason, "object": obj, **detail})
        with self._lock:
            if not self._fh.closed:
                self._fh.write(line + "\n")
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


def frontend_requests_total(metrics_text: str) -> float | None:
    """Sum of the frontend's request counter over all label sets (None when absent)."""
    return family_total(metrics_text, FRONTEND_REQUESTS)


def family_total(metrics_text: str, family_name: str) -> float | None:
    """Sum of one counter family's `_total` samples over all label sets (None when absent)."""
    total = None
    try:
        for family in text_string_to_metric_families(metrics_text):
            if family.name == family_name:
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        total = (total or 0.0) + sample.value
    except ValueError:
        return None
    return total


def _family_lines(metrics_text: str, family_name: str) -> str:
    """Only the lines that can belong to the family: parsing whole scrapes of every family took ~1 s
    per scenario (megabytes of text) for one counter."""
    heads = (family_name, f"# HELP {family_name}", f"# TYPE {family_name}")
    return "\n".join(line for line in metrics_text.splitlines() if line.startswith(heads)) + "\n"


def counter_over_scrapes(metrics_log: str, family_name: str) -> float | None:
    """A counter's total over a `<pod>.metrics.log` of successive scrapes: the last value of each
    process's life (a restart resets the counter, so a drop starts a new life)."""
    blocks = [block.partition("\n")[2] for block in metrics_log.split(SCRAPE_HEADER)[1:]]  # minus the header line
    values = [family_total(_family_lines(block, family_name), family_name) for block in blocks]
    values = [v for v in values if v is not None]
    if not values:
        return None
    lives = [current for current, following in zip(values, values[1:]) if following < current]
    return sum(lives) + values[-1]


def tree_counter_total(tree: Path, family_name: str) -> int | None:
    """A frontend counter summed over every `*.metrics.log` of a scenario tree (None when none exports it)."""
    totals = []
    for path in sorted(Path(tree).glob("*/*.metrics.log")):
        total = counter_over_scrapes(path.read_text(errors="replace"), family_name)
        if total is not None:
            totals.append(total)
    return int(sum(totals)) if totals else None
