"""Records -> metrics: windows, pooled percentiles, service recovery. Pure, no I/O.

Definitions (DESIGN §3):
- A window holds the attempts whose END time falls in [start_ns, end_ns).
- Every attempt counts (rule 3): a failed attempt and its successful retry are
  one failure and one success. Percentiles pool every successful attempt.
- Service recovery (rule 4): order the attempts by end time; take the first
  failure that ends at/after the fault; recovery is the end of the first success
  of the first run of K consecutive successful attempts after that failure,
  minus the fault time.

Records are turned into numpy columns once, sorted once by (end, start); every
window is then an index range found by binary search, which keeps a million
records to well under a second of analysis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from runner.results.records import END_CLIENT, END_SERVER, END_START, Record
from runner.results.summary import InFlight, Percentiles, WindowStats

NO_ERROR_TEXT = "unknown error"
RECOVERY_PHASE = "recovery"
RECENT_ATTEMPTS_SHOWN = 10
_TIMEOUT_WORDS = ("timeout", "timed out")
_CANCEL_WORDS = ("cancel",)


def error_class(record: Record) -> str | None:
    """The class of a failed attempt (None for a success): the statuses a client can see stay apart."""
    if record.ok:
        return None
    status = record.status
    if status is None:
        return _transport_class(record.error or "")
    if status == 503:
        return "unavailable_503"
    if status == 529:
        return "overloaded_529"
    if status == 200:
        return "stream_error_200"
    if 400 <= status < 500:
        return "rejected_4xx"
    return "server_error_5xx" if 500 <= status < 600 else "other"


def _transport_class(error: str) -> str:
    text = error.lower()
    if any(word in text for word in _TIMEOUT_WORDS):
        return "timeout"
    if any(word in text for word in _CANCEL_WORDS):
        return "cancelled"
    return "connection"


@dataclass(frozen=True)
class Analysis:
    """Everything the checks and the report need from one scenario's records."""

    total: WindowStats
    before: WindowStats  # attempts ending before the split (the fault); all of them when no fault
    after: WindowStats  # attempts ending at/after the split
    after_recovery: WindowStats  # attempts ending at/after recovery_ns; empty when the service never recovered
    fault_ns: int | None  # the split: the fault stamp, or the first start of the recovery phase (token overflow)
    first_success_ns: int | None  # end of the earliest-ending successful attempt
    service_recovery_s: float | None
    service_recovery_reason: str | None  # why service_recovery_s is None
    recovery_ns: int | None  # end of the success that starts the first K-run (= fault_ns when nothing failed)
    # start of that success minus the start of the failure just before it: how precisely recovery is known
    service_recovery_resolution_s: float | None = None
    phases: dict[str, WindowStats] = field(default_factory=dict)
    # Failed attempts that the server answered (an HTTP status arrived, even 200 with an error mid-stream),
    # as opposed to connection errors and timeouts: for token overflow, the rejected oversized prompts.
    rejected_by_phase: dict[str, int] = field(default_factory=dict)


def percentiles(values: Iterable[float | None]) -> Percentiles:
    """Mean, p50, p90, p99 (numpy's default linear interpolation) of the pooled values.

    None and NaN values are left out (e.g. a request that has no TTFT); an empty
    input gives a Percentiles with every statistic None and count 0.
    """
    array = values if isinstance(values, np.ndarray) else np.array(list(values), dtype=np.float64)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return Percentiles()
    p50, p90, p99 = np.percentile(array, [50, 90, 99])
    return Percentiles(mean=float(array.mean()), p50=float(p50), p90=float(p90), p99=float(p99), count=int(array.size))


