"""Exports written into a run's tree, for other tools.

- `metrics.prom` (run level): the run's figures in the OpenMetrics text format, every sample a gauge
  labelled with the run and the scenario; a Prometheus textfile collector reads it as it is (the
  `# UNIT` and `# EOF` lines are comments to the classic text parser) and a Pushgateway accepts it.
- `<scenario>/fault_tolerance_report.json`: the shape of upstream's report of one test, {test_name,
  rows[...], events[...]}, for users moving from upstream's suite
  (runner/schemas/fault_tolerance_report.schema.json).
A figure that was not measured is left out of metrics.prom and is null in the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from runner.results.summary import RunSummary, ScenarioSummary, WindowStats

METRICS_NAME = "metrics.prom"
UPSTREAM_NAME = "fault_tolerance_report.json"
_NS = 1e9

# name, unit (OpenMetrics: the name ends with it), help
_FAMILIES = (
    ("ft_runner_scenario_passed", "", "1 when the verdict is PASS or EXPECTED-LIMITATION, else 0."),
    ("ft_runner_scenario_verdict", "", "1 for the scenario's verdict (label verdict)."),
    ("ft_runner_requests", "", "Request attempts that ended in the window."),
    ("ft_runner_failed_requests", "", "Failed request attempts of the window."),
    ("ft_runner_success_ratio", "", "Successful / all attempts of the window (0..1)."),
    ("ft_runner_latency_seconds", "seconds", "Request latency of the window's successes, by quantile."),
    ("ft_runner_ttft_seconds", "seconds", "Time to first token of the window's successes, by quantile (streamed)."),
    ("ft_runner_startup_seconds", "seconds", "Deploy -> every replica ready and a probe answered."),
    ("ft_runner_service_recovery_seconds", "seconds", "Fault -> the first of K consecutive successes."),
    ("ft_runner_infrastructure_recovery_seconds", "seconds", "Fault -> the restarted or replacement replica ready."),
    ("ft_runner_run_start_timestamp_seconds", "seconds", "When the run started (UTC epoch seconds)."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _epoch(iso: str) -> float | None:
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _windows(s: ScenarioSummary) -> Iterator[tuple[str, WindowStats]]:
    yield "total", s.total
    for name, w in (("before", s.before), ("after", s.after), ("after_recovery", s.after_recovery)):
        if w.requests:
            yield name, w
    for name, w in s.phases.items():
        yield f"phase_{name}", w


def _samples(run: RunSummary, s: ScenarioSummary) -> Iterator[tuple[str, dict[str, str], float | None]]:
    base = {"run_id": run.run_id, "scenario": s.scenario, "backend": s.backend, "mode": s.mode,
            "failure": s.failure, "platform": s.platform}
    yield "ft_runner_scenario_passed", base, 1.0 if s.verdict in ("PASS", "EXPECTED-LIMITATION") else 0.0
    yield "ft_runner_scenario_verdict", {**base, "verdict": s.verdict}, 1.0
    for window, w in _windows(s):
        labels = {**base, "window": window}
        yield "ft_runner_requests", labels, float(w.requests)
        yield "ft_runner_failed_requests", labels, float(w.failures)
        yield "ft_runner_success_ratio", labels, w.success_rate
        for family, pct in (("ft_runner_latency_seconds", w.latency_ms), ("ft_runner_ttft_seconds", w.ttft_ms)):
            for q, v in (("0.5", pct.p50), ("0.9", pct.p90), ("0.99", pct.p99)):
                yield family, {**labels, "quantile": q}, None if v is None else v / 1000.0
    t = s.timings
    yield "ft_runner_startup_seconds", base, t.startup_s
    yield "ft_runner_service_recovery_seconds", base, t.service_recovery_s
    yield "ft_runner_infrastructure_recovery_seconds", base, t.infrastructure_recovery_s


def openmetrics(run: RunSummary, summaries: Sequence[ScenarioSummary]) -> str:
    """The OpenMetrics text of a run: one family after the other, `# EOF` last."""
    by_family: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
    for s in summaries:
        for name, labels, value in _samples(run, s):
            if value is not None:
                by_family[name].append(f"{name}{_labels(labels)} {value!r}")
    started = _epoch(run.started_at)
    if started is not None:
        by_family["ft_runner_run_start_timestamp_seconds"].append(
            f"ft_runner_run_start_timestamp_seconds{_labels({'run_id': run.run_id, 'platform': run.platform})} {started!r}")
    lines = []
    for name, unit, help_text in _FAMILIES:
        if not by_family[name]:
            continue
        lines += [f"# TYPE {name} gauge"] + ([f"# UNIT {name} {unit}"] if unit else []) + [f"# HELP {name} {help_text}"]
        lines += by_family[name]
    return "\n".join(lines + ["# EOF"]) + "\n"


def _iso(ns: int | None) -> str | None:
    return None if ns is None else datetime.fromtimestamp(ns / _NS, UTC).isoformat(timespec="milliseconds")


def _event(kind: str, name: str, description: str, start: int | None, end: int | None) -> dict:
    return {"type": kind, "name": name, "description": description, "started_at": _iso(start), "started_at_ns": start,
            "ended_at": _iso(end), "ended_at_ns": end}


def _after(start: int | None, seconds: float | None) -> int | None:
    return None if start is None or seconds is None else start + int(seconds * _NS)


def _events(s: ScenarioSummary) -> list[dict]:
    t = s.timings
    events = [_event("load", "load", f"{s.total.requests} request attempts", s.total.start_ns, s.total.end_ns)]
    events += [_event("phase", name, f"{w.requests} request attempts", w.start_ns, w.end_ns) for name, w in s.phases.items()]
    if s.fault is not None:
        f = s.fault
        detail = f"{f.kind} on {', '.join(f.targets) or '-'}" + (f": {f.detail}" if f.detail else "")
        events.append(_event("fault", f.name, detail, f.injected_ns, None))
    if t.fault_ns is not None:
        events.append(_event("recovery", "service_recovery", t.service_recovery_reason or "K consecutive successes",
                             t.fault_ns, _after(t.fault_ns, t.service_recovery_s)))
        events.append(_event("recovery", "infrastructure_recovery", t.infrastructure_recovery_reason or "replica ready",
                             t.fault_ns, _after(t.fault_ns, t.infrastructure_recovery_s)))
    return events


def upstream_report(s: ScenarioSummary) -> dict:
    """One scenario as upstream's fault_tolerance_report.json: one row (its figures), its events."""
    before, after = (s.before, s.after) if s.fault is not None or s.timings.fault_ns else (s.total, WindowStats())
    row = {
        "test_name": s.scenario, "failure": s.failure, "verdict": s.verdict,
        "success_before": before.successes, "failed_before": before.failures,
        "success_after": after.successes, "failed_after": after.failures,
        "latency_before_ms": before.latency_ms.mean, "latency_after_ms": after.latency_ms.mean,
        "latency_mean_ms": s.total.latency_ms.mean, "latency_p50_ms": s.total.latency_ms.p50,
        "latency_p90_ms": s.total.latency_ms.p90, "latency_p99_ms": s.total.latency_ms.p99,
        "startup_s": s.timings.startup_s, "recovery_s": s.timings.service_recovery_s,
        "infrastructure_recovery_s": s.timings.infrastructure_recovery_s,
    }
    return {"test_name": s.scenario, "rows": [row], "events": _events(s)}


def write_exports(run_dir: Path, run: RunSummary, summaries: Sequence[ScenarioSummary]) -> Path:
    """metrics.prom into the run directory, fault_tolerance_report.json into each scenario's; returns metrics.prom."""
    run_dir = Path(run_dir)
    for s in summaries:
        target = run_dir / s.scenario / UPSTREAM_NAME
        if target.parent.is_dir():
            target.write_text(json.dumps(upstream_report(s), indent=2) + "\n")
    metrics = run_dir / METRICS_NAME
    metrics.write_text(openmetrics(run, summaries))
    return metrics
