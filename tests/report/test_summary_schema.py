"""The published summary.json schema: in step with the models, and it accepts what the runner writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from report.synthetic import build_run  # noqa: E402
from generators.summary_schema import SCHEMA_PATH, render  # noqa: E402
from runner.results.summary import SCHEMA_VERSION  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_matches_the_models():
    assert SCHEMA_PATH.read_text() == render(), "stale schema: run `python -m generators.summary_schema`"
    res = subprocess.run([sys.executable, "-m", "generators.summary_schema", "--check"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_check_mode_detects_drift(tmp_path):
    stale = tmp_path / "summary.schema.json"
    stale.write_text(render().replace('"verdict"', '"outcome"', 1))
    res = subprocess.run([sys.executable, "-m", "generators.summary_schema", "--check", "--output", str(stale)], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 1 and "is stale: run `python -m generators.summary_schema`" in res.stderr


def test_schema_is_versioned():
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["x-schema-version"] == SCHEMA_VERSION and schema["$id"].endswith(SCHEMA_VERSION)


def test_every_summary_of_a_run_validates(tmp_path):
    run_dir, *_ = build_run(tmp_path / "results", write_products=False)
    v = validator()
    paths = sorted(run_dir.rglob("summary.json"))
    assert len(paths) == 6  # the run's and five scenarios'
    for path in paths:
        errors = [e.message for e in v.iter_errors(json.loads(path.read_text()))]
        assert errors == [], f"{path}: {errors}"


@pytest.mark.parametrize("change", [
    {"verdict": "MAYBE"},
    {"schema_version": "2.0"},
    {"unexpected_field": 1},
    {"total": {"requests": "many"}},
])
def test_schema_rejects_what_the_contract_forbids(tmp_path, change):
    run_dir, *_ = build_run(tmp_path / "results", write_products=False)
    data = json.loads((run_dir / "vllm-agg-tp-1-dp-1-none" / "summary.json").read_text())
    data.update(change)
    assert list(validator().iter_errors(data)), f"{change} should be rejected"
