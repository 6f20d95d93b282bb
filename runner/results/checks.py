"""Stage 1 (the scenario really happened) and stage 2 (the results meet the bar). Pure.

The bar depends on the scenario's topology (DESIGN §6): a baseline must not
lose a request; a redundant deployment (the hit role keeps a replica that was
not targeted) must keep >= 99 % success and recover within 60 s; a single-replica
deployment must keep >= 10 % and recover within 180 s; token overflow must
reject the oversized prompts and serve the normal ones afterwards.
Anything that could not be measured is an ERROR with its reason, never a pass
(DESIGN §3 rule 12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from runner.core.config import ChecksConfig, Thresholds
from runner.faults.evidence import Evidence
from runner.scenarios.catalog import CatalogEntry
from runner.results.load_faults_checks import cancel_storm_checks, overload_checks
from runner.results.summary import (
    CancelStormResult,
    CheckResult,
    FaultRecord,
    OverloadResult,
    PartitionResult,
    Rollout,
    ServerCheckResult,
    Stage,
    StageStatus,
    StallRouting,
    Verdict,
    WindowStats,
)

Topology = Literal["baseline", "redundant", "single_replica", "token_overflow", "overload", "cancel_storm"]
LOAD_FAULTS = ("overload", "cancel_storm")

OVERFLOW_PHASE = "overflow"
RECOVERY_PHASE = "recovery"
# Float noise must not fail a rate that sits exactly on its threshold (e.g. 3/30 vs 10 %).
RATE_TOLERANCE = 1e-9

class AnalysisView(Protocol):
    """What the checks read from runner.results.analysis.Analysis (the layers keep the two modules apart)."""

    total: WindowStats
    after: WindowStats
    fault_ns: int | None
    service_recovery_s: float | None
    service_recovery_reason: str | None
    phases: Mapping[str, WindowStats]
    rejected_by_phase: Mapping[str, int]


def topology(entry: CatalogEntry, targets: int) -> Topology:
    if entry.fault_kind == "none":
        return "baseline"
    if entry.fault_kind == "client":
        return "token_overflow"
    if entry.fault_kind in LOAD_FAULTS:
        return entry.fault_kind
    return "redundant" if entry.replicas(entry.hit_role) > targets else "single_replica"


def thresholds(kind: Topology, checks: ChecksConfig) -> Thresholds | None:
    """Success and recovery bar of a topology; token overflow has its own two rates instead."""
    return {"baseline": checks.baseline, "redundant": checks.redundant, "single_replica": checks.single_replica}.get(
        kind
    )


def known_limitation(entry: CatalogEntry) -> str | None:
    return entry.fault.known_limitation


# --- stage 1 -------------------------------------------------------------------


def stage1_scenario(
    entry: CatalogEntry,
    checks: ChecksConfig,
    *,
    targets: int,
    analysis: AnalysisView,
    fault: FaultRecord | None,
    evidence: Sequence[Evidence],
    restarts: int,
    overflow_phases_present: bool,
    errors: Sequence[str] = (),
) -> Stage:
    """Did the scenario happen as named? From the recorded fault, its evidence and the records."""
    results = [_run_errors(errors), _records_exist(analysis)]
    kind = topology(entry, targets)
    if kind == "baseline":
        results += [_no_fault_in_baseline(fault, evidence), _no_restarts(restarts, "a baseline run")]
    elif kind == "token_overflow":
        results += _overflow_happened(analysis, checks, restarts, overflow_phases_present)
    else:
        hit = len(fault.targets) if fault is not None and fault.targets else targets  # a rollout hits them all
        results += [_fault_stamped(fault), *_fault_took_effect(evidence, hit)]
    return _stage([r for r in results if r is not None])


def _run_errors(errors: Sequence[str]) -> CheckResult | None:
    if not errors:
        return None
    return CheckResult(name="run completed", status="ERROR", detail="; ".join(errors))


def _records_exist(analysis: AnalysisView) -> CheckResult:
    if analysis.total.requests == 0:
        return CheckResult(name="request records", status="ERROR", detail="no request record: nothing was measured")
    return CheckResult(name="request records", status="PASS", detail=f"{analysis.total.requests} attempts recorded")


def _no_fault_in_baseline(fault: FaultRecord | None, evidence: Sequence[Evidence]) -> CheckResult:
    if fault is not None or evidence:
        what = f"fault {fault.name!r}" if fault is not None else f"{len(evidence)} fault evidence record(s)"
        return CheckResult(name="no fault injected", status="FAIL", detail=f"a baseline run recorded {what}")
    return CheckResult(name="no fault injected", status="PASS")


def _no_restarts(restarts: int, during: str) -> CheckResult:
    if restarts:
        return CheckResult(
            name="no replica restarted",
            status="FAIL",
            detail=f"{restarts} replica restart(s) or replacement(s) observed during {during}",
        )
    return CheckResult(name="no replica restarted", status="PASS")


def _fault_stamped(fault: FaultRecord | None) -> CheckResult:
    if fault is None or fault.injected_ns is None:
        return CheckResult(name="fault injected", status="ERROR", detail="no fault stamp: the fault was not injected")
    targets = ", ".join(fault.targets) or "no target named"
    return CheckResult(name="fault injected", status="PASS", detail=f"{fault.name} into {targets}")


def _fault_took_effect(evidence: Sequence[Evidence], targets: int) -> list[CheckResult]:
    if not evidence:
        return [CheckResult(name="fault took effect", status="ERROR", detail="no fault evidence was recorded")]
    results = []
    if len(evidence) != targets:
        results.append(
            CheckResult(
                name="fault evidence complete",
                status="ERROR",
                detail=f"evidence for {len(evidence)} replica(s), but {targets} were targeted",
            )
        )
    for number, item in enumerate(evidence, 1):
        target = item.target or f"target {number}"
        detail = item.detail or "no detail recorded"
        status: StageStatus = "PASS" if item.took_effect is True else "ERROR"
        results.append(CheckResult(name=f"fault took effect: {target}", status=status, detail=detail))
    return results


def _overflow_happened(
    analysis: AnalysisView, checks: ChecksConfig, restarts: int, phases_present: bool
) -> list[CheckResult]:
    overflow = analysis.phases.get(OVERFLOW_PHASE)
    if not phases_present or overflow is None or overflow.requests == 0:
        return [
            CheckResult(name="overflow phase ran", status="ERROR", detail="no attempt was recorded in the overflow phase")
        ]
    rejected = analysis.rejected_by_phase.get(OVERFLOW_PHASE, 0)
    share = rejected / overflow.requests
    detail = (
        f"{rejected} of {overflow.requests} oversized prompts ({_percent(share)}) were answered with an error "
        f"(needs >= {_percent(checks.overflow_min_rejected)})"
    )
    rejected_enough = share + RATE_TOLERANCE >= checks.overflow_min_rejected
    return [CheckResult(name="oversized prompts rejected", status="PASS" if rejected_enough else "FAIL", detail=detail)]


# --- stage 2 -------------------------------------------------------------------


def stage2_results(
    entry: CatalogEntry, checks: ChecksConfig, *, targets: int, analysis: AnalysisView, restarts: int = 0,
    stall: StallRouting | None = None, rollout: Rollout | None = None, partition: PartitionResult | None = None,
    overload: OverloadResult | None = None, cancel_storm: CancelStormResult | None = None,
    server: Sequence[ServerCheckResult] = (),
) -> Stage:
    """Do the results meet the bar of the scenario's topology, and do the server-side checks pass?

    Token overflow: a replica that crashed on the oversized prompts is a result (the
    deployment did not survive bad input), so the restart check lives here, not in stage 1.
    Overload and cancel storm have their own checks (runner.results.load_faults_checks); the server-side
    checks (runner.results.server_checks) join every topology's."""
    extra = [CheckResult(name=f"server check: {r.name}", status=r.verdict, detail=r.detail) for r in server]
    kind = topology(entry, targets)
    if kind == "token_overflow":
        return _stage([*_overflow_recovered(analysis, checks), _no_restarts(restarts, "token overflow"), *extra])
    if kind == "overload":
        return _stage([*overload_checks(overload), _no_restarts(restarts, "the overload"), *extra])
    if kind == "cancel_storm":
        rate = _success_rate(analysis.total, checks.redundant.min_success_rate, kind) if analysis.total.requests else None
        return _stage([r for r in (*cancel_storm_checks(cancel_storm), _no_restarts(restarts, "the cancel storm"), rate)
                       if r is not None] + extra)
    if analysis.total.requests == 0:
        return _stage([CheckResult(name="success rate", status="ERROR", detail="no request record to judge"), *extra])
    bar = thresholds(kind, checks)
    results = [_success_rate(analysis.total, bar.min_success_rate, kind)]
    if kind == "baseline":
        results.append(_no_failures(analysis.total))
    else:
        results.append(_service_recovery(analysis, bar.max_recovery_s))
    if stall is not None and kind == "redundant":
        results.append(_routed_around(stall, "stalled"))
    if partition is not None and kind == "redundant":
        results.append(_routed_around(partition, "cut"))
    if rollout is not None and kind == "redundant":
        results.append(_always_routable(rollout))
    return _stage([*results, *extra])


