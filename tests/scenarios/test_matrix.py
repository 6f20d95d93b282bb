"""runner.scenarios.matrix: resolving a matrix into scenario names and picking one per Job index."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from runner.scenarios.catalog import UnknownScenario, catalog
from runner.cli.main import main
from runner.core.errors import UserError
from runner.scenarios.matrix import MatrixFilter, catalog_rows, pick, resolve


def test_filter_selects_by_every_key():
    names = resolve([], MatrixFilter(backend="sglang", mode="disagg", failures=["prefill_worker"], dp=2))
    assert names == ["sglang-disagg-prefill-tp-1-decode-tp-1-dp-2-prefill_worker"]


def test_filter_keeps_catalog_order_and_explicit_names_come_first():
    explicit = ["vllm-agg-tp-4-dp-1-none"]
    names = resolve(explicit, MatrixFilter(backend="vllm", mode="agg", failures=["none"]))
    assert names == ["vllm-agg-tp-4-dp-1-none", "vllm-agg-tp-1-dp-1-none", "vllm-agg-tp-1-dp-2-none",
                     "vllm-agg-tp-2-dp-1-none"]
    order = list(catalog())
    assert names[1:] == sorted(names[1:], key=order.index)


def test_custom_builds_only_on_request():
    without = resolve([], MatrixFilter(backend="vllm", dp=2, failures=["none"]))
    with_custom = resolve([], MatrixFilter(backend="vllm", dp=2, failures=["none"], include_custom_build=True))
    added = [n for n in with_custom if n not in without]
    assert added and all(catalog()[n].custom_build for n in added)
    assert not any(catalog()[n].custom_build for n in without)


def test_an_empty_filter_selects_nothing():
    assert resolve([], MatrixFilter()) == []
    assert resolve([], MatrixFilter(include_custom_build=True)) == []


def test_unknown_names_and_failures_are_errors():
    with pytest.raises(UnknownScenario, match="closest: vllm-agg-tp-1-dp-1-none"):
        resolve(["vllm-agg-tp-1-dp-1-nnone"])
    with pytest.raises(ValidationError):
        MatrixFilter(failures=["decode_workers"])
    with pytest.raises(ValidationError):
        MatrixFilter(backend="vllm", colour="blue")


def test_pick_by_index():
    names = ["a", "b", "c"]
    assert [pick(names, i) for i in range(3)] == names
    with pytest.raises(UserError, match="--scenario-index 3 is out of range: .* 3 scenario\\(s\\), indexes 0..2"):
        pick(names, 3)
    with pytest.raises(UserError, match="names no scenario"):
        pick([], 0)


def test_catalog_rows_cover_the_catalog():
    rows = catalog_rows()
    assert [r["name"] for r in rows] == list(catalog())  # the -migration-on/off variants too
    assert set(rows[0]) == {"name", "backend", "mode", "tp", "dp", "failure", "model", "custom_build", "platforms",
                            "migration", "named_only"}


def test_outage_scenarios_are_selected_only_when_their_failure_is_named():
    from runner.scenarios.matrix import MatrixFilter, filter_names

    every = filter_names(MatrixFilter(backend="mocker"), "kubernetes")
    assert every and not [n for n in every if n.endswith(("etcd_outage", "nats_outage"))]
    named = filter_names(MatrixFilter(backend="mocker", failures=["etcd_outage"]), "kubernetes")
    assert named and all(n.endswith("etcd_outage") for n in named)


def test_run_scenario_index_out_of_range_is_a_clear_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("scenarios: [mocker-agg-tp-1-dp-1-none, mocker-agg-tp-1-dp-2-none]\n")
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--scenario-index", "2"])
    assert result.exit_code == 2
    assert "--scenario-index 2 is out of range" in result.output


def test_run_scenario_index_must_not_be_negative(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("scenarios: [mocker-agg-tp-1-dp-1-none]\n")
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--scenario-index", "-1"])
    assert result.exit_code == 2
