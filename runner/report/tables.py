"""The console tables of the seed suite, from summary.json models. Pure.

scenario_table: the per-test "Metric | Value" summary; group_tables: one table
per test group with a row per failure (the seed's legacy-parser layout, plus a
Verdict column). A missing number shows as N/A, and in the per-test table with
the reason it is missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from tabulate import tabulate

from runner import faults
from runner.results.summary import Percentiles, ReplicaTraffic, ScenarioSummary, Stage, TrafficCounts, WindowStats

TABLE_FORMAT = dict(tablefmt="fancy_grid", floatfmt=".2f", missingval="N/A")
VALUE_COLUMN_WIDTH = 90
UNKNOWN_FAILURE_RANK = 1000  # a summary from another version may name a failure this one lacks
GROUP_HEADERS = (
    "Failure",
    "Startup",
    "Success Before",
    "Failed Before",
    "Success After",
    "Failed After",
    "Latency Before",
    "Latency After",
    "Recovery",
    "Verdict",
)
GROUP_LEGEND = (
    "Startup and Recovery in seconds (Recovery = service recovery: fault -> first of K consecutive successes); "
    "Latency = mean seconds of the successful attempts; token_overflow rows put each phase's attempts in the "
    "After columns."
)
PHASE_ORDER = ("overflow", "recovery")


# --- per-scenario table ----------------------------------------------------------


def _step_text(step) -> str:
    parts = [f"{step.step} at +{step.started_s:.2f} s"]
    if step.kind == "fault":
        parts.append("took effect" if step.fault and step.fault.took_effect else "did NOT take effect")
    elif step.kind == "wait":
        parts.append(("met: " if step.met else "NOT met: ") + step.detail)
    w = step.window
    parts.append(f"{w.successes} ok / {w.failures} failed ended in it")
    if step.service_recovery_s is not None:
        parts.append(f"recovery {step.service_recovery_s:.2f} s")
    parts += [f"{c.name.partition(': ')[2]} {c.status} ({c.detail})" for c in step.checks]
    return "; ".join(parts)


def scenario_table(summary: ScenarioSummary) -> str:
    client = summary.load.client if summary.load else "unknown client"
    title = f"FAULT TOLERANCE TEST SUMMARY - {client.upper()}"
    rows = (
        _identity_rows(summary)
        + _deployment_rows(summary)
        + _request_rows(summary)
        + _latency_rows(summary)
        + _throughput_rows(summary)
        + _frontend_rows(summary)
        + _phase_rows(summary)
        + _server_check_rows(summary)
        + _validation_rows(summary)
    )
    table = tabulate(rows, headers=("Metric", "Value"), maxcolwidths=[None, VALUE_COLUMN_WIDTH], **TABLE_FORMAT)
    return "\n".join(("=" * 60, title, "=" * 60, table))


def _identity_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    clients = str(summary.load.clients) if summary.load else _missing("no load information recorded")
    return [
        ("Scenario", summary.scenario),
        ("Test Group", summary.group),
        ("Platform", summary.platform),
        ("Failure", summary.failure),
        ("Request Migration", _migration_text(summary.migration_limit)),
        ("Number of Clients", clients),
    ]


def _deployment_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    timings = summary.timings
    return [
        ("=== Deployment Metrics ===", ""),
        ("Startup Time", _seconds(timings.startup_s, timings.startup_reason)),
        ("Fault Injected", _fault_text(summary)),
        ("Recovery Time", _seconds(timings.service_recovery_s, timings.service_recovery_reason)),  # the seed's row
        ("Service Recovery", _service_recovery_text(summary)),
        ("Probe Recovery", _probe_recovery_text(summary)),
        (
            "Infrastructure Recovery",
            _seconds(timings.infrastructure_recovery_s, timings.infrastructure_recovery_reason),
        ),
    ]


def _request_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    total = summary.total
    rows = [
        ("=== Request Metrics ===", ""),
        ("Total Requests", str(total.requests)),
        ("Successful Requests", str(total.successes)),
        ("Failed Requests", str(total.failures)),
        ("Success Rate", _rate(total.success_rate, "no request was recorded")),
    ]
    # token overflow shows its phases instead (see _phase_rows)
    if summary.timings.fault_ns is not None and not summary.phases:
        rows += [
            ("Before Fault", _counts(summary.before)),
            ("After Fault", _counts(summary.after)),
            ("After Service Recovery", _counts(summary.after_recovery) if _measured(summary.after_recovery)
             else _missing(summary.timings.service_recovery_reason or "the service did not recover")),
        ]
    if summary.in_flight is not None:
        flight = summary.in_flight
        on = f" on {', '.join(flight.replicas)}" if flight.replicas else ""
        rows.append(("In Flight at Fault", f"{flight.requests}{on} ({flight.completed} completed, {flight.failed} failed)"))
    if summary.stall is not None:
        rows.append(("Stall Routing", summary.stall.detail))
    if summary.rollout is not None:
        rows.append(("Rollout", summary.rollout.detail))
    if summary.from_file:
        rows += [(f"Step {step.index}", _step_text(step)) for step in summary.steps]
    rows += _network_and_load_rows(summary)
    if total.error_classes:
        rows.append(("Error Classes", _tally(total.error_classes)))
    if total.errors:
        rows.append(("Errors", _tally(total.errors)))
    if total.end_times.get("server") or total.end_times.get("start"):
        rows.append(("End Times", _end_times_text(total.end_times)))
    return rows


def _tally(counts: dict[str, int]) -> str:
    return "; ".join(f"{text} x{count}" for text, count in counts.items())


END_TIME_WORDS = {"client": "measured by the client", "server": "from the frontend (the client had none)",
                  "start": "unmeasured (classified by start)"}


def _end_times_text(end_times: dict[str, int]) -> str:
    return "; ".join(f"{count} {END_TIME_WORDS.get(source, source)}" for source, count in end_times.items())


def _frontend_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    """What the frontend saw of the same attempts: the join, migrations, traffic per replica."""
    join = summary.request_join
    if join is None:
        return []
    rows = [("=== Seen By The Frontend ===", ""), ("Request Join", _join_text(summary))]
    if summary.migrations is not None:
        m = summary.migrations
        metric = f", metric {m.metric_total}" if m.metric_total is not None else ""
        rows.append(("Migrated Requests", f"{m.migrated} ({m.retries} retries, {m.refused} refused by the limit"
                                          f"{metric}): {m.succeeded} then succeeded, {m.failed} failed"
                                          + (f"; {m.detail}" if m.detail else "")))
    rows += [(f"Replica {r.replica} ({r.role})", _traffic_text(r)) for r in summary.replicas]
    return rows


def _join_text(summary: ScenarioSummary) -> str:
    join = summary.request_join
    rate = _rate(join.match_rate, "no attempt reached a frontend")
    text = f"{join.matched} of {join.reached_frontend} attempts that reached a frontend matched ({rate})"
    if join.unmatched:
        text += "; unmatched: " + _tally(join.unmatched)
    if join.server_only:
        text += "; frontend only: " + _tally(join.server_only)
    return text


def _traffic_text(row: ReplicaTraffic) -> str:
    return f"before {_traffic_counts(row.before)}; after {_traffic_counts(row.after)}"


def _traffic_counts(counts: TrafficCounts) -> str:
    return f"{counts.successes} ok / {counts.failures} failed"


def _latency_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    latency = summary.total.latency_ms
    rows = [
        ("=== Latency Metrics (seconds) ===", ""),
        ("Mean Latency", _ms_as_seconds(latency.mean)),
        ("P50 Latency", _ms_as_seconds(latency.p50)),
        ("P90 Latency", _ms_as_seconds(latency.p90)),
        ("P99 Latency", _ms_as_seconds(latency.p99)),
    ]
    streaming = summary.load.streaming if summary.load else False
    if streaming or summary.total.ttft_ms.count or summary.total.itl_ms.count:
        rows += [
            ("=== Token Generation (milliseconds) ===", ""),
            ("Mean TTFT", _milliseconds(summary.total.ttft_ms)),
            ("Mean ITL", _milliseconds(summary.total.itl_ms)),
        ]
    return rows


def _throughput_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    throughput = summary.total.throughput_rps
    if throughput is None:
        missing = _missing("no successful request spanned a measurable time")
        return [("=== Throughput Metrics ===", ""), ("Total Throughput", missing)]
    rows = [("=== Throughput Metrics ===", ""), ("Total Throughput", f"{throughput:.2f} req/s")]
    if summary.load and summary.load.clients:
        rows.append(("Avg Client Throughput", f"{throughput / summary.load.clients:.2f} req/s"))
    return rows


def _network_and_load_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    """Partition/reset, overload and cancel-storm results, each on its own row (shedding apart from errors)."""
    rows = []
    if summary.partition is not None:
        rows.append(("Partition", summary.partition.detail))
    if summary.overload is not None:
        steps = ", ".join(f"{s.rate_per_s:g}/s{' held' if s.held else ''}: {s.ok}/{s.sent} ok"
                          for s in summary.overload.steps)
        rows += [("Overload Ramp", steps or "no step ran"), ("Overload Shedding", summary.overload.detail)]
    if summary.cancel_storm is not None:
        rows.append(("Cancel Storm", summary.cancel_storm.detail))
    if summary.outage is not None:
        rows.append(("Outage", summary.outage.detail))
    return rows


def _phase_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    if not summary.phases:
        return []
    rows = [("=== Token Overflow Phases ===", "")]
    for name, stats in _ordered_phases(summary.phases):
        rows.append((f"{name.capitalize()} Phase", f"{_counts(stats)}, {_rate(stats.success_rate, 'no attempt')} ok"))
    return rows


def _server_check_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    if not summary.server_checks:
        return []
    return [("=== Server Checks ===", ""),
            *((c.name, f"{c.verdict}: {c.detail}") for c in summary.server_checks)]


def _validation_rows(summary: ScenarioSummary) -> list[tuple[str, str]]:
    rows = [
        ("=== Validation ===", ""),
        ("Stage 1 (scenario happened)", _stage_text(summary.stage1)),
        ("Stage 2 (results)", _stage_text(summary.stage2)),
        ("Verdict", "; ".join([summary.verdict, *summary.reasons])),
    ]
    if summary.cross_check and summary.cross_check.frontend_requests is not None:
        cross = summary.cross_check
        expected = f", expected {cross.expected_difference}" if cross.expected_difference is not None else ""
        rows.insert(
            1,
            (
                "Frontend-Counted Requests",
                f"{cross.frontend_requests} (client records: {cross.client_requests}, "
                f"difference: {cross.difference}{expected}) {cross.detail}".rstrip(),
            ),
        )
    return rows


def _migration_text(limit: int | None) -> str:
    if limit is None:
        return _missing("not recorded")
    return f"on (limit {limit})" if limit else "off"


def _fault_text(summary: ScenarioSummary) -> str:
    fault = summary.fault
    if fault is None:
        return "none" if summary.failure == "none" else _missing("no fault was recorded")
    when = _iso(fault.injected_ns) if fault.injected_ns is not None else "never (no injection stamp)"
    targets = f" into {', '.join(fault.targets)}" if fault.targets else ""
    effect = {True: "took effect", False: "did NOT take effect", None: "effect not verified"}[fault.took_effect]
    return f"{fault.name}{targets} at {when}; {effect}"


def _service_recovery_text(summary: ScenarioSummary) -> str:
    timings = summary.timings
    if timings.service_recovery_s == 0.0 and summary.after.failures == 0:
        return "0.00 s (no request failed after the fault)"
    return _with_resolution(_seconds(timings.service_recovery_s, timings.service_recovery_reason),
                            timings.service_recovery_resolution_s)


def _probe_recovery_text(summary: ScenarioSummary) -> str:
    timings = summary.timings
    if summary.probe is None:
        return _missing(timings.probe_service_recovery_reason or "no probe stream ran (probe.rate_per_s is 0)")
    return _with_resolution(_seconds(timings.probe_service_recovery_s, timings.probe_service_recovery_reason),
                            timings.probe_service_recovery_resolution_s)


def _with_resolution(text: str, resolution_s: float | None) -> str:
    return f"{text} (resolution {resolution_s:.3f} s)" if resolution_s is not None else text


def _stage_text(stage: Stage) -> str:
    problems = [f"{c.name}: {c.detail}" for c in stage.checks if c.status in ("ERROR", "FAIL")]
    return "; ".join([stage.status, *problems])


# --- group tables -----------------------------------------------------------------


def group_tables(summaries: Iterable[ScenarioSummary]) -> str:
    groups: dict[str, list[ScenarioSummary]] = {}
    for summary in summaries:
        groups.setdefault(summary.group, []).append(summary)
    if not groups:
        return "No scenario results."
    blocks = []
    for group in sorted(groups):
        rows = [row for s in sorted(groups[group], key=_failure_rank) for row in _group_rows(s)]
        blocks.append(f"Test Group: {group}\n" + tabulate(rows, headers=GROUP_HEADERS, **TABLE_FORMAT))
    return "\n\n".join([*blocks, GROUP_LEGEND])


def _failure_rank(summary: ScenarioSummary) -> tuple[int, str, str]:
    known = faults.registry().get(summary.failure)
    rank = known.order if known else UNKNOWN_FAILURE_RANK
    return rank, summary.failure, summary.scenario


def _group_rows(summary: ScenarioSummary) -> list[list]:
    startup = summary.timings.startup_s
    if summary.phases:
        rows = []
        for name, stats in _ordered_phases(summary.phases):
            recovery = summary.timings.service_recovery_s if name == "recovery" else None
            rows.append(
                [f"{_failure_label(summary)} ({name})", startup, None, None, *_count_cells(stats), None,
                 _mean_seconds(stats), recovery, summary.verdict]
            )
        return rows
    before = _count_cells(summary.before)
    after = _count_cells(summary.after)
    return [
        [
            _failure_label(summary),
            startup,
            *before,
            *after,
            _mean_seconds(summary.before),
            _mean_seconds(summary.after),
            summary.timings.service_recovery_s,
            summary.verdict,
        ]
    ]


def _failure_label(summary: ScenarioSummary) -> str:
    """The failure as the scenario's name spells it (with a -migration-on/off variant)."""
    prefix = summary.group + "-"
    return summary.scenario[len(prefix):] if summary.scenario.startswith(prefix) else summary.failure


