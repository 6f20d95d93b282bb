"""The chart's Job in a real cluster: accepted objects, real RBAC, a run that talks to the API
server with its token and uploads to the in-cluster S3, and results downloaded back with sha256s.

Without the Dynamo operator (tests/cluster/test_cluster_mocker.py needs it) a DGD never becomes
pods, so each scenario here ends ERROR at its startup bound, after the runner created, watched and
deleted its DGD: that is the part of a run this tier proves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .chart_run import (
    STARTUP_TIMEOUT_S,
    bucket_keys,
    chart_values,
    dgds,
    download,
    helm_install,
    job_name,
    pods_of_job,
    run_ids,
    runner_log,
    summary_of,
    wait_job,
)
from .conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

SCENARIO = "mocker-agg-tp-1-dp-1-none"


def test_helm_install_is_refused_by_the_schema_before_anything_is_created(kube, namespace, runner_image, s3):
    values = chart_values(runner_image, "b", s3, "ft-s3", [SCENARIO], parallelism=0)
    proc = helm_install(namespace, values)
    assert proc.returncode != 0
    assert "parallelism" in proc.stderr
    assert kube.json("get", "all,configmap,role", "-n", namespace, "-l", "app.kubernetes.io/instance=ft")["items"] == []


def test_job_runs_in_cluster_uploads_and_downloads(kube, namespace, runner_image, dgd_crd, bucket, s3, s3_secret,
                                                   tmp_path: Path):
    name, client = bucket
    proc = helm_install(namespace, chart_values(runner_image, name, s3, s3_secret, [SCENARIO]))
    assert proc.returncode == 0, proc.stderr
    for kind in ("serviceaccount", "role", "rolebinding", "configmap", "job"):
        assert kube.json("get", kind, "-n", namespace, "-l", "app.kubernetes.io/instance=ft")["items"], kind
    job = job_name(kube, namespace)

    # the runner creates its DGD, owned by its own pod and labelled for the reaper
    created = wait_for("the runner's DGD", lambda: dgds(kube, namespace), 120)
    (pod,) = pods_of_job(kube, namespace, job)
    owner = created[0]["metadata"]["ownerReferences"]
    assert owner == [{"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                      "uid": pod["metadata"]["uid"], "controller": False}]
    assert created[0]["metadata"]["labels"]["dynamo-ft-runner/runner-pod-uid"] == pod["metadata"]["uid"]
    # a plain pod carrying the graph's label: the runner's watches see it and the kubelet's real events
    dgd = created[0]["metadata"]["name"]
    kube.apply(labelled_pod(f"{dgd}-watched", dgd, runner_image), namespace)

    assert wait_job(kube, namespace, job, timeout=STARTUP_TIMEOUT_S + 240) == "Failed"  # ERROR: no operator
    assert dgds(kube, namespace) == []  # the runner deleted its DGD at teardown
    pod = kube.json("get", "pod", pod["metadata"]["name"], "-n", namespace)
    log = runner_log(kube, namespace, pod["metadata"]["name"])
    runner_state = next(s for s in pod["status"]["containerStatuses"] if s["name"] == "runner")
    assert runner_state["state"]["terminated"]["exitCode"] == 1, log  # a scenario ERROR, upload complete

    (run_id,) = run_ids(bucket_keys(client, name))
    assert run_id.startswith(job[:28].rstrip("-"))
    got = download(run_id, name, s3, tmp_path)
    assert got.returncode == 0, got.stderr
    tree = tmp_path / run_id / SCENARIO
    summary = summary_of(tree)
    assert summary["verdict"] == "ERROR"
    assert f"{STARTUP_TIMEOUT_S}" in json.dumps(summary)  # not ready within the startup bound
    events = [json.loads(line) for line in (tree / "events.jsonl").read_text().splitlines() if line]
    seen = {(e.get("source"), e.get("reason")) for e in events}
    assert ("runner", "DeploymentCreated") in seen
    assert {("kubernetes", "Scheduled"), ("kubernetes", "Started")} <= seen, sorted(seen)


def labelled_pod(name: str, dgd: str, image: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"nvidia.com/dynamo-graph-deployment-name": dgd}},
        "spec": {
            "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never",
                            "command": ["python", "-c", "import time; time.sleep(120)"]}],
        },
    }


def test_runner_pod_is_non_root_with_a_read_only_root(kube, namespace, runner_image, dgd_crd, bucket, s3, s3_secret):
    name, _ = bucket
    values = chart_values(runner_image, name, s3, s3_secret, [SCENARIO],
                          config={"deployment": {"startup_timeout_s": 120}})
    assert helm_install(namespace, values).returncode == 0
    job = job_name(kube, namespace)
    wait_for("the runner's DGD", lambda: dgds(kube, namespace), 120)
    (pod,) = pods_of_job(kube, namespace, job)
    pod_name = pod["metadata"]["name"]
    probe = ("import os; print(os.getuid(), os.getgid());"
             "open('/probe', 'w')")
    proc = kube.run("exec", pod_name, "-n", namespace, "-c", "runner", "--", "python", "-c", probe, check=False)
    assert proc.stdout.split() == ["10001", "10001"]
    assert "Read-only file system" in proc.stderr
    caps = kube.run("exec", pod_name, "-n", namespace, "-c", "runner", "--", "python", "-c",
                    "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1])").stdout
    assert int(caps, 16) == 0


RUNNER_CALLS = {
    ("create", "dynamographdeployments.nvidia.com"), ("get", "dynamographdeployments.nvidia.com"),
    ("list", "dynamographdeployments.nvidia.com"), ("delete", "dynamographdeployments.nvidia.com"),
    ("patch", "dynamographdeployments.nvidia.com"),  # the rollout and scale faults
    ("get", "pods"), ("list", "pods"), ("watch", "pods"), ("delete", "pods"),
    ("create", "pods/exec"), ("get", "pods/log"), ("list", "events"), ("watch", "events"),
}
REFUSED = [
    ("get", "secrets"), ("list", "secrets"), ("create", "pods"),
    ("update", "dynamographdeployments.nvidia.com"), ("create", "pods/portforward"), ("get", "pods/proxy"),
    ("create", "services"), ("get", "configmaps"), ("create", "jobs.batch"), ("create", "rolebindings"),
    ("create", "serviceaccounts/token"),
]


def test_rbac_grants_exactly_the_runners_calls(kube, namespace, runner_image, s3):
    values = chart_values(runner_image, "unused", s3, "ft-s3", [SCENARIO])
    proc = helm_install(namespace, {**values, "schedule": "0 3 * * *"})  # a CronJob: nothing runs now
    assert proc.returncode == 0, proc.stderr
    sa = kube.json("get", "serviceaccount", "-n", namespace, "-l", "app.kubernetes.io/instance=ft")["items"][0]
    who = f"system:serviceaccount:{namespace}:{sa['metadata']['name']}"
    for verb, resource in sorted(RUNNER_CALLS):
        assert kube.can_i(who, verb, resource, namespace), f"{verb} {resource} should be allowed"
    for verb, resource in REFUSED:
        assert not kube.can_i(who, verb, resource, namespace), f"{verb} {resource} should be refused"
    for verb, resource in sorted(RUNNER_CALLS):
        assert not kube.can_i(who, verb, resource, "default"), f"{verb} {resource} in another namespace"
    for verb, resource in [("list", "nodes"), ("list", "namespaces"), ("create", "namespaces"),
                           ("list", "customresourcedefinitions.apiextensions.k8s.io"),
                           ("create", "clusterrolebindings")]:
        assert not kube.can_i(who, verb, resource, None), f"{verb} {resource} (cluster scope)"
