"""Synthetic but realistic result trees (DESIGN §7), built with the summary models.

Client exports are real-shaped: aiperf `client_N/attempt_M/profile_export.jsonl`
lines as aiperf 0.13 writes them (metadata + metrics, or an `error` object), and
legacy `client_N.log.txt` JSONL lines in the seed's format. Records are read back
with runner.results.records.load_tree, so summaries and plots come from the same data a
real run would have.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner.results.records import Record, load_tree
from runner.results.summary import (
    CheckResult,
    FaultRecord,
    LoadInfo,
    Percentiles,
    RunScenarioEntry,
    RunSummary,
    ScenarioSummary,
    Stage,
    Timings,
    WindowStats,
)

T0_NS = 1_795_754_400_000_000_000  # a fixed instant: trees are reproducible
S = 1_000_000_000


@dataclass(frozen=True)
class Spec:
    name: str
    failure: str
    verdict: str
    client: str = "aiperf"  # or "legacy"
    clients: int = 4
    requests: int = 40
    dp: int = 2
    fault_at_s: float | None = 12.0
    outage_s: float = 5.0  # requests starting in [fault, fault + outage) fail
    fail_share: float = 1.0  # share of the outage's requests that fail
    overflow: bool = False
    records: bool = True  # False: an ERROR scenario with no export at all
    big_file_bytes: int = 0  # a large service log (multipart uploads)


DEFAULT_SPECS = (
    Spec("vllm-agg-tp-1-dp-2-decode_worker", "decode_worker", "PASS", outage_s=2.0, fail_share=0.3),
    Spec("vllm-agg-tp-1-dp-1-none", "none", "PASS", client="legacy", clients=3, dp=1, fault_at_s=None),
    Spec("vllm-agg-tp-1-dp-1-decode_worker", "decode_worker", "FAIL", dp=1, outage_s=30.0),
    Spec("vllm-agg-tp-1-dp-1-token_overflow", "token_overflow", "PASS", dp=1, fault_at_s=None, overflow=True),
    Spec("vllm-agg-tp-1-dp-1-frontend", "frontend", "ERROR", dp=1, records=False),
)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / S, UTC).isoformat(timespec="seconds")


def _aiperf_line(start: int, end: int, ok: bool, latency_ms: float, rng: random.Random) -> dict:
    meta = {
        "session_num": 0, "x_request_id": f"{rng.getrandbits(64):016x}", "conversation_id": "session_000000",
        "turn_index": 0, "credit_issued_ns": start - 1_000_000, "request_start_ns": start, "request_end_ns": end,
        "worker_id": "worker_ebeb868c", "benchmark_phase": "profiling", "phase_name": "profiling",
        "was_cancelled": False, "context_overflow_skip": False,
    }
    if not ok:
        return {"metadata": meta, "metrics": {"error_isl": {"value": 100, "unit": "tokens"}},
                "error": {"code": 503, "type": "Service Unavailable",
                          "message": '{"error": {"message": "no instances available", "code": 503}}'}}
    return {"metadata": meta, "metrics": {
        "request_latency": {"value": latency_ms, "unit": "ms"},
        "time_to_first_token": {"value": latency_ms * 0.12, "unit": "ms"},
        "inter_token_latency": {"value": latency_ms * 0.0088, "unit": "ms"},
        "output_sequence_length": {"value": 100, "unit": "tokens"},
        "input_sequence_length": {"value": 100, "unit": "tokens"},
        "inter_chunk_latency": {"value": [round(latency_ms * 0.0088, 3)] * 99, "unit": "ms"},
    }}


def _requests(spec: Spec, start_ns: int, rng: random.Random, phase_fail: float = 0.0) -> list[list[tuple[int, int, bool, float]]]:
    """Per client: (start, end, ok, latency_ms), one request a second per client."""
    out = []
    fault = None if spec.fault_at_s is None else start_ns + int(spec.fault_at_s * S)
    for c in range(spec.clients):
        reqs = []
        for i in range(spec.requests):
            start = start_ns + i * S + c * (S // (spec.clients + 1))
            in_outage = fault is not None and fault <= start < fault + int(spec.outage_s * S)
            ok = not (in_outage and rng.random() < spec.fail_share) and not (rng.random() < phase_fail)
            latency = rng.uniform(180, 320) * (1.6 if in_outage else 1.0) if ok else rng.uniform(2, 9)
            reqs.append((start, start + int(latency * 1e6), ok, round(latency, 3)))
        out.append(reqs)
    return out


def _write_aiperf(directory: Path, per_client: list[list[tuple[int, int, bool, float]]], rng: random.Random) -> None:
    for c, reqs in enumerate(per_client):
        first_fail = next((i for i, r in enumerate(reqs) if not r[2]), None)
        # An attempt that met failures ends a little after them; the runner starts the next attempt.
        split = len(reqs) if first_fail is None else min(len(reqs), first_fail + 3)
        for attempt, chunk in enumerate((reqs[:split], reqs[split:])):
            if not chunk:
                continue
            d = directory / f"client_{c}" / f"attempt_{attempt}"
            d.mkdir(parents=True, exist_ok=True)
            with (d / "profile_export.jsonl").open("w") as fh:
                for start, end, ok, lat in chunk:
                    fh.write(json.dumps(_aiperf_line(start, end, ok, lat, rng)) + "\n")
            (d / "profile_export_aiperf.json").write_text(json.dumps({"records": len(chunk), "schema_version": "1.0"}))
            (d / "profile_export_aiperf.csv").write_text("Metric,avg,p50,p99\nRequest Latency (ms),250,245,310\n")
            (d / "logs").mkdir(exist_ok=True)
            (d / "logs" / "aiperf.log").write_text("INFO aiperf started\nINFO profiling complete\n")


def _write_legacy(directory: Path, per_client: list[list[tuple[int, int, bool, float]]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for c, reqs in enumerate(per_client):
        with (directory / f"client_{c}.log.txt").open("w") as fh:
            for i, (start, end, ok, lat) in enumerate(reqs):
                attempt = {"status": 200 if ok else 503, "request_elapsed_time": lat / 1000,
                           "url": "http://127.0.0.1:8000/v1/chat/completions", "pod": "frontend-0",
                           "start_ns": start, "end_ns": end, "ok": ok, "error": None if ok else "503 Service Unavailable"}
                fh.write(json.dumps({"time": _iso(start), "results": [attempt], "total_time": lat / 1000,
                                     "request_index": i}) + "\n")


def _percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles()
    v = sorted(values)

    def q(p: float) -> float:
        return v[max(0, min(len(v) - 1, int(round(p * len(v) + 0.5)) - 1))]

    return Percentiles(mean=sum(v) / len(v), p50=q(0.5), p90=q(0.9), p99=q(0.99), count=len(v))


def window(records: list[Record], start: int | None = None, end: int | None = None) -> WindowStats:
    chosen = [r for r in records if (start is None or r.end_ns >= start) and (end is None or r.end_ns < end)]
    if not chosen:
        return WindowStats(start_ns=start, end_ns=end)
    ok = [r for r in chosen if r.ok]
    lo = start or min(r.start_ns for r in chosen)
    hi = end or max(r.end_ns for r in chosen)
    errors: dict[str, int] = {}
    for r in chosen:
        if not r.ok:
            errors[r.error or "error"] = errors.get(r.error or "error", 0) + 1
    return WindowStats(
        start_ns=lo, end_ns=hi, requests=len(chosen), successes=len(ok), failures=len(chosen) - len(ok),
        success_rate=len(ok) / len(chosen), throughput_rps=len(ok) / max(1e-9, (hi - lo) / S),
        latency_ms=_percentiles([r.latency_ms for r in ok if r.latency_ms is not None]),
        ttft_ms=_percentiles([r.ttft_ms for r in ok if r.ttft_ms is not None]), errors=errors,
    )


def recovery_s(records: list[Record], fault_ns: int, k: int = 5) -> float | None:
    after = sorted((r for r in records if r.end_ns >= fault_ns), key=lambda r: r.end_ns)
    for i, r in enumerate(after):
        if r.ok and all(x.ok for x in after[i:i + k]) and len(after[i:i + k]) == k:
            return (r.end_ns - fault_ns) / S
    return None


def _services(sdir: Path, spec: Spec, rng: random.Random) -> None:
    pods = {"Frontend": ["ft-test-frontend-576bd784dc-jv68q"],
            "decode": [f"ft-test-decode-7c9f-{i}" for i in range(spec.dp)]}
    for service, names in pods.items():
        d = sdir / service
        d.mkdir(parents=True, exist_ok=True)
        for pod in names:
            (d / f"{pod}.log").write_text("".join(f"2026-11-27T05:{m:02d}:00Z INFO dynamo request served\n" for m in range(60)))
            (d / f"{pod}.previous.log").write_text("2026-11-27T05:00:00Z INFO starting\n2026-11-27T05:00:12Z WARN killed\n")
            (d / f"{pod}.metrics.log").write_text("# TYPE dynamo_frontend_requests_total counter\n"
                                                  'dynamo_frontend_requests_total{model="tiny"} 160\n')
            (d / f"{pod}.yaml").write_text(f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nstatus:\n  phase: Running\n")
    if spec.big_file_bytes:
        with (sdir / "decode" / "ft-test-decode-7c9f-0.metrics.log").open("wb") as fh:
            left = spec.big_file_bytes
            while left:
                n = min(left, 1 << 20)
                fh.write(rng.randbytes(n))
                left -= n


def build_scenario(run_dir: Path, run_id: str, spec: Spec, seed: int = 7) -> tuple[ScenarioSummary, list[Record]]:
    rng = random.Random(f"{seed}-{spec.name}")
    sdir = run_dir / spec.name
    sdir.mkdir(parents=True, exist_ok=True)
    start = T0_NS
    records: list[Record] = []
    phases: dict[str, WindowStats] = {}
    if spec.records and spec.overflow:
        for n, (phase, fail) in enumerate((("overflow", 0.97), ("recovery", 0.0))):
            per_client = _requests(spec, start + n * (spec.requests + 2) * S, rng, phase_fail=fail)
            _write_aiperf(sdir / phase, per_client, rng)
            recs = load_tree(sdir / phase, phase=phase)
            phases[phase] = window(recs)
            records += recs
    elif spec.records:
        per_client = _requests(spec, start, rng)
        if spec.client == "aiperf":
            _write_aiperf(sdir, per_client, rng)
        else:
            _write_legacy(sdir, per_client)
        records = load_tree(sdir)
    fault_ns = None if spec.fault_at_s is None else start + int(spec.fault_at_s * S)
    end = max((r.end_ns for r in records), default=start + 60 * S)
    rec_s = recovery_s(records, fault_ns) if fault_ns else None
    timings = Timings(startup_s=41.3, fault_ns=fault_ns, first_success_ns=start + S // 4,
                      service_recovery_s=rec_s,
                      service_recovery_reason=None if rec_s is not None or not fault_ns else "no 5 consecutive successes after the fault",
                      infrastructure_recovery_s=(rec_s * 0.8 if rec_s else None) if fault_ns else None)
    total = window(records)
    stage2_status = {"PASS": "PASS", "FAIL": "FAIL", "ERROR": "SKIPPED", "EXPECTED-LIMITATION": "PASS"}[spec.verdict]
    stage1 = Stage(status="ERROR" if spec.verdict == "ERROR" else "PASS", checks=[
        CheckResult(name="1.1 fault took effect", status="ERROR" if spec.verdict == "ERROR" else "PASS",
                    detail="no evidence: the frontend process kept its PID" if spec.verdict == "ERROR" else "PID 4711 -> 4790"),
    ])
    stage2 = Stage(status=stage2_status, checks=[] if spec.verdict == "ERROR" else [
        CheckResult(name="2.2 success rate", status=stage2_status,
                    detail=f"{(total.success_rate or 0) * 100:.2f}% (threshold {'99' if spec.dp > 1 else '10'}%)"),
        CheckResult(name="2.3 recovery time", status=stage2_status,
                    detail="N/A: " + (timings.service_recovery_reason or "") if rec_s is None else f"{rec_s:.1f} s"),
    ])
    reasons = {"PASS": [], "FAIL": ["stage 2: service did not recover within 180 s"],
               "ERROR": ["stage 1: the fault did not take effect (frontend PID unchanged)", "no request records"],
               "EXPECTED-LIMITATION": ["known: zombie scheduler"]}[spec.verdict]
    summary = ScenarioSummary(
        run_id=run_id, scenario=spec.name, group="vllm-agg", backend="vllm", mode="agg", tp=1, dp=spec.dp,
        failure=spec.failure, platform="local", verdict=spec.verdict, reasons=reasons,
        started_at=_iso(start - 45 * S), finished_at=_iso(end + 5 * S),
        load=LoadInfo(client=spec.client, mode="per-client", clients=spec.clients, requests_per_client=spec.requests,
                      streaming=False, input_tokens=100, output_tokens=100),
        timings=timings,
        fault=None if not fault_ns else FaultRecord(name=spec.failure, kind="process_kill", role="decode", seed=0,
                                                    targets=["ft-test-decode-7c9f-0"], injected_ns=fault_ns,
                                                    took_effect=spec.verdict != "ERROR", detail="SIGKILL to PID 4711"),
        total=total,
        before=window(records, None, fault_ns) if fault_ns else WindowStats(),
        after=window(records, fault_ns, None) if fault_ns else WindowStats(),
        after_recovery=window(records, fault_ns + int(rec_s * S), None) if fault_ns and rec_s else WindowStats(),
        phases=phases, stage1=stage1, stage2=stage2,
    )
    (sdir / "summary.json").write_text(summary.model_dump_json(indent=2))
    (sdir / "scenario.json").write_text(json.dumps({"name": spec.name, "backend": "vllm", "dp": spec.dp}))
    (sdir / "faults.json").write_text(json.dumps({"fault": summary.fault.model_dump() if summary.fault else None}))
    (sdir / "events.jsonl").write_text(json.dumps({"ts_ns": start, "event": "deployed"}) + "\n")
    (sdir / "test.log.txt").write_text(f"{_iso(start)} deployment ready\n{_iso(start)} load started\n")
    _services(sdir, spec, rng)
    return summary, records


def build_run(output: Path, run_id: str = "run-20261127-0520", specs: tuple[Spec, ...] = DEFAULT_SPECS,
              seed: int = 7, write_products: bool = True) -> tuple[Path, RunSummary, list[ScenarioSummary], dict[str, list[Record]]]:
    """A whole run directory; with write_products, also timeline.png, report.html and junit.xml."""
    run_dir = Path(output) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    summaries, records = [], {}
    for spec in specs:
        summary, recs = build_scenario(run_dir, run_id, spec, seed)
        summaries.append(summary)
        records[spec.name] = recs
    verdicts = [s.verdict for s in summaries]
    run = RunSummary(run_id=run_id, platform="local", started_at=summaries[0].started_at,
                     finished_at=summaries[-1].finished_at,
                     exit_code=1 if any(v in ("FAIL", "ERROR") for v in verdicts) else 0,
                     scenarios=[RunScenarioEntry(scenario=s.scenario, verdict=s.verdict, path=s.scenario) for s in summaries])
    (run_dir / "summary.json").write_text(run.model_dump_json(indent=2))
    if write_products:
        from runner.report.exports import write_exports
        from runner.report.junit import write_junit
        from runner.report.html import write_report
        from runner.report.timeline import write_timeline_png

        for s in summaries:
            write_timeline_png(run_dir / s.scenario, s, records[s.scenario])
        write_report(run_dir, run, summaries, records)
        write_junit(run_dir, run, summaries)
        write_exports(run_dir, run, summaries)
    return run_dir, run, summaries, records


if __name__ == "__main__":  # a demo tree for a person to look at: python -m tests.report.synthetic DIR
    import sys

    print(build_run(Path(sys.argv[1]))[0])
