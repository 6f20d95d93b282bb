"""`report.html`: one self-contained page per run, readable offline.

The run's table, then per scenario: verdict and reasons, fault and timings, the
windows (before / after the fault / after recovery), the timeline plot as inline
SVG (the same figure as the scenario's timeline.png) and the stage checks. No
script, no external stylesheet, font or image: everything is in the file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from runner.results.records import Record
from runner.results.summary import RunSummary, ScenarioSummary, Stage, WindowStats
from runner.report.timeline import PNG_NAME, timeline_svg

REPORT_NAME = "report.html"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1180px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:34px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}
.meta{color:#555;margin:0 0 16px}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d0d0;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;white-space:normal}
.scroll{overflow-x:auto}td.l,th.l{text-align:left}
.v{font-weight:600;padding:1px 7px;border-radius:3px;color:#fff}
.PASS{background:#2e7d32}.FAIL{background:#c62828}.ERROR{background:#6d4c41}.EXPECTED-LIMITATION{background:#ef6c00}
.SKIPPED{background:#9e9e9e}
.plot svg{width:100%;height:auto;max-width:1000px;display:block}
ul.reasons{margin:4px 0 8px 18px;padding:0}
.checks td{white-space:normal}
.muted{color:#777}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _badge(verdict: str) -> str:
    return f'<span class="v {_e(verdict)}">{_e(verdict)}</span>'


def anchor(name: str) -> str:
    return "s-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _recovery(value: float | None, reason: str | None) -> str:
    if value is not None:
        return f"{value:.1f} s"
    return "N/A" + (f" ({reason})" if reason else "")


def run_table(summaries: Sequence[ScenarioSummary]) -> str:
    head = ("<tr><th class=l>Scenario</th><th class=l>Verdict</th><th>Requests</th><th>Success rate</th>"
            "<th>Failures</th><th>Service recovery</th><th>Infra recovery</th><th>Latency p50</th>"
            "<th>Latency p99</th><th>Stage 1</th><th>Stage 2</th></tr>")
    rows = []
    for s in summaries:
        t = s.timings
        rows.append(
            "<tr>"
            f'<td class=l><a href="#{anchor(s.scenario)}">{_e(s.scenario)}</a></td>'
            f"<td class=l>{_badge(s.verdict)}</td>"
            f"<td>{s.total.requests}</td><td>{_pct(s.total.success_rate)}</td><td>{s.total.failures}</td>"
            f"<td>{_e(_num(t.service_recovery_s, ' s'))}</td><td>{_e(_num(t.infrastructure_recovery_s, ' s'))}</td>"
            f"<td>{_e(_num(s.total.latency_ms.p50, ' ms'))}</td><td>{_e(_num(s.total.latency_ms.p99, ' ms'))}</td>"
            f"<td>{_badge(s.stage1.status)}</td><td>{_badge(s.stage2.status)}</td>"
            "</tr>"
        )
    return f'<div class="scroll"><table class="run">{head}{"".join(rows)}</table></div>'


def windows_table(s: ScenarioSummary) -> str:
    windows: list[tuple[str, WindowStats]] = [("total", s.total), ("before fault", s.before),
                                              ("after fault", s.after), ("after recovery", s.after_recovery)]
    windows += [(f"phase: {name}", w) for name, w in s.phases.items()]
    head = ("<tr><th class=l>Window</th><th>Requests</th><th>Successes</th><th>Failures</th><th>Success rate</th>"
            "<th>Throughput</th><th>Latency p50</th><th>p90</th><th>p99</th><th>TTFT p50</th><th class=l>Errors</th></tr>")
    rows = []
    for name, w in windows:
        if w.requests == 0 and name not in ("total",):
            continue
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(w.errors.items(), key=lambda kv: -kv[1])[:4])
        rows.append(
            f"<tr><td class=l>{_e(name)}</td><td>{w.requests}</td><td>{w.successes}</td><td>{w.failures}</td>"
            f"<td>{_pct(w.success_rate)}</td><td>{_e(_num(w.throughput_rps, ' rps', 2))}</td>"
            f"<td>{_e(_num(w.latency_ms.p50, ' ms'))}</td><td>{_e(_num(w.latency_ms.p90, ' ms'))}</td>"
            f"<td>{_e(_num(w.latency_ms.p99, ' ms'))}</td><td>{_e(_num(w.ttft_ms.p50, ' ms'))}</td>"
            f"<td class=l>{_e(errors)}</td></tr>"
        )
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def checks_table(label: str, stage: Stage) -> str:
    rows = "".join(
        f"<tr><td class=l>{_e(c.name)}</td><td class=l>{_badge(c.status)}</td><td class=l>{_e(c.detail)}</td></tr>"
        for c in stage.checks
    )
    body = f'<table class="checks"><tr><th class=l>Check</th><th class=l>Status</th><th class=l>Detail</th></tr>{rows}</table>' if rows else ""
    return f"<h3>{_e(label)} {_badge(stage.status)}</h3>{body}"


def _ns_iso(ns: int | None) -> str:
    return "-" if ns is None else datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


def scenario_section(s: ScenarioSummary, records: Sequence[Record]) -> str:
    t = s.timings
    reasons = "".join(f"<li>{_e(r)}</li>" for r in s.reasons)
    fault = ""
    if s.fault:
        f = s.fault
        fault = (f"<p><b>Fault</b> {_e(f.name)} ({_e(f.kind)}) on {_e(', '.join(f.targets) or '-')}"
                 f" at {_e(_ns_iso(f.injected_ns))}; took effect: {_e(f.took_effect)}"
                 + (f"; {_e(f.detail)}" if f.detail else "") + "</p>")
    timings = (f"<p><b>Startup</b> {_e(_recovery(t.startup_s, t.startup_reason))} · "
               f"<b>Service recovery</b> {_e(_recovery(t.service_recovery_s, t.service_recovery_reason))} · "
               f"<b>Infrastructure recovery</b> {_e(_recovery(t.infrastructure_recovery_s, t.infrastructure_recovery_reason))}</p>")
    load = ""
    if s.load:
        ld = s.load
        load = (f'<p class="muted">{_e(ld.client)} ({_e(ld.mode)}), {ld.clients} clients × {ld.requests_per_client} requests, '
                f"ISL {ld.input_tokens} / OSL {ld.output_tokens}, streaming: {_e(ld.streaming)}</p>")
    return (
        f'<section id="{anchor(s.scenario)}"><h2>{_e(s.scenario)} {_badge(s.verdict)}</h2>'
        f'<p class="meta">{_e(s.backend)} · {_e(s.mode)} · TP {s.tp} · DP {s.dp} · failure {_e(s.failure)} · '
        f"{_e(s.platform)} · {_e(s.started_at)} → {_e(s.finished_at)}</p>"
        + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
        + load + fault + timings
        + f'<div class="plot" role="img" aria-label="timeline of {_e(s.scenario)}">{timeline_svg(s, records, id_prefix=anchor(s.scenario) + "-")}</div>'
        + f'<p class="muted"><a href="{_e(s.scenario)}/{PNG_NAME}">{_e(PNG_NAME)}</a> · '
          f'<a href="{_e(s.scenario)}/summary.json">summary.json</a></p>'
        + windows_table(s)
        + checks_table("Stage 1: the scenario happened", s.stage1)
        + checks_table("Stage 2: the results meet the bar", s.stage2)
        + "</section>"
    )


def trend_link(href: str | None) -> str:
    if not href:
        return ""
    return (f'<p class="muted">History: <a class="trend" href="{_e(href)}">the trend of every run in this bucket</a> '
            "(written there by <code>ft-runner results trend s3://BUCKET/PREFIX --publish</code>)</p>")


def render(run: RunSummary, summaries: Sequence[ScenarioSummary], records_by_scenario: Mapping[str, Sequence[Record]],
           trend_href: str | None = None) -> str:
    counts: dict[str, int] = {}
    for s in summaries:
        counts[s.verdict] = counts.get(s.verdict, 0) + 1
    tally = " · ".join(f"{_badge(v)} {n}" for v, n in sorted(counts.items()))
    sections = "".join(scenario_section(s, records_by_scenario.get(s.scenario, ())) for s in summaries)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ft-runner report: {_e(run.run_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Fault-tolerance run {_e(run.run_id)}</h1>"
        f'<p class="meta">platform {_e(run.platform)} · started {_e(run.started_at)} · finished {_e(run.finished_at or "-")}'
        f" · exit code {_e(run.exit_code if run.exit_code is not None else '-')} · {len(summaries)} scenarios: {tally}</p>"
        + trend_link(trend_href)
        + run_table(summaries)
        + sections
        + f'<p class="muted">schema {_e(run.schema_version)} · generated by dynamo-ft-runner</p>'
        "</body></html>\n"
    )


def write_report(run_dir: Path, run: RunSummary, summaries: list[ScenarioSummary],
                 records_by_scenario: dict[str, list[Record]], trend_href: str | None = None) -> Path:
    target = Path(run_dir) / REPORT_NAME
    target.write_text(render(run, summaries, records_by_scenario, trend_href), encoding="utf-8")
    return target
