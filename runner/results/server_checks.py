"""Server-side checks, judged from what the run collected: the frontends' and workers' 1 Hz metrics
scrapes (`<service>/<replica>.metrics.log`) and the service logs (`<replica>.log`, `.previous.log`). Pure.

`evaluate(spec, inputs, window=None)` gives one ServerCheckResult: PASS, FAIL, or ERROR when the data it
needs is missing (the detail says which). `window=(start_ns, end_ns)` limits the scrapes and log lines
looked at, so a step of a multi-step scenario can judge its own span; the anchors (load end, fault end)
come with the inputs.

A metrics.log is successive scrapes, each after a header line: `# scrape time_ns=<ns> pid=<pid>` (local)
or `# scrape runner_ns=<ns> time=<iso>` (Kubernetes, followed by `# scrape failed: ...` when the pod did
not answer). A new pid starts a new process life; a counter that drops starts one too (a restarted
container, whose pid the Kubernetes scrape does not record).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.core.check_specs import (
    FRONTEND_INFLIGHT,
    FRONTEND_MIGRATION_TOTAL,
    FRONTEND_QUEUED,
    PANIC_PATTERN,
    InflightDrains,
    LogCount,
    MigrationCounter,
    NoPanics,
    QueueDrains,
    ServerCheck,
    WorkerMetricMax,
)
from runner.results.frontend_log import line_fields, parse_time_ns
from runner.results.summary import ServerCheckResult

__all__ = ["CheckInputs", "Sample", "ServerCheck", "Source", "evaluate", "evaluate_all", "pending_until", "read_sources",
           "series"]

Window = tuple[int, int] | None

_HEADER = re.compile(r"^# scrape (?:time_ns|runner_ns)=(\d+)(?:.*\bpid=(\d+))?")
_FAILED = "# scrape failed"
METRICS_SUFFIX = ".metrics.log"


@dataclass(frozen=True)
class Source:
    """One collected file: its role, the replica (or log) name and its text."""

    role: str
    name: str
    text: str


@dataclass(frozen=True)
class CheckInputs:
    metrics: Sequence[Source] = ()
    logs: Sequence[Source] = ()
    load_end_ns: int | None = None
    fault_end_ns: int | None = None
    fault_end_reason: str = "no fault end was recorded"


@dataclass(frozen=True)
class Sample:
    time_ns: int
    value: float | None  # None: the scrape answered without this metric
    life: int  # 0, 1, ...: a new process (pid) of the same replica


# --- time series -----------------------------------------------------------------------------


def _sample_value(line: str, metric: str) -> float | None:
    rest = line[len(metric):]
    if rest[:1] == "{":
        rest = rest[rest.rfind("}") + 1:]
    elif rest[:1] not in (" ", "\t"):
        return None  # another metric whose name starts with this one
    try:
        return float(rest.split()[0])
    except (IndexError, ValueError):
        return None


@dataclass
class _Scrape:
    time_ns: int
    pid: str | None
    values: list[float] = field(default_factory=list)
    failed: bool = False


def _scrapes(metrics_log: str, metric: str) -> Iterable[_Scrape]:
    current = None
    for line in metrics_log.splitlines():
        if line.startswith("# scrape "):
            if header := _HEADER.match(line):
                if current is not None:
                    yield current
                current = _Scrape(int(header[1]), header[2])
            elif line.startswith(_FAILED) and current is not None:
                current.failed = True
        elif current is not None and line.startswith(metric) and (value := _sample_value(line, metric)) is not None:
            current.values.append(value)
    if current is not None:
        yield current


def series(metrics_log: str, metric: str, combine: Callable[[list[float]], float] = sum) -> list[Sample]:
    """The metric's value in every answered scrape (its label sets combined, summed by default), in order,
    each with its time and process life; None where the scrape lacked the metric."""
    out, life, pid = [], 0, None
    for scrape in _scrapes(metrics_log, metric):
        if scrape.failed:
            continue
        if scrape.pid is not None and pid is not None and scrape.pid != pid:
            life += 1
        pid = scrape.pid or pid
        out.append(Sample(scrape.time_ns, combine(scrape.values) if scrape.values else None, life))
    return out


def counter_increase(samples: Sequence[Sample], window: Window = None) -> float | None:
    """How much a counter rose inside the window, summed over process lives (a new life, or a drop, counts
    from 0); None when no scrape inside the window carries it."""
    total, found, previous = 0.0, False, None
    for s in samples:
        if s.value is None:
            continue
        restarted = previous is None or s.life != previous.life or s.value < previous.value
        if _inside(s.time_ns, window):
            total += s.value - (0.0 if restarted else previous.value)
            found = True
        previous = s
    return total if found else None


def _inside(time_ns: int, window: Window) -> bool:
    return window is None or window[0] <= time_ns <= window[1]


# --- the checks ------------------------------------------------------------------------------


def evaluate(spec: ServerCheck, inputs: CheckInputs, window: Window = None) -> ServerCheckResult:
    """One check's verdict and detail from the collected data (inside `window` when given)."""
    judge = _JUDGES[type(spec)]
    verdict, detail, value, bound = judge(spec, inputs, window)
    return ServerCheckResult(name=spec.name or default_name(spec), kind=spec.kind, verdict=verdict, detail=detail,
                             value=value, bound=bound)


