"""A rolling upgrade seen from the service: when each replica of the role was routable, and the longest
window in which none was. Pure.

An old replica is routable until its stop signal; a new one from the first success it served (decode
replicas, named by the request join) or, where no request names its replica, from its readiness. A
replica the rollout never touched is routable throughout."""

from __future__ import annotations

from collections.abc import Sequence

from runner.faults.evidence import Evidence
from runner.results.records import Record
from runner.results.summary import Rollout, RolloutStep

NEVER = float("inf")


def first_success_by_replica(records: Sequence[Record]) -> dict[str, int]:
    first: dict[str, int] = {}
    for r in records:
        if r.ok and r.replica and r.start_ns < first.get(r.replica, NEVER):
            first[r.replica] = r.start_ns
    return first


def routable_intervals(evidence: Sequence[Evidence], untouched: int, served: dict[str, int],
                       use_served: bool) -> list[tuple[float, float]]:
    """(from, until) in epoch ns of every replica of the role; -inf/inf for open ends."""
    spans: list[tuple[float, float]] = [(-NEVER, NEVER)] * untouched
    for e in evidence:
        stopped = e.after.get("stop_ns")
        spans.append((-NEVER, stopped if stopped is not None else NEVER))
        if e.replacement:
            ready = e.ready_ns if e.ready_ns is not None else NEVER
            spans.append((served.get(e.replacement, NEVER) if use_served else ready, NEVER))
    return spans


def longest_gap(spans: Sequence[tuple[float, float]], start: int, end: int) -> tuple[int, int | None]:
    """The longest sub-window of [start, end] covered by no span: (length ns, its start)."""
    best, best_from, covered_until = 0, None, start
    for lo, hi in sorted(spans):
        if lo > covered_until and min(lo, end) - covered_until > best:
            best, best_from = int(min(lo, end) - covered_until), int(covered_until)
        covered_until = max(covered_until, hi)
        if covered_until >= end:
            return best, best_from
    if end - covered_until > best:
        best, best_from = int(end - covered_until), int(covered_until)
    return best, best_from


def rollout_view(evidence: Sequence[Evidence], records: Sequence[Record], role: str, strategy: str,
                 start_ns: int, untouched: int = 0) -> Rollout:
    served = first_success_by_replica(records)
    use_served = role == "decode" and bool(served)
    done = [t for e in evidence for t in (e.gone_ns, e.ready_ns) if t is not None]
    end_ns = max(done, default=start_ns)
    horizon = max([end_ns, *(r.end_ns for r in records)])  # a new replica never served: unroutable to the end
    gap, gap_from = longest_gap(routable_intervals(evidence, untouched, served, use_served), start_ns, horizon)
    during = [r for r in records if start_ns <= r.end_ns <= end_ns]
    failures = sum(1 for r in during if not r.ok)
    steps = [_step(e, served if use_served else {}, start_ns) for e in evidence]
    unroutable = f"no routable {role} replica for {gap / 1e9:.2f} s" if gap else f"a {role} replica was always routable"
    return Rollout(
        strategy=strategy, replicas=len(evidence) + untouched, steps=steps, duration_s=_rel(end_ns, start_ns),
        longest_unroutable_s=round(gap / 1e9, 3), unroutable_from_s=_rel(gap_from, start_ns) if gap else None,
        requests=len(during), failures=failures,
        detail=f"{unroutable}; {failures} of {len(during)} attempts failed during the "
               f"{_rel(end_ns, start_ns)} s rollout",
    )


def _step(e: Evidence, served: dict[str, int], start_ns: int) -> RolloutStep:
    return RolloutStep(old=e.target, new=e.replacement, new_ready_s=_rel(e.ready_ns, start_ns),
                       first_served_s=_rel(served.get(e.replacement or ""), start_ns),
                       old_stopped_s=_rel(e.after.get("stop_ns"), start_ns), old_gone_s=_rel(e.gone_ns, start_ns))


def _rel(ns: float | None, start_ns: int) -> float | None:
    return None if ns is None else round((ns - start_ns) / 1e9, 3)
