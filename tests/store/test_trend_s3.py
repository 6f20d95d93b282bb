"""`ft-runner results trend s3://B/P` against a real S3 API (moto over HTTP): regressions with their onset,
the exit code, the cache, paginated listing past 1000 runs, only summary.json fetched, the published page."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from report.history import noisy, run_id, scenario_summary, write_night
from runner.core.config import S3Config
from runner.store.fetch import Remote
from runner.store.history import Filters, Stats, remote_points
from runner.store.s3 import make_client

from .test_results_cli import ft

STEP, LATE = "mocker-agg-tp-1-dp-2-decode_worker", "mocker-agg-tp-1-dp-1-frontend"
NOISE = "mocker-agg-tp-1-dp-1-none"


def history(root: Path, nights: range, complete_upto: int | None = None) -> Path:
    rng = random.Random(11)
    for i in nights:
        scenarios = {STEP: scenario_summary(i, STEP, noisy(rng, recovery=8.0 if i < 30 else 21.0)),
                     NOISE: scenario_summary(i, NOISE, noisy(rng), failure="none")}
        if i >= 35:
            scenarios[LATE] = scenario_summary(i, LATE, noisy(rng, recovery=12.0), failure="frontend")
        write_night(root, i, scenarios, complete=complete_upto is None or i <= complete_upto)
    return root


def upload_tree(endpoint: str, bucket: str, prefix: str, root: Path) -> int:
    client = boto3.session.Session().client("s3", endpoint_url=endpoint)
    files = [p for p in root.rglob("*") if p.is_file()]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: client.put_object(Bucket=bucket, Key=f"{prefix}/{p.relative_to(root).as_posix()}",
                                                  Body=p.read_bytes()), files))
    return len(files)


def endpoint_args(store) -> list[str]:
    return ["--s3-endpoint", store.endpoint, "--s3-addressing-style", "path", "--s3-region", "us-east-1"]


def stats_line(out: str) -> str:
    return next(line for line in out.splitlines() if " regression(s) in " in line)


def test_trend_names_the_step_and_its_onset_caches_complete_runs_and_gates_ci(store, bucket, creds, tmp_path):
    url = f"s3://{bucket}/nightly"
    upload_tree(store.endpoint, bucket, "nightly", history(tmp_path / "tree", range(40), complete_upto=38))
    cache, out = tmp_path / "cache", tmp_path / "trend"
    args = ["results", "trend", url, "--output", str(out), "--cache-dir", str(cache), "--no-progress", *endpoint_args(store)]

    first = ft(*args, "--fail-on-regression")
    assert first.returncode == 1, first.stderr
    regressions = [line for line in first.stdout.splitlines() if line.startswith("regression: ")]
    assert len(regressions) == 1, first.stdout
    assert regressions[0].startswith(f"regression: {STEP}: service recovery") and f"since run {run_id(30)}" in regressions[0]
    line = stats_line(first.stdout)
    summaries = 40 * 2 + 5  # the late scenario has 5 nights; scenario.json, logs, ... are never fetched
    assert "over 40 run(s) (0 from the cache" in line and f"{summaries} summaries fetched" in line, line
    page = out / "trend.html"
    assert page.is_file() and len(list(out.glob("trend-*.png"))) == 3

    again = ft(*args)  # no --fail-on-regression: the regression is reported, the exit code is 0
    assert again.returncode == 0, again.stderr
    line = stats_line(again.stdout)
    assert "(39 from the cache, 3 summaries fetched" in line, line  # the incomplete run (no manifest) is read again

    upload_tree(store.endpoint, bucket, "nightly", history(tmp_path / "tree2", range(40, 41)))
    third = ft(*args, "--fail-on-regression")
    line = stats_line(third.stdout)
    assert third.returncode == 1 and "over 41 run(s) (39 from the cache, 6 summaries fetched" in line, line
    assert f"since run {run_id(30)}" in third.stdout  # still the same onset, 11 nights later

    only = ft(*args, "--scenario", "*-none", "--fail-on-regression")
    assert only.returncode == 0 and "0 regression(s) in 1 scenario(s)" in only.stdout, only.stdout


def test_publish_puts_the_page_beside_the_runs_and_it_is_not_a_run(store, bucket, creds, tmp_path):
    url = f"s3://{bucket}/team"
    upload_tree(store.endpoint, bucket, "team", history(tmp_path / "tree", range(36)))
    res = ft("results", "trend", url, "--output", str(tmp_path / "t"), "--no-cache", "--no-progress", "--publish",
             *endpoint_args(store))
    assert res.returncode == 0, res.stderr
    assert f"published to s3://{bucket}/team/_trend/trend.html" in res.stdout
    client = boto3.session.Session().client("s3", endpoint_url=store.endpoint)
    got = client.get_object(Bucket=bucket, Key="team/_trend/trend.html")
    assert got["ContentType"].startswith("text/html") and b"Fault-tolerance trend" in got["Body"].read()
    again = ft("results", "trend", url, "--output", str(tmp_path / "t2"), "--no-cache", "--no-progress",
               *endpoint_args(store))
    assert "over 36 run(s)" in stats_line(again.stdout)  # _trend/ is not counted as a run
    listed = ft("results", "list", url, *endpoint_args(store))
    assert "_trend" not in listed.stdout and "36 run(s)" in listed.stdout


def put_direct(bucket: str, key: str, body: bytes) -> None:
    """Fill the store fast through moto's own backend (setup only); every read of the test goes over HTTP."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_backends[DEFAULT_ACCOUNT_ID]["global"].put_object(bucket, key, body)


