"""Benchmark: judge the server-side checks over a long run's metrics.log and service logs.

Writes nothing to disk: builds a frontend and a worker `metrics.log` of N scrapes (default 600, a
10-minute run at 1 Hz), each ~80 KB like a real Dynamo 1.6.1 frontend scrape (histogram buckets of
many label sets around the gauges the checks read), and a frontend log of N*10 JSON lines, then
times `evaluate` of every check kind and `pending_until`, and prints seconds and MB/s.

    python bench/bench_server_checks.py
    python bench/bench_server_checks.py --scrapes 3000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import TypeAdapter  # noqa: E402

from runner.core.check_specs import ServerCheck  # noqa: E402
from runner.results.server_checks import CheckInputs, Source, evaluate, pending_until  # noqa: E402

S = 1_000_000_000
T0 = 1_796_000_000 * S
FILLER_LINES = 900  # ~80 KB a scrape


def filler(i: int) -> str:
    return "\n".join(f'dynamo_frontend_request_duration_seconds_bucket{{model="tiny-llm",le="{b}",endpoint="e{b % 7}"}} '
                     f"{i * b}" for b in range(FILLER_LINES))


def frontend_log(scrapes: int) -> str:
    line = {"level": "INFO", "target": "dynamo_llm::http::service", "message": "request completed",
            "request_id": "0f1e", "status": "success", "elapsed_ms": 612}
    return "".join(json.dumps({"time": f"2026-12-01T09:{(i // 600) % 60:02d}:{(i // 10) % 60:02d}.000Z", **line}) + "\n"
                   for i in range(scrapes * 10))


def metrics_logs(scrapes: int) -> tuple[str, str]:
    fe, worker = [], []
    for i in range(scrapes):
        head = f"# scrape time_ns={T0 + i * S} pid=7\n"
        inflight = 0 if i >= scrapes - 2 else 3
        fe.append(head + f"{filler(i)}\n"
                  f'dynamo_frontend_inflight_requests{{model="tiny-llm"}} {inflight}\n'
                  f'dynamo_frontend_queued_requests{{model="tiny-llm"}} 0\n'
                  f'dynamo_frontend_model_migration_total{{migration_type="new_request",model="tiny-llm"}} {i // 100}\n')
        worker.append(head + f"{filler(i)[: FILLER_LINES * 20]}\n"
                      f'vllm:kv_cache_usage_perc{{engine="0",model_name="tiny-llm"}} {0.001 * (i % 50)}\n')
    return "".join(fe), "".join(worker)


CHECKS = [
    {"kind": "inflight_drains", "within_s": 30},
    {"kind": "queue_drains", "within_s": 30},
    {"kind": "migration_counter", "max": 100},
    {"kind": "worker_metric_max", "metric": "vllm:kv_cache_usage_perc", "max": 0.95},
    {"kind": "log_count", "pattern": '"level": "ERROR"', "max": 0},
    {"kind": "no_panics"},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapes", type=int, default=600)
    args = parser.parse_args()
    fe, worker = metrics_logs(args.scrapes)
    log = frontend_log(args.scrapes)
    inputs = CheckInputs(metrics=[Source("frontend", "fe", fe), Source("decode", "dec", worker)],
                         logs=[Source("frontend", "fe", log)], load_end_ns=T0 + (args.scrapes - 3) * S)
    print(f"frontend metrics.log {len(fe) / 1e6:.1f} MB, worker {len(worker) / 1e6:.1f} MB, "
          f"frontend log {len(log) / 1e6:.1f} MB ({args.scrapes} scrapes)")
    adapter = TypeAdapter(ServerCheck)
    for fields in CHECKS:
        spec = adapter.validate_python(fields)
        started = time.perf_counter()
        result = evaluate(spec, inputs)
        seconds = time.perf_counter() - started
        size = {"log_count": len(log), "no_panics": len(log), "worker_metric_max": len(worker)}.get(spec.kind, len(fe))
        print(f"{spec.kind:18s} {seconds:7.3f} s  {size / 1e6 / seconds:7.1f} MB/s  {result.verdict}: {result.detail[:70]}")
    drains = [adapter.validate_python(c) for c in CHECKS[:2]]
    started = time.perf_counter()
    pending_until(drains, inputs)
    print(f"{'pending_until':18s} {time.perf_counter() - started:7.3f} s  (both drains over the whole files)")
    tail = fe[fe.rindex("# scrape ", 0, fe.rindex("# scrape ")):]  # what the drain wait reads: the scrapes since the load
    tail_inputs = CheckInputs(metrics=[Source("frontend", "fe", tail)], load_end_ns=inputs.load_end_ns)
    started = time.perf_counter()
    pending_until(drains, tail_inputs)
    print(f"{'pending_until tail':18s} {time.perf_counter() - started:7.3f} s  (one poll of the drain wait: "
          f"{len(tail) / 1e3:.0f} KB appended since the load ended)")


if __name__ == "__main__":
    main()
