"""Workstation mode: `ft-runner run --platform kubernetes` from the host, with the kubeconfig."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from .chart_run import dgds
from .conftest import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def test_run_from_the_host_creates_watches_and_deletes_its_dgd(kube, namespace, dgd_crd, tmp_path: Path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "platform": "kubernetes", "run_id": "ws-test", "output": str(tmp_path / "results"),
        "scenarios": ["mocker-agg-tp-1-dp-1-none"], "load": {"client": "legacy"},
        "deployment": {"startup_timeout_s": 8, "teardown_timeout_s": 30},
        "kubernetes": {"namespace": namespace, "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"},
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FT_RUNNER_", "KUBERNETES_SERVICE"))}
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ft-runner"), "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]  # ERROR: no operator makes pods
    assert dgds(kube, namespace) == []
    tree = tmp_path / "results" / "ws-test" / "mocker-agg-tp-1-dp-1-none"
    summary = json.loads((tree / "summary.json").read_text())
    assert summary["verdict"] == "ERROR"
    events = [json.loads(line) for line in (tree / "events.jsonl").read_text().splitlines() if line]
    created = [e for e in events if e["reason"] == "DeploymentCreated"]
    assert created and created[0]["uid"]  # the API server's UID of the DGD it created
