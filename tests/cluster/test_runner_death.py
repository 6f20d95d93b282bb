"""However the runner dies, its DGDs are gone within 60 s (DESIGN §3.11).

The DGD is owned by the runner's Pod (garbage-collected when the Pod object goes: grace-0 delete,
Job deleted) and labelled with the Pod's UID for the reaper sidecar, which the kubelet stops once
the runner container ended in any way (SIGKILL, OOM), and which then deletes it. Each way is done
here to a runner that is waiting for its graph to become ready, with the DGD up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .chart_run import chart_values, dgds, helm_install, job_name, pods_of_job
from .conftest import CLUSTER_CACHE, REPO, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

LIMIT_S = 60
CONTAINERD_SOCK = Path("/run/ft-runner-cluster/containerd.sock")


def runner_waiting_for_its_graph(kube, namespace, runner_image, s3, bucket) -> tuple[str, dict, dict]:
    """Install the chart; return (job, runner pod, its DGD) once the DGD exists. The bucket is real: the
    runner checks it is writable before anything else and stops when it is not."""
    values = chart_values(runner_image, bucket[0], s3, "ft-s3", ["mocker-agg-tp-1-dp-1-none"],
                          config={"deployment": {"startup_timeout_s": 900}})
    proc = helm_install(namespace, values)
    assert proc.returncode == 0, proc.stderr
    job = job_name(kube, namespace)
    (dgd,) = wait_for("the runner's DGD", lambda: dgds(kube, namespace), 120)
    (pod,) = pods_of_job(kube, namespace, job)
    wait_for("the reaper to watch", lambda: "watching over pod" in kube.run(
        "logs", pod["metadata"]["name"], "-n", namespace, "-c", "reaper", check=False).stdout, 60)
    return job, pod, dgd


def seconds_until_gone(kube, namespace: str, dgd: dict, since: float) -> float:
    uid = dgd["metadata"]["uid"]
    wait_for(f"DGD {dgd['metadata']['name']} to be gone", lambda: uid not in
             {d["metadata"]["uid"] for d in dgds(kube, namespace)}, LIMIT_S + 30)
    return time.monotonic() - since


def record(way: str, seconds: float) -> None:
    out = REPO / "test-artifacts" / "cluster-measurements.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps({"what": f"runner death: {way} -> DGD gone", "seconds": round(seconds, 2)}) + "\n")


def test_pod_deleted_with_grace_0(kube, namespace, runner_image, dgd_crd, s3, s3_secret, bucket):
    _, pod, dgd = runner_waiting_for_its_graph(kube, namespace, runner_image, s3, bucket)
    start = time.monotonic()
    kube.run("delete", "pod", pod["metadata"]["name"], "-n", namespace, "--grace-period=0", "--force")
    took = seconds_until_gone(kube, namespace, dgd, start)
    record("pod deleted with grace 0", took)
    assert took <= LIMIT_S


def test_runner_process_killed_with_sigkill(kube, namespace, runner_image, dgd_crd, s3, s3_secret, bucket):
    if not CONTAINERD_SOCK.exists() or os.geteuid() != 0:
        pytest.skip("SIGKILL from the node needs the one-machine cluster's containerd and root")
    job, pod, dgd = runner_waiting_for_its_graph(kube, namespace, runner_image, s3, bucket)
    pid = runner_host_pid(kube, namespace, pod["metadata"]["name"])
    start = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    took = seconds_until_gone(kube, namespace, dgd, start)
    record("runner process SIGKILLed", took)
    assert took <= LIMIT_S
    runner = container_status(kube, namespace, pod["metadata"]["name"], "runner")
    assert runner["state"]["terminated"]["exitCode"] == 137  # it really was the kill
    log = kube.run("logs", pod["metadata"]["name"], "-n", namespace, "-c", "reaper", check=False).stdout
    assert f"deleting DynamoGraphDeployment {dgd['metadata']['name']}" in log


def test_job_deleted(kube, namespace, runner_image, dgd_crd, s3, s3_secret, bucket):
    job, _, dgd = runner_waiting_for_its_graph(kube, namespace, runner_image, s3, bucket)
    start = time.monotonic()
    kube.run("delete", "job", job, "-n", namespace, "--wait=false")
    took = seconds_until_gone(kube, namespace, dgd, start)
    record("Job deleted", took)
    assert took <= LIMIT_S


def container_status(kube, namespace: str, pod: str, name: str) -> dict:
    statuses = kube.json("get", "pod", pod, "-n", namespace)["status"]
    return next(s for s in statuses.get("containerStatuses", []) + statuses.get("initContainerStatuses", [])
                if s["name"] == name)


def runner_host_pid(kube, namespace: str, pod: str) -> int:
    container_id = container_status(kube, namespace, pod, "runner")["containerID"].split("://", 1)[1]
    ctr = sorted(CLUSTER_CACHE.glob("containerd-*/ctr"))[-1]
    out = subprocess.run([str(ctr), "--address", str(CONTAINERD_SOCK), "-n", "k8s.io", "tasks", "ls"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines()[1:]:
        task, pid, *_ = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"no containerd task for the runner container {container_id}")
