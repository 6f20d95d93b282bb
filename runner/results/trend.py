"""Nightly history: each run of a scenario judged against a rolling baseline of the runs before it.

Pure: points in, judgements out. For every metric of a scenario the runs are taken in time
order; a run is compared with the band of the previous `baseline_runs` runs that were themselves
in band (median ± k·MAD, MAD scaled to a standard deviation, never narrower than the metric's
floor). A run outside the band on the worse side is *regressed* and does not enter the baseline,
so a step change stays a regression until the metric comes back, instead of becoming the new
normal after N nights; the regression's onset is the first run of the current streak of regressed
runs. Runs before the baseline has `min_baseline` values are *learning*.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from runner.results.summary import ScenarioSummary

TREND_DIR = "_trend"  # s3://B/P/_trend/trend.html: beside the runs, never a run id (those start [a-z0-9])
MAD_TO_SD = 1.4826  # MAD of a normal distribution x this = its standard deviation
_GOOD = ("PASS", "EXPECTED-LIMITATION")

OK, REGRESSED, LEARNING, NA = "ok", "regressed", "learning", "n/a"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_worse: bool
    abs_floor: float  # the band's half-width is at least this ...
    rel_floor: float  # ... and at least this share of the baseline's median


METRICS = (
    Metric("verdict", "verdict (1 = pass)", "", False, 0.5, 0.0),
    Metric("success_rate", "success rate", "%", False, 0.01, 0.0),
    Metric("service_recovery_s", "service recovery", "s", True, 2.0, 0.2),
    Metric("infrastructure_recovery_s", "infrastructure recovery", "s", True, 2.0, 0.2),
    Metric("latency_p99_ms", "latency p99", "ms", True, 20.0, 0.15),
    Metric("ttft_p99_ms", "TTFT p99 (streamed)", "ms", True, 20.0, 0.15),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class Point:
    """What the trend needs of one scenario's summary.json. A recovery that never came is inf."""

    run_id: str
    scenario: str
    started_at: str
    verdict: str
    success_rate: float | None = None
    service_recovery_s: float | None = None
    infrastructure_recovery_s: float | None = None
    latency_p99_ms: float | None = None
    ttft_p99_ms: float | None = None

    def value(self, key: str) -> float | None:
        if key == "verdict":
            return 1.0 if self.verdict in _GOOD else 0.0
        return getattr(self, key)


def _recovery(value: float | None, had_fault: bool, reason: str | None) -> float | None:
    if value is not None or not had_fault or not reason:
        return value
    return math.inf  # a fault landed and the summary says why no recovery time could be given


def point_of(s: ScenarioSummary) -> Point:
    had_fault = s.timings.fault_ns is not None
    t = s.timings
    streamed = s.total.ttft_ms.count > 0
    return Point(
        run_id=s.run_id, scenario=s.scenario, started_at=s.started_at, verdict=s.verdict,
        success_rate=s.total.success_rate,
        service_recovery_s=_recovery(t.service_recovery_s, had_fault, t.service_recovery_reason),
        infrastructure_recovery_s=_recovery(t.infrastructure_recovery_s, had_fault, t.infrastructure_recovery_reason),
        latency_p99_ms=s.total.latency_ms.p99,
        ttft_p99_ms=s.total.ttft_ms.p99 if streamed else None,
    )


@dataclass(frozen=True)
class Band:
    median: float
    low: float
    high: float
    size: int


def band(values: Sequence[float], metric: Metric, k: float) -> Band:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values) * MAD_TO_SD
    half = max(k * mad, metric.abs_floor, metric.rel_floor * abs(med))
    return Band(med, med - half, med + half, len(values))


def is_worse(value: float, b: Band, metric: Metric) -> bool:
    return value > b.high if metric.higher_is_worse else value < b.low


@dataclass(frozen=True)
class Judged:
    point: Point
    value: float | None
    status: str
    band: Band | None = None


@dataclass(frozen=True)
class Settings:
    baseline_runs: int = 7
    min_baseline: int = 3
    k: float = 4.0


def judge_metric(points: Sequence[Point], metric: Metric, settings: Settings = Settings()) -> list[Judged]:
    """Each point (time order) against the band of the previous in-band values."""
    normal: list[float] = []
    out = []
    for p in points:
        v = p.value(metric.key)
        window = [x for x in normal[-settings.baseline_runs:] if math.isfinite(x)]
        if v is None:
            out.append(Judged(p, None, NA))
        elif len(window) < settings.min_baseline:
            out.append(Judged(p, v, LEARNING))
            normal.append(v)
        else:
            b = band(window, metric, settings.k)
            bad = is_worse(v, b, metric)
            out.append(Judged(p, v, REGRESSED if bad else OK, b))
            if not bad:
                normal.append(v)
    return out


@dataclass(frozen=True)
class Regression:
    scenario: str
    metric: str
    onset_run: str  # the first run of the current streak of regressed runs
    onset_at: str
    runs: int  # how many runs the streak holds
    latest: float
    baseline_median: float


def current_regression(judged: Sequence[Judged], metric: Metric) -> Regression | None:
    """The streak of regressed runs that reaches the latest measured run, if any."""
    measured = [j for j in judged if j.status != NA]
    if not measured or measured[-1].status != REGRESSED:
        return None
    streak = 0
    for j in reversed(measured):
        if j.status != REGRESSED:
            break
        streak += 1
    first, last = measured[-streak], measured[-1]
    return Regression(last.point.scenario, metric.key, first.point.run_id, first.point.started_at, streak,
                      last.value, first.band.median)


@dataclass
class ScenarioTrend:
    scenario: str
    points: list[Point]
    judged: dict[str, list[Judged]] = field(default_factory=dict)
    regressions: list[Regression] = field(default_factory=list)


def trend(points: Iterable[Point], settings: Settings = Settings()) -> list[ScenarioTrend]:
    """Per scenario (by name), every metric judged and the regressions in force at its latest run."""
    by_name: dict[str, list[Point]] = {}
    for p in points:
        by_name.setdefault(p.scenario, []).append(p)
    out = []
    for name in sorted(by_name):
        ordered = sorted(by_name[name], key=lambda p: (p.started_at, p.run_id))
        st = ScenarioTrend(name, ordered)
        for m in METRICS:
            st.judged[m.key] = judge_metric(ordered, m, settings)
            reg = current_regression(st.judged[m.key], m)
            if reg:
                st.regressions.append(reg)
        out.append(st)
    return out


def describe(r: Regression) -> str:
    m = METRIC_BY_KEY[r.metric]
    if r.metric == "verdict":
        return f"{r.scenario}: verdict no longer passes since run {r.onset_run} ({r.onset_at}, {r.runs} run(s))"
    scale = 100.0 if m.unit == "%" else 1.0

    def fmt(v: float) -> str:
        return "never" if math.isinf(v) else f"{v * scale:.2f}{m.unit}" if m.unit == "%" else f"{v * scale:.1f} {m.unit}"

    return (f"{r.scenario}: {m.label} {fmt(r.latest)} against a baseline of {fmt(r.baseline_median)} since run "
            f"{r.onset_run} ({r.onset_at}, {r.runs} run(s))")