def test_listing_is_paginated_past_1000_runs_and_fetches_only_summaries(store, bucket, creds, tmp_path):
    n = 1030
    body = scenario_summary(0, NOISE, noisy(random.Random(1)), failure="none")
    for i in range(n):
        s = body.model_copy(update={"run_id": run_id(i), "started_at": f"2026-{1 + i // 300:02d}-01T00:00:{i % 60:02d}+00:00"})
        put_direct(bucket, f"scale/{run_id(i)}/{NOISE}/summary.json", s.model_dump_json().encode())
        put_direct(bucket, f"scale/{run_id(i)}/{NOISE}/scenario.json", b"{}")
        put_direct(bucket, f"scale/{run_id(i)}/summary.json", b"{}")
        put_direct(bucket, f"scale/{run_id(i)}/manifest.json", b"{}")
    s3 = S3Config(endpoint=store.endpoint, region="us-east-1", addressing_style="path")
    fetched: list[str] = []

    def remote() -> Remote:
        client = make_client(s3)
        client.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: fetched.append(params["Key"]))
        return Remote(s3, f"s3://{bucket}/scale", client=client)

    stats, seen = Stats(), []
    points = remote_points(remote(), Filters(), tmp_path / "cache", stats,
                           progress=lambda what, done, total: seen.append((what, done, total)))
    assert len(points) == n and stats.runs == n and stats.summaries_fetched == n
    assert len(fetched) == n and all(k.endswith(f"/{NOISE}/summary.json") for k in fetched)  # nothing else is read
    assert stats.list_calls == 2 + 5  # two pages of run folders, then 4 * 1030 objects in five pages
    assert ("listing runs", 1000, None) in seen and ("listing objects", 4 * n, None) in seen
    assert ("reading summaries", n, n) in seen
    fetched.clear()
    warm = Stats()
    assert len(remote_points(remote(), Filters(), tmp_path / "cache", warm)) == n
    assert (warm.summaries_fetched, warm.list_calls, warm.runs_from_cache, len(fetched)) == (0, 2, n, 0)


def test_bad_sources_are_one_line_and_exit_2(store, bucket, creds, tmp_path):
    missing = ft("results", "trend", f"s3://{bucket}-nope/p", "--no-cache", "--no-progress", *endpoint_args(store))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    empty = ft("results", "trend", f"s3://{bucket}/nothing", "--no-cache", "--no-progress", *endpoint_args(store))
    assert empty.returncode == 2 and "no scenario summary under" in empty.stderr
    since = ft("results", "trend", f"s3://{bucket}/p", "--since", "last week", "--no-progress", *endpoint_args(store))
    assert since.returncode == 2 and "--since 'last week'" in since.stderr
