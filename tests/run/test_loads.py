"""runner.run.loads: the LoadSpec from the resolved config, and the next scenario's load started ahead."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from pathlib import Path

from runner.core.config import RunConfig
from runner.load.base import LoadSpec
from runner.run.loads import NextLoad, load_spec, seconds_of_load_left
from runner.scenarios.plan import plan

SCENARIO = "mocker-agg-tp-1-dp-1-decode_worker"


def _scenario(**load):
    return plan(SCENARIO, RunConfig.model_validate({"platform": "local", "load": {"client": "legacy", **load}}))


def test_every_setting_the_spec_shares_with_the_config_comes_from_the_resolved_config():
    scenario = _scenario(clients=3, requests_per_client=7, request_rate_per_client=2.5, streaming=True,
                         request_timeout_s=9.0, retry_backoff_s=0.25, max_attempts=4, aiperf_mode="per-client")
    spec = load_spec(scenario, ["http://127.0.0.1:1"], "/tok")
    shared = {f.name for f in fields(LoadSpec)} & set(type(scenario.load).model_fields) - {"max_duration_s"}
    assert shared >= {"clients", "requests_per_client", "request_rate_per_client", "streaming", "max_attempts"}
    assert all(getattr(spec, name) == getattr(scenario.load, name) for name in shared)
    assert spec.max_duration_s > 7 * 4 / 2.5  # every try at the rate, plus slack, when the config leaves it open
    assert (spec.endpoints, spec.tokenizer, spec.model) == (["http://127.0.0.1:1"], "/tok", scenario.model)


def test_overrides_win_and_none_means_the_config_value():
    scenario = _scenario(clients=2, requests_per_client=5)
    spec = load_spec(scenario, [], "", input_tokens=900, requests_per_client=None, max_attempts=1)
    assert (spec.input_tokens, spec.requests_per_client, spec.max_attempts) == (900, 5, 1)


class _Platform:
    """The one platform method NextLoad uses: where the next deployment will answer."""

    def __init__(self, endpoints):
        self.endpoints = endpoints

    def planned_endpoints(self, scenario):
        return (self.endpoints, "/tok") if self.endpoints else None


class _Deployment:
    def __init__(self, endpoints):
        self.endpoints, self.tokenizer = endpoints, "/tok"


def test_only_a_platform_that_knows_the_address_ahead_and_a_load_scenario_get_a_prestart():
    assert NextLoad.possible(_scenario(), _Platform(["http://127.0.0.1:5"]))
    assert not NextLoad.possible(_scenario(), _Platform(None))
    assert not NextLoad.possible(None, _Platform(["http://127.0.0.1:5"]))
    overflow = plan("vllm_agg_token_overflow_2x", RunConfig(platform="kubernetes"))
    assert not NextLoad.possible(overflow, _Platform(["http://127.0.0.1:5"]))


def test_a_started_load_is_handed_over_only_to_the_deployment_at_its_address(tmp_path: Path):
    async def go():
        nxt = NextLoad(_scenario(), _Platform(["http://127.0.0.1:5"]), tmp_path / "next")
        await nxt.start()
        started = nxt.load
        assert started is not None and started.spec.endpoints == ["http://127.0.0.1:5"]
        assert await nxt.take(_Deployment(["http://127.0.0.1:5"])) is started
        assert nxt.load is None  # taken once

        elsewhere = NextLoad(_scenario(), _Platform(["http://127.0.0.1:5"]), tmp_path / "other")
        await elsewhere.start()
        (tmp_path / "other" / "client_pool").mkdir(parents=True)
        assert await elsewhere.take(_Deployment(["http://127.0.0.1:6"])) is None
        assert not (tmp_path / "other" / "client_pool").exists()  # the fresh load writes there

    asyncio.run(go())


def test_a_load_nobody_took_is_stopped_and_its_never_run_scenario_tree_removed(tmp_path: Path):
    async def go():
        nxt = NextLoad(_scenario(), _Platform(["http://127.0.0.1:5"]), tmp_path / "next")
        await nxt.start()
        (tmp_path / "next" / "client_pool").mkdir(parents=True)
        await nxt.discard()
        assert not (tmp_path / "next").exists()

        ran = NextLoad(_scenario(), _Platform(["http://127.0.0.1:5"]), tmp_path / "ran")
        await ran.start()
        (tmp_path / "ran").mkdir()
        (tmp_path / "ran" / "scenario.json").write_text("{}")
        await ran.discard()
        assert (tmp_path / "ran" / "scenario.json").exists()  # a scenario that ran keeps its tree

    asyncio.run(go())


def test_load_left_counts_owed_requests_at_the_total_rate():
    async def go():
        nxt = NextLoad(_scenario(clients=4, requests_per_client=30, request_rate_per_client=1.0),
                       _Platform(["http://127.0.0.1:5"]), Path("/nonexistent"))
        await nxt.start()
        load = nxt.load
        assert seconds_of_load_left(load) == 30.0
        load.progress.ok = 100
        assert seconds_of_load_left(load) == 5.0
        load.progress.ok = 130
        assert seconds_of_load_left(load) == 0.0

    asyncio.run(go())