class _Columns:
    """Records as numpy columns sorted by (end, start); `order` maps back to the records."""

    def __init__(self, records: Sequence[Record]):
        self.records = records
        count = len(records)
        end = np.fromiter((r.end_ns for r in records), dtype=np.int64, count=count)
        start = np.fromiter((r.start_ns for r in records), dtype=np.int64, count=count)
        self.order = np.lexsort((start, end))
        self.end = end[self.order]
        self.start = start[self.order]
        self.ok = np.fromiter((r.ok for r in records), dtype=bool, count=count)[self.order]
        # np.array turns None into NaN for float64
        self.latency = np.array([r.latency_ms for r in records], dtype=np.float64)[self.order]
        self.ttft = np.array([r.ttft_ms for r in records], dtype=np.float64)[self.order]
        self.itl = np.array([r.itl_ms for r in records], dtype=np.float64)[self.order]
        sources = np.array([r.end_source for r in records], dtype=object)[self.order] if count else np.array([])
        self.end_by_source = {source: sources == source for source in (END_CLIENT, END_SERVER, END_START)}

    def __len__(self) -> int:
        return len(self.records)

    def index_of(self, ns: int | None, default: int) -> int:
        """First position whose end is >= ns."""
        if ns is None:
            return default
        return int(np.searchsorted(self.end, ns, side="left"))

    def failed_records(self, lo: int, hi: int) -> list[Record]:
        positions = np.flatnonzero(~self.ok[lo:hi]) + lo
        return [self.records[i] for i in self.order[positions].tolist()]

    def window(self, start_ns: int | None, end_ns: int | None) -> WindowStats:
        lo = self.index_of(start_ns, 0)
        hi = self.index_of(end_ns, len(self))
        hi = max(lo, hi)
        ok = self.ok[lo:hi]
        requests = hi - lo
        successes = int(np.count_nonzero(ok))
        span_start = start_ns if start_ns is not None else (int(self.start[lo:hi].min()) if requests else None)
        span_end = end_ns if end_ns is not None else (int(self.end[hi - 1]) if requests else None)
        throughput = None
        if span_start is not None and span_end is not None and span_end > span_start:
            throughput = successes / ((span_end - span_start) / 1e9)
        failed = self.failed_records(lo, hi)
        errors = Counter(r.error or NO_ERROR_TEXT for r in failed)
        classes = Counter(error_class(r) for r in failed)
        return WindowStats(
            start_ns=span_start,
            end_ns=span_end,
            requests=requests,
            successes=successes,
            failures=requests - successes,
            success_rate=successes / requests if requests else None,
            throughput_rps=throughput,
            latency_ms=percentiles(self.latency[lo:hi][ok]),
            ttft_ms=percentiles(self.ttft[lo:hi][ok]),
            itl_ms=percentiles(self.itl[lo:hi][ok]),
            errors=dict(errors.most_common()),
            error_classes=dict(classes.most_common()),
            end_times=self._end_times(lo, hi),
        )

    def _end_times(self, lo: int, hi: int) -> dict[str, int]:
        counts = {source: int(np.count_nonzero(mask[lo:hi])) for source, mask in self.end_by_source.items()}
        return {source: n for source, n in counts.items() if n}

    def first_success_ns(self) -> int | None:
        successes = np.flatnonzero(self.ok)
        return int(self.end[successes[0]]) if successes.size else None

    def rejected(self) -> int:
        return sum(1 for r in self.failed_records(0, len(self)) if r.status is not None)

    def service_recovery(self, fault_ns: int | None, k: int) -> tuple[float | None, str | None, int | None]:
        """(seconds, reason when None, recovery point in ns)."""
        seconds, reason, recovery_ns, _ = self.service_recovery_resolved(fault_ns, k)
        return seconds, reason, recovery_ns

    def service_recovery_resolved(self, fault_ns: int | None, k: int
                                  ) -> tuple[float | None, str | None, int | None, float | None]:
        """(seconds, reason when None, recovery point in ns, resolution in seconds)."""
        if k < 1:
            raise ValueError(f"K consecutive successes must be at least 1, not {k}")
        if fault_ns is None:
            return None, "no fault was injected", None, None
        first_after = self.index_of(fault_ns, 0)
        ok_after = self.ok[first_after:]
        if ok_after.size == 0:
            return None, "no attempt ended at or after the fault, so recovery could not be observed", None, None
        failures_after = np.flatnonzero(~ok_after)
        if failures_after.size == 0:
            return 0.0, None, fault_ns, None
        first_failure = first_after + int(failures_after[0])
        following = self.ok[first_failure + 1 :]
        run_start = _first_run_of_successes(following, k)
        if run_start is None:
            return None, self._never_recovered_reason(ok_after, following, failures_after.size, k), None, None
        position = first_failure + 1 + run_start  # the attempt before it is the last failure (else the run starts earlier)
        recovery_ns = int(self.end[position])
        # the service came back between the sending of the last failure and of the first success
        resolution = round(max(0, int(self.start[position]) - int(self.start[position - 1])) / 1e9, 3)
        return round((recovery_ns - fault_ns) / 1e9, 3), None, recovery_ns, resolution

    @staticmethod
    def _never_recovered_reason(ok_after: np.ndarray, following: np.ndarray, failed: int, k: int) -> str:
        recent = "".join("S" if ok else "F" for ok in ok_after[-RECENT_ATTEMPTS_SHOWN:].tolist())
        return (
            f"no {k} consecutive successful attempts after the first failure following the fault "
            f"({ok_after.size} attempts ended after the fault, {failed} failed; longest run of successes after "
            f"the first failure: {longest_run_of_successes(following)}; last {len(recent)} attempts, oldest "
            f"first, S=success F=failure: {recent})"
        )


def _first_run_of_successes(ok: np.ndarray, k: int) -> int | None:
    """Index of the first position that starts k consecutive True values, or None."""
    if ok.size < k:
        return None
    failures_before = np.concatenate(([0], np.cumsum(~ok)))
    clean_windows = (failures_before[k:] - failures_before[:-k]) == 0
    first = int(np.argmax(clean_windows))
    return first if clean_windows[first] else None


