"""Regression table of two runs: success rates, recovery times and latencies side by side.

Pure: summaries in, rows and text out. A row is flagged as a regression when
  - the verdict went from PASS / EXPECTED-LIMITATION to FAIL / ERROR,
  - the success rate dropped by more than SUCCESS_DROP_PP percentage points,
  - service recovery grew by more than RECOVERY_GROWTH (relative) and RECOVERY_MIN_S seconds,
  - or latency p99 grew by more than LATENCY_GROWTH (relative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tabulate import tabulate

from runner.results.summary import ScenarioSummary

SUCCESS_DROP_PP = 1.0
RECOVERY_GROWTH = 0.20
RECOVERY_MIN_S = 5.0
LATENCY_GROWTH = 0.20
_GOOD = {"PASS", "EXPECTED-LIMITATION"}


@dataclass(frozen=True)
class Side:
    verdict: str | None = None
    success_rate: float | None = None
    recovery_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def of(cls, s: ScenarioSummary | None) -> Side:
        if s is None:
            return cls()
        return cls(s.verdict, s.total.success_rate, s.timings.service_recovery_s, s.total.latency_ms.p50,
                   s.total.latency_ms.p99)


@dataclass(frozen=True)
class Row:
    scenario: str
    a: Side
    b: Side
    regressions: list[str] = field(default_factory=list)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _grew(a: float | None, b: float | None, rel: float, minimum: float = 0.0) -> bool:
    if a is None or b is None:
        return False
    return b - a > minimum and (a == 0 or (b - a) / a > rel)


def regressions(a: Side, b: Side) -> list[str]:
    found = []
    if a.verdict in _GOOD and b.verdict in ("FAIL", "ERROR"):
        found.append(f"verdict {a.verdict} -> {b.verdict}")
    d = _delta(a.success_rate, b.success_rate)
    if d is not None and -d * 100 > SUCCESS_DROP_PP:
        found.append(f"success rate {d * 100:+.2f} pp")
    if _grew(a.recovery_s, b.recovery_s, RECOVERY_GROWTH, RECOVERY_MIN_S):
        found.append(f"recovery {a.recovery_s:.1f} -> {b.recovery_s:.1f} s")
    if a.recovery_s is not None and b.recovery_s is None and b.verdict is not None and a.verdict in _GOOD:
        found.append("no longer recovers")
    if _grew(a.p99_ms, b.p99_ms, LATENCY_GROWTH):
        found.append(f"p99 latency {a.p99_ms:.0f} -> {b.p99_ms:.0f} ms")
    return found


def compare(run_a: Sequence[ScenarioSummary], run_b: Sequence[ScenarioSummary]) -> list[Row]:
    """One row per scenario of either run, in run A's order then B's new ones."""
    by_a = {s.scenario: s for s in run_a}
    by_b = {s.scenario: s for s in run_b}
    names = list(by_a) + [n for n in by_b if n not in by_a]
    rows = []
    for name in names:
        a, b = Side.of(by_a.get(name)), Side.of(by_b.get(name))
        rows.append(Row(name, a, b, regressions(a, b) if name in by_a and name in by_b else []))
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.2f}%"


def _pp(d: float | None) -> str:
    return "" if d is None else f"{d * 100:+.2f} pp"


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _ds(d: float | None) -> str:
    return "" if d is None else f"{d:+.1f}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _rel(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return ""
    if a == 0:
        return f"{b - a:+.0f}"
    return f"{(b - a) / a * 100:+.0f}%"


def render(rows: Sequence[Row], label_a: str = "A", label_b: str = "B") -> str:
    headers = ["Scenario", "Verdict A", "Verdict B", "Success A", "Success B", "Δ",
               "Recovery A (s)", "Recovery B (s)", "Δ", "p50 A (ms)", "p50 B (ms)", "Δ",
               "p99 A (ms)", "p99 B (ms)", "Δ", "Regression"]
    table = []
    for r in rows:
        a, b = r.a, r.b
        flag = "; ".join(r.regressions)
        if a.verdict is None:
            flag = "only in B"
        elif b.verdict is None:
            flag = "only in A"
        table.append([
            r.scenario, a.verdict or "-", b.verdict or "-",
            _pct(a.success_rate), _pct(b.success_rate), _pp(_delta(a.success_rate, b.success_rate)),
            _s(a.recovery_s), _s(b.recovery_s), _ds(_delta(a.recovery_s, b.recovery_s)),
            _ms(a.p50_ms), _ms(b.p50_ms), _rel(a.p50_ms, b.p50_ms),
            _ms(a.p99_ms), _ms(b.p99_ms), _rel(a.p99_ms, b.p99_ms),
            flag,
        ])
    n = sum(bool(r.regressions) for r in rows)
    legend = f"A = {label_a}\nB = {label_b}"
    return f"{legend}\n\n{tabulate(table, headers=headers, tablefmt='simple', disable_numparse=True)}\n\n{n} regression(s)"
