"""Planning: a catalog scenario is its one-step timeline; a scenario file is checked step by step."""

from __future__ import annotations

import pytest

from runner.core.config import RunConfig
from runner.core.timeline import FaultStep, LoadStep, Timeline, WaitStep
from runner.scenarios.plan import Unsupported, plan, plan_timeline


def test_a_catalog_scenario_is_the_load_its_first_success_plus_the_delay_and_its_fault():
    s = plan("mocker-agg-tp-1-dp-2-decode_worker", RunConfig(fault={"inject_after_s": 7}))
    load, wait, fault = s.steps
    assert isinstance(load, LoadStep) and load.load == "start"
    assert isinstance(wait, WaitStep) and wait.wait == "first_success" and wait.delay_s == 7
    assert isinstance(fault, FaultStep) and fault.fault == "decode_worker" and fault.target == "random"
    assert not s.from_file
    assert plan("mocker-agg-tp-1-dp-1-none", RunConfig()).steps == (LoadStep(load="start"),)


def _file(*faults: str, deployment: str = "mocker-agg-tp-1-dp-2") -> Timeline:
    steps = [{"load": "start"}] + [{"fault": f} for f in faults]
    return Timeline.model_validate({"name": "my-file", "deployment": deployment, "steps": steps})


def test_a_scenario_file_keeps_its_name_its_deployment_as_group_and_its_first_faults_topology():
    s = plan_timeline(_file("decode_worker_stall", "frontend"), RunConfig())
    assert s.from_file and s.name == "my-file" and len(s.steps) == 3
    assert s.entry.deployment_name == "mocker-agg-tp-1-dp-2" and s.entry.failure_label == "my-file"
    assert s.entry.failure == "decode_worker_stall" and s.entry.dp == 2


def test_a_file_without_a_fault_is_judged_as_a_baseline():
    assert plan_timeline(_file(), RunConfig()).entry.failure == "none"


def test_a_fault_the_deployment_or_platform_has_not_is_refused_by_step():
    with pytest.raises(Unsupported, match="no fault 'prefill_worker' for deployment 'mocker-agg-tp-1-dp-2'"):
        plan_timeline(_file("decode_worker", "prefill_worker"), RunConfig())
    with pytest.raises(Unsupported, match="engine subprocess|mocker backend"):
        plan_timeline(_file("vllm_decode_engine_core", deployment="vllm-agg-tp-1-dp-2"), RunConfig())
    # every fault now has a Kubernetes implementation: an outage step plans there (its target is checked in preflight)
    assert plan_timeline(_file("etcd_outage"), RunConfig(platform="kubernetes")).steps
