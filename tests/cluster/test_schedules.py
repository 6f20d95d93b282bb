"""The chart's CronJob and Indexed Job in a real cluster: each run lands in the bucket under its own
run id, and no index of an Indexed Job overwrites another's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from .chart_run import (
    bucket_keys,
    chart_values,
    download,
    helm_install,
    job_finished,
    pods_of_job,
    run_ids,
    summary_of,
)
from .conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


def test_cronjob_run_lands_under_its_own_run_id(kube, namespace, runner_image, dgd_crd, bucket, s3, s3_secret,
                                                tmp_path: Path):
    name, client = bucket
    values = chart_values(runner_image, name, s3, s3_secret, ["mocker-agg-tp-1-dp-1-none"], schedule="0 3 * * *")
    assert helm_install(namespace, values).returncode == 0
    (cron,) = kube.json("get", "cronjobs", "-n", namespace)["items"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    runs = []
    for job in ("ft-manual-1", "ft-manual-2"):
        kube.run("create", "job", job, f"--from=cronjob/{cron['metadata']['name']}", "-n", namespace)
        assert wait_for(f"job {job}", lambda: job_finished(kube, namespace, job), 300, interval=1) == "Failed"
        uid = kube.json("get", "job", job, "-n", namespace)["metadata"]["uid"]
        runs.append(f"{job}-{uid[:8]}")
    assert run_ids(bucket_keys(client, name)) == set(runs)
    for run in runs:
        assert download(run, name, s3, tmp_path).returncode == 0
        assert summary_of(tmp_path / run / "mocker-agg-tp-1-dp-1-none")["verdict"] == "ERROR"


SCENARIOS = ["mocker-agg-tp-1-dp-1-none", "mocker-agg-tp-1-dp-1-decode_worker",
             "mocker-agg-tp-1-dp-2-decode_worker", "mocker-agg-tp-1-dp-1-frontend"]


def test_indexed_job_two_at_a_time_over_four_scenarios(kube, namespace, runner_image, dgd_crd, bucket, s3, s3_secret,
                                                       tmp_path: Path):
    name, client = bucket
    values = chart_values(runner_image, name, s3, s3_secret, SCENARIOS, execution="indexed", parallelism=2)
    assert helm_install(namespace, values).returncode == 0
    (job,) = [j["metadata"]["name"] for j in kube.json("get", "jobs", "-n", namespace)["items"]]
    spec = kube.json("get", "job", job, "-n", namespace)["spec"]
    assert (spec["completions"], spec["parallelism"], spec["completionMode"]) == (4, 2, "Indexed")
    most_at_once = 0

    def finished():
        nonlocal most_at_once
        running = [p for p in pods_of_job(kube, namespace, job) if p["status"].get("phase") in ("Pending", "Running")]
        most_at_once = max(most_at_once, len(running))
        return job_finished(kube, namespace, job)

    assert wait_for(f"indexed job {job}", finished, 600, interval=1) == "Failed"  # every index ERRORs (no operator)
    assert most_at_once <= 2
    uid = kube.json("get", "job", job, "-n", namespace)["metadata"]["uid"]
    expected = {f"{job[:28].rstrip('-')}-{uid[:8]}-i{i}" for i in range(4)}
    keys = bucket_keys(client, name)
    assert run_ids(keys) == expected
    for i, scenario in enumerate(SCENARIOS):
        run = f"{job[:28].rstrip('-')}-{uid[:8]}-i{i}"
        assert {k.split("/")[1] for k in keys if k.startswith(run + "/") and k.count("/") >= 2} == {scenario}
        assert download(run, name, s3, tmp_path).returncode == 0
        assert summary_of(tmp_path / run / scenario)["scenario"] == scenario
