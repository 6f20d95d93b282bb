"""Bad values fail `helm install` with the schema's message; the generated files never drift."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from generators import chart_files as schema_gen
from runner.core.config import RunConfig

from .helm import CHART, REPO, dry_run_install, template


@pytest.mark.parametrize(
    "sets,message",
    [
        ({"colour": "blue"}, "at '': additional properties 'colour' not allowed"),
        ({"config.load.bogus": 1}, "at '/config/load': additional properties 'bogus' not allowed"),
        ({"config.load.clients": "ten"}, "at '/config/load/clients': got string, want null or integer"),
        ({"activeDeadlineSeconds": "1h"}, "at '/activeDeadlineSeconds': got string, want integer"),
        ({"config.scenarios": ["Not A Scenario"]},
         "at '/config/scenarios/0': 'Not A Scenario' does not match pattern"),
        ({"config.load.clients": -1}, "at '/config/load/clients': minimum: got -1, want 1"),
        ({"config.load.requests_per_client": 0}, "at '/config/load/requests_per_client': minimum: got 0, want 1"),
        ({"parallelism": -2}, "at '/parallelism': minimum: got -2, want 1"),
        ({"ttlSecondsAfterFinished": -1}, "at '/ttlSecondsAfterFinished': minimum: got -1, want 0"),
        ({"config.checks.redundant.min_success_rate": 1.5},
         "at '/config/checks/redundant/min_success_rate': maximum: got 1.5, want 1"),
        ({"execution": "parallel"}, "at '/execution': value must be one of 'sequential', 'indexed'"),
        ({"matrix.failures": ["decode_workers"]}, "at '/matrix/failures/0': value must be one of"),
        ({"schedule": "every night"}, "at '/schedule': 'every night' does not match pattern"),
        ({"s3Credentials.existingSecret": "Bad_Name"}, "at '/s3Credentials/existingSecret': 'Bad_Name' does not"),
        ({"config.platform": "local"}, "at '/config': additional properties 'platform' not allowed"),
    ],
    ids=lambda v: "" if isinstance(v, str) else "-".join(v),
)
def test_bad_value_is_rejected_with_the_schema_message(sets, message):
    result = dry_run_install(sets=sets)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr
    assert "NOTES:" not in result.stdout and "kind:" not in result.stdout  # nothing rendered, nothing created


def test_every_run_config_field_the_chart_does_not_set_is_a_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())["config"]

    def walk(model, node, path):
        for name, field in model.model_fields.items():
            if f"{path}{name}" in schema_gen.CHART_SET_FIELDS:
                assert name not in node, f"config.{path}{name} is set by the chart, not a value"
                continue
            assert name in node, f"config.{path}{name} is missing from values.yaml"
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                walk(sub, node[name], f"{path}{name}.")

    walk(RunConfig, values, "")


def test_values_defaults_are_the_run_config_defaults():
    values = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    defaults = RunConfig().model_dump(mode="json")
    for section in ("load", "fault", "checks", "deployment", "s3"):
        assert values[section] == defaults[section], section
    RunConfig.model_validate({**values, "platform": "kubernetes"})


@pytest.mark.parametrize("path", [schema_gen.SCHEMA_FILE, schema_gen.VALUES_FILE, schema_gen.CATALOG_FILE],
                         ids=lambda p: p.name)
def test_generated_chart_file_is_fresh(path):
    fresh = schema_gen.outputs()[path]
    assert path.read_text() == fresh, f"{path.relative_to(REPO)} is stale: run `python -m generators.chart_files`"


def test_readme_parameter_table_is_fresh():
    spec = importlib.util.spec_from_file_location("gen_chart_readme", REPO / "scripts" / "gen-chart-readme.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    readme = (CHART / "README.md").read_text()
    fresh = gen.render_readme(readme, (CHART / "values.yaml").read_text(),
                              json.loads((CHART / "values.schema.json").read_text()))
    assert readme == fresh, "chart/README.md's table is stale: run `python scripts/gen-chart-readme.py`"
    assert "| `config.load.clients` | integer or null | `null` |" in readme
    assert "| `parallelism` | integer | `2` |" in readme


def test_the_schema_check_command_reports_drift(tmp_path, monkeypatch):
    stale = tmp_path / "values.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(schema_gen, "SCHEMA_FILE", stale)
    monkeypatch.setattr(schema_gen, "REPO", tmp_path)
    monkeypatch.setattr(schema_gen, "VALUES_FILE", tmp_path / "values.yaml")
    monkeypatch.setattr(schema_gen, "CATALOG_FILE", tmp_path / "files" / "catalog.json")
    assert schema_gen.main(["--check"]) == 1
    assert schema_gen.main([]) == 0
    assert schema_gen.main(["--check"]) == 0


def test_a_field_without_description_stops_the_generator():
    schema = schema_gen.build_schema()
    del schema["properties"]["config"]["properties"]["load"]["properties"]["clients"]["description"]
    with pytest.raises(SystemExit, match="config.load.clients has no description"):
        schema_gen.values_yaml(schema)


def test_default_values_install():
    result = template()
    assert result.returncode == 0, result.stderr
