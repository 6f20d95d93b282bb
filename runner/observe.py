"""Observation helpers shared by the platforms: the events log and Prometheus parsing."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

FRONTEND_REQUESTS = "dynamo_frontend_requests"


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
    total = None
    try:
        for family in text_string_to_metric_families(metrics_text):
            if family.name != FRONTEND_REQUESTS:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    total = (total or 0.0) + sample.value
    except ValueError:
        return None
    return total
