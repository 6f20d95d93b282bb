"""End-to-end runs of the real local deployment (ai-dynamo 1.6.1 mocker + frontend, aiperf or the legacy client).

Load is shrunk so each scenario takes well under a minute on 2 cores; every
run is bounded by the CLI's own limits and by a subprocess timeout.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from generators.summary_schema import SCHEMA_PATH

pytestmark = pytest.mark.e2e

SMALL_LOAD = ["--clients", "3", "--requests-per-client", "16", "--request-rate", "2", "--inject-after", "3",
              "--output-tokens", "40"]


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    run_dir: Path

    def summary(self, scenario: str) -> dict:
        """The scenario's summary.json, after checking every summary.json of the run against the published schema."""
        validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
        for path in self.run_dir.rglob("summary.json"):
            validator.validate(json.loads(path.read_text()))
        return json.loads((self.run_dir / scenario / "summary.json").read_text())


@pytest.fixture
def run_local(ft_runner, model_dir, tmp_path):
    def run(*scenarios: str, extra: list[str] | None = None, timeout: float = 400) -> Run:
        args = [str(ft_runner), "run", "--output", str(tmp_path), "--run-id", "e2e", "--model-dir", str(model_dir)]
        for name in scenarios:
            args += ["--scenario", name]
        args += SMALL_LOAD + (extra or [])
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
        (tmp_path / "stdout.txt").write_text(proc.stdout)
        (tmp_path / "stderr.txt").write_text(proc.stderr)
        return Run(proc, tmp_path / "e2e")

    return run
