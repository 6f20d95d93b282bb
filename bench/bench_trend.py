"""Benchmark: `results trend` over 10,000 nightly runs in an S3 API (moto's server, over HTTP).

A child process runs moto's server and fills its store (through moto's own backend: setup only)
with N runs, each a run summary.json, a manifest.json and S scenario folders holding summary.json
plus the files a scenario also has (scenario.json, a log, timeline.png), so the listing sees ~10
objects a run and the trend must pick the summaries out. Then, in this process, over HTTP:

  cold   every run listed and every scenario summary fetched (empty cache)
  warm   the same with the cache: only the run folders are listed
  +1     one new run uploaded: the run folders listed, the new run's summaries fetched

and the judgement plus the page (trend.html and PNGs) over every point. Prints seconds, requests
and peak RSS.

    python bench/bench_trend.py                 # 10,000 runs x 2 scenarios
    python bench/bench_trend.py --runs 2000 --scenarios 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

BUCKET, PREFIX = "bench-results", "nightly"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scenarios(count: int) -> list[tuple[str, str]]:
    names = [("mocker-agg-tp-1-dp-2-decode_worker", "decode_worker"), ("mocker-agg-tp-1-dp-1-none", "none"),
             ("mocker-agg-tp-1-dp-1-frontend", "frontend"), ("mocker-disagg-tp-1-dp-1-prefill_worker", "prefill_worker")]
    return names[:count]


def _night_objects(night: int, scenarios: int, rng: random.Random) -> list[tuple[str, bytes]]:
    from report.history import noisy, run_id, scenario_summary
    from runner.results.summary import RunScenarioEntry, RunSummary

    rid = run_id(night)
    objs = []
    entries = []
    for name, failure in _scenarios(scenarios):
        s = scenario_summary(night, name, noisy(rng), failure=failure)
        objs.append((f"{PREFIX}/{rid}/{name}/summary.json", s.model_dump_json().encode()))
        objs.append((f"{PREFIX}/{rid}/{name}/scenario.json", b'{"name": "%s"}' % name.encode()))
        objs.append((f"{PREFIX}/{rid}/{name}/Frontend/frontend-0.log", b"INFO served\n" * 20))
        objs.append((f"{PREFIX}/{rid}/{name}/timeline.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200))
        entries.append(RunScenarioEntry(scenario=name, verdict=s.verdict, path=name))
    run = RunSummary(run_id=rid, platform="kubernetes", started_at=s.started_at, exit_code=0, scenarios=entries)
    objs.append((f"{PREFIX}/{rid}/summary.json", run.model_dump_json().encode()))
    objs.append((f"{PREFIX}/{rid}/manifest.json", b'{"manifest_version": "1", "files": []}'))
    return objs


def _serve(port: int, runs: int, scenarios: int, ready) -> None:
    """The child: moto's server, filled with the runs, until the parent ends it."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    backend.create_bucket(BUCKET, "us-east-1")
    rng = random.Random(7)
    objects = 0
    for night in range(runs):
        for key, body in _night_objects(night, scenarios, rng):
            backend.put_object(BUCKET, key, body)
            objects += 1
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    ready.put(objects)
    while True:
        time.sleep(3600)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--scenarios", type=int, default=2, choices=range(1, 5))
    ap.add_argument("--workers", type=int, default=10)
    args = ap.parse_args()
    for var, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
                       ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_EC2_METADATA_DISABLED", "true")):
        os.environ[var] = value

    from runner.core.config import S3Config
    from runner.report.trend_page import write_trend
    from runner.results.trend import Settings, trend
    from runner.store.fetch import Remote
    from runner.store.history import Filters, Stats, remote_points, run_ids
    from runner.store.s3 import make_client

    port = _free_port()
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    child = ctx.Process(target=_serve, args=(port, args.runs, args.scenarios, ready), daemon=True)
    started = time.monotonic()
    child.start()
    try:
        objects = ready.get(timeout=1800)
        print(f"store: {args.runs} runs x {args.scenarios} scenarios = {objects} objects, filled in "
              f"{time.monotonic() - started:.1f} s (moto's server in a child process)")
        s3 = S3Config(endpoint=f"http://127.0.0.1:{port}", region="us-east-1", addressing_style="path")
        gets = [0]

        def remote() -> Remote:
            client = make_client(s3)
            client.meta.events.register("provide-client-params.s3.GetObject", lambda **_: gets.__setitem__(0, gets[0] + 1))
            return Remote(s3, f"s3://{BUCKET}/{PREFIX}", client=client)

        def progress(what: str, done: int, total: int | None) -> None:
            if total and done % 5000 == 0:
                print(f"  {what}: {done}/{total}", file=sys.stderr)

        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "cache"
            points = None
            for label in ("cold", "warm", "+1"):
                if label == "+1":
                    client = make_client(s3)
                    for key, body in _night_objects(args.runs, args.scenarios, random.Random(8)):
                        client.put_object(Bucket=BUCKET, Key=key, Body=body)
                stats, gets[0] = Stats(), 0
                t0 = time.monotonic()
                points = remote_points(remote(), Filters(), cache, stats, progress, workers=args.workers)
                dt = time.monotonic() - t0
                print(f"{label:5s} {dt:8.2f} s  runs {stats.runs}  from cache {stats.runs_from_cache}  "
                      f"list calls {stats.list_calls}  GETs {gets[0]}  points {len(points)}  "
                      f"({stats.runs / dt:,.0f} runs/s)")
            t0 = time.monotonic()
            listing = Stats()
            ids = run_ids(remote(), listing)
            print(f"list  {time.monotonic() - t0:8.2f} s  the run folders alone: {len(ids)} runs in "
                  f"{listing.list_calls} list calls (the store's share of warm)")
            t0 = time.monotonic()
            trends = trend(points, Settings())
            judged = time.monotonic() - t0
            t0 = time.monotonic()
            page = write_trend(Path(tmp) / "trend", trends, [f"s3://{BUCKET}/{PREFIX}"], Settings(), "bench")
            rendered = time.monotonic() - t0
            print(f"judge {judged:8.2f} s  {len(points)} points, {len(trends)} scenarios, "
                  f"{sum(len(st.regressions) for st in trends)} regression(s)")
            print(f"page  {rendered:8.2f} s  trend.html {page.stat().st_size / 1024:,.0f} KiB + {len(trends)} PNGs")
        print(f"peak RSS {_peak_rss_mib():,.0f} MiB (this process; the store's is apart)")
    finally:
        child.kill()
        child.join(timeout=10)


if __name__ == "__main__":
    main()