def _always_routable(rollout: Rollout) -> CheckResult:
    """A role with more than one replica can roll one at a time without ever leaving none to route to."""
    status = "PASS" if rollout.longest_unroutable_s == 0 else "FAIL"
    return CheckResult(name="a replica routable throughout the rollout", status=status, detail=rollout.detail)


def _routed_around(stall: StallRouting | PartitionResult, what: str) -> CheckResult:
    """With another replica to take the load, a stopped (or cut) one that keeps getting requests is a failure."""
    return CheckResult(name=f"{what} replica routed around", status="PASS" if stall.routed_around else "FAIL",
                       detail=stall.detail)


def _success_rate(stats: WindowStats, minimum: float, kind: Topology) -> CheckResult:
    rate = stats.successes / stats.requests
    detail = (
        f"{_percent(rate)} ({stats.successes} of {stats.requests} attempts, retries included; "
        f"{kind.replace('_', ' ')} needs >= {_percent(minimum)})"
    )
    return CheckResult(name="success rate", status="PASS" if rate + RATE_TOLERANCE >= minimum else "FAIL", detail=detail)


def _no_failures(stats: WindowStats) -> CheckResult:
    if stats.failures:
        return CheckResult(
            name="no failed request", status="FAIL", detail=f"{stats.failures} failed: {_error_summary(stats.errors)}"
        )
    return CheckResult(name="no failed request", status="PASS")


