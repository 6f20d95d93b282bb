"""Push a run's metrics.prom to a Prometheus Pushgateway (opt-in: exports.pushgateway_url).

PUT /metrics/job/<job>/run_id/<run id> replaces that group with the run's samples. A push that
fails is one line for the log, never a failed run: the file is in the tree either way.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from runner.core.config import ExportsConfig


def push_url(exports: ExportsConfig, run_id: str) -> str:
    base = (exports.pushgateway_url or "").rstrip("/")
    job, run = (urllib.parse.quote(v, safe="") for v in (exports.pushgateway_job, run_id))
    return f"{base}/metrics/job/{job}/run_id/{run}"


def push_metrics(exports: ExportsConfig, run_id: str, body: bytes) -> str | None:
    """None when the Pushgateway took the metrics, else why not (one line)."""
    request = urllib.request.Request(push_url(exports, run_id), data=body, method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=exports.pushgateway_timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        text = " ".join(exc.read(300).decode(errors="replace").split())
        return f"{exports.pushgateway_url} answered HTTP {exc.code}: {text}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{exports.pushgateway_url} unreachable: {getattr(exc, 'reason', exc)}"
    return None if 200 <= status < 300 else f"{exports.pushgateway_url} answered HTTP {status}"
