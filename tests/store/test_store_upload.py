"""Upload, idempotent re-upload, multipart, download with sha256 checks, listing: real boto3 over HTTP."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import boto3
import pytest

from report.synthetic import DEFAULT_SPECS, Spec, build_run
from runner.core.config import S3Config
from runner.store.fetch import Remote, download_run, list_runs, read_remote_summaries
from runner.store.s3 import MANIFEST, RetryPolicy, Uploader, final_exit_code

MiB = 1024 * 1024
FAST = RetryPolicy(tries=4, first_backoff_s=0.05, max_backoff_s=0.2, botocore_attempts=2, connect_timeout_s=2, read_timeout_s=10)


def s3cfg(store, bucket: str, prefix: str = "ci/nightly") -> S3Config:
    return S3Config(bucket=bucket, prefix=prefix, endpoint=store.endpoint, region="us-east-1", addressing_style="path")


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def raw_client(store):
    return boto3.session.Session().client("s3", endpoint_url=store.endpoint)


def all_keys(store, bucket: str) -> set[str]:
    keys = set()
    for page in raw_client(store).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    return keys


@pytest.fixture(scope="session")
def _built(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("template"))


@pytest.fixture
def run(_built, tmp_path):
    """A private copy of one synthetic run (built once: plots take seconds)."""
    run_dir, summary, summaries, records = _built
    copy = tmp_path / "results" / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy, summary, summaries, records


def upload_run(store, bucket, run_dir: Path, run_id: str, **kw):
    up = Uploader(s3cfg(store, bucket), run_id, run_dir, retry=FAST, **kw)
    reports = [up.upload_scenario(run_dir / spec.name) for spec in DEFAULT_SPECS]
    return up, reports, up.final_pass()


def test_upload_layout_metadata_and_manifest(store, bucket, run):
    run_dir, summary, _, _ = run
    local = tree_hashes(run_dir)
    up, scenario_reports, final = upload_run(store, bucket, run_dir, summary.run_id)

    assert all(r.ok for r in scenario_reports) and final.ok, final.lines()
    first = scenario_reports[0]
    assert first.uploaded and all(k.startswith(f"ci/nightly/{summary.run_id}/{DEFAULT_SPECS[0].name}/") for k in first.uploaded)
    # The final pass sends what the scenario passes did not (run-level files, the manifest) and skips the rest.
    assert {k.rsplit("/", 1)[-1] for k in final.uploaded} == {"summary.json", "report.html", "junit.xml", "metrics.prom",
                                                               MANIFEST}
    expected = {f"ci/nightly/{summary.run_id}/{rel}" for rel in local} | {f"ci/nightly/{summary.run_id}/{MANIFEST}"}
    assert all_keys(store, bucket) == expected

    client = raw_client(store)
    head = client.head_object(Bucket=bucket, Key=f"ci/nightly/{summary.run_id}/report.html")
    assert head["Metadata"]["sha256"] == local["report.html"]
    assert head["ContentType"].startswith("text/html")
    manifest = json.loads(client.get_object(Bucket=bucket, Key=f"ci/nightly/{summary.run_id}/{MANIFEST}")["Body"].read())
    assert manifest["run_id"] == summary.run_id
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {k: v for k, v in local.items()}
    assert all(f["size"] == (run_dir / f["path"]).stat().st_size for f in manifest["files"])
    assert (run_dir / MANIFEST).read_bytes() == client.get_object(
        Bucket=bucket, Key=f"ci/nightly/{summary.run_id}/{MANIFEST}")["Body"].read()
    assert final_exit_code(0, final) == 0 and final_exit_code(1, final) == 1


def test_reupload_is_idempotent_and_sends_only_changes(store, bucket, run):
    run_dir, summary, _, _ = run
    upload_run(store, bucket, run_dir, summary.run_id)
    client = raw_client(store)
    key = f"ci/nightly/{summary.run_id}/vllm-agg-tp-1-dp-1-none/test.log.txt"
    etag_before = client.head_object(Bucket=bucket, Key=f"ci/nightly/{summary.run_id}/report.html")["ETag"]

    again = Uploader(s3cfg(store, bucket), summary.run_id, run_dir, retry=FAST).final_pass()  # a new process
    assert again.ok and again.uploaded == [] and len(again.skipped) == len(tree_hashes(run_dir))
    assert client.head_object(Bucket=bucket, Key=f"ci/nightly/{summary.run_id}/report.html")["ETag"] == etag_before

    (run_dir / "vllm-agg-tp-1-dp-1-none" / "test.log.txt").write_text("rewritten after the upload\n")
    changed = Uploader(s3cfg(store, bucket), summary.run_id, run_dir, retry=FAST).final_pass()
    assert changed.ok and sorted(changed.uploaded) == sorted([key, f"ci/nightly/{summary.run_id}/{MANIFEST}"])
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"rewritten after the upload\n"


def test_large_file_goes_multipart_and_round_trips(store, bucket, tmp_path):
    spec = Spec("vllm-agg-tp-1-dp-1-decode_worker_pod", "decode_worker_pod", "PASS", dp=1, clients=2, requests=10,
                big_file_bytes=12 * MiB + 123)
    run_dir, summary, _, _ = build_run(tmp_path / "results", "run-big", specs=(spec,), write_products=False)
    big = run_dir / spec.name / "decode" / "ft-test-decode-7c9f-0.metrics.log"
    up = Uploader(s3cfg(store, bucket), "run-big", run_dir, retry=FAST, multipart_threshold=5 * MiB,
                  multipart_chunksize=5 * MiB)
    report = up.final_pass()
    assert report.ok, report.lines()
    key = f"ci/nightly/run-big/{spec.name}/decode/{big.name}"
    head = raw_client(store).head_object(Bucket=bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-3"), "12 MiB in 5 MiB parts is a 3-part multipart upload"
    assert head["ContentLength"] == big.stat().st_size
    assert head["Metadata"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()

    dl = download_run(Remote(s3cfg(store, bucket), f"s3://{bucket}/ci/nightly/run-big", retry=FAST), tmp_path / "dl")
    assert dl.ok, dl.failed
    assert (tmp_path / "dl" / "run-big" / big.relative_to(run_dir)).read_bytes() == big.read_bytes()


def test_download_verifies_every_sha256(store, bucket, run, tmp_path):
    run_dir, summary, _, _ = run
    upload_run(store, bucket, run_dir, summary.run_id)
    url = f"s3://{bucket}/ci/nightly/{summary.run_id}"
    remote = Remote(s3cfg(store, bucket), url, retry=FAST)

    seen = []

    class Sink:
        def start(self, total, files):
            seen.append(("start", total, files))

        def advance(self, n):
            seen.append(("advance", n))

    report = download_run(remote, tmp_path / "dl", progress=Sink())
    assert report.ok, report.failed
    local, fetched = tree_hashes(run_dir), tree_hashes(tmp_path / "dl" / summary.run_id)
    assert fetched == local
    total = sum((run_dir / p).stat().st_size for p in local if p != MANIFEST)
    assert seen[0] == ("start", total, len(local) - 1)
    assert sum(n for kind, n, *_ in seen if kind == "advance") == total

    again = download_run(remote, tmp_path / "dl")  # resumable: nothing fetched twice
    assert again.ok and again.downloaded == [] and len(again.reused) == len(local) - 1

    # Someone replaces an object behind the manifest's back: the download refuses it.
    victim = "vllm-agg-tp-1-dp-2-decode_worker/client_0/attempt_0/profile_export.jsonl"
    raw_client(store).put_object(Bucket=bucket, Key=f"ci/nightly/{summary.run_id}/{victim}", Body=b"tampered\n")
    bad = download_run(remote, tmp_path / "dl2")
    assert not bad.ok and list(bad.failed) == [victim]
    assert "sha256 mismatch" in bad.failed[victim]
    assert not (tmp_path / "dl2" / summary.run_id / victim).exists()
    assert not list((tmp_path / "dl2").rglob("*.part"))


def test_download_one_scenario(store, bucket, run, tmp_path):
    run_dir, summary, _, _ = run
    upload_run(store, bucket, run_dir, summary.run_id)
    remote = Remote(s3cfg(store, bucket), f"s3://{bucket}/ci/nightly/{summary.run_id}", retry=FAST)
    name = "vllm-agg-tp-1-dp-1-token_overflow"
    report = download_run(remote, tmp_path / "dl", scenario=name)
    assert report.ok
    got = tree_hashes(tmp_path / "dl" / summary.run_id)
    assert {p.split("/", 1)[0] for p in got if "/" in p} == {name}
    assert any(p.startswith(f"{name}/overflow/client_0/attempt_0/") for p in got)
    assert any(p.startswith(f"{name}/recovery/client_0/attempt_0/") for p in got)
    assert "summary.json" in got


def test_listing_reads_summaries_not_trees(store, bucket, run, tmp_path):
    complete_dir, complete, _, _ = run
    run_a = complete.run_id
    partial_dir, partial, _, _ = build_run(tmp_path / "r", "run-b", specs=DEFAULT_SPECS[:2], write_products=False)
    (partial_dir / "summary.json").unlink()  # the run died before writing its summary
    upload_run(store, bucket, complete_dir, run_a)
    up = Uploader(s3cfg(store, bucket), "run-b", partial_dir, retry=FAST)
    for spec in DEFAULT_SPECS[:2]:
        assert up.upload_scenario(partial_dir / spec.name).ok

    runs = {r.run_id: r for r in list_runs(Remote(s3cfg(store, bucket), f"s3://{bucket}/ci/nightly", retry=FAST))}
    assert set(runs) == {run_a, "run-b"}
    assert runs[run_a].complete and not runs["run-b"].complete
    assert runs[run_a].scenarios == [(s.scenario, s.verdict) for s in complete.scenarios]
    assert sorted(runs["run-b"].scenarios) == sorted((s.name, s.verdict) for s in DEFAULT_SPECS[:2])
    assert "no run summary" in runs["run-b"].note

    run, summaries = read_remote_summaries(Remote(s3cfg(store, bucket), f"s3://{bucket}/ci/nightly/{run_a}", retry=FAST))
    assert run.run_id == run_a and [s.scenario for s in summaries] == [s.name for s in DEFAULT_SPECS]


def test_listing_a_url_that_names_one_run(store, bucket, run):
    run_dir, summary, _, _ = run
    upload_run(store, bucket, run_dir, summary.run_id)
    runs = list_runs(Remote(s3cfg(store, bucket), f"s3://{bucket}/ci/nightly/{summary.run_id}", retry=FAST))
    assert [r.run_id for r in runs] == [summary.run_id] and runs[0].complete
    assert list_runs(Remote(s3cfg(store, bucket), f"s3://{bucket}/elsewhere", retry=FAST)) == []
