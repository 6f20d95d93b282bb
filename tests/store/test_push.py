"""The opt-in Pushgateway push against a real Pushgateway (Debian's binary, scripts/install-pushgateway.sh):
the run's metrics.prom is accepted and served back under job and run_id; failures are one line."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from report.synthetic import build_run
from runner.core.config import ExportsConfig
from runner.report.exports import METRICS_NAME
from runner.store.push import push_metrics, push_url

from .conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def _binary() -> str | None:
    local = REPO / ".venv" / "tools" / "prometheus-pushgateway"
    return str(local) if local.is_file() else shutil.which("prometheus-pushgateway")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def pushgateway() -> Iterator[str]:
    exe = _binary()
    if exe is None:
        pytest.skip("no Pushgateway binary: run `bash scripts/install-pushgateway.sh` (make setup-test does)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not _ready(url):  # bounded: the gateway answers /-/ready within a second when it starts
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the Pushgateway did not start: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_the_gateway_takes_the_runs_metrics_and_serves_them_back(pushgateway, tmp_path):
    run_dir, run, summaries, _ = build_run(tmp_path, write_products=True)
    exports = ExportsConfig(pushgateway_url=pushgateway)
    assert push_metrics(exports, run.run_id, (run_dir / METRICS_NAME).read_bytes()) is None
    with urllib.request.urlopen(pushgateway + "/metrics", timeout=5) as r:
        served = r.read().decode()
    passed = {s.labels["scenario"]: s.value for fam in text_string_to_metric_families(served)
              for s in fam.samples if s.name == "ft_runner_scenario_passed"}
    assert passed == {s.scenario: 1.0 if s.verdict in ("PASS", "EXPECTED-LIMITATION") else 0.0 for s in summaries}
    grouped = [s for fam in text_string_to_metric_families(served) for s in fam.samples
               if s.name == "ft_runner_scenario_passed"]
    assert all(s.labels["job"] == "ft-runner" and s.labels["run_id"] == run.run_id for s in grouped)


def test_a_refused_or_unreachable_push_is_one_line(pushgateway):
    refused = push_metrics(ExportsConfig(pushgateway_url=pushgateway), "r1", b"this is { not metrics\n")
    assert refused.startswith(f"{pushgateway} answered HTTP 400") and "\n" not in refused.strip()
    closed = f"http://127.0.0.1:{free_port()}"
    gone = push_metrics(ExportsConfig(pushgateway_url=closed, pushgateway_timeout_s=2), "r1", b"x 1\n")
    assert gone.startswith(f"{closed} unreachable")


def test_the_push_url_groups_by_job_and_run_id():
    cfg = ExportsConfig(pushgateway_url="http://gw:9091/", pushgateway_job="nightly")
    assert push_url(cfg, "run/1") == "http://gw:9091/metrics/job/nightly/run_id/run%2F1"
