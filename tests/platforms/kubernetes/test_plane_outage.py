"""etcd / NATS outages on Kubernetes: the pure judgements, the graph's plane env, the preflight refusal, and the
scale-down / scale-back loop against an in-memory API that moves pods as a StatefulSet controller would."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.faults.evidence import assemble
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes import plane_outage as po
from runner.render.dgd import plane_env, render_dgd
from runner.scenarios.plan import plan

ETCD = "mocker-agg-tp-1-dp-1-etcd_outage"
NATS = "mocker-agg-tp-1-dp-1-nats_outage"


def config(**targets) -> RunConfig:
    return RunConfig.model_validate({"platform": "kubernetes", "kubernetes": {
        "namespace": "ns1", "image": "img:1.6.1", "outage_targets": targets}, "fault": {"outage_s": 2}})


def pod(name: str, ready: bool = True, terminating: bool = False) -> dict:
    meta = {"name": name, "uid": f"uid-{name}"}
    if terminating:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


# ---------------------------------------------------------------- config and rendering


def test_a_target_must_name_a_statefulset_or_deployment():
    assert config(etcd="statefulset/etcd").kubernetes.outage_targets.etcd == "statefulset/etcd"
    for bad in ("etcd", "pod/etcd", "statefulset/Etcd", "daemonset/etcd"):
        with pytest.raises(ValidationError):
            config(etcd=bad)
    assert RunConfig().kubernetes.outage_targets.etcd is None and RunConfig().kubernetes.outage_targets.nats is None


def test_outage_graphs_use_the_named_etcd_and_nats_and_no_other_graph_does():
    cfg = config(etcd="statefulset/etcd", nats="deployment/my-nats")
    assert plane_env(plan(ETCD, cfg)) == {"DYN_DISCOVERY_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://etcd.ns1.svc:2379",
                                          "DYN_EVENT_PLANE": "nats", "NATS_SERVER": "nats://my-nats.ns1.svc:4222"}
    assert plane_env(plan("mocker-agg-tp-1-dp-1-decode_worker", cfg)) == {}


def test_etcd_alone_keeps_the_event_plane_on_zmq_and_an_explicit_endpoint_wins():
    cfg = config(etcd="statefulset/etcd", etcd_endpoint="http://etcd-client.other:2379")
    assert plane_env(plan(ETCD, cfg)) == {"DYN_DISCOVERY_BACKEND": "etcd",
                                          "ETCD_ENDPOINTS": "http://etcd-client.other:2379", "DYN_EVENT_PLANE": "zmq"}


def test_the_rendered_components_carry_the_plane_env_over_extra_env():
    cfg = RunConfig.model_validate({"platform": "kubernetes", "kubernetes": {
        "namespace": "ns1", "image": "img:1.6.1", "outage_targets": {"etcd": "statefulset/etcd"},
        "extra_env": {"ETCD_ENDPOINTS": "http://elsewhere:2379", "FOO": "1"}}})
    dgd = render_dgd(plan(ETCD, cfg), "r1")
    for comp in dgd["spec"]["components"]:
        env = {e["name"]: e["value"] for e in comp["podTemplate"]["spec"]["containers"][0]["env"]}
        assert env["ETCD_ENDPOINTS"] == "http://etcd.ns1.svc:2379" and env["FOO"] == "1"
        assert env["DYN_DISCOVERY_BACKEND"] == "etcd"


# ---------------------------------------------------------------- preflight


class FakeApi:
    """Scale subresource + pods of one workload; each list moves the pods one step towards the spec, as the
    StatefulSet controller and the kubelet would (terminating, gone; created not ready, ready)."""

    namespace = "ns1"

    def __init__(self, replicas: int = 1, fail_patches: int = 0, never_ready: bool = False):
        self.spec, self.fail_patches, self.never_ready = replicas, fail_patches, never_ready
        self.pods = [pod(f"etcd-{i}") for i in range(replicas)]
        self.patches: list[int] = []
        self.dry_runs: list[int] = []

    def get_scale(self, workload: str) -> dict | None:
        if workload != "statefulset/etcd":
            return None
        return {"spec": {"replicas": self.spec}, "status": {"replicas": len(self.pods), "selector": "app=etcd"}}

    def patch_scale(self, workload: str, replicas: int, dry_run: bool = False) -> dict:
        if dry_run:
            self.dry_runs.append(replicas)
            return {}
        if self.fail_patches:
            self.fail_patches -= 1
            raise PlatformError("patch statefulsets/scale etcd failed: HTTP 500")
        self.patches.append(replicas)
        self.spec = replicas
        return {}

    def list_pods(self, selector: str) -> tuple[list[dict], str]:
        assert selector == "app=etcd"
        self.pods = [self._step(p) for p in self.pods if not (self.spec == 0 and po.d.is_terminating(p))]
        if self.spec == 0:
            self.pods = [pod(p["metadata"]["name"], ready=False, terminating=True) for p in self.pods]
        elif len(self.pods) < self.spec:
            self.pods.append(pod(f"etcd-{len(self.pods)}", ready=False))
        return list(self.pods), "1"

    def _step(self, p: dict) -> dict:
        if self.spec and not po.d.pod_ready(p) and not self.never_ready:
            return pod(p["metadata"]["name"])
        return p

    def check_scale(self, workload: str, setting: str) -> dict:
        from runner.platforms.kubernetes.api import KubeApi

        return KubeApi.check_scale(self, workload, setting)


def test_preflight_refuses_an_outage_without_its_target_in_one_line_naming_the_setting():
    api = FakeApi()
    with pytest.raises(UserError) as err:
        po.preflight(api, config().kubernetes, [plan(ETCD, config())])
    assert "kubernetes.outage_targets.etcd" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="kubernetes.outage_targets.nats"):
        po.preflight(api, config(etcd="statefulset/etcd").kubernetes, [plan(NATS, config(etcd="statefulset/etcd"))])
    assert api.patches == [] and api.dry_runs == []


def test_preflight_refuses_a_workload_that_does_not_exist_and_dry_runs_the_patch_of_one_that_does():
    api = FakeApi(replicas=3)
    cfg = config(etcd="statefulset/nope")
    with pytest.raises(UserError, match="statefulset/nope, which does not exist in namespace ns1"):
        po.preflight(api, cfg.kubernetes, [plan(ETCD, cfg)])
    cfg = config(etcd="statefulset/etcd")
    po.preflight(api, cfg.kubernetes, [plan(ETCD, cfg)])
    assert api.dry_runs == [3] and api.patches == []  # the same count, dry run: nothing changed


# ---------------------------------------------------------------- pure judgements


def test_judge_down_needs_no_ready_pod():
    up = po.judge_down("statefulset/etcd", 0, po.pods_state([pod("etcd-0")]), None, None)
    assert not up["took_effect"] and "did not happen" in up["detail"]
    down = po.judge_down("statefulset/etcd", 0, po.pods_state([]), 500_000_000, 1_500_000_000)
    assert down["took_effect"] and "0.50 s" in down["detail"] and "1.50 s" in down["detail"]


def test_judge_back_needs_every_replica_ready_and_names_the_fix_when_the_patch_failed():
    back = po.judge_back("statefulset/etcd", 2, 10, po.pods_state([pod("a"), pod("b")]), 2_000_000_010)
    assert back["took_effect"] and back["continued_ns"] == back["ready_ns"] == 2_000_000_010
    short = po.judge_back("statefulset/etcd", 2, 10, po.pods_state([pod("a")]), None)
    assert not short["took_effect"] and short["ready_ns"] is None and short["continued_ns"] == 10
    failed = po.judge_back("statefulset/etcd", 2, None, po.pods_state([]), None, error="HTTP 500")
    assert not failed["took_effect"] and "kubectl scale statefulset/etcd --replicas=2" in failed["detail"]


def test_judge_registration_counts_frontend_instances_beyond_the_workers_before():
    assert po.judge_registration(True, 2, 1, 0, 1_200_000_000, "")["registered"] is True
    not_yet = po.judge_registration(False, 1, 1, 0, None, "nothing reconciled the patch")
    assert not_yet["registered"] is False and "nothing reconciled the patch" in not_yet["detail"]
    assert "did not answer (TimeoutError)" in po.judge_registration(True, None, 1, 0, None, "", "TimeoutError")["detail"]
    assert po.judge_registration(False, None, 1, None, None, "")["detail"] == "no worker was started"


# ---------------------------------------------------------------- the loop, against the fake API


def outage(api: FakeApi, note=None) -> po.PlaneOutage:
    events: list[tuple] = []
    out = po.PlaneOutage(api, config(etcd="statefulset/etcd").kubernetes, lambda *a, **k: events.append((a, k)))
    out.poll_s, out.events = 0.0, events
    return out


def evidence(out: po.PlaneOutage) -> tuple[list[dict], list[dict], object]:
    async def go():
        before = await out.snapshot("etcd", ["statefulset/etcd"])
        stamps = await out.take_down(["statefulset/etcd"])
        after = await out.await_down(before, stamps, 5)
        return before, stamps, after
    before, stamps, after = asyncio.run(go())
    return before, stamps, assemble(before[0], stamps[0], after[0])


def test_take_down_scales_to_zero_waits_for_the_pods_to_go_and_bring_back_restores_the_count():
    api = FakeApi(replicas=2)
    out = outage(api)
    before, stamps, ev = evidence(out)
    assert before[0]["before"]["replicas"] == 2 and before[0]["before"]["ready"] == 2
    assert stamps[0]["mechanism"] == "scale-subresource" and stamps[0]["replicas_before"] == 2
    assert ev.took_effect and ev.after["gone_ns"] and ev.after["down_ns"] <= ev.after["gone_ns"]
    (back,) = asyncio.run(out.bring_back([ev], 5))
    assert api.patches == [0, 2] and back["took_effect"] and back["replicas"] == 2
    assert back["ready_ns"] >= back["scaled_back_ns"] and len(back["pods_back"]) == 2
    assert [e[0][0] for e in out.events] == ["PlaneScaledDown", "PlaneScaledBack"]


def test_bring_back_retries_a_failed_patch_and_reports_a_workload_that_never_gets_ready():
    api = FakeApi(replicas=1)
    out = outage(api)
    _, _, ev = evidence(out)
    api.fail_patches, api.never_ready = 1, True
    (back,) = asyncio.run(out.bring_back([ev], 0.2))
    assert api.patches == [0, 1]  # the second try went through
    assert not back["took_effect"] and "only 0 pod(s) Ready" in back["detail"]


def test_bring_back_that_cannot_patch_says_how_to_fix_it_by_hand(monkeypatch):
    api = FakeApi(replicas=1)
    out = outage(api)
    _, _, ev = evidence(out)
    api.fail_patches = po.PATCH_TRIES
    monkeypatch.setattr(po.asyncio, "sleep", _no_sleep)
    (back,) = asyncio.run(out.bring_back([ev], 1))
    assert not back["took_effect"] and "--replicas=1" in back["detail"] and api.spec == 0


async def _no_sleep(_s):
    return None


def test_a_workload_at_zero_replicas_is_not_taken_down():
    api = FakeApi(replicas=0)
    with pytest.raises(PlatformError, match="runs 0 replicas"):
        asyncio.run(outage(api).take_down(["statefulset/etcd"]))
    assert api.patches == []


# ---------------------------------------------------------------- the fault step on a scaling platform


class ScalingReplicas:
    """What the Outage fault needs from a platform that scales the workload (the Kubernetes path)."""

    def __init__(self, api: FakeApi, fail_check: bool = False):
        self.planes, self.fail_check, self.calls = outage(api), fail_check, []

    def replicas(self, role):
        return ["statefulset/etcd"]

    async def snapshot(self, role, names, processes=None):
        return await self.planes.snapshot(role, names)

    async def take_down(self, names):
        self.calls.append("take_down")
        return await self.planes.take_down(names)

    async def await_down(self, before, stamps, timeout_s):
        self.calls.append("await_down")
        if self.fail_check:
            raise PlatformError("the API server went away")
        return await self.planes.await_down(before, stamps, timeout_s)

    async def bring_back(self, evidence, timeout_s):
        self.calls.append("bring_back")
        return await self.planes.bring_back(evidence, timeout_s)

    async def register_worker(self, timeout_s):
        self.calls.append("register_worker")
        self.watch_s = timeout_s
        return {"registered": False, "after_s": None, "detail": "no new decode pod Ready (no operator)"}

    async def await_registration(self, timeout_s):
        return {"registered": False, "after_s": None, "detail": "no new decode pod Ready (no operator)"}


def run_step(replicas: ScalingReplicas, outage_s: float = 0.3):
    from runner.run.fault_step import run_fault
    from runner.run.ui import ProgressUI

    cfg = RunConfig.model_validate({"platform": "kubernetes", "kubernetes": {
        "namespace": "ns1", "image": "img:1.6.1", "outage_targets": {"etcd": "statefulset/etcd"}},
        "fault": {"outage_s": outage_s, "verify_timeout_s": 5}})
    observed = SimpleNamespace(fault=None, evidence=[])
    asyncio.run(run_fault(plan(ETCD, cfg), replicas, ProgressUI(), observed))
    return observed


def test_the_fault_step_takes_down_holds_for_outage_s_and_brings_back():
    api = FakeApi(replicas=1)
    replicas = ScalingReplicas(api)
    observed = run_step(replicas, outage_s=0.3)
    (ev,) = observed.evidence
    assert replicas.calls == ["take_down", "await_down", "register_worker", "bring_back"]
    assert observed.fault.took_effect and ev.injected["mechanism"] == "scale-subresource"
    # held for fault.outage_s from when the server stopped (the fake's pods stop at the first look)
    assert 0.3e9 <= ev.restored["scaled_back_ns"] - ev.after["stopped_ns"] < 1.5e9
    assert ev.after["registration_during"]["registered"] is False
    assert "not registered (no new decode pod Ready (no operator))" in ev.detail
    assert api.spec == 1
    assert replicas.watch_s == 0.5  # ends with the outage (the floor), not after fault.registration_timeout_s (8)


def test_the_workload_is_brought_back_even_when_verifying_fails():
    api = FakeApi(replicas=1)
    replicas = ScalingReplicas(api, fail_check=True)
    with pytest.raises(PlatformError, match="went away"):
        run_step(replicas)
    assert replicas.calls[-1] == "bring_back" and api.patches == [0, 1]


# ---------------------------------------------------------------- the runner's death: the way back on the DGD


def test_the_way_back_is_noted_on_the_dgd_before_the_scale_down_and_removed_after_the_scale_back():
    api = FakeApi(replicas=2)
    seen: list[tuple[str | None, int]] = []

    async def note(value):
        seen.append((value, api.spec))
    out = po.PlaneOutage(api, config(etcd="statefulset/etcd").kubernetes, lambda *a, **k: None, note)
    out.poll_s = 0.0
    _, _, ev = evidence(out)
    asyncio.run(out.bring_back([ev], 5))
    assert seen == [(po.restore_note("statefulset/etcd", 2), 2), (None, 2)]  # noted while still at 2


def test_the_reaper_scales_back_what_an_unfinished_outage_left_at_zero():
    from runner.platforms.kubernetes import reaper

    api = FakeApi(replicas=0)
    dgds = [{"metadata": {"name": "a", "annotations": {po.RESTORE_ANNOTATION: po.restore_note("statefulset/etcd", 3)}}},
            {"metadata": {"name": "b", "annotations": {po.RESTORE_ANNOTATION: "not json"}}},
            {"metadata": {"name": "c"}}]
    assert po.restores_due(dgds) == [("statefulset/etcd", 3)]
    reaper.scale_back(api, dgds)
    assert api.patches == [3]
    reaper.scale_back(api, dgds[1:])
    assert api.patches == [3]  # nothing noted: nothing touched


def test_a_scenario_file_with_an_outage_step_is_wired_and_checked_as_a_catalog_outage_is():
    from runner.core.timeline import Timeline
    from runner.scenarios.plan import plan_timeline

    timeline = Timeline.model_validate({"name": "kill-then-etcd", "deployment": "mocker-agg-tp-1-dp-1", "steps": [
        {"load": "start"}, {"wait": "first_success"}, {"fault": "decode_worker"}, {"wait": "recovered"},
        {"fault": "etcd_outage"}]})
    unnamed = plan_timeline(timeline, config())
    assert po.outage_roles(unnamed) == ["etcd"] and unnamed.entry.fault_kind != "outage"
    with pytest.raises(UserError, match="kubernetes.outage_targets.etcd"):
        po.preflight(FakeApi(), config().kubernetes, [unnamed])
    named = plan_timeline(timeline, config(etcd="statefulset/etcd"))
    assert plane_env(named)["ETCD_ENDPOINTS"] == "http://etcd.ns1.svc:2379"
    assert po.outage_roles(plan("mocker-agg-tp-1-dp-1-decode_worker", config())) == []


def test_a_scale_down_whose_answer_was_lost_is_scaled_back_before_the_error_goes_up():
    api = FakeApi(replicas=2)
    real = api.patch_scale

    def applied_then_lost(workload, replicas, dry_run=False):
        real(workload, replicas, dry_run)
        if replicas == 0:
            raise PlatformError("patch statefulsets/scale etcd failed: connection reset")
        return {}
    api.patch_scale = applied_then_lost
    with pytest.raises(PlatformError, match="connection reset"):
        asyncio.run(outage(api).take_down(["statefulset/etcd"]))
    assert api.patches == [0, 2] and api.spec == 2
