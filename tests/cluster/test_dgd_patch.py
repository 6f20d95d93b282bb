"""The rollout and scale faults' DGD patches against the real API server with the real DGD CRD (its schema
validation, CEL rules and JSON-patch handling are the API server's own), and the runner's bounded wait for
the pods when no operator acts on the patch (this cluster has no Dynamo operator: issue 10).

Only v1beta1 is exercised here: the CRD serves v1alpha1 through the operator's conversion webhook, which is
not running. With an operator in the cluster, the last test runs a scale-down and a rolling upgrade for real.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from runner import faults
from runner.core.config import FaultConfig, RunConfig
from runner.core.errors import UserError
from runner.platforms.kubernetes import scaling
from runner.platforms.kubernetes.api import KubeApi, load_client
from runner.platforms.kubernetes.deployment import make_platform
from runner.render.dgd import render_dgd, roles_of
from runner.scenarios.plan import plan

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

SCENARIO = "mocker-agg-tp-1-dp-2-decode_worker_scale_down"
BOUND_S = 5.0


def _config(namespace: str, run_id: str) -> RunConfig:
    return RunConfig(platform="kubernetes", run_id=run_id,
                     kubernetes={"namespace": namespace, "api_version": "v1beta1", "poll_interval_s": 0.2,
                                 "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"})


def _components(dgd: dict) -> dict[str, dict]:
    return {c["name"]: c for c in dgd["spec"]["components"]}


def test_the_api_server_accepts_the_patches_and_the_spec_reads_back_as_intended(kube, namespace, dgd_crd):
    config = _config(namespace, "patch")
    manifest = render_dgd(plan(SCENARIO, config), run_id="patch")
    api = KubeApi(load_client(), namespace)
    created = api.create_dgd(dgd_crd, manifest)
    name = created["metadata"]["name"]
    decode = roles_of(created)["decode"][0].name

    scaled = api.patch_dgd(dgd_crd, name, *_args(scaling.replicas_patch(created, decode, 1)))
    read = kube.json("get", "dynamographdeployments.nvidia.com", name, "-n", namespace)
    assert scaling.component_replicas(read, decode) == 1 == scaling.component_replicas(scaled, decode)
    assert read["metadata"]["generation"] == created["metadata"]["generation"] + 1
    untouched = {k: v for k, v in _components(created).items() if k != decode}
    assert {k: v for k, v in _components(read).items() if k != decode} == untouched

    rolled = api.patch_dgd(dgd_crd, name, *_args(scaling.roll_patch(read, decode, "t1", "surge")))
    again = api.patch_dgd(dgd_crd, name, *_args(scaling.roll_patch(rolled, decode, "t2", "replace")))
    read = kube.json("get", "dynamographdeployments.nvidia.com", name, "-n", namespace)
    meta = _components(read)[decode]["podTemplate"]["metadata"]
    assert scaling.rolled_to(read, decode) == "t2" == scaling.rolled_to(again, decode)
    assert meta["annotations"] == {scaling.ROLL_ANNOTATION: "t2", scaling.MAX_SURGE: "0", scaling.MAX_UNAVAILABLE: "1"}
    assert meta["labels"] == _components(created)[decode]["podTemplate"]["metadata"]["labels"]
    assert _components(read)[decode]["podTemplate"]["spec"] == _components(created)[decode]["podTemplate"]["spec"]
    assert read["metadata"]["generation"] == created["metadata"]["generation"] + 3


def test_the_api_server_refuses_what_the_crd_or_the_guard_forbids(kube, namespace, dgd_crd):
    config = _config(namespace, "refuse")
    created = KubeApi(load_client(), namespace).create_dgd(dgd_crd, render_dgd(plan(SCENARIO, config), run_id="refuse"))
    api = KubeApi(load_client(), namespace)
    name, decode = created["metadata"]["name"], roles_of(created)["decode"][0].name
    i = [c["name"] for c in created["spec"]["components"]].index(decode)
    negative = [{"op": "replace", "path": f"/spec/components/{i}/replicas", "value": -1}]
    with pytest.raises(UserError, match="rejected .*replicas"):  # the CRD's minimum: 0, validated by the server
        api.patch_dgd(dgd_crd, name, negative, scaling.JSON_PATCH)
    stale = scaling.replicas_patch(created, decode, 3).body
    stale[0]["value"] = "not-this-component"  # what a reordered list would make the guard see
    with pytest.raises(UserError, match="rejected"):
        api.patch_dgd(dgd_crd, name, stale, scaling.JSON_PATCH)
    read = kube.json("get", "dynamographdeployments.nvidia.com", name, "-n", namespace)
    assert scaling.component_replicas(read, decode) == 2 and read["metadata"]["generation"] == 1


def test_without_the_operator_each_wait_ends_at_its_bound_naming_the_missing_operator(kube, namespace, dgd_crd,
                                                                                        tmp_path):
    config = _config(namespace, "noop")
    scenario = plan(SCENARIO, config)
    rollout = faults.get("decode_worker_rolling_upgrade")

    async def main():
        dep = await make_platform(config).deploy(scenario, tmp_path / "noop" / SCENARIO)
        try:
            timings = {}
            started = time.monotonic()
            up = await dep.start_replicas("decode", 1, BOUND_S)
            timings["scale_up_s"] = time.monotonic() - started
            started = time.monotonic()
            steps = await rollout.verify(dep, [{"target": "never-made"}], BOUND_S, FaultConfig())
            timings["roll_s"] = time.monotonic() - started
            read = await asyncio.to_thread(dep.api.get_dgd, dep.version, dep.name)
            return dep.name, up, steps, read, timings
        finally:
            await dep.teardown(60)

    name, (up,), (step,), read, timings = asyncio.run(main())
    print(json.dumps(timings))
    for took in timings.values():
        assert BOUND_S <= took < BOUND_S + 10  # ends at its bound, does not hang
    assert not up["took_effect"] and "no new pod of decode appeared within 5 s" in up["detail"]
    assert "status.observedGeneration is unset, so no Dynamo operator acted on it" in up["detail"]
    assert not step["took_effect"] and "no Dynamo operator acted on it" in step["detail"]
    assert "the DGD is at generation 3" in step["detail"]  # both patches reached the API server
    decode = roles_of(read)["decode"][0].name
    assert scaling.component_replicas(read, decode) == 3 and scaling.rolled_to(read, decode).startswith(name)
    assert not kube.exists("dynamographdeployments.nvidia.com", name, namespace)  # torn down


def _args(patch: scaling.Patch):
    return patch.body, patch.content_type


# ---------------------------------------------------------------- with a Dynamo operator (skipped without one)


def _operator_running(kube) -> bool:
    deployments = kube.json("get", "deployments", "--all-namespaces")["items"]
    return any("dynamo-operator" in d["metadata"]["name"] for d in deployments)


@pytest.mark.timeout(1800)
def test_with_the_operator_a_scale_down_and_a_rollout_are_seen_in_the_pods(kube, tmp_path):
    if not _operator_running(kube):
        pytest.skip("no Dynamo operator Deployment in this cluster (issue 10): the pods never change")
    namespace = os.environ.get("FT_CLUSTER_NAMESPACE", "ft-runner-test")
    config = _config(namespace, f"op{time.strftime('%H%M%S')}")
    scenario = plan(SCENARIO, config)
    scale, roll = faults.get("decode_worker_scale_down"), faults.get("decode_worker_rolling_upgrade")

    async def main():
        dep = await make_platform(config).deploy(scenario, tmp_path / config.run_id / SCENARIO)
        try:
            await dep.wait_ready(900)
            decode = dep.replicas("decode")
            before = await dep.snapshot("decode", decode[:1])
            stamps = await scale.inject(dep, decode[:1])
            removed = await scale.check(dep, before, stamps, FaultConfig())
            back = await dep.start_replicas("decode", 1, 600)
            olds = dep.replicas("decode")
            steps = await roll.verify(dep, [{"target": n} for n in olds], 600, FaultConfig())
            return decode, removed, back, olds, steps
        finally:
            await dep.teardown(600)

    decode, (removed,), (back,), olds, steps = asyncio.run(main())
    assert removed["took_effect"] and removed["removed_pod"] in decode, removed["detail"]
    assert back["took_effect"], back["detail"]
    assert all(s["took_effect"] for s in steps) and not {s["replacement"] for s in steps} & set(olds), steps
