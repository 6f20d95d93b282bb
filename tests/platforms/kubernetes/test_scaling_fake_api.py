"""Scale-downs and rolling upgrades on the Kubernetes platform against the HTTP fake API server: the real
kubernetes client sends the DGD patches, the fake's "operator" acts on them (or, with operator=False, nothing
does), and the platform judges the pods from its own watch. What the real operator does is not modelled
beyond that (see the README): the real API server's side is tests/cluster/test_dgd_patch.py."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from runner import faults
from runner.core.config import FaultConfig
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes import scaling
from runner.run.suite import run_suite
from runner.run.ui import ProgressUI

from .test_orchestrated_run import small_run
from .test_platform_fake_api import DOCUMENTED_CALLS, _config, _deploy, _events

SCALE = "mocker-agg-tp-1-dp-2-decode_worker_scale_down"
ROLL = "mocker-agg-tp-1-dp-2-decode_worker_rolling_upgrade"


def _spec_replicas(server, component: str) -> int:
    (dgd,) = server.dgds.values()
    return scaling.component_replicas(dgd, component)


def test_a_scale_down_removes_the_pod_the_controller_picks_and_restore_brings_the_count_back(fake_cluster, tmp_path):
    server = fake_cluster()
    tree = tmp_path / "t1" / "s"
    fault = faults.get("decode_worker_scale_down")

    async def main():
        _, dep = await _deploy(SCALE, tree)
        decode = dep.replicas("decode")
        before = await dep.snapshot("decode", decode[:1])
        stamps = await fault.inject(dep, decode[:1])
        left = dep.replicas("decode")
        after = await fault.check(dep, before, stamps, FaultConfig(verify_timeout_s=20))
        evidence = [faults.evidence.assemble(b, s, a) for b, s, a in zip(before, stamps, after, strict=True)]
        restored = await fault.restore(dep, evidence, FaultConfig(verify_timeout_s=20), at_once=True)
        now = dep.replicas("decode")
        await dep.teardown(10)
        return dep, decode, stamps, left, evidence, restored, now

    dep, decode, (stamp,), left, (ev,), (back,), now = asyncio.run(main())
    component = next(c for c, r in dep.component_roles.items() if r == "decode")
    assert ev.took_effect, ev.detail
    assert stamp["removed_pod"] in decode and left == [p for p in decode if p != stamp["removed_pod"]]
    assert ev.after["removed_pod"] == stamp["removed_pod"] and stamp["chosen_by"] == "controller"
    assert stamp["injected_ns"] < stamp["stop_ns"] <= stamp["gone_ns"] == ev.gone_ns
    assert stamp["action"] == f"patch DGD: {component} replicas 2 -> 1 (the controller picks the pod)"
    assert back["took_effect"] and back["target"] not in decode and back["target"] in now and len(now) == 2
    assert back["ready_ns"] > stamp["gone_ns"] and back["action"] == f"patch DGD: {component} replicas 1 -> 2"
    assert [ctype for ctype, _ in server.patches] == [scaling.JSON_PATCH, scaling.JSON_PATCH]
    assert set(server.requests) <= DOCUMENTED_CALLS
    patched = [e for e in _events(tree) if e["reason"] == "DeploymentPatched"]
    assert [e["generation"] for e in patched] == [2, 3]


def test_a_rolling_upgrade_is_one_patch_and_every_old_pod_is_seen_replaced(fake_cluster, tmp_path):
    server = fake_cluster()
    tree = tmp_path / "t1" / "s"
    fault = faults.get("decode_worker_rolling_upgrade")

    async def main():
        _, dep = await _deploy(ROLL, tree)
        decode = dep.replicas("decode")
        before = [{"target": n} for n in decode]
        steps = await fault.verify(dep, before, 20, FaultConfig(rollout_strategy="surge"))
        now = dep.replicas("decode")
        pods = {p.name: p.obj for p in server.pods.values()}
        await dep.teardown(10)
        return decode, steps, now, pods

    decode, steps, now, pods = asyncio.run(main())
    assert len(server.patches) == 1
    assert [s["target"] for s in steps] == decode and all(s["took_effect"] for s in steps), steps
    assert {s["replacement"] for s in steps} == set(now) and not set(now) & set(decode)
    for step in steps:
        assert step["started_ns"] <= step["ready_ns"] <= step["stop_ns"] <= step["gone_ns"]  # the fake surges
        assert "(surge)" in step["detail"]
        token = pods[step["replacement"]]["metadata"]["annotations"][scaling.ROLL_ANNOTATION]
        assert token.startswith("t1-") and f"={token}" in step["action"]


def test_without_an_operator_the_wait_ends_at_its_bound_naming_the_operator(fake_cluster, tmp_path):
    server = fake_cluster(operator=False)
    tree = tmp_path / "t1" / "s"

    async def main():
        _, dep = await _deploy(SCALE, tree)
        started = time.monotonic()
        up = await dep.start_replicas("decode", 1, 1.0)
        rolled = await dep.roll_role("decode", dep.replicas("decode"), "surge", 1.0)
        took = time.monotonic() - started
        with pytest.raises(PlatformError, match="not live pods"):
            await dep.stop_replicas(["no-such-pod"], 1.0)
        component = next(c for c, r in dep.component_roles.items() if r == "decode")
        spec = _spec_replicas(server, component)
        await dep.teardown(10)
        return up, rolled, took, spec

    (up,), rolled, took, spec = asyncio.run(main())
    assert took < 5  # two waits of 1 s each, plus the calls
    assert not up["took_effect"] and up["detail"].startswith("no new pod of decode appeared within 1 s: nothing "
                                                              "reconciled the patch")
    assert "no Dynamo operator acted on it" in up["detail"]
    assert all(not r["took_effect"] and "left running within 1 s" in r["detail"] for r in rolled)
    assert "generation 3" in rolled[0]["detail"]  # the patches reached the server: spec at 3, status at 1
    assert spec == 3


def test_v1alpha1_scales_with_a_merge_patch_of_its_service(fake_cluster, tmp_path):
    server = fake_cluster()
    config = _config()
    config = config.model_copy(update={"kubernetes": config.kubernetes.model_copy(update={"api_version": "v1alpha1"})})

    async def main():
        _, dep = await _deploy(SCALE, tmp_path / "t1" / "s", config)
        up = await dep.start_replicas("decode", 1, 20)
        await dep.teardown(10)
        return dep, up

    dep, (up,) = asyncio.run(main())
    component = next(c for c, r in dep.component_roles.items() if r == "decode")
    assert up["took_effect"], up["detail"]
    assert server.patches == [(scaling.MERGE_PATCH, {"spec": {"services": {component: {"replicas": 3}}}})]


def test_a_scale_down_scenario_runs_through_the_orchestrator(fake_cluster, tmp_path):
    fake_cluster()
    config = small_run("k8s-scale", SCALE, tmp_path, scaled_down_s=0.5)
    run_suite(config, ProgressUI())
    tree = tmp_path / "k8s-scale" / SCALE
    summary = json.loads((tree / "summary.json").read_text())
    (ev,) = json.loads((tree / "faults.json").read_text())["evidence"]
    assert summary["fault"]["took_effect"] is True, summary["fault"]["detail"]
    assert ev["took_effect"] and ev["after"]["removed_pod"] == ev["injected"]["removed_pod"]
    assert ev["restored"]["action"].endswith("replicas 1 -> 2") and ev["replacement"] == ev["restored"]["target"]
    assert ev["injected_ns"] < ev["gone_ns"] < ev["ready_ns"]
    assert summary["timings"]["infrastructure_recovery_s"] is not None


def test_a_rolling_upgrade_scenario_runs_through_the_orchestrator_and_reports_its_rollout(fake_cluster, tmp_path):
    fake_cluster()
    run_suite(small_run("k8s-roll", ROLL, tmp_path, rollout_strategy="surge"), ProgressUI())
    tree = tmp_path / "k8s-roll" / ROLL
    summary = json.loads((tree / "summary.json").read_text())
    evidence = json.loads((tree / "faults.json").read_text())["evidence"]
    assert summary["fault"]["took_effect"] is True, summary["fault"]["detail"]
    assert len(evidence) == 2 and all(e["replacement"] and e["after"]["stop_ns"] for e in evidence)
    rollout = summary["rollout"]
    assert rollout["replicas"] == 2 and len(rollout["steps"]) == 2 and rollout["longest_unroutable_s"] == 0
    assert summary["verdict"] == "PASS", summary["reasons"]