def _service_recovery(analysis: AnalysisView, maximum_s: float | None) -> CheckResult:
    seconds = analysis.service_recovery_s
    if seconds is None:
        reason = analysis.service_recovery_reason or "not measured"
        # Failures after the fault and no clean run of successes is a result; anything else is missing data.
        measured = analysis.fault_ns is not None and analysis.after.failures > 0
        return CheckResult(name="service recovery", status="FAIL" if measured else "ERROR", detail=reason)
    if seconds == 0.0 and analysis.after.failures == 0:
        return CheckResult(name="service recovery", status="PASS", detail="0 s: no request failed after the fault")
    if maximum_s is not None and seconds > maximum_s:
        return CheckResult(name="service recovery", status="FAIL", detail=f"{seconds:.3f} s (needs <= {maximum_s:g} s)")
    bound = f" (<= {maximum_s:g} s)" if maximum_s is not None else ""
    return CheckResult(name="service recovery", status="PASS", detail=f"{seconds:.3f} s{bound}")


def _overflow_recovered(analysis: AnalysisView, checks: ChecksConfig) -> list[CheckResult]:
    recovery = analysis.phases.get(RECOVERY_PHASE)
    if recovery is None or recovery.requests == 0:
        return [
            CheckResult(
                name="recovery phase success rate", status="ERROR", detail="no attempt was recorded in the recovery phase"
            )
        ]
    rate = recovery.successes / recovery.requests
    detail = (
        f"{_percent(rate)} ({recovery.successes} of {recovery.requests} normal prompts after the overflow; "
        f"needs >= {_percent(checks.overflow_recovery_min_success)})"
    )
    passed = rate + RATE_TOLERANCE >= checks.overflow_recovery_min_success
    return [CheckResult(name="recovery phase success rate", status="PASS" if passed else "FAIL", detail=detail)]


