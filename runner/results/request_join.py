"""Every client attempt seen from both ends: the join of client records with the frontend's log. Pure.

Key: the X-Request-Id the client sent (aiperf's `x_request_id`, the legacy
client's own per try) = the frontend's `x_request_id`. The client records stay
the source of every count; the server's view fills what the client did not
measure (aiperf 0.13 writes no end time for an error) and checks the rest.

Clocks: a frontend log's times are its host's clock. Per log, the offset is the
smallest shift (closest to 0) that puts every request the client fully timed
inside its client-side span: received - offset >= client start and completed -
offset <= client end. Where no single shift fits every pair, the median of the
pairs' midpoints is used and the offset is marked inconsistent.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import msgspec

from runner.results.frontend_log import ServerRequest, replica_of_log
from runner.results.records import END_CLIENT, END_SERVER, END_START, Record
from runner.results.summary import (
    ClockOffset,
    Migrations,
    PartitionResult,
    ReplicaTraffic,
    RequestJoin,
    StallRouting,
    TrafficCounts,
)

# Unmatched attempts with no HTTP response and no frontend line (REFUSED, LOST_TAIL) did not reach a
# frontend's handler; every other unmatched attempt counts against the match rate.
MATCHED = "matched"
UNMATCHED = "unmatched"
REFUSED = "refused before it reached a frontend (connection error, no HTTP response)"
LOST_TAIL = ("no HTTP response while the faulted frontend was down: the connection was cut before a frontend "
             "logged it (by the Service or proxy, or with a killed frontend's log tail)")
NO_ID = "the client record carries no request id"
NOT_LOGGED = "no frontend log line carries its request id"
PROBE = "the runner's readiness probe (no request id, before the load)"
PROBE_STREAM = "the probe stream (counted apart from the load)"
NO_CLIENT_ID = "no request id: not sent by the load clients"
CUT_OFF = "a request id no client record holds (an attempt cut off when its client stopped)"
PROBE_ID_PREFIX = "ft-probe-"
_CONNECTION_WORDS = ("connector", "connection refused", "connectionrefused", "cannot connect", "connect call failed")


@dataclass(frozen=True)
class Attempt:
    """One client attempt after the join: its corrected record and what the frontend saw of it."""

    record: Record
    server: ServerRequest | None
    match: str
    reason: str | None = None


@dataclass(frozen=True)
class FrontendFault:
    """When a frontend was faulted: attempts sent in [start_ns, end_ns) may be lost with its log."""

    start_ns: int
    end_ns: int


@dataclass
class Join:
    attempts: list[Attempt]
    server_only: list[tuple[ServerRequest, str]]
    offsets: dict[str, ClockOffset] = field(default_factory=dict)

    def records(self) -> list[Record]:
        return [a.record for a in self.attempts]


# --- clocks ---------------------------------------------------------------------------


def _bounds(record: Record, server: ServerRequest) -> tuple[int, int] | None:
    """(lowest, highest) offset that keeps this request inside its client-side span."""
    if record.end_source != END_CLIENT or server.received_ns is None or server.completed_ns is None:
        return None
    return server.completed_ns - record.end_ns, server.received_ns - record.start_ns


def estimate_offset(log: str, bounds: Sequence[tuple[int, int]]) -> ClockOffset:
    """The offset of one log's clock from the runner's, from per-request (lowest, highest) bounds."""
    if not bounds:
        return ClockOffset(log=log, offset_ms=0.0, pairs=0)
    lower = max(lo for lo, _ in bounds)
    upper = min(hi for _, hi in bounds)
    if lower <= upper:
        offset = min(max(0, lower), upper)
        return ClockOffset(log=log, offset_ms=offset / 1e6, lower_ms=lower / 1e6, upper_ms=upper / 1e6,
                           pairs=len(bounds))
    middle = statistics.median((lo + hi) / 2 for lo, hi in bounds)
    return ClockOffset(log=log, offset_ms=middle / 1e6, lower_ms=lower / 1e6, upper_ms=upper / 1e6,
                       pairs=len(bounds), consistent=False)


def _offsets(pairs: Iterable[tuple[Record, ServerRequest]], logs: Iterable[str]) -> dict[str, ClockOffset]:
    bounds: dict[str, list[tuple[int, int]]] = {log: [] for log in logs}
    for record, server in pairs:
        pair_bounds = _bounds(record, server)
        if pair_bounds is not None:
            bounds[server.log].append(pair_bounds)
    return {log: estimate_offset(log, b) for log, b in bounds.items()}


# --- matching --------------------------------------------------------------------------


def _by_request_id(server: Iterable[ServerRequest]) -> dict[str, ServerRequest]:
    found: dict[str, ServerRequest] = {}
    for request in server:
        if request.x_request_id and request.x_request_id not in found:
            found[request.x_request_id] = request
    return found


def reached_no_frontend(record: Record) -> bool:
    """A connection error before any HTTP response: the request never reached a frontend."""
    if record.ok or record.status is not None:
        return False
    text = (record.error or "").lower()
    return any(word in text for word in _CONNECTION_WORDS)


def _unmatched_reason(record: Record, frontend_fault: FrontendFault | None) -> str:
    if reached_no_frontend(record):
        return REFUSED
    if frontend_fault and record.status is None and frontend_fault.start_ns <= record.start_ns < frontend_fault.end_ns:
        return LOST_TAIL
    return NO_ID if not record.request_id else NOT_LOGGED


def _server_end_ns(server: ServerRequest, offset: ClockOffset | None) -> int | None:
    if server.completed_ns is None:
        return None
    return server.completed_ns - int((offset.offset_ms if offset else 0.0) * 1e6)


def _served_by(record: Record, server: ServerRequest | None, replica_of_worker: dict[str, str]) -> Record:
    if server is None or server.decode_worker is None:
        return record
    return msgspec.structs.replace(record, replica=_replica(server.decode_worker, replica_of_worker))


def _replica(worker: str, replica_of_worker: dict[str, str]) -> str:
    """The replica (pod) a worker id belongs to, named from the workers' own logs; the id when none names it."""
    return replica_of_log(replica_of_worker.get(worker, worker))


