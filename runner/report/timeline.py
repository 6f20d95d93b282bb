"""The timeline of one scenario: completions per second (successes, failures), latency,
the fault's instant and the recovery span. `series()` is pure; `figure()` draws it with
matplotlib's Agg backend; the PNG sits beside the scenario's summary.json and the same
figure, as SVG, goes inline into report.html.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit
from matplotlib.figure import Figure  # noqa: E402  (Figure, not pyplot: no global state)

from runner.results.records import Record  # noqa: E402
from runner.results.summary import ScenarioSummary  # noqa: E402

PNG_NAME = "timeline.png"
MAX_BINS = 600
COLORS = {"ok": "#2e7d32", "fail": "#c62828", "p50": "#1565c0", "p99": "#6a1b9a", "fault": "#d32f2f",
          "recovery": "#fbc02d", "infra": "#455a64", "phase": "#90a4ae"}


@dataclass(frozen=True)
class Span:
    start_s: float
    end_s: float
    label: str


@dataclass
class Series:
    """Everything the plot shows, in seconds since t0 (the first request's start)."""

    t0_ns: int
    bin_s: float
    times: list[float] = field(default_factory=list)  # bin starts
    successes: list[float] = field(default_factory=list)  # per second
    failures: list[float] = field(default_factory=list)  # per second
    p50_ms: list[float] = field(default_factory=list)  # NaN where no success ended in the bin
    p99_ms: list[float] = field(default_factory=list)
    fault_s: float | None = None
    fault_label: str = ""
    recovery: Span | None = None
    recovery_note: str = ""
    infra_s: float | None = None
    phases: list[Span] = field(default_factory=list)
    served: dict[str, list[float]] = field(default_factory=dict)  # successes/s per serving replica (the join's)
    steps: list[tuple[float, str, bool]] = field(default_factory=list)  # a scenario file's steps: (s, label, fault?)

    @property
    def empty(self) -> bool:
        return not self.times


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty sequence."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def choose_bin(duration_s: float) -> float:
    """1 s bins, wider only when a long run would exceed MAX_BINS."""
    if duration_s <= MAX_BINS:
        return 1.0
    return float(math.ceil(duration_s / MAX_BINS))


def series(records: Sequence[Record], summary: ScenarioSummary) -> Series:
    """Bin the records by the instant their outcome was known (end), one bin per second."""
    starts = [r.start_ns for r in records]
    t0 = min(starts) if starts else (summary.total.start_ns or summary.timings.fault_ns or 0)
    if summary.timings.fault_ns:
        t0 = min(t0, summary.timings.fault_ns)
    last = max((r.end_ns for r in records), default=t0)
    duration = (last - t0) / 1e9
    bin_s = choose_bin(duration)
    lead_s = _lead_to_fault_edge(t0, summary.timings.fault_ns, bin_s)
    duration += lead_s
    nbins = int(duration // bin_s) + 1 if records else 0
    ok = [0] * nbins
    bad = [0] * nbins
    lat: list[list[float]] = [[] for _ in range(nbins)]
    served: dict[str, list[float]] = {}
    for r in records:
        i = min(nbins - 1, int(((r.end_ns - t0) / 1e9 + lead_s) // bin_s))
        if r.ok:
            ok[i] += 1
            if r.latency_ms is not None:
                lat[i].append(r.latency_ms)
            if r.replica:
                served.setdefault(r.replica, [0.0] * nbins)[i] += 1 / bin_s
        else:
            bad[i] += 1
    out = Series(t0_ns=t0, bin_s=bin_s, served=dict(sorted(served.items())))
    for i in range(nbins):
        out.times.append(i * bin_s - lead_s)
        out.successes.append(ok[i] / bin_s)
        out.failures.append(bad[i] / bin_s)
        values = sorted(lat[i])
        out.p50_ms.append(_quantile(values, 0.5) if values else math.nan)
        out.p99_ms.append(_quantile(values, 0.99) if values else math.nan)
    timings = summary.timings
    if timings.fault_ns:
        out.fault_s = (timings.fault_ns - t0) / 1e9
        out.fault_label = f"fault: {summary.failure}"
        if timings.service_recovery_s is not None:
            out.recovery = Span(out.fault_s, out.fault_s + timings.service_recovery_s,
                                f"service recovery {timings.service_recovery_s:.1f} s")
        else:
            out.recovery_note = "service recovery: N/A" + (f" ({timings.service_recovery_reason})" if timings.service_recovery_reason else "")
        if timings.infrastructure_recovery_s is not None:
            out.infra_s = out.fault_s + timings.infrastructure_recovery_s
    for name, window in summary.phases.items():
        if window.start_ns is not None and window.end_ns is not None:
            out.phases.append(Span((window.start_ns - t0) / 1e9, (window.end_ns - t0) / 1e9, name))
    if summary.from_file:
        out.steps = [_step_mark(step, t0) for step in summary.steps if step.kind != "load" or step.index > 1]
    return out


def _step_mark(step, t0: int) -> tuple[float, str, bool]:
    at = step.fault.injected_ns if step.fault and step.fault.injected_ns else step.started_ns
    return (at - t0) / 1e9, f"{step.index} {step.step}", step.kind == "fault"


def _lead_to_fault_edge(t0: int, fault_ns: int | None, bin_s: float) -> float:
    """Seconds the first bin starts before t0 so that a bin edge falls on the fault: a bin never
    mixes attempts that ended before the fault with attempts that ended after it."""
    if not fault_ns:
        return 0.0
    return (bin_s - ((fault_ns - t0) / 1e9) % bin_s) % bin_s


def figure(s: Series, summary: ScenarioSummary) -> Figure:
    fig = Figure(figsize=(10, 7.6 if s.served else 5.8), dpi=100)
    if s.served:
        top, bottom, replicas = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    else:
        (top, bottom), replicas = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]}), None
    fig.suptitle(f"{summary.scenario} - {summary.verdict}", fontsize=11, x=0.01, ha="left")
    if s.empty:
        top.text(0.5, 0.5, "no request records", ha="center", va="center", transform=top.transAxes, fontsize=12)
    else:
        width = s.bin_s
        edges = s.times + [s.times[-1] + width]  # step areas: one flat top per bin, no gaps between bins
        ok = s.successes + s.successes[-1:]
        both = [a + b for a, b in zip(s.successes, s.failures)]
        both += both[-1:]
        top.fill_between(edges, 0, ok, step="post", color=COLORS["ok"], lw=0, label="successes/s", zorder=2)
        top.fill_between(edges, ok, both, step="post", color=COLORS["fail"], lw=0, label="failures/s", zorder=2)
        mids = [t + width / 2 for t in s.times]
        bottom.plot(mids, s.p50_ms, color=COLORS["p50"], lw=1.2, label="latency p50", zorder=3)
        bottom.plot(mids, s.p99_ms, color=COLORS["p99"], lw=0.9, ls="--", label="latency p99", zorder=3)
        peak = max(a + b for a, b in zip(s.successes, s.failures))
        top.set_ylim(0, max(1.0, peak) * 1.25)
    if replicas is not None:
        _draw_replicas(replicas, s)
    for ax in (top, bottom, *([replicas] if replicas is not None else [])):
        for phase in s.phases:
            ax.axvspan(phase.start_s, phase.end_s, color=COLORS["phase"], alpha=0.15, lw=0, zorder=0)
        if s.recovery:
            ax.axvspan(s.recovery.start_s, s.recovery.end_s, color=COLORS["recovery"], alpha=0.45, lw=0, zorder=0,
                       label=s.recovery.label if ax is top else None)
        if s.fault_s is not None:
            ax.axvline(s.fault_s, color=COLORS["fault"], lw=1.6, zorder=4, label=s.fault_label if ax is top else None)
        if s.infra_s is not None:
            ax.axvline(s.infra_s, color=COLORS["infra"], lw=1.1, ls=":", zorder=4,
                       label="infrastructure ready" if ax is top else None)
        ax.grid(axis="y", alpha=0.3, zorder=1)
    for phase in s.phases:
        top.text(phase.start_s, 0.98, f" {phase.label} phase", transform=top.get_xaxis_transform(), va="top",
                 fontsize=8, color="#37474f")
    for at, label, is_fault in s.steps:
        for ax in (top, bottom, *([replicas] if replicas is not None else [])):
            ax.axvline(at, color=COLORS["fault"] if is_fault else "#546e7a", lw=0.9, ls="--", zorder=4)
        top.text(at, 0.02, f" {label}", transform=top.get_xaxis_transform(), rotation=90, va="bottom",
                 fontsize=7, color="#37474f")
    top.set_ylabel(f"requests/s ({s.bin_s:g} s bins)")
    bottom.set_ylabel("latency (ms)")
    (replicas if replicas is not None else bottom).set_xlabel("seconds since the first request")
    bottom.set_ylim(bottom=0)
    if s.recovery_note:
        top.text(0.99, 0.97, s.recovery_note, transform=top.transAxes, ha="right", va="top", fontsize=8,
                 color=COLORS["fault"], bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    handles, labels = top.get_legend_handles_labels()
    if handles:
        top.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=5, fontsize=8, frameon=False)
    if not s.empty:
        bottom.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _draw_replicas(ax, s: Series) -> None:
    """Successes per second by the replica that served them: traffic leaving a killed replica and
    arriving at its restart or replacement."""
    mids = [t + s.bin_s / 2 for t in s.times]
    for name, rates in s.served.items():
        ax.plot(mids, rates, lw=1.1, label=_short(name), zorder=3)
    ax.set_ylabel("served/s per replica")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, fontsize=8, frameon=False)


def _short(name: str, keep: int = 28) -> str:
    return name if len(name) <= keep else "…" + name[-keep:]


def write_timeline_png(scenario_dir: Path, summary: ScenarioSummary, records: Sequence[Record]) -> Path:
    """Draw `<scenario_dir>/timeline.png` and return its path."""
    target = Path(scenario_dir) / PNG_NAME
    figure(series(records, summary), summary).savefig(target, format="png", metadata={"Software": None})
    return target


_ID = re.compile(r'(id="|href="#|url\(#)([A-Za-z0-9_.:-]+)')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def timeline_svg(summary: ScenarioSummary, records: Sequence[Record], id_prefix: str = "") -> str:
    """The same figure as an inline <svg> element (text as paths: no fonts needed).

    Element ids (glyphs, clip paths) get `id_prefix` so several plots can share one page.
    """
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": summary.scenario}):
        figure(series(records, summary), summary).savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = _METADATA.sub("", text[text.index("<svg"):])
    if id_prefix:
        text = _ID.sub(lambda m: f"{m.group(1)}{id_prefix}{m.group(2)}", text)
    return text
