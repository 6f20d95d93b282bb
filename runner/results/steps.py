"""Each step of a timeline judged on its own: its window of attempts, its fault's recovery, its checks. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from runner.core.timeline import StepExpect
from runner.faults.evidence import Evidence
from runner.results.analysis import analyze, window
from runner.results.observe import iso_from_ns
from runner.results.records import Record
from runner.results.summary import CheckResult, FaultRecord, StepSummary


class StepView(Protocol):
    index: int
    kind: str
    text: str
    started_ns: int
    ended_ns: int | None
    fault: FaultRecord | None
    evidence: list[Evidence]
    met: bool | None
    detail: str


def step_summaries(steps: Sequence[StepView], expects: Sequence[StepExpect | None], records: Sequence[Record],
                   k: int) -> list[StepSummary]:
    if not steps:
        return []
    origin = steps[0].started_ns
    return [_summary(step, expect, records, k, origin, until)
            for step, expect, until in zip(steps, expects, step_ends(steps), strict=True)]


def step_ends(steps: Sequence) -> list[int | None]:
    """Where each step's window ends: at the next step's start; a fault step's at the next fault or load
    step's, so the waits after a fault (its recovery, the requests it held until it was undone) stay in
    its window. None: the end of the load."""
    ends: list[int | None] = []
    for i, step in enumerate(steps):
        later = steps[i + 1:]
        if step.kind == "fault":
            later = [s for s in later if s.kind != "wait"]
        ends.append(later[0].started_ns if later else None)
    return ends


def _summary(step: StepView, expect: StepExpect | None, records: Sequence[Record], k: int, origin: int,
             until: int | None) -> StepSummary:
    stats = window(records, step.started_ns, until)
    recovery = None
    if step.fault is not None and step.fault.injected_ns is not None:
        recovery = analyze(records, step.fault.injected_ns, k).service_recovery_s
    summary = StepSummary(
        index=step.index + 1, step=step.text, kind=step.kind, started_at=iso_from_ns(step.started_ns),
        started_ns=step.started_ns,
        started_s=round((step.started_ns - origin) / 1e9, 3), fault=step.fault, met=step.met, window=stats,
        duration_s=round((step.ended_ns - step.started_ns) / 1e9, 3) if step.ended_ns else None,
        service_recovery_s=recovery, detail=step.detail or (step.fault.detail if step.fault else "") or "",
    )
    summary.checks = expect_checks(summary, expect) if expect is not None else []
    return summary


def expect_checks(step: StepSummary, expect: StepExpect) -> list[CheckResult]:
    checks = []
    if expect.min_success_rate is not None:
        checks.append(_rate_check(step, expect.min_success_rate))
    if expect.max_recovery_s is not None:
        checks.append(_recovery_check(step, expect.max_recovery_s))
    return checks


def _rate_check(step: StepSummary, minimum: float) -> CheckResult:
    name = f"step {step.index}: success rate"
    stats = step.window
    if stats.requests == 0:
        return CheckResult(name=name, status="ERROR", detail="no attempt ended in the step's window")
    rate = stats.successes / stats.requests
    return CheckResult(name=name, status="PASS" if rate >= minimum else "FAIL",
                       detail=f"{rate * 100:.2f} % of {stats.requests} (needs >= {minimum * 100:.2f} %)")


def _recovery_check(step: StepSummary, maximum: float) -> CheckResult:
    name = f"step {step.index}: service recovery"
    if step.service_recovery_s is None:
        return CheckResult(name=name, status="ERROR", detail="no recovery measured after the step's fault")
    ok = step.service_recovery_s <= maximum
    return CheckResult(name=name, status="PASS" if ok else "FAIL",
                       detail=f"{step.service_recovery_s:.2f} s (bound {maximum:g} s)")


def step_happened(steps: Sequence[StepSummary]) -> list[CheckResult]:
    """Stage 1 of a scenario file: every fault step took effect and every wait's condition came true."""
    results = []
    for s in steps:
        if s.kind == "fault":
            took = s.fault is not None and s.fault.took_effect is True
            results.append(CheckResult(name=f"step {s.index}: {s.step}", status="PASS" if took else "ERROR",
                                       detail=s.detail or "no fault evidence"))
        elif s.kind == "wait":
            results.append(CheckResult(name=f"step {s.index}: {s.step}", status="PASS" if s.met else "ERROR",
                                       detail=s.detail))
    return results
