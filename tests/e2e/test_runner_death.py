"""The runner's death leaves no Dynamo process behind, even when it is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _started_pids(events: Path) -> list[int]:
    if not events.exists():
        return []
    return [json.loads(line)["pid"] for line in events.read_text().splitlines() if '"Started"' in line]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_for(condition, timeout: float, period: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(period)
    return condition()


def test_sigkill_of_the_runner_kills_the_deployment(ft_runner, model_dir, tmp_path):
    name = "mocker-agg-tp-1-dp-2-none"
    proc = subprocess.Popen(
        [str(ft_runner), "run", "--scenario", name, "--client", "legacy", "--output", str(tmp_path),
         "--run-id", "death", "--model-dir", str(model_dir), "--requests-per-client", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    events = tmp_path / "death" / name / "events.jsonl"
    try:
        pids = _wait_for(lambda: len(_started_pids(events)) >= 4 and _started_pids(events), timeout=120)
        assert pids and len(pids) >= 4, "the deployment never started"
        assert all(_alive(p) for p in pids)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        leftovers = _wait_for(lambda: not any(_alive(p) for p in pids), timeout=15) or [p for p in pids if _alive(p)]
        assert leftovers is True, f"Dynamo processes outlived the runner: {leftovers}"
    finally:
        if proc.poll() is None:
            proc.kill()
