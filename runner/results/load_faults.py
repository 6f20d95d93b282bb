"""What the overload, cancel-storm and etcd/NATS outage faults showed, from their evidence and the load's
records. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from runner.faults.evidence import Evidence
from runner.faults.outage import judge_registration
from runner.faults.overload import HARD_CLASSES, SHED_CLASSES
from runner.results.analysis import error_class, window
from runner.results.records import Record
from runner.results.summary import CancelStormResult, OutageResult, OverloadResult, OverloadStep

STEP_KEYS = ("rate_per_s", "sent", "ok", "held")


def _step(raw: dict) -> OverloadStep:
    return OverloadStep(**{k: raw[k] for k in STEP_KEYS if k in raw},
                        classes={k: v for k, v in raw.items() if k not in STEP_KEYS})


def overload_result(evidence: Sequence[Evidence], records: Sequence[Record], recovery_s: float) -> OverloadResult:
    """Shedding (529/503) kept apart from timeouts and lost connections and from every other error, over the
    ramp and the load; after_ramp: the load's attempts that started once the ramp was over."""
    steps = [_step(s) for e in evidence for s in e.injected.get("steps") or []]
    classes: Counter[str] = Counter()
    for step in steps:
        classes.update(step.classes)
    classes.update(c for c in (error_class(r) for r in records) if c)
    ends = [e.injected.get("ended_ns") for e in evidence if e.injected.get("ended_ns")]
    end = max(ends) if ends else None
    after = [r for r in records if end is not None and r.start_ns >= end + int(recovery_s * 1e9)]
    first = [e.injected.get("first_shed_rate_per_s") for e in evidence if e.injected.get("first_shed_rate_per_s")]
    shed, hard = sum(classes[c] for c in SHED_CLASSES), sum(classes[c] for c in HARD_CLASSES)
    other = sum(classes.values()) - shed - hard
    return OverloadResult(
        steps=steps, first_shed_rate_per_s=min(first) if first else None, shed=shed, hard_failures=hard,
        other_failures=other, ramp_start_ns=min((e.injected_ns for e in evidence if e.injected_ns), default=None),
        ramp_end_ns=end, after_ramp=window(after),
        detail=f"{shed} shed (529/503), {hard} timeouts or lost connections, {other} other failures; "
               f"{len(after)} load attempts started after the ramp",
    )


def cancel_storm_result(evidence: Sequence[Evidence]) -> CancelStormResult:
    if not evidence:
        return CancelStormResult(detail="no evidence of the storm")
    drains = [e.after.get("drained_ns") for e in evidence]
    slowest = None if None in drains else max(d - e.injected_ns for d, e in zip(drains, evidence, strict=True))
    return CancelStormResult(
        cancelled=sum(e.injected.get("cancelled", 0) for e in evidence),
        mid_stream=sum(e.injected.get("mid_stream", 0) for e in evidence),
        inflight_before=sum(e.injected.get("inflight_before") or 0 for e in evidence),
        drained_after_s=None if slowest is None else round(slowest / 1e9, 3),
        fresh_request_ok=all(e.after.get("fresh_ok") for e in evidence),
        detail="; ".join(e.detail for e in evidence),
    )


def outage_result(evidence: Sequence[Evidence], records: Sequence[Record]) -> OutageResult:
    """The load's attempts that ended while the server was stopped, and the worker started meanwhile."""
    if not evidence or not evidence[0].injected_ns or not (evidence[0].restored or {}).get("continued_ns"):
        return OutageResult(detail="the outage's start or end was not recorded")
    ev = evidence[0]
    start, end = ev.after.get("stopped_ns") or ev.injected_ns, ev.restored["continued_ns"]  # the server down
    during = [r for r in records if start <= r.end_ns < end]
    first = min((r.end_ns for r in records if r.ok and r.end_ns >= end), default=None)
    reg_during, reg_after = ev.after.get("registration_during") or {}, ev.restored.get("registration_after") or {}
    failed = sum(1 for r in during if not r.ok)
    return OutageResult(
        requests_during=len(during), failures_during=failed, registered_during=reg_during.get("registered"),
        registered_after_s=reg_during.get("after_s") or reg_after.get("after_s"),
        first_success_after_s=None if first is None else round((first - end) / 1e9, 3),
        detail=f"{failed} of {len(during)} attempts failed during the outage; "
               + judge_registration(reg_during or None, reg_after or None),
    )