def _corrected(record: Record, server: ServerRequest | None, offset: ClockOffset | None) -> Record:
    """The client's end where it measured one, else the server's completion, else marked as unmeasured."""
    if record.end_source == END_CLIENT:
        return record
    end = _server_end_ns(server, offset) if server else None
    if end is None:
        return msgspec.structs.replace(record, end_ns=record.start_ns, end_source=END_START)
    return msgspec.structs.replace(record, end_ns=max(end, record.start_ns), end_source=END_SERVER)


def _server_only_reason(request: ServerRequest, first_start_ns: int | None, offset: ClockOffset | None) -> str:
    if request.x_request_id and request.x_request_id.startswith(PROBE_ID_PREFIX):
        return PROBE_STREAM
    if request.x_request_id:
        return CUT_OFF
    seen_ns = request.received_ns or request.completed_ns or 0
    runner_ns = seen_ns - int((offset.offset_ms if offset else 0.0) * 1e6)
    if first_start_ns is None or runner_ns < first_start_ns:
        return PROBE
    return NO_CLIENT_ID


def join(records: Sequence[Record], server: Sequence[ServerRequest], frontend_fault: FrontendFault | None = None,
         replica_of_worker: dict[str, str] | None = None) -> Join:
    """Match every attempt to the frontend request with its X-Request-Id; correct unmeasured end times;
    name the replica that served it (worker id -> replica from the workers' logs, else the id itself)."""
    by_id = _by_request_id(server)
    pairs = [(r, by_id[r.request_id]) for r in records if r.request_id in by_id]
    offsets = _offsets(pairs, {s.log for s in server})
    attempts = []
    for record in records:
        found = by_id.get(record.request_id) if record.request_id else None
        offset = offsets.get(found.log) if found else None
        corrected = _served_by(_corrected(record, found, offset), found, replica_of_worker or {})
        if found is None:
            attempts.append(Attempt(corrected, None, UNMATCHED, _unmatched_reason(record, frontend_fault)))
        else:
            attempts.append(Attempt(corrected, found, MATCHED))
    return Join(attempts, _server_only(server, records, offsets), offsets)


def _server_only(server: Sequence[ServerRequest], records: Sequence[Record],
                 offsets: dict[str, ClockOffset]) -> list[tuple[ServerRequest, str]]:
    client_ids = {r.request_id for r in records if r.request_id}
    first_start = min((r.start_ns for r in records), default=None)
    return [(s, _server_only_reason(s, first_start, offsets.get(s.log)))
            for s in server if s.x_request_id not in client_ids or not s.x_request_id]


