"""`ft-runner results ...` as a user runs it: a real process, a real store over HTTP, exit codes and output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from report.synthetic import build_run
from runner.store.s3 import MANIFEST

from .test_store_upload import tree_hashes

REPO = Path(__file__).resolve().parents[2]


def ft(*args: str, env_extra: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "runner.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def _built(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("template"))


@pytest.fixture
def run_dir(_built, tmp_path) -> Path:
    copy = tmp_path / "results" / _built[0].name
    shutil.copytree(_built[0], copy)
    return copy


def test_upload_list_download_compare_and_no_secret_anywhere(store, bucket, creds, run_dir, tmp_path):
    ep = ["--s3-endpoint", store.endpoint, "--s3-addressing-style", "path", "--s3-region", "us-east-1"]
    url = f"s3://{bucket}/team/ft"
    run_id = run_dir.name
    outputs = []

    up = ft("results", "upload", str(run_dir), url, *ep)
    outputs.append(up.stdout + up.stderr)
    assert up.returncode == 0, up.stderr
    assert f"uploaded to s3://{bucket}/team/ft/{run_id}" in up.stdout

    listed = ft("results", "list", url, *ep)
    outputs.append(listed.stdout + listed.stderr)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(run_id in line and "complete" in line for line in lines)
    for scenario, verdict in [("vllm-agg-tp-1-dp-1-decode_worker", "FAIL"), ("vllm-agg-tp-1-dp-1-frontend", "ERROR"),
                              ("vllm-agg-tp-1-dp-2-decode_worker", "PASS")]:
        assert any(scenario in line and line.rstrip().endswith(verdict) for line in lines), listed.stdout
    assert "1 run(s)" in listed.stdout

    dest = tmp_path / "fetched"
    dl = ft("results", "download", f"{url}/{run_id}", str(dest), *ep)
    outputs.append(dl.stdout + dl.stderr)
    assert dl.returncode == 0, dl.stderr
    assert "sha256 verified" in dl.stdout
    assert tree_hashes(dest / run_id) == tree_hashes(run_dir)

    cmp = ft("results", "compare", str(run_dir), f"{url}/{run_id}", *ep)
    outputs.append(cmp.stdout + cmp.stderr)
    assert cmp.returncode == 0, cmp.stderr
    assert "0 regression(s)" in cmp.stdout and "vllm-agg-tp-1-dp-1-token_overflow" in cmp.stdout

    # The same commands with a wrong secret: a clear line, nothing leaked.
    wrong = "NotTheSecret+" + "q" * 27
    bad = ft("results", "list", url, *ep, env_extra={"AWS_SECRET_ACCESS_KEY": wrong})
    outputs.append(bad.stdout + bad.stderr)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: credentials rejected by bucket") and len(bad.stderr.strip().splitlines()) == 1
    bad_up = ft("results", "upload", str(run_dir), f"s3://{bucket}/other", *ep, env_extra={"AWS_SECRET_ACCESS_KEY": wrong})
    outputs.append(bad_up.stdout + bad_up.stderr)
    assert bad_up.returncode == 3 and "credentials rejected" in bad_up.stderr

    text = "\n".join(outputs)
    for secret in (creds.secret_key, wrong):
        assert secret not in text
        for root in (run_dir, dest):
            for path in root.rglob("*"):
                if path.is_file():
                    assert secret.encode() not in path.read_bytes(), f"{secret[:4]}… found in {path}"
    client = boto3.session.Session().client("s3", endpoint_url=store.endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            assert creds.secret_key.encode() not in body, obj["Key"]


def test_download_of_a_tampered_run_exits_1(store, bucket, creds, run_dir, tmp_path):
    ep = ["--s3-endpoint", store.endpoint]
    url = f"s3://{bucket}/p"
    assert ft("results", "upload", str(run_dir), url, *ep).returncode == 0
    client = boto3.session.Session().client("s3", endpoint_url=store.endpoint)
    client.put_object(Bucket=bucket, Key=f"p/{run_dir.name}/junit.xml", Body=b"<not the same/>")
    dl = ft("results", "download", f"{url}/{run_dir.name}", str(tmp_path / "d"), "--no-progress", *ep)
    assert dl.returncode == 1
    assert "junit.xml: sha256 mismatch" in dl.stderr
    assert not (tmp_path / "d" / run_dir.name / "junit.xml").exists()
    assert not (tmp_path / "d" / run_dir.name / MANIFEST).exists()


@pytest.mark.parametrize("args, message", [
    (["results", "list", "bucket/prefix"], "error: 'bucket/prefix' is not an S3 URL: write it as s3://BUCKET[/PREFIX]"),
    (["results", "list", "s3://b", "--s3-endpoint", "localhost:9000"], "is not a URL: write it as http(s)://HOST[:PORT]"),
    (["results", "show", "/nonexistent/run"], "is not a directory: give a run directory"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    res = ft(*args)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_download_errors_name_the_fix(store, bucket, creds, tmp_path):
    ep = ["--s3-endpoint", store.endpoint]
    res = ft("results", "download", f"s3://{bucket}/p/never-uploaded", str(tmp_path / "d"), *ep)
    assert res.returncode == 2 and "no manifest.json under" in res.stderr and "results list" in res.stderr
    res = ft("results", "download", "s3://no-such-bucket-xyz/p/run", str(tmp_path / "d"), *ep)
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: bucket 'no-such-bucket-xyz' at {store.endpoint} does not exist (NoSuchBucket): create it or fix --s3-bucket"


def test_download_one_scenario_via_cli(store, bucket, creds, run_dir, tmp_path):
    ep = ["--s3-endpoint", store.endpoint]
    url = f"s3://{bucket}/p"
    assert ft("results", "upload", str(run_dir), url, *ep).returncode == 0
    res = ft("results", "download", f"{url}/{run_dir.name}", str(tmp_path / "d"), "--scenario", "nope", *ep)
    assert res.returncode == 2 and "the run has no scenario 'nope'; it has: vllm-agg" in res.stderr
    res = ft("results", "download", f"{url}/{run_dir.name}", str(tmp_path / "d"), "--scenario",
             "vllm-agg-tp-1-dp-1-none", *ep)
    assert res.returncode == 0, res.stderr
    got = {p.name for p in (tmp_path / "d" / run_dir.name).iterdir()}
    assert "vllm-agg-tp-1-dp-1-none" in got and "vllm-agg-tp-1-dp-2-decode_worker" not in got