# --- verdict -------------------------------------------------------------------


def verdict(stage1: Stage, stage2: Stage, expected_limitation: str | None) -> tuple[Verdict, list[str]]:
    """ERROR when the scenario did not happen or could not be measured; FAIL when the results
    miss the bar; EXPECTED-LIMITATION when they miss it for a known reason; else PASS."""
    if stage1.status in ("ERROR", "FAIL", "SKIPPED"):
        return "ERROR", _reasons("stage 1", stage1)
    if stage2.status in ("ERROR", "SKIPPED"):
        return "ERROR", _reasons("stage 2", stage2)
    if stage2.status == "FAIL":
        if expected_limitation:
            return "EXPECTED-LIMITATION", [f"expected limitation: {expected_limitation}", *_reasons("stage 2", stage2)]
        return "FAIL", _reasons("stage 2", stage2)
    if expected_limitation:
        return "PASS", [f"the expected limitation did not show: {expected_limitation}"]
    return "PASS", []


def judge(
    *,
    entry: CatalogEntry,
    checks: ChecksConfig,
    targets: int,
    analysis: AnalysisView,
    fault: FaultRecord | None,
    evidence: Sequence[Evidence],
    restarts: int,
    errors: Sequence[str] = (),
    overflow_phases_present: bool | None = None,
    expected_limitation: str | None = None,
    stall: StallRouting | None = None,
    rollout: Rollout | None = None,
    steps_happened: Sequence[CheckResult] = (),
    step_checks: Sequence[CheckResult] = (),
    partition: PartitionResult | None = None,
    overload: OverloadResult | None = None,
    cancel_storm: CancelStormResult | None = None,
    server: Sequence[ServerCheckResult] = (),
) -> tuple[Stage, Stage, Verdict, list[str]]:
    """Both stages and the verdict. overflow_phases_present defaults to "the analysis has phases";
    expected_limitation defaults to the failure's known limitation; a timeline's steps add their own
    stage-1 (`steps_happened`) and stage-2 (`step_checks`) results."""
    if overflow_phases_present is None:
        overflow_phases_present = bool(analysis.phases)
    stage1 = stage1_scenario(
        entry,
        checks,
        targets=targets,
        analysis=analysis,
        fault=fault,
        evidence=evidence,
        restarts=restarts,
        overflow_phases_present=overflow_phases_present,
        errors=errors,
    )
    stage2 = stage2_results(entry, checks, targets=targets, analysis=analysis, restarts=restarts, stall=stall,
                            rollout=rollout, partition=partition, overload=overload, cancel_storm=cancel_storm,
                            server=server)
    if steps_happened:
        stage1 = _stage([*stage1.checks, *steps_happened])
    if step_checks:
        stage2 = _stage([*stage2.checks, *step_checks])
    outcome, reasons = verdict(stage1, stage2, expected_limitation or known_limitation(entry))
    return stage1, stage2, outcome, reasons


# --- helpers -------------------------------------------------------------------


def _stage(results: list[CheckResult]) -> Stage:
    statuses = {r.status for r in results}
    if not results:
        return Stage(status="SKIPPED")
    status: StageStatus = next(s for s in ("ERROR", "FAIL", "PASS") if s in statuses)
    return Stage(status=status, checks=results)


def _reasons(label: str, stage: Stage) -> list[str]:
    if stage.status == "SKIPPED":
        return [f"{label} did not run"]
    return [f"{label}: {c.name}: {c.detail}" for c in stage.checks if c.status in ("ERROR", "FAIL")]


def _percent(rate: float) -> str:
    return f"{rate * 100:.2f} %"


def _error_summary(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{text} x{count}" for text, count in errors.items()) or "no error text recorded"