# --- what the summary says -----------------------------------------------------------------


def join_summary(result: Join) -> RequestJoin:
    attempts = result.attempts
    matched = sum(a.match == MATCHED for a in attempts)
    unmatched = Counter(a.reason for a in attempts if a.match == UNMATCHED)
    reached = len(attempts) - unmatched.get(REFUSED, 0) - unmatched.get(LOST_TAIL, 0)
    ends = Counter(a.record.end_source for a in attempts)
    server = [s for s, _ in result.server_only] + [a.server for a in attempts if a.server]
    summary = RequestJoin(
        attempts=len(attempts), matched=matched, reached_frontend=reached,
        match_rate=round(matched / reached, 6) if reached else None,
        unmatched=dict(unmatched.most_common()), server_requests=len(server),
        server_only=dict(Counter(reason for _, reason in result.server_only).most_common()),
        frontend_counted=sum(s.counted for s in server), end_times=dict(ends.most_common()),
        offsets=sorted(result.offsets.values(), key=lambda o: o.log),
    )
    summary.detail = _join_detail(summary)
    return summary


def _join_detail(summary: RequestJoin) -> str:
    by_start = summary.end_times.get(END_START, 0)
    parts = [f"{summary.matched} of {summary.reached_frontend} attempts that reached a frontend matched"]
    if summary.end_times.get(END_SERVER):
        parts.append(f"{summary.end_times[END_SERVER]} end times taken from the frontend (the client had none)")
    if by_start:
        parts.append(f"{by_start} attempts had no end time on either side and are classified by their start")
    return "; ".join(parts)


def expected_counter_difference(result: Join) -> int:
    """What dynamo_frontend_requests_total minus the client attempts should be, from the join:
    + counted requests no client sent (readiness probe, probe stream, cut-off attempts)
    - client attempts the counter never saw (refused before the handler, or never reached a frontend)."""
    extra = sum(1 for s, _ in result.server_only if s.counted)
    uncounted = sum(1 for a in result.attempts if a.server is None or not a.server.counted)
    return extra - uncounted


def migrations(result: Join, metric_total: int | None) -> Migrations:
    migrated = [a for a in result.attempts if a.server and a.server.migrations]
    out = Migrations(
        migrated=len(migrated), retries=sum(a.server.migrations for a in migrated),
        succeeded=sum(a.record.ok for a in migrated), failed=sum(not a.record.ok for a in migrated),
        refused=sum(a.server.migrations_refused for a in result.attempts if a.server), metric_total=metric_total,
    )
    if metric_total is None:
        out.detail = "the frontend exported no migration metric to cross-check against"
    elif metric_total != out.retries + out.refused:
        out.detail = (f"the frontend's migration metric says {metric_total}, its log {out.retries} retries and "
                      f"{out.refused} refused")
    return out


def replica_traffic(result: Join, fault_ns: int | None, replica_of_worker: dict[str, str]) -> list[ReplicaTraffic]:
    """Per replica (named from the workers' own logs), what it served before and after the fault."""
    table: dict[tuple[str, str], ReplicaTraffic] = {}
    for attempt in result.attempts:
        for role, worker in _workers(attempt.server):
            name = _replica(worker, replica_of_worker)
            row = table.setdefault((name, role), ReplicaTraffic(replica=name, role=role))
            if worker not in row.worker_ids:
                row.worker_ids.append(worker)
            after = fault_ns is not None and attempt.record.end_ns >= fault_ns
            _count(row.after if after else row.before, attempt.record.ok)
    return sorted(table.values(), key=lambda r: (r.role, r.replica))


ROUTED_AROUND_QUIET_S = 1.0  # at least this long (or a fifth of the stall) with nothing routed to it


