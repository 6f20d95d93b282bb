"""The Kubernetes platform against a real Dynamo operator (kind + Dynamo platform chart + mocker; no GPU).

Needs a cluster with the Dynamo operator running (the one-machine cluster has none: the operator's
Go module is not served by the module proxy, see docs/cluster-testing.md); skipped, saying so,
where no operator Deployment is found. Environment:
  FT_CLUSTER_NAMESPACE  namespace with the Dynamo operator watching it (default ft-runner-test)
  FT_CLUSTER_IMAGE      Dynamo runtime image (default: the runner's default for the mocker)
  FT_CLUSTER_MODEL      model the mocker reads tokenizer/config from (default Qwen/Qwen3-0.6B)
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("dynamo_operator"), pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def dynamo_operator(kube):
    deployments = kube.json("get", "deployments", "--all-namespaces")["items"]
    if not any("dynamo-operator" in d["metadata"]["name"] or
               (d["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "dynamo-operator"
               for d in deployments):
        pytest.skip("no Dynamo operator Deployment in this cluster: DGDs would never become pods")


def _config(run_id: str):
    from runner.core.config import RunConfig

    k8s = {"namespace": os.environ.get("FT_CLUSTER_NAMESPACE", "ft-runner-test"), "access": "auto"}
    if os.environ.get("FT_CLUSTER_IMAGE"):
        k8s["image"] = os.environ["FT_CLUSTER_IMAGE"]
    if os.environ.get("FT_CLUSTER_MODEL"):
        k8s["mocker_model"] = os.environ["FT_CLUSTER_MODEL"]
    return RunConfig(platform="kubernetes", run_id=run_id, kubernetes=k8s, fault={"pod_delete_grace_period_s": 0})


def _run(name: str, tmp_path, role: str, kind: str):
    from runner import faults
    from runner.platforms.kubernetes.deployment import make_platform
    from runner.scenarios.plan import plan

    config = _config(f"ct{time.strftime('%H%M%S')}")
    scenario = plan(name, config)
    tree = tmp_path / config.run_id / name

    async def main():
        platform = make_platform(config)
        platform.preflight([scenario])
        dep = await platform.deploy(scenario, tree)
        try:
            await dep.wait_ready(900)
            await dep.start_observing(tree)
            targets = dep.replicas(role)[:1]
            before = await dep.snapshot(role, targets)
            await faults.get(scenario.entry.failure).inject(dep, targets)
            after = await faults.get(scenario.entry.failure).verify(dep, before, 300)
            await dep.stop_observing()
            await dep.collect(tree)
            return after
        finally:
            await dep.teardown(600)

    return asyncio.run(main()), tree


@pytest.mark.parametrize("name", ["mocker-agg-tp-1-dp-2-decode_worker_pod", "mocker-agg-tp-1-dp-1-frontend_pod"])
def test_pod_delete_takes_effect_and_is_replaced(name, tmp_path):
    role = "frontend" if "frontend" in name else "decode"
    (after,), tree = _run(name, tmp_path, role, "pod")
    assert after["took_effect"], after["detail"]
    assert after["replacement"] and after["ready_ns"], after["detail"]
    assert (tree / "events.jsonl").stat().st_size > 0


@pytest.mark.parametrize("name, role", [("mocker-agg-tp-1-dp-1-decode_worker", "decode"),
                                        ("mocker-disagg-prefill-tp-1-decode-tp-1-dp-1-prefill_worker", "prefill"),
                                        ("mocker-agg-tp-1-dp-1-frontend", "frontend")])
def test_process_signal_is_real_and_the_container_restarts(name, role, tmp_path):
    (after,), tree = _run(name, tmp_path, role, "process")
    assert after["took_effect"], after["detail"]
    assert after["after"]["restart_count"] >= 1 and after["ready_ns"], after["detail"]
    pods = list((tree / ("Frontend" if role == "frontend" else role)).glob("*.previous.log"))
    assert pods, "the previous container's log was collected"
