from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, Field, ValidationError

from runner.core.config import RunConfig

REPO = Path(__file__).resolve().parents[2]


def test_unknown_keys_are_rejected():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RunConfig.model_validate({"load": {"clientz": 3}})


@pytest.mark.parametrize("field,value", [("clients", 0), ("clients", -1), ("requests_per_client", 0)])
def test_counts_must_be_positive(field, value):
    with pytest.raises(ValidationError):
        RunConfig.model_validate({"load": {field: value}})


def test_platform_defaults():
    local = RunConfig().resolved_load()
    assert (local.clients, local.requests_per_client) == (4, 30)
    cluster = RunConfig(platform="kubernetes").resolved_load()
    assert (cluster.clients, cluster.requests_per_client) == (10, 150)
    assert RunConfig(platform="kubernetes").inject_after_s() == 30.0
    assert RunConfig(load={"clients": 7}).resolved_load().clients == 7


def test_duplicate_scenarios_rejected():
    with pytest.raises(ValidationError, match="listed twice"):
        RunConfig(scenarios=["a", "a"])


def test_every_run_config_in_the_repo_validates():
    files = sorted((REPO / "examples").glob("*.yaml"))
    assert files, "examples/ should hold run configurations"
    for path in files:
        RunConfig.model_validate(yaml.safe_load(path.read_text()))


def test_every_scenario_file_in_the_repo_validates():
    from runner.core.timeline import Timeline

    files = sorted((REPO / "examples" / "scenarios").glob("*.yaml"))
    assert files, "examples/scenarios/ should hold scenario files"
    for path in files:
        assert Timeline.model_validate(yaml.safe_load(path.read_text())).faults()


def undescribed_fields(model, prefix=""):
    """Dotted paths of every field, at any depth, that has no Field(description=...)."""
    missing = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            missing.append(prefix + name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            missing += undescribed_fields(sub, f"{prefix}{name}.")
    return missing


def test_every_run_config_field_is_described():
    assert undescribed_fields(RunConfig) == []


def test_the_description_check_sees_nested_fields():
    class Inner(BaseModel):
        bare: int = 0

    class Outer(BaseModel):
        inner: Inner = Field(Inner(), description="described")

    assert undescribed_fields(Outer) == ["inner.bare"]


def test_server_checks_default_to_no_panics_and_inflight_drains_within_30_s():
    kinds = [(c.kind, getattr(c, "within_s", None)) for c in RunConfig().checks.server]
    assert kinds == [("no_panics", None), ("inflight_drains", 30.0)]


def test_server_checks_are_a_discriminated_union_on_kind():
    config = RunConfig.model_validate({"checks": {"server": [
        {"kind": "worker_metric_max", "metric": "vllm:kv_cache_usage_perc", "max": 0.95},
        {"kind": "migration_counter", "max": 0}]}})
    assert [type(c).__name__ for c in config.checks.server] == ["WorkerMetricMax", "MigrationCounter"]
    assert config.checks.server[0].roles == ["decode", "prefill"]
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        RunConfig.model_validate({"checks": {"server": [{"kind": "nope"}]}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        RunConfig.model_validate({"checks": {"server": [{"kind": "no_panics", "max": 3}]}})
