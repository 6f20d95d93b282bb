"""Synthetic nightly histories: many runs of a few scenarios, with known regressions, written as result trees.

Each night is a run directory with the run's summary.json, one folder per scenario holding its
summary.json (built with the summary models) and the other files a real scenario has, which the
trend must never fetch; `manifest.json` marks the upload complete.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runner.results.summary import (
    FaultRecord,
    Percentiles,
    RunScenarioEntry,
    RunSummary,
    ScenarioSummary,
    Timings,
    WindowStats,
)

NIGHT0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
S = 1_000_000_000


@dataclass(frozen=True)
class Night:
    recovery_s: float | None = 8.0  # None with a fault: never recovered
    success_rate: float = 0.995
    p99_ms: float = 300.0
    ttft_p99_ms: float | None = None  # set: the load streamed
    verdict: str = "PASS"
    infra_s: float | None = 6.0


def run_id(night: int) -> str:
    return f"nightly-{night:05d}"


def started_at(night: int) -> str:
    return (NIGHT0 + timedelta(days=night)).isoformat(timespec="seconds")


def scenario_summary(night: int, scenario: str, n: Night, failure: str = "decode_worker") -> ScenarioSummary:
    t0 = int((NIGHT0 + timedelta(days=night)).timestamp() * S)
    fault_ns = None if failure == "none" else t0 + 20 * S
    requests = 400
    ok = round(requests * n.success_rate)
    total = WindowStats(start_ns=t0, end_ns=t0 + 120 * S, requests=requests, successes=ok, failures=requests - ok,
                        success_rate=ok / requests,
                        latency_ms=Percentiles(mean=n.p99_ms * 0.6, p50=n.p99_ms * 0.55, p90=n.p99_ms * 0.8,
                                               p99=n.p99_ms, count=ok),
                        ttft_ms=Percentiles() if n.ttft_p99_ms is None else
                        Percentiles(mean=n.ttft_p99_ms * 0.5, p50=n.ttft_p99_ms * 0.45, p90=n.ttft_p99_ms * 0.8,
                                    p99=n.ttft_p99_ms, count=ok))
    half = requests // 2
    before = WindowStats(start_ns=t0, end_ns=fault_ns, requests=half, successes=half, failures=0, success_rate=1.0,
                         latency_ms=Percentiles(mean=n.p99_ms * 0.5, p50=n.p99_ms * 0.5, p90=n.p99_ms * 0.7,
                                                p99=n.p99_ms * 0.9, count=half))
    after = WindowStats(start_ns=fault_ns, end_ns=t0 + 120 * S, requests=requests - half, successes=ok - half,
                        failures=requests - ok, success_rate=(ok - half) / (requests - half),
                        latency_ms=Percentiles(mean=n.p99_ms * 0.7, p50=n.p99_ms * 0.6, p90=n.p99_ms * 0.9,
                                               p99=n.p99_ms, count=ok - half))
    timings = Timings(startup_s=40.0, fault_ns=fault_ns,
                      service_recovery_s=n.recovery_s if fault_ns else None,
                      service_recovery_reason="no 5 consecutive successes after the fault"
                      if fault_ns and n.recovery_s is None else None,
                      infrastructure_recovery_s=n.infra_s if fault_ns else None)
    return ScenarioSummary(
        run_id=run_id(night), scenario=scenario, group="mocker-agg", backend="mocker", mode="agg", tp=1, dp=2,
        failure=failure, platform="kubernetes", verdict=n.verdict, started_at=started_at(night),
        finished_at=(NIGHT0 + timedelta(days=night, minutes=3)).isoformat(timespec="seconds"), timings=timings,
        fault=None if not fault_ns else FaultRecord(name=failure, kind="process_kill", role="decode",
                                                    targets=["decode-0"], injected_ns=fault_ns, took_effect=True),
        total=total, before=before if fault_ns else WindowStats(), after=after if fault_ns else WindowStats(),
    )


def noisy(rng: random.Random, recovery: float = 8.0, p99: float = 300.0, ttft: float | None = None) -> Night:
    """A normal night: a few percent of noise on every figure."""
    return Night(recovery_s=max(0.5, rng.gauss(recovery, recovery * 0.06)),
                 success_rate=min(1.0, rng.gauss(0.995, 0.002)), p99_ms=rng.gauss(p99, p99 * 0.04),
                 ttft_p99_ms=None if ttft is None else rng.gauss(ttft, ttft * 0.04),
                 infra_s=max(0.5, rng.gauss(6.0, 0.3)))


def write_night(root: Path, night: int, scenarios: dict[str, ScenarioSummary], complete: bool = True,
                extra_files: bool = True) -> Path:
    run_dir = Path(root) / run_id(night)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, s in scenarios.items():
        sdir = run_dir / name
        sdir.mkdir(exist_ok=True)
        (sdir / "summary.json").write_text(s.model_dump_json(indent=1))
        if extra_files:  # what a real scenario also holds; the trend must not fetch these
            (sdir / "scenario.json").write_text(json.dumps({"name": name}))
            (sdir / "events.jsonl").write_text('{"event": "deployed"}\n')
            (sdir / "Frontend").mkdir(exist_ok=True)
            (sdir / "Frontend" / "frontend-0.log").write_text("INFO served\n" * 50)
    run = RunSummary(run_id=run_id(night), platform="kubernetes", started_at=started_at(night), exit_code=0,
                     scenarios=[RunScenarioEntry(scenario=n, verdict=s.verdict, path=n) for n, s in scenarios.items()])
    (run_dir / "summary.json").write_text(run.model_dump_json(indent=1))
    if complete:
        (run_dir / "manifest.json").write_text(json.dumps({"manifest_version": "1", "run_id": run.run_id, "files": []}))
    return run_dir