def evaluate_all(specs: Sequence[ServerCheck], inputs: CheckInputs, window: Window = None) -> list[ServerCheckResult]:
    return [evaluate(spec, inputs, window) for spec in specs]


def default_name(spec: ServerCheck) -> str:
    if isinstance(spec, WorkerMetricMax):
        return f"{spec.kind} {spec.metric}"
    if isinstance(spec, LogCount):
        return f"{spec.kind} /{spec.pattern}/"
    return spec.kind


Judgement = tuple[str, str, float | None, float | None]  # verdict, detail, measured value, bound

ANCHOR_WORDS = {"load_end": "the load ended", "fault_end": "the fault ended"}


def _anchor(spec: InflightDrains, inputs: CheckInputs) -> tuple[int | None, str]:
    if spec.after == "load_end":
        return inputs.load_end_ns, "no request record, so no load end"
    return inputs.fault_end_ns, inputs.fault_end_reason


DRAIN_METRICS = {InflightDrains: (FRONTEND_INFLIGHT, "in-flight"), QueueDrains: (FRONTEND_QUEUED, "queued")}


def _drains(spec: InflightDrains, inputs: CheckInputs, window: Window) -> Judgement:
    metric, word = DRAIN_METRICS[type(spec)]
    anchor, missing = _anchor(spec, inputs)
    if anchor is None:
        return "ERROR", f"no anchor: {missing}", None, spec.within_s
    frontends = [m for m in inputs.metrics if m.role == "frontend"]
    if not frontends:
        return "ERROR", "no frontend metrics.log was collected", None, spec.within_s
    outcomes = [(m.name, _drain(_in_window(series(m.text, metric), window), anchor, spec.within_s)) for m in frontends]
    return _drain_verdict(outcomes, spec, word, metric)


def pending_until(specs: Sequence[ServerCheck], inputs: CheckInputs) -> int | None:
    """While the deployment is still observed: until when more scrapes could decide a drain check (its anchor
    plus its bound), or None when every drain check is decided (0 seen, or the bound passed)."""
    until = None
    for spec in specs:
        if type(spec) not in DRAIN_METRICS or (anchor := _anchor(spec, inputs)[0]) is None:
            continue
        metric = DRAIN_METRICS[type(spec)][0]
        outcomes = [_drain(series(m.text, metric), anchor, spec.within_s) for m in inputs.metrics
                    if m.role == "frontend"]
        decided = any(d.status in ("drained", "late", "stuck") for d in outcomes)
        waiting = any(d.status == "unobserved" and d.seconds is not None for d in outcomes)  # not 0 yet
        none_after = any(d.status == "unobserved" and d.seconds is None for d in outcomes)  # no scrape after yet
        if waiting or (none_after and not decided):
            until = max(until or 0, anchor + int(spec.within_s * 1e9))
    return until


