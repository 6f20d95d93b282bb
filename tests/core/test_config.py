from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

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
