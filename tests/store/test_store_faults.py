"""A flaky or misconfigured store: outage mid-upload, wrong credentials, missing bucket, no credentials."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from report.synthetic import DEFAULT_SPECS, build_run
from runner.core.config import S3Config
from runner.store.fetch import Remote, download_run
from runner.core import exits
from runner.store.s3 import MANIFEST, RetryPolicy, Uploader, final_exit_code

from .conftest import Store, free_port
from .test_store_upload import FAST, all_keys, s3cfg, tree_hashes

# Long enough to ride out a restart of the store (it is restarted as soon as a retry is seen).
PATIENT = RetryPolicy(tries=8, first_backoff_s=0.1, max_backoff_s=1.0, botocore_attempts=1, connect_timeout_s=2,
                      read_timeout_s=10)


@pytest.fixture(scope="module")
def _built(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("template"), write_products=False)


@pytest.fixture
def run(_built, tmp_path):
    run_dir, summary, summaries, records = _built
    copy = tmp_path / "results" / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy, summary


@pytest.fixture
def own_store(_auth_on):
    """A store of this test's own, which the test may stop and start."""
    s = Store(free_port())
    s.start()
    yield s
    s.stop()


def test_store_stopped_mid_upload_then_restarted_loses_nothing(own_store, creds, run, tmp_path):
    import boto3

    run_dir, summary = run
    bucket = "ft-results-restart"
    boto3.session.Session().client("s3", endpoint_url=own_store.endpoint).create_bucket(Bucket=bucket)
    retried = threading.Event()
    restarted = threading.Event()
    uploaded: list[str] = []

    def restart_when_retrying() -> None:
        assert retried.wait(timeout=60), "the uploader never retried against the stopped store"
        own_store.start()
        restarted.set()

    restarter = threading.Thread(target=restart_when_retrying, daemon=True)

    def on_event(kind: str, key: str) -> None:
        if kind == "uploaded":
            uploaded.append(key)
            if len(uploaded) == 10 and own_store.server is not None and not restarted.is_set():
                own_store.stop()  # the store dies in the middle of the scenario's upload
                restarter.start()
        elif kind == "retry":
            retried.set()

    up = Uploader(s3cfg(own_store, bucket), summary.run_id, run_dir, retry=PATIENT, workers=2, on_event=on_event)
    scenario = run_dir / DEFAULT_SPECS[0].name
    report = up.upload_scenario(scenario)
    restarter.join(timeout=60)

    assert retried.is_set() and restarted.is_set(), "the outage did not happen mid-upload"
    assert report.ok, report.lines()
    n_files = sum(1 for p in scenario.rglob("*") if p.is_file())
    assert len(report.uploaded) == n_files > 10
    final = up.final_pass()
    assert final.ok, final.lines()
    dl = download_run(Remote(s3cfg(own_store, bucket), f"s3://{bucket}/ci/nightly/{summary.run_id}", retry=FAST),
                      tmp_path / "dl")
    assert dl.ok, dl.failed
    assert tree_hashes(tmp_path / "dl" / summary.run_id) == tree_hashes(run_dir)


def test_store_that_stays_down_is_reported_not_raised(own_store, creds, run):
    import boto3

    run_dir, summary = run
    bucket = "ft-results-down"
    boto3.session.Session().client("s3", endpoint_url=own_store.endpoint).create_bucket(Bucket=bucket)
    before = tree_hashes(run_dir)
    own_store.stop()
    up = Uploader(s3cfg(own_store, bucket), summary.run_id, run_dir, retry=FAST)
    started = time.monotonic()
    report = up.upload_scenario(run_dir / DEFAULT_SPECS[0].name)
    final = up.final_pass()
    elapsed = time.monotonic() - started

    assert not report.ok and not final.ok
    assert "retries exhausted" in final.error and "unreachable" in final.error
    n_files = sum(1 for p in run_dir.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert len(final.failed) == n_files + 1  # every file, and the manifest held back
    assert final.errors[f"ci/nightly/{summary.run_id}/{MANIFEST}"].startswith("held back")
    assert elapsed < 30, f"an outage must cost one file's retry budget per pass, not one per file ({elapsed:.1f} s)"
    assert tree_hashes(run_dir) == {**before, MANIFEST: tree_hashes(run_dir)[MANIFEST]}
    assert final_exit_code(0, final) == exits.UPLOAD_INCOMPLETE == 3
    assert final_exit_code(1, final) == 1
    lines = "\n".join(final.lines())
    assert "not uploaded:" in lines and "upload error:" in lines

    own_store.start()  # the store comes back: the next pass completes the tree
    again = up.final_pass()
    assert again.ok, again.lines()
    assert len(all_keys(own_store, bucket)) == n_files + 1


def test_wrong_secret_is_a_clear_error_and_keeps_the_tree(store, bucket, creds, run, monkeypatch):
    run_dir, summary = run
    before = tree_hashes(run_dir)
    wrong = "WrongSecret/" + "x" * 28
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    report = Uploader(s3cfg(store, bucket), summary.run_id, run_dir, retry=FAST).final_pass()
    assert not report.ok
    assert report.error is not None, report.lines()
    assert "credentials rejected" in report.error and "SignatureDoesNotMatch" in report.error
    assert wrong not in "\n".join(report.lines()) and wrong not in repr(report)
    assert report.uploaded == [] and len(report.failed) == len(before) + 1
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    assert all_keys(store, bucket) == set()
    assert {k: v for k, v in tree_hashes(run_dir).items() if k != MANIFEST} == before


def test_unknown_access_key_is_a_clear_error(store, bucket, creds, run, monkeypatch):
    run_dir, summary = run
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    report = Uploader(s3cfg(store, bucket), summary.run_id, run_dir, retry=FAST).final_pass()
    assert not report.ok and "InvalidAccessKeyId" in report.error and "credentials rejected" in report.error


def test_missing_bucket_is_a_clear_error_and_keeps_the_tree(store, creds, run):
    run_dir, summary = run
    before = tree_hashes(run_dir)
    started = time.monotonic()
    report = Uploader(s3cfg(store, "no-such-bucket-here"), summary.run_id, run_dir, retry=FAST).final_pass()
    assert time.monotonic() - started < 10, "a missing bucket is not retried"
    assert not report.ok
    assert report.error.startswith("bucket 'no-such-bucket-here' at http://127.0.0.1:")
    assert "does not exist (NoSuchBucket)" in report.error
    assert {k: v for k, v in tree_hashes(run_dir).items() if k != MANIFEST} == before


def test_no_credentials_at_all(store, creds, run, monkeypatch):
    run_dir, summary = run
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    report = Uploader(s3cfg(store, "any-bucket"), summary.run_id, run_dir, retry=FAST).final_pass()
    assert not report.ok and report.error.startswith("no S3 credentials found")
    assert "AWS_ACCESS_KEY_ID" in report.error


def test_uploader_needs_a_bucket(tmp_path):
    with pytest.raises(ValueError, match="bucket"):
        Uploader(S3Config(), "r", tmp_path)