def _count_cells(stats: WindowStats) -> list[int | None]:
    return [stats.successes, stats.failures] if _measured(stats) else [None, None]


def _mean_seconds(stats: WindowStats) -> float | None:
    return stats.latency_ms.mean / 1000.0 if stats.latency_ms.mean is not None else None


# --- formatting -------------------------------------------------------------------


def _measured(stats: WindowStats) -> bool:
    """False for a window that was never computed (a baseline's after-fault window)."""
    return stats.requests > 0 or stats.start_ns is not None or stats.end_ns is not None


def _ordered_phases(phases: dict[str, WindowStats]) -> list[tuple[str, WindowStats]]:
    known = [(name, phases[name]) for name in PHASE_ORDER if name in phases]
    return known + sorted((n, s) for n, s in phases.items() if n not in PHASE_ORDER)


def _missing(reason: str | None) -> str:
    return f"N/A ({reason or 'no reason recorded'})"


def _seconds(value: float | None, reason: str | None) -> str:
    return f"{value:.2f} s" if value is not None else _missing(reason)


def _rate(value: float | None, reason: str) -> str:
    return f"{value * 100:.2f}%" if value is not None else _missing(reason)


def _counts(stats: WindowStats) -> str:
    return f"{stats.successes} ok / {stats.failures} failed"


def _ms_as_seconds(value: float | None) -> str:
    return f"{value / 1000.0:.3f}" if value is not None else _missing("no successful request")


def _milliseconds(stats: Percentiles) -> str:
    return f"{stats.mean:.2f} ms" if stats.mean is not None else _missing("no successful streamed request")


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
