"""`helm install` of the chart into a real cluster, and what the tests read back from its Job."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import yaml

from chart.helm import CHART, helm_binary  # tests/chart (pytest puts tests/ on sys.path)

from .conftest import REPO, Kube, wait_for

RELEASE = "ft"
# No operator here (that is the next tier): a DGD never becomes pods, so each scenario ends when
# this bound on deploy -> ready is reached, after the DGD was created, watched and deleted.
STARTUP_TIMEOUT_S = 12


def chart_values(image: str, bucket: str, s3: dict, secret: str, scenarios: list[str], **extra) -> dict:
    repository, tag = image.rsplit(":", 1)
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "s3Credentials": {"existingSecret": secret},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "terminationGracePeriodSeconds": 60,
        "config": {
            "scenarios": scenarios,
            "load": {"client": "legacy"},
            "deployment": {"startup_timeout_s": STARTUP_TIMEOUT_S, "teardown_timeout_s": 30},
            "kubernetes": {"image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"},
            "s3": {"bucket": bucket, "endpoint": s3["pod_endpoint"], "region": "us-east-1",
                   "addressing_style": "path"},
        },
    }
    return _merge(values, extra)


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def helm_install(namespace: str, values: dict, release: str = RELEASE) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(values, f)
    cmd = [helm_binary(), "install", release, str(CHART), "-n", namespace, "-f", f.name]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    Path(f.name).unlink()
    return proc


def job_name(kube: Kube, namespace: str) -> str:
    jobs = kube.json("get", "jobs", "-n", namespace)["items"]
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    return jobs[0]["metadata"]["name"]


def job_finished(kube: Kube, namespace: str, job: str) -> str | None:
    """'Complete' or 'Failed' once the Job has finished, else None."""
    status = kube.json("get", "job", job, "-n", namespace).get("status", {})
    for cond in status.get("conditions") or []:
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return cond["type"]
    return None


def wait_job(kube: Kube, namespace: str, job: str, timeout: float = 300) -> str:
    return wait_for(f"job {job} to finish", lambda: job_finished(kube, namespace, job), timeout, interval=1)


def pods_of_job(kube: Kube, namespace: str, job: str) -> list[dict]:
    return kube.json("get", "pods", "-n", namespace, "-l", f"batch.kubernetes.io/job-name={job}")["items"]


def runner_log(kube: Kube, namespace: str, pod: str, container: str = "runner") -> str:
    return kube.run("logs", pod, "-n", namespace, "-c", container, check=False).stdout


def dgds(kube: Kube, namespace: str) -> list[dict]:
    return kube.json("get", "dynamographdeployments.nvidia.com", "-n", namespace)["items"]


def bucket_keys(client, bucket: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


def run_ids(keys: list[str]) -> set[str]:
    return {key.split("/", 1)[0] for key in keys if key.endswith("/manifest.json") and key.count("/") == 1}


def download(run_id: str, bucket: str, s3: dict, dest: Path) -> subprocess.CompletedProcess:
    env = {"AWS_ACCESS_KEY_ID": s3["access_key_id"], "AWS_SECRET_ACCESS_KEY": s3["secret_access_key"],
           "PATH": "/usr/bin:/bin"}
    cmd = [str(REPO / ".venv" / "bin" / "ft-runner"), "results", "download", f"s3://{bucket}/{run_id}", str(dest),
           "--s3-endpoint", s3["host_endpoint"], "--s3-region", "us-east-1", "--s3-addressing-style", "path",
           "--no-progress"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def summary_of(tree: Path) -> dict:
    return json.loads((tree / "summary.json").read_text())
