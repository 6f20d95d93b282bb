"""The Kubernetes platform end to end against the HTTP fake API server (the real kubernetes client runs)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import yaml

from runner import faults
from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.scenarios.plan import plan
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes.deployment import make_platform

# every (verb, resource) the runner may use; the chart's Role is built from this list
DOCUMENTED_CALLS = {
    ("create", "dynamographdeployments"), ("get", "dynamographdeployments"), ("delete", "dynamographdeployments"),
    ("patch", "dynamographdeployments"),
    ("list", "pods"), ("watch", "pods"), ("get", "pods"), ("delete", "pods"),
    ("create", "pods/exec"), ("get", "pods/log"), ("watch", "events"), ("list", "events"), ("get", "jobs"),
    ("create", "pods/portforward"), ("get", "pods/proxy"),
}


def _config(**fault) -> RunConfig:
    return RunConfig(
        platform="kubernetes", run_id="t1",
        kubernetes={"namespace": "ft", "access": "port-forward", "poll_interval_s": 0.05, "metrics_interval_s": 0.2,
                    "zombie_settle_s": 1.0},
        fault={"pod_delete_grace_period_s": 0, **fault},
    )


async def _deploy(name: str, tree, config=None):
    config = config or _config()
    scenario = plan(name, config)
    deployment = await make_platform(config).deploy(scenario, tree)
    await deployment.wait_ready(20)
    return scenario, deployment


def _events(tree) -> list[dict]:
    return [json.loads(line) for line in (tree / "events.jsonl").read_text().splitlines()]


def test_pod_delete_lifecycle_with_evidence_and_result_tree(fake_cluster, tmp_path):
    server = fake_cluster()
    tree = tmp_path / "t1" / "scenario"

    async def main():
        scenario, dep = await _deploy("mocker-agg-tp-1-dp-2-decode_worker_pod", tree)
        assert dep.endpoints[0].startswith("http://127.0.0.1:")
        decode = dep.replicas("decode")
        assert len(decode) == 2 and len(dep.replicas("frontend")) == 2
        await dep.start_observing(tree)
        before = await dep.snapshot("decode", decode[:1])
        stamps = await faults.get("decode_worker_pod").inject(dep, decode[:1])
        after = await faults.get("decode_worker_pod").verify(dep, before, 20)
        count = await dep.frontend_request_count()
        await dep.stop_observing()
        await dep.collect(tree)
        await dep.teardown(10)
        return dep, decode, before, stamps, after, count

    dep, decode, before, stamps, after, count = asyncio.run(main())
    (a,) = after
    assert a["took_effect"], a["detail"]
    assert a["target"] == decode[0] and stamps[0]["action"] == "delete pod (grace 0 s)"
    assert stamps[0]["injected_ns"] <= a["gone_ns"] <= a["ready_ns"]
    assert a["replacement"] not in decode and a["replacement"].startswith(dep.name)
    assert f"UID {before[0]['uid']} gone" in a["detail"]
    # a force delete: the object goes first, the kubelet stops the container later, and both are recorded
    stopped = a["after"]
    assert stopped["grace_period_s"] == 0 and stopped["killing_event"]["message"] == "Stopping container main"
    assert a["gone_ns"] < stopped["container_stopped_ns"] == stopped["killing_event"]["runner_ns"]
    assert "kubelet stopped the container (Stopping container main)" in a["detail"]
    assert count is not None and count >= 1  # the probe request went through the runner's port-forward
    assert server.dgds == {} and server.pods == {}
    assert set(server.requests) <= DOCUMENTED_CALLS

    events = _events(tree)
    reasons = [e["reason"] for e in events]
    assert reasons[0] == "DeploymentCreated" and "FaultInjected" in reasons and "TornDown" in reasons
    killing = [e for e in events if e["reason"] == "Killing"]
    assert killing and killing[0]["source"] == "kubernetes" and killing[0]["server_time"]
    assert killing[0]["time_ns"] >= stamps[0]["injected_ns"]

    pod_yaml = yaml.safe_load((tree / "decode" / f"{decode[0]}.yaml").read_text())
    assert pod_yaml["gone_ns"] == a["gone_ns"]
    assert [h["ready"] for h in pod_yaml["status_history"]][-1] is True
    assert (tree / "decode" / f"{a['replacement']}.yaml").exists()
    assert "dynamo_frontend_requests_total" in next((tree / "Frontend").glob("*.metrics.log")).read_text()
    assert "started dynamo.ftfake" in (tree / "decode" / f"{decode[1]}.log").read_text()
    dgd = yaml.safe_load((tree / "DynamoGraphDeployment" / f"{dep.name}.yaml").read_text())
    assert dgd["applied"]["metadata"]["labels"]["dynamo-ft-runner/run-id"] == "t1"
    assert dgd["status_history"][-1]["status"]["state"] == "successful"


def test_a_graceful_pod_delete_sees_the_container_terminated_before_the_object_goes(fake_cluster, tmp_path):
    fake_cluster()
    tree = tmp_path / "t1" / "s"

    async def main():
        _, dep = await _deploy("mocker-agg-tp-1-dp-2-decode_worker_pod", tree, _config(pod_delete_grace_period_s=5))
        target = dep.replicas("decode")[:1]
        before = await dep.snapshot("decode", target)
        await faults.get("decode_worker_pod").inject(dep, target)
        after = await faults.get("decode_worker_pod").verify(dep, before, 20)
        await dep.teardown(10)
        return after

    (a,) = asyncio.run(main())
    assert a["took_effect"], a["detail"]
    stopped = a["after"]
    assert stopped["container_terminated_ns"] and stopped["container_terminated_ns"] <= a["gone_ns"]
    assert stopped["killing_event"] and a["ready_ns"]


def test_sigkill_of_the_worker_process_restarts_the_container(fake_cluster, tmp_path):
    fake_cluster()
    tree = tmp_path / "t1" / "s"

    async def main():
        _, dep = await _deploy("mocker-agg-tp-1-dp-1-decode_worker", tree)
        await dep.start_observing(tree)
        (target,) = dep.replicas("decode")
        before = await dep.snapshot("decode", [target])
        stamps = await faults.get("decode_worker").inject(dep, [target])
        after = await faults.get("decode_worker").verify(dep, before, 20)
        await dep.stop_observing()
        await dep.collect(tree)
        await dep.teardown(10)
        return target, before, stamps, after

    target, before, stamps, after = asyncio.run(main())
    (proc,) = before[0]["before"]["processes"]
    assert proc["pid"] != 1 and "dynamo.ftfake" in proc["cmdline"]
    assert stamps[0]["signal"] == "SIGKILL" and stamps[0]["signal_results"] == {str(proc["pid"]): "sent"}
    (a,) = after
    assert a["took_effect"], a["detail"]
    assert before[0]["before"]["restart_count"] == 0
    assert a["after"]["restart_count"] == 1 and a["after"]["last_state"]["terminated"]["exitCode"] == 137
    assert a["ready_ns"] and a["gone_ns"] <= a["ready_ns"]
    assert "restartCount 0 -> 1" in a["detail"]
    assert (tree / "decode" / f"{target}.previous.log").read_text().count("started") == 1


def test_engine_core_kill_takes_the_worker_down_and_it_restarts(fake_cluster, tmp_path):
    fake_cluster(engine_title="VLLM::EngineCore", engine_mode="exit", model="Qwen/Qwen3-0.6B")
    tree = tmp_path / "t1" / "s"

    async def main():
        _, dep = await _deploy("vllm-agg-tp-1-dp-1-vllm_decode_engine_core", tree)
        (target,) = dep.replicas("decode")
        before = await dep.snapshot("decode", [target], faults.get("vllm_decode_engine_core").processes)
        await faults.get("vllm_decode_engine_core").inject(dep, [target])
        after = await faults.get("vllm_decode_engine_core").verify(dep, before, 20)
        await dep.teardown(10)
        return before, after

    before, after = asyncio.run(main())
    assert [p["cmdline"].split()[-1] for p in before[0]["before"]["processes"]] == ["VLLM::EngineCore"]
    assert after[0]["took_effect"] and after[0]["after"]["restart_count"] == 1, after[0]["detail"]


def test_sglang_scheduler_kill_leaves_a_zombie_and_no_restart(fake_cluster, tmp_path):
    fake_cluster(engine_title="sglang::scheduler_TP0", engine_mode="hang", model="Qwen/Qwen3-0.6B")
    tree = tmp_path / "t1" / "s"

    async def main():
        _, dep = await _deploy("sglang-agg-tp-1-dp-1-sglang_decode_scheduler", tree)
        (target,) = dep.replicas("decode")
        before = await dep.snapshot("decode", [target], faults.get("sglang_decode_scheduler").processes)
        await faults.get("sglang_decode_scheduler").inject(dep, [target])
        started = time.monotonic()
        after = await faults.get("sglang_decode_scheduler").verify(dep, before, 20)
        elapsed = time.monotonic() - started
        await dep.teardown(10)
        return after, elapsed

    (a,), elapsed = asyncio.run(main())
    assert a["took_effect"], a["detail"]
    assert a["after"]["pids_zombie"] and a["ready_ns"] is None and a["after"]["restart_count"] == 0
    assert "zombie" in a["detail"] and "did not restart" in a["detail"]
    assert elapsed < 10  # judged as soon as the zombie was seen, not at the timeout


def test_a_fault_that_finds_no_process_does_not_take_effect(fake_cluster, tmp_path):
    fake_cluster(engine_title="VLLM::EngineCore", model="Qwen/Qwen3-0.6B")  # not a TRT-LLM rank
    tree = tmp_path / "t1" / "s"

    async def main():
        _, dep = await _deploy("trtllm-agg-tp-1-dp-1-trtllm_decode_engine_core", tree)
        (target,) = dep.replicas("decode")
        before = await dep.snapshot("decode", [target], faults.get("trtllm_decode_engine_core").processes)
        stamps = await faults.get("trtllm_decode_engine_core").inject(dep, [target])
        after = await faults.get("trtllm_decode_engine_core").verify(dep, before, 5)
        await dep.teardown(10)
        return stamps, after

    stamps, after = asyncio.run(main())
    assert stamps[0]["pids"] == []
    assert after[0]["took_effect"] is False
    assert "no process matching ['mpi4py.futures.server', 'TRTLLM:EngineCore']" in after[0]["detail"]


def test_forbidden_create_is_a_user_error_naming_the_right(fake_cluster, tmp_path):
    fake_cluster(allowed={("get", "dynamographdeployments")})
    config = _config()
    with pytest.raises(UserError, match=r"forbidden: create dynamographdeployments.nvidia.com/v1beta1 in namespace ft"):
        asyncio.run(make_platform(config).deploy(plan("mocker-agg-tp-1-dp-1-none", config), tmp_path / "r" / "s"))


def test_preflight_refuses_a_namespace_too_long_for_the_operators_label_before_any_api_call(fake_cluster):
    server = fake_cluster(namespace="n" * 43)
    config = RunConfig(platform="kubernetes", run_id="t1", kubernetes={"namespace": "n" * 43})
    with pytest.raises(UserError, match="use a namespace of at most 42 characters"):
        make_platform(config).preflight([plan("mocker-agg-tp-1-dp-1-none", config)])
    assert server.requests == []


def test_unreachable_api_server_is_a_user_error(fake_cluster, tmp_path, monkeypatch):
    import socket

    server = fake_cluster()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    config = server.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{dead}"
    path = tmp_path / "dead-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    cfg = _config()
    with pytest.raises(UserError, match="cannot reach the Kubernetes API server at http://127.0.0.1"):
        make_platform(cfg).preflight([plan("mocker-agg-tp-1-dp-1-none", cfg)])


def test_teardown_is_bounded_and_names_the_finalizer(fake_cluster, tmp_path):
    fake_cluster(hold_finalizer=True)
    tree = tmp_path / "t1" / "s"

    async def main():
        _, dep = await _deploy("mocker-agg-tp-1-dp-1-none", tree)
        started = time.monotonic()
        with pytest.raises(PlatformError, match="finalizers nvidia.com/finalizer hold it"):
            await dep.teardown(0.5)
        return time.monotonic() - started

    assert asyncio.run(main()) < 5




def test_a_failed_dgd_ends_the_readiness_wait_with_the_operators_message(fake_cluster, tmp_path):
    message = ('DynamoComponentDeployment.nvidia.com "x" is invalid: metadata.labels: Invalid value: '
               '"a-very-long-namespace-x": must be no more than 63 characters')
    fake_cluster(fail_dgd=message)
    config = _config()

    async def main():
        dep = await make_platform(config).deploy(plan("mocker-agg-tp-1-dp-1-none", config), tmp_path / "t1" / "s")
        started = time.monotonic()
        try:
            with pytest.raises(PlatformError) as caught:
                await dep.wait_ready(600)
        finally:
            await dep.teardown(10)
        return caught.value, time.monotonic() - started

    error, elapsed = asyncio.run(main())
    assert elapsed < 10  # not the startup timeout
    assert "failed (state failed, Ready False): ReconcileFailed: " + message in str(error)


def test_a_stall_stops_the_pods_main_process_through_exec_and_restore_continues_it(fake_cluster, tmp_path):
    from runner.core.config import FaultConfig
    from runner.faults.evidence import assemble

    fake_cluster()
    tree = tmp_path / "t1" / "s"
    stall = faults.get("decode_worker_stall")

    async def main():
        _, dep = await _deploy("mocker-agg-tp-1-dp-1-decode_worker_stall", tree)
        await dep.start_observing(tree)
        (target,) = dep.replicas("decode")
        before = await dep.snapshot("decode", [target], stall.processes)
        stamps = await stall.inject(dep, [target])
        after = await stall.verify(dep, before, 20)
        evidence = [assemble(b, s, a) for b, s, a in zip(before, stamps, after)]
        restored = await stall.restore(dep, evidence, FaultConfig(stall_s=0.5))
        await dep.stop_observing()
        await dep.teardown(10)
        return before, stamps, after, restored

    before, stamps, after, restored = asyncio.run(main())
    (proc,) = before[0]["before"]["processes"]
    assert stamps[0]["signal"] == "SIGSTOP" and stamps[0]["signal_results"] == {str(proc["pid"]): "sent"}
    assert after[0]["took_effect"] and after[0]["states"] == {proc["pid"]: "T"}, after
    assert restored[0]["took_effect"] and restored[0]["states"][proc["pid"]] in ("S", "R"), restored
