"""The overload and cancel-storm faults on a real cluster: the runner's own fault step (snapshot, inject,
check, restore) through the Kubernetes platform, against a real Dynamo 1.6.1 frontend and mocker.

No operator here turns a DGD into pods, so the test creates the DGD the scenario renders (the real API
server, the real CRD) and then one plain pod carrying the labels the operator would give the frontend's
pod, owned by the DGD: its main container runs the frontend's command line from the rendered DGD (for
the overload scenario with --active-decode-blocks-threshold), a second container the rendered decode
worker's (the mocker with the small KV cache), discovering each other through a shared directory (the
file backend) instead of the operator's Kubernetes discovery. The runner reaches the pod on its IP, as
in the cluster (`kubernetes.access: service`); this one-machine cluster's host reaches pod IPs too.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from .conftest import image_on_node
from .stand_ins import deploy_dgd, fault_step, record, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

OVERLOAD, STORM = "mocker-agg-tp-1-dp-1-overload", "mocker-agg-tp-1-dp-1-cancel_storm"
MODEL_DIR = "/models/tiny-llm"  # in the mocker image
FILE_DISCOVERY = [{"name": "DYN_DISCOVERY_BACKEND", "value": "file"}, {"name": "DYN_FILE_KV", "value": "/kv"}]
HARDENED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
LOAD_RATE_S, LOAD_AFTER, LOAD_MAX, LOAD_MAX_S = 0.5, 20, 600, 240  # the load beside the ramp, bounded


@pytest.fixture(scope="module")
def dynamo_image() -> str:
    return image_on_node("FT_CLUSTER_DYNAMO_IMAGE", "dynamo-image.sh")


def run_config(namespace: str, tmp_path: Path, dynamo_image: str, access: str = "service"):
    from runner.core.config import RunConfig

    return RunConfig.model_validate({
        "platform": "kubernetes", "run_id": "frontfault", "output": str(tmp_path),
        "kubernetes": {"namespace": namespace, "image": dynamo_image, "runtime_version_override": "1.6.1",
                       "mocker_model": MODEL_DIR, "access": access, "poll_interval_s": 0.5},
        "fault": {"overload": {"step_s": 2, "hold_s": 4}, "verify_timeout_s": 120},
    })


def rendered_container(manifest: dict, component: str) -> dict:
    (comp,) = [c for c in manifest["spec"]["components"] if c["name"] == component]
    return comp["podTemplate"]["spec"]["containers"][0]


def graph_pod(deployment, image: str, owner: dict) -> dict:
    """The frontend pod as the operator would label it, running the rendered frontend and decode worker."""
    from runner.platforms.kubernetes.decide import COMPONENT_LABEL, GRAPH_LABEL

    decode = next(c for c, role in deployment.component_roles.items() if role == "decode")
    mounts = [{"name": "kv", "mountPath": "/kv"}, {"name": "tmp", "mountPath": "/tmp"}]

    def container(name: str, component: str, extra_env: list[dict]) -> dict:
        spec = rendered_container(deployment.manifest, component)
        return {"name": name, "image": image, "imagePullPolicy": "Never", "command": spec["command"],
                "args": spec["args"], "env": spec["env"] + FILE_DISCOVERY + extra_env, "securityContext": HARDENED,
                "volumeMounts": mounts}
    main = container("main", deployment.frontend_component, [])
    main["readinessProbe"] = {"httpGet": {"path": f"/v1/models/{deployment.scenario.model}/ready", "port": 8000},
                              "periodSeconds": 1}
    worker = container("mocker", decode, [{"name": "DYN_SYSTEM_PORT", "value": "9090"}])
    labels = {GRAPH_LABEL: deployment.name, COMPONENT_LABEL: deployment.frontend_component}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "frontend", "labels": labels,
                                                            "ownerReferences": [owner]},
            "spec": {"shareProcessNamespace": True, "terminationGracePeriodSeconds": 1,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                     "containers": [main, worker],
                     "volumes": [{"name": "kv", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}}


async def deploy_graph_pod(kube, namespace: str, config, scenario_name: str, image: str, tmp_path: Path):
    from runner.platforms.kubernetes import decide as d

    scenario, deployment, owner = await deploy_dgd(config, scenario_name, tmp_path)
    kube.apply(graph_pod(deployment, image, owner), namespace)

    def ready() -> bool:
        pod = deployment._pod("frontend")
        return bool(pod and d.pod_ready(pod) and deployment.replicas("frontend") == ["frontend"])
    await until("the frontend pod Ready (model listed) in the runner's view", ready, 300)
    return scenario, deployment


async def load_beside(base: str, model: str, observed, recovery_s: float) -> list:
    """The scenario's load, at 2 req/s until LOAD_AFTER requests started after the ramp's end plus the grace
    (bounded in count and time), one record per request."""
    from runner.platforms.frontend_load import one_request

    body = {"model": model, "messages": [{"role": "user", "content": "load"}], "max_tokens": 20, "stream": True}
    url, records, began = f"{base}/v1/chat/completions", [], time.monotonic()
    async with aiohttp.ClientSession() as session:
        while len(records) < LOAD_MAX and time.monotonic() - began < LOAD_MAX_S:
            tick = time.monotonic()
            records.append(await one_request(session, url, body, 30))
            ended = observed.evidence and observed.evidence[0].injected.get("ended_ns")
            if ended and sum(r.start_ns >= ended + recovery_s * 1e9 for r in records) >= LOAD_AFTER:
                break
            await asyncio.sleep(max(0.0, LOAD_RATE_S - (time.monotonic() - tick)))
    return records


def restarts(kube, namespace: str) -> dict[str, int]:
    pod = kube.json("get", "pod", "frontend", "-n", namespace)
    return {c["name"]: c["restartCount"] for c in pod["status"]["containerStatuses"]}


async def worker_inflight_zero(ip: str, timeout_s: float = 30) -> int | None:
    """When the mocker's own in-flight gauge (system port 9090) reads 0, polled every 0.05 s (bounded)."""
    end = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < end:
            async with session.get(f"http://{ip}:9090/metrics") as resp:
                text = await resp.text()
            values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                      if line.startswith("dynamo_component_inflight_requests") and " " in line]
            if values and sum(values) == 0:
                return time.time_ns()
            await asyncio.sleep(0.05)
    return None


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("access", ["service", "port-forward"])
def test_overload_sheds_as_529_counted_apart_and_the_load_succeeds_fully_after_the_ramp(kube, namespace, dgd_crd,
                                                                                       dynamo_image, tmp_path, access):
    from runner.results.load_faults import overload_result
    from runner.results.load_faults_checks import overload_checks

    config = run_config(namespace, tmp_path, dynamo_image, access)
    recovery_s = config.fault.overload.recovery_s

    async def scenario():
        sc, deployment = await deploy_graph_pod(kube, namespace, config, OVERLOAD, dynamo_image, tmp_path)
        try:
            observed = SimpleNamespace(fault=None, evidence=[])
            # the scenario's load, on the pod IP whatever the access mode (only the fault's path is under test)
            base = f"http://{deployment._pod('frontend')['status']['podIP']}:8000"
            load = asyncio.create_task(load_beside(base, sc.model, observed, recovery_s))
            await fault_step(sc, deployment, observed, target=0)
            records = await load
            return deployment.manifest, observed, records, deployment.restarts_observed(), restarts(kube, namespace)
        finally:
            await deployment.teardown(120)

    manifest, observed, records, restarted, containers = run(scenario())
    args = rendered_container(manifest, "Frontend")["args"]
    assert args[args.index("--active-decode-blocks-threshold") + 1] == "0.5"
    (ev,) = observed.evidence
    stamp = ev.injected
    assert stamp["access"] == {"service": "pod-ip", "port-forward": "port-forward"}[access]
    assert ev.took_effect and observed.fault.took_effect
    steps = stamp["steps"]
    shed = sum(s.get("overloaded_529", 0) + s.get("unavailable_503", 0) for s in steps)
    assert shed > 0 and stamp["first_shed_rate_per_s"] and steps[-1]["held"]
    assert not [s for s in steps if s.get("timeout") or s.get("connection")]  # shed fast, never timed out

    result = overload_result(observed.evidence, records, recovery_s)
    checks = {c.name: c.status for c in overload_checks(result)}
    assert checks == {"load shed as 529/503": "PASS", "no timeouts or lost connections": "PASS",
                      "full success after the ramp": "PASS"}, result.detail
    assert result.shed >= shed and result.hard_failures == 0
    assert result.after_ramp.requests >= LOAD_AFTER and result.after_ramp.failures == 0
    assert restarted == 0 and containers == {"main": 0, "mocker": 0}

    ended = stamp["ended_ns"]
    first_ok_after = min((r.end_ns for r in records if r.ok and r.start_ns >= ended), default=None)
    ramp = [json.loads(line) for line in Path(stamp["records"]).read_text().splitlines()]
    assert len(ramp) == sum(s["sent"] for s in steps)
    ok_s = sorted((r["end_ns"] - r["start_ns"]) / 1e9 for r in ramp if r["ok"])
    shed_s = sorted((r["end_ns"] - r["start_ns"]) / 1e9 for r in ramp if r["status"] in (529, 503))
    assert shed_s and shed_s[-1] < 5  # shedding answers at once
    via = stamp["access"]
    record(f"overload ({via}): ramp start -> end", (ended - stamp["injected_ns"]) / 1e9,
           first_shed_rate_per_s=stamp["first_shed_rate_per_s"], shed=shed, sent=len(ramp), steps=steps)
    record(f"overload ({via}): a ramp request served, median and slowest", ok_s[len(ok_s) // 2], slowest=ok_s[-1])
    record(f"overload ({via}): a ramp request shed, median and slowest", shed_s[len(shed_s) // 2], slowest=shed_s[-1])
    record(f"overload ({via}): ramp end -> the load's first success", None if first_ok_after is None
           else (first_ok_after - ended) / 1e9, load_shed=sum(1 for r in records if r.status in (529, 503)),
           load_failed=sum(1 for r in records if not r.ok), load_after_ramp=result.after_ramp.requests)


@pytest.mark.parametrize("access", ["service", "port-forward"])
def test_cancel_storm_drains_the_frontends_in_flight_to_zero_and_a_fresh_request_succeeds(kube, namespace, dgd_crd,
                                                                                         dynamo_image, tmp_path,
                                                                                         access):
    from runner.results.load_faults import cancel_storm_result
    from runner.results.load_faults_checks import cancel_storm_checks

    config = run_config(namespace, tmp_path, dynamo_image, access)

    async def scenario():
        sc, deployment = await deploy_graph_pod(kube, namespace, config, STORM, dynamo_image, tmp_path)
        try:
            observed = await fault_step(sc, deployment, target=0)
            # the test's own look at the worker, on its pod IP whatever the access mode
            worker = await worker_inflight_zero(deployment._pod("frontend")["status"]["podIP"])
            return observed, worker, deployment.restarts_observed(), restarts(kube, namespace)
        finally:
            await deployment.teardown(120)

    observed, worker_zero_ns, restarted, containers = run(scenario())
    (ev,) = observed.evidence
    stamp, after = ev.injected, ev.after
    streams = config.fault.cancel_storm.streams
    assert stamp["access"] == {"service": "pod-ip", "port-forward": "port-forward"}[access]
    assert (stamp["requested"], stamp["opened"], stamp["mid_stream"], stamp["cancelled"]) == (streams,) * 4
    assert stamp["inflight_before"] >= streams  # the frontend's own gauge saw them under way
    assert after["drained_ns"] and after["drained_ns"] > stamp["injected_ns"] and after["fresh_ok"]
    assert after["disconnected_clients"] == streams  # the frontend saw every cancel (no stream ran to its end)
    assert ev.took_effect and observed.fault.took_effect
    result = cancel_storm_result(observed.evidence)
    assert {c.name: c.status for c in cancel_storm_checks(result)} == {
        "in flight drained to 0": "PASS", "fresh request succeeded": "PASS"}
    assert restarted == 0 and containers == {"main": 0, "mocker": 0}
    assert worker_zero_ns  # the worker's own gauge back at 0 too (bounded wait)
    via = stamp["access"]
    record(f"cancel storm ({via}): cancel -> the frontend's in flight at 0", result.drained_after_s,
           streams=streams, inflight_before=stamp["inflight_before"], readings=after["readings"],
           disconnected_clients=after["disconnected_clients"])
    record(f"cancel storm ({via}): in flight at 0 -> a fresh request done",
           (after["fresh_ns"] - after["drained_ns"]) / 1e9)
    record(f"cancel storm ({via}): cancel -> the mocker's dynamo_component_inflight_requests at 0 (read after the "
           "fresh request)", (worker_zero_ns - stamp["injected_ns"]) / 1e9)