def _in_window(samples: list[Sample], window: Window) -> list[Sample]:
    return [s for s in samples if _inside(s.time_ns, window)]


@dataclass(frozen=True)
class _Drain:
    status: str  # drained | late | stuck | unobserved | absent
    seconds: float | None = None  # anchor -> the first scrape at 0, or -> the last scrape seen
    value: float | None = None  # the value still there at the last scrape
    peak: float | None = None


def _drain(samples: list[Sample], anchor: int, within_s: float) -> _Drain:
    valued = [s for s in samples if s.value is not None]
    if not valued:
        return _Drain("absent")
    peak = max(s.value for s in valued)
    after = [s for s in valued if s.time_ns >= anchor]
    if not after:
        return _Drain("unobserved", peak=peak)
    zero = next((s for s in after if s.value == 0), None)
    if zero is not None:
        seconds = (zero.time_ns - anchor) / 1e9
        return _Drain("drained" if seconds <= within_s else "late", seconds, 0.0, peak)
    seconds = (after[-1].time_ns - anchor) / 1e9
    return _Drain("stuck" if seconds >= within_s else "unobserved", seconds, after[-1].value, peak)


def _drain_verdict(outcomes: list[tuple[str, _Drain]], spec: InflightDrains, word: str, metric: str) -> Judgement:
    when = f"after {ANCHOR_WORDS[spec.after]} (bound {spec.within_s:g} s)"
    peaks = [d.peak for _, d in outcomes if d.peak is not None]
    peak = f"; peak {max(peaks):g}" if peaks else ""
    for name, d in outcomes:
        if d.status == "late":
            return "FAIL", f"{word} 0 only at +{d.seconds:.1f} s {when} on {name}{peak}", d.seconds, spec.within_s
        if d.status == "stuck":
            return "FAIL", f"{word} still {d.value:g} at +{d.seconds:.1f} s {when} on {name}{peak}", d.seconds, \
                spec.within_s
    drained = [(name, d) for name, d in outcomes if d.status == "drained"]
    unseen = [(name, d) for name, d in outcomes if d.status == "unobserved" and d.seconds is not None]
    if unseen:
        name, last = unseen[0]
        return "ERROR", (f"{word} still {last.value:g} on {name} at its last scrape, +{last.seconds:.1f} s "
                         f"{when}: observation ended before the bound{peak}"), None, spec.within_s
    if not drained:
        absent = all(d.status == "absent" for _, d in outcomes)
        why = f"no frontend scrape carries {metric}" if absent else "no frontend was scraped after the anchor"
        return "ERROR", why, None, spec.within_s
    seconds = max(d.seconds for _, d in drained)
    on = f" on {len(drained)} frontends" if len(drained) > 1 else ""
    return "PASS", f"{word} 0 at +{seconds:.1f} s {when}{on}{peak}", seconds, spec.within_s


def _migration_counter(spec: MigrationCounter, inputs: CheckInputs, window: Window) -> Judgement:
    frontends = [m for m in inputs.metrics if m.role == "frontend"]
    if not frontends:
        return "ERROR", "no frontend metrics.log was collected", None, spec.max
    lives = [series(m.text, FRONTEND_MIGRATION_TOTAL) for m in frontends]
    if not any(_in_window(samples, window) for samples in lives):
        return "ERROR", "no frontend was scraped inside the window", None, spec.max
    increases = [counter_increase(samples, window) for samples in lives]
    # 1.6.1 exports the counter from the first migration on: answered scrapes without it mean 0
    count = sum(i for i in increases if i is not None)
    bound = f"[{spec.min}, {spec.max if spec.max is not None else 'no upper bound'}]"
    verdict = "PASS" if spec.min <= count and (spec.max is None or count <= spec.max) else "FAIL"
    absent = "" if any(i is not None for i in increases) else " (no scrape carries the counter)"
    return verdict, f"{FRONTEND_MIGRATION_TOTAL} rose by {count:g}{absent}; bound {bound}", count, spec.max