def longest_run_of_successes(ok: np.ndarray) -> int:
    failures = np.flatnonzero(~ok)
    bounds = np.concatenate(([-1], failures, [ok.size]))
    return int((np.diff(bounds) - 1).max())


def in_flight(records: Sequence[Record], fault_ns: int, on: set[str] | None = None) -> InFlight:
    """Attempts sent before the fault that ended after it, by outcome (times as corrected by the join);
    `on`: only those the request join names as served by these replicas."""
    under_way = [r for r in records if r.start_ns < fault_ns < r.end_ns and (on is None or r.replica in on)]
    completed = sum(1 for r in under_way if r.ok)
    return InFlight(requests=len(under_way), completed=completed, failed=len(under_way) - completed,
                    replicas=sorted(on or ()))


def window(records: Sequence[Record], start_ns: int | None = None, end_ns: int | None = None) -> WindowStats:
    """Stats of the attempts whose end time falls in [start_ns, end_ns); None leaves that side open.

    throughput_rps = successes / window seconds; an open side of the window is
    bounded by the first start (resp. last end) of the attempts in it, and the
    returned start_ns/end_ns are the bounds actually used.
    """
    return _Columns(list(records)).window(start_ns, end_ns)


def service_recovery(records: Sequence[Record], fault_ns: int | None, k: int) -> tuple[float | None, str | None]:
    """Seconds from the fault to service recovery (ms resolution), or None and the reason.

    0.0 means no attempt that ended at/after the fault failed (no disruption).
    """
    seconds, reason, _ = _Columns(list(records)).service_recovery(fault_ns, k)
    return seconds, reason


def probe_recovery(records: Sequence[Record], fault_ns: int | None, k: int
                   ) -> tuple[float | None, str | None, float | None]:
    """Service recovery seen by the probe stream: (seconds, reason when None, resolution in seconds)."""
    if not records:
        return None, "no probe stream ran (probe.rate_per_s is 0)", None
    seconds, reason, _, resolution = _Columns(list(records)).service_recovery_resolved(fault_ns, k)
    return seconds, reason, resolution


def analyze(
    records: Sequence[Record], fault_ns: int | None, k: int, phase_split: str | None = None
) -> Analysis:
    """Windows around the fault and service recovery of one scenario.

    phase_split names a phase (Record.phase) whose first attempt start takes the
    place of the fault (token overflow: "recovery"); the Analysis then also has
    one WindowStats per phase. It cannot be combined with fault_ns.
    """
    records = list(records)
    if phase_split is not None:
        if fault_ns is not None:
            raise ValueError("give either fault_ns or phase_split, not both: each one defines the split")
        by_phase: dict[str, list[Record]] = {}
        for record in records:
            by_phase.setdefault(record.phase, []).append(record)
        return _analyze_phases(by_phase, k, phase_split, records)
    return _analyze_columns(_Columns(records), fault_ns, k)


def analyze_phases(records_by_phase: Mapping[str, Sequence[Record]], k: int) -> Analysis:
    """Token overflow: one WindowStats per phase (the mapping's keys, not Record.phase) and
    service recovery measured from the first attempt start of the "recovery" phase."""
    everything = [record for phase_records in records_by_phase.values() for record in phase_records]
    return _analyze_phases(records_by_phase, k, RECOVERY_PHASE, everything)


def _analyze_phases(
    records_by_phase: Mapping[str, Sequence[Record]], k: int, split_phase: str, everything: list[Record]
) -> Analysis:
    phases: dict[str, WindowStats] = {}
    rejected: dict[str, int] = {}
    for name, phase_records in records_by_phase.items():
        columns = _Columns(list(phase_records))
        phases[name] = columns.window(None, None)
        rejected[name] = columns.rejected()
    split_records = records_by_phase.get(split_phase) or []
    split_ns = min(r.start_ns for r in split_records) if split_records else None
    analysis = _analyze_columns(_Columns(everything), split_ns, k)
    reason = analysis.service_recovery_reason
    if split_ns is None:
        reason = f"the {split_phase} phase has no attempts, so recovery could not be measured"
    return replace(analysis, phases=phases, rejected_by_phase=rejected, service_recovery_reason=reason)


def _analyze_columns(columns: _Columns, fault_ns: int | None, k: int) -> Analysis:
    total = columns.window(None, None)
    seconds, reason, recovery_ns, resolution = columns.service_recovery_resolved(fault_ns, k)
    if fault_ns is None:
        before, after, after_recovery = total, WindowStats(), WindowStats()
    else:
        before = columns.window(None, fault_ns)
        after = columns.window(fault_ns, None)
        after_recovery = columns.window(recovery_ns, None) if recovery_ns is not None else WindowStats()
    return Analysis(
        total=total,
        before=before,
        after=after,
        after_recovery=after_recovery,
        fault_ns=fault_ns,
        first_success_ns=columns.first_success_ns(),
        service_recovery_s=seconds,
        service_recovery_reason=reason,
        recovery_ns=recovery_ns,
        service_recovery_resolution_s=resolution,
    )

