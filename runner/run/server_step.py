"""The scenario's side of the server-side checks (checks.server): their inputs from the tree and what was
observed, the wait for the drain checks after the load, and the judgement in finish."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path

from runner.platforms.base import Deployment
from runner.results.server_checks import METRICS_SUFFIX, CheckInputs, Source, evaluate_all, pending_until, read_sources
from runner.results.steps import step_ends
from runner.results.summary import CheckResult, ServerCheckResult
from runner.run.observed import Observed
from runner.run.ui import ProgressUI
from runner.scenarios.plan import Scenario

log = logging.getLogger("runner")

DRAIN_POLL_S = 0.5
DRAIN_KINDS = ("inflight_drains", "queue_drains")
SCRAPE_PERIOD_S = 1.0  # one more scrape period past a bound, for the scrape that shows it


def check_inputs(tree: Path, observed: Observed) -> CheckInputs:
    metrics, logs = read_sources(tree, observed.role_dirs)
    return _inputs(observed, metrics, logs)


def _inputs(observed: Observed, metrics: list[Source], logs: list[Source]) -> CheckInputs:
    ends = [r.end_ns for r in (*observed.records, *observed.probe_records)]
    fault_end, reason = fault_end_ns(observed)
    return CheckInputs(metrics=metrics, logs=logs, load_end_ns=max(ends, default=None), fault_end_ns=fault_end,
                       fault_end_reason=reason)


def fault_end_ns(observed: Observed) -> tuple[int | None, str]:
    """When the fault was over: the faulted replicas ready again (a stall's restore sets ready_ns at SIGCONT)."""
    fault = observed.fault
    if fault is None or fault.injected_ns is None or fault.kind in ("none", "client"):
        return None, "no replica was faulted"
    if not observed.evidence:
        return None, "no fault evidence was recorded"
    ends = [e.ready_ns for e in observed.evidence]
    if None in ends:
        return None, "a faulted replica was not running again within the verify timeout"
    return max(ends), ""


async def await_drains(scenario: Scenario, deployment: Deployment, tree: Path, observed: Observed,
                       ui: ProgressUI) -> None:
    """Keep observing after the load until every drain check is decided: 0 scraped, or its bound passed.
    A scrape right away decides a healthy deployment's at once; the 1 Hz scrapes go on meanwhile."""
    specs = scenario.config.checks.server
    if not any(spec.kind in DRAIN_KINDS for spec in specs):
        return
    offsets = _sizes(tree, observed.role_dirs)  # the scrapes before the load ended cannot decide a drain
    await deployment.scrape_now()
    announced = False
    while (until := pending_until(specs, _since(tree, observed, offsets))) is not None:
        if time.time_ns() > until + int(SCRAPE_PERIOD_S * 1e9):
            return
        if not announced:
            ui.phase("waiting for the frontend's in-flight and queued requests to drain")
            log.info("Waiting up to %.1f s for the drain checks", (until - time.time_ns()) / 1e9 + SCRAPE_PERIOD_S)
            announced = True
        await asyncio.sleep(DRAIN_POLL_S)


def _metrics_logs(tree: Path, role_dirs: dict[str, str]) -> list[tuple[str, Path]]:
    return [(role, path) for directory, role in role_dirs.items()
            for path in sorted((tree / directory).glob(f"*{METRICS_SUFFIX}"))]


def _sizes(tree: Path, role_dirs: dict[str, str]) -> dict[Path, int]:
    return {path: path.stat().st_size for _, path in _metrics_logs(tree, role_dirs)}


def _since(tree: Path, observed: Observed, offsets: dict[Path, int]) -> CheckInputs:
    """The check inputs with only the scrapes appended since `offsets` (whole blocks: a scrape is written
    in one piece), so a poll of a long run's metrics stays cheap."""
    metrics = []
    for role, path in _metrics_logs(tree, observed.role_dirs):
        with path.open("rb") as fh:
            fh.seek(offsets.get(path, 0))
            metrics.append(Source(role, path.name.removesuffix(METRICS_SUFFIX), fh.read().decode(errors="replace")))
    return _inputs(observed, metrics, [])


def judge_server_checks(scenario: Scenario, observed: Observed, tree: Path) -> list[ServerCheckResult]:
    """checks.server judged from the tree's metrics scrapes and service logs."""
    return evaluate_all(scenario.config.checks.server, check_inputs(tree, observed))


def add_step_server_checks(scenario: Scenario, observed: Observed, tree: Path, summaries: list) -> None:
    """A scenario file's fault steps with `checks`: each judged on its step's window, its fault as the fault."""
    specs = {i: step.checks for i, step in enumerate(scenario.steps) if getattr(step, "checks", None)}
    if not specs:
        return
    base = check_inputs(tree, observed)
    for summary, record, until in zip(summaries, observed.steps, step_ends(summaries), strict=True):
        if record.index not in specs:
            continue
        ends = [e.ready_ns for e in record.evidence]
        inputs = replace(base, fault_end_ns=max(ends) if ends and None not in ends else None,
                         fault_end_reason="the step's faulted replicas were not running again")
        window = (summary.started_ns, until if until is not None else time.time_ns())
        summary.checks += [CheckResult(name=f"step {summary.index}: server check: {r.name}", status=r.verdict,
                                       detail=r.detail) for r in evaluate_all(specs[record.index], inputs, window)]