def stall_routing(result: Join, stalled: set[str], start_ns: int, end_ns: int,
                  replica_of_worker: dict[str, str]) -> StallRouting:
    """Attempts sent during the stall and routed to a stopped replica; routed around when none went there
    in the stall's last quiet period (the frontend then had stopped choosing it)."""
    hit = [a for a in result.attempts if start_ns <= a.record.start_ns < end_ns
           and any(_replica(w, replica_of_worker) in stalled for _, w in _workers(a.server))]
    quiet_ns = max(ROUTED_AROUND_QUIET_S * 1e9, (end_ns - start_ns) / 5)
    last = max((a.record.start_ns for a in hit), default=None)
    around = last is None or end_ns - last >= quiet_ns
    completed = sum(1 for a in hit if a.record.ok)
    after_s = round((last - start_ns) / 1e9, 3) if last is not None else None
    first_ok = min((a.record.end_ns for a in result.attempts if a.record.ok and a.record.end_ns >= end_ns),
                   default=None)
    detail = (f"{len(hit)} attempt(s) routed to the stopped replica during the stall"
              + (f", the last {after_s} s into it" if after_s is not None else "")
              + ("" if around else "; the frontend never routed around it"))
    recovered_s = round((first_ok - end_ns) / 1e9, 3) if first_ok else None
    if recovered_s is not None:
        detail += f"; first success {recovered_s} s after SIGCONT"
    return StallRouting(routed_to_stalled=len(hit), completed=completed, failed=len(hit) - completed,
                        last_routed_after_s=after_s, routed_around=around, detail=detail,
                        first_success_after_continue_s=recovered_s)


def _workers(server: ServerRequest | None) -> Iterator[tuple[str, str]]:
    if server is None or server.decode_worker is None:
        return
    yield "decode", server.decode_worker
    if server.prefill_worker and server.prefill_worker != server.decode_worker:
        yield "prefill", server.prefill_worker


def _count(counts: TrafficCounts, ok: bool) -> None:
    counts.requests += 1
    counts.successes += ok
    counts.failures += not ok


def join_lines(result: Join) -> Iterator[dict]:
    """The join as JSON-able rows: one per client attempt, then one per frontend request no attempt matches."""
    for attempt in result.attempts:
        yield {"match": attempt.match, "reason": attempt.reason, "client": msgspec.to_builtins(attempt.record),
               "server": msgspec.to_builtins(attempt.server) if attempt.server else None}
    for request, reason in result.server_only:
        yield {"match": "server_only", "reason": reason, "client": None, "server": msgspec.to_builtins(request)}


def _routed_to(attempt: Attempt, replicas: set[str], replica_of_worker: dict[str, str]) -> bool:
    return any(_replica(w, replica_of_worker) in replicas for _, w in _workers(attempt.server))


def _seconds(ns: int | None, since_ns: int) -> float | None:
    return round((ns - since_ns) / 1e9, 3) if ns is not None else None


def partition_routing(result: Join, cut: set[str], start_ns: int, end_ns: int,
                      replica_of_worker: dict[str, str]) -> PartitionResult:
    """Between the cut and the heal: the failures, the attempts the frontend still routed to the cut worker
    (the last one: how long it took to notice); after the heal, when that worker served again."""
    during = [a for a in result.attempts if start_ns <= a.record.end_ns < end_ns]
    hit = [a for a in result.attempts if start_ns <= a.record.start_ns < end_ns
           and _routed_to(a, cut, replica_of_worker)]
    last = max((a.record.start_ns for a in hit), default=None)
    around = last is None or end_ns - last >= max(ROUTED_AROUND_QUIET_S * 1e9, (end_ns - start_ns) / 5)
    after = [a for a in result.attempts if a.record.ok and a.record.end_ns >= end_ns]
    back = min((a.record.end_ns for a in after if a.record.start_ns >= end_ns and _routed_to(a, cut, replica_of_worker)),
               default=None)
    first = min((a.record.end_ns for a in after), default=None)
    failed = sum(1 for a in during if not a.record.ok)
    detected = _seconds(last, start_ns)
    detail = (f"{failed} of {len(during)} attempts failed during the cut; {len(hit)} routed to the cut worker"
              + (f", the last {detected} s into it" if detected is not None else "")
              + ("" if around else " (never routed around)")
              + (f"; it served again {_seconds(back, end_ns)} s after the heal" if back else
                 "; it served nothing after the heal"))
    return PartitionResult(requests_during=len(during), failures_during=failed, routed_to_cut=len(hit),
                           completed=sum(1 for a in hit if a.record.ok), last_routed_after_s=detected,
                           routed_around=around, back_after_heal_s=_seconds(back, end_ns),
                           first_success_after_heal_s=_seconds(first, end_ns), detail=detail)
