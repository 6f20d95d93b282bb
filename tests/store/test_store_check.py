"""Fail-fast storage: before the first scenario the bucket must take (and give back) a small object.

A writable bucket passes and keeps nothing; a closed port, a missing bucket and read-only credentials are
each one line naming the fix, exit code 2, and no scenario started (`ft-runner run` as a user runs it);
`--s3-best-effort` runs anyway."""

from __future__ import annotations

import json

import pytest

from runner.core.config import RunConfig, S3Config
from runner.run.suite import _check_store
from runner.run.ui import ProgressUI
from runner.store.s3 import check_writable

from .conftest import free_port
from .test_results_cli import ft
from .test_store_upload import all_keys


@pytest.fixture
def read_only(_auth_on, creds, monkeypatch):
    """Credentials of a second IAM user who may list and read the bucket, not write to it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    name = f"reader-{free_port()}"
    iam.create_user(region_name="us-east-1", user_name=name, path="/", tags=[])
    iam.put_user_policy(name, "read", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}))
    key = iam.create_access_key(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key.secret_access_key)
    return key


def cfg(endpoint: str, bucket: str, **extra) -> S3Config:
    return S3Config(bucket=bucket, prefix="nightly", endpoint=endpoint, region="us-east-1", addressing_style="path",
                    **extra)


def test_a_writable_bucket_passes_and_keeps_nothing(store, bucket, creds):
    assert check_writable(cfg(store.endpoint, bucket), "run-1") is None
    assert all_keys(store, bucket) == set()


def test_each_refusal_is_one_line_that_names_the_fix(store, bucket, creds, monkeypatch):
    closed = check_writable(cfg(f"http://127.0.0.1:{free_port()}", bucket), "run-1")
    assert closed.startswith("store unreachable (bucket") and "EndpointConnectionError" in closed
    missing = check_writable(cfg(store.endpoint, bucket + "-missing"), "run-1")
    assert "does not exist (NoSuchBucket): create it or fix --s3-bucket" in missing


def test_read_only_credentials_are_refused(store, bucket, read_only):
    denied = check_writable(cfg(store.endpoint, bucket), "run-1")
    assert "access denied" in denied and "s3:PutObject" in denied and read_only.secret_access_key not in denied


def _run(store_endpoint: str, bucket: str, output, *extra: str):
    return ft("run", "--scenario", "mocker-agg-tp-1-dp-1-none", "--output", str(output), "--run-id", "ff-1",
              "--s3-bucket", bucket, "--s3-endpoint", store_endpoint, "--s3-region", "us-east-1",
              "--s3-addressing-style", "path", *extra, timeout=120)


@pytest.mark.parametrize("case", ["closed port", "missing bucket", "read-only credentials"])
def test_run_stops_before_the_first_scenario(case, store, bucket, creds, tmp_path, request):
    endpoint, name = store.endpoint, bucket
    if case == "closed port":
        endpoint = f"http://127.0.0.1:{free_port()}"
    elif case == "missing bucket":
        name = bucket + "-missing"
    else:
        request.getfixturevalue("read_only")
    res = _run(endpoint, name, tmp_path / "results")  # the credentials reach it through the environment
    assert res.returncode == 2, res.stdout + res.stderr
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("error: the result store is not writable: ") and line.endswith(
        "or pass --s3-best-effort to run anyway and upload later")
    assert not (tmp_path / "results").exists()  # no run directory: no scenario started
    assert "scenario(s) on the local platform" not in res.stdout + res.stderr


def test_best_effort_runs_anyway_and_says_so(store, bucket, creds, tmp_path, capsys):
    config = RunConfig(output=tmp_path, s3=cfg(f"http://127.0.0.1:{free_port()}", bucket, best_effort=True))
    assert _check_store(config, "ff-2", ProgressUI()) is False
    out = " ".join(capsys.readouterr().err.split())  # rich wraps at the console width
    assert "not writable" in out and "running anyway (--s3-best-effort)" in out
    assert _check_store(RunConfig(s3=cfg(store.endpoint, bucket)), "ff-3", ProgressUI()) is True
    assert _check_store(RunConfig(), "ff-4", ProgressUI()) is True  # no bucket: nothing to check


def test_best_effort_is_a_flag_of_run():
    from runner.cli.main import run_config

    assert run_config(["--s3-best-effort"]).s3.best_effort is True
    assert run_config(["--s3.best-effort"]).s3.best_effort is True
    assert run_config([]).s3.best_effort is False