def _worker_metric_max(spec: WorkerMetricMax, inputs: CheckInputs, window: Window) -> Judgement:
    workers = [m for m in inputs.metrics if m.role in spec.roles]
    if not workers:
        return "ERROR", f"no {'/'.join(spec.roles)} worker metrics.log was collected", None, spec.max
    peaks = []
    for m in workers:
        values = [s for s in _in_window(series(m.text, spec.metric, max), window) if s.value is not None]
        if values:
            top = max(values, key=lambda s: s.value)
            peaks.append((top.value, m.name, len(values)))
    if not peaks:
        return "ERROR", f"no worker scrape carries {spec.metric}", None, spec.max
    value, name, _ = max(peaks)
    scrapes = sum(n for *_, n in peaks)
    detail = f"{spec.metric} peak {value:g} on {name} (bound {spec.max:g}; {scrapes} scrapes of {len(peaks)} workers)"
    return ("PASS" if value <= spec.max else "FAIL"), detail, value, spec.max


def _log_count(spec: LogCount | NoPanics, inputs: CheckInputs, window: Window) -> Judgement:
    pattern, bound = (PANIC_PATTERN, 0) if isinstance(spec, NoPanics) else (spec.pattern, spec.max)
    logs = [s for s in inputs.logs if not spec.roles or s.role in spec.roles]
    if not logs:
        roles = "/".join(spec.roles) or "any"
        return "ERROR", f"no service log of role {roles} was collected", None, bound
    regex = re.compile(pattern)
    found = [(log.name, line) for log in logs for line in _matching_lines(log.text, regex, window)]
    detail = f"{len(found)} line(s) matching /{pattern}/ in {len(logs)} log(s) (bound {bound})"
    if found:
        first_log, first_line = found[0]
        detail += f"; first in {first_log}: {first_line.strip()[:200]}"
    return ("PASS" if len(found) <= bound else "FAIL"), detail, float(len(found)), float(bound)


def _matching_lines(text: str, regex: re.Pattern, window: Window) -> list[str]:
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if regex.search(line)]
    return [lines[i] for i in hits if window is None or _line_in_window(lines, i, window)]


def _line_in_window(lines: list[str], index: int, window: tuple[int, int]) -> bool:
    """A line without a time of its own (a traceback's body, raw stderr) takes the time of the nearest
    timed line before it (else after it); a log with no time at all is counted in every window."""
    order = [*range(index, -1, -1), *range(index + 1, len(lines))]
    for i in order:
        stamp = _line_time(lines[i])
        if stamp is not None:
            return window[0] <= stamp <= window[1]
    return True


def _line_time(line: str) -> int | None:
    fields = line_fields(line.strip().encode())
    if not fields or "time" not in fields:
        return None
    try:
        return parse_time_ns(str(fields["time"]))
    except ValueError:
        return None


_JUDGES: dict[type, Callable[..., Judgement]] = {
    InflightDrains: _drains,
    QueueDrains: _drains,
    MigrationCounter: _migration_counter,
    WorkerMetricMax: _worker_metric_max,
    LogCount: _log_count,
    NoPanics: _log_count,
}


# --- the thin reader -------------------------------------------------------------------------


def read_sources(tree: Path, role_dirs: dict[str, str]) -> tuple[list[Source], list[Source]]:
    """(metrics, logs) of a scenario tree: `<dir>/<replica>.metrics.log` and the other `<dir>/*.log`
    of every service directory named in role_dirs ({directory: role})."""
    metrics, logs = [], []
    for directory, role in sorted(role_dirs.items()):
        for path in sorted((Path(tree) / directory).glob("*.log")):
            if path.name.endswith(METRICS_SUFFIX):
                metrics.append(Source(role, path.name.removesuffix(METRICS_SUFFIX), path.read_text(errors="replace")))
            else:
                logs.append(Source(role, path.name.removesuffix(".log"), path.read_text(errors="replace")))
    return metrics, logs
