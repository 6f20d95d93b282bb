"""Stage-2 checks of the overload and cancel-storm faults. Pure."""

from __future__ import annotations

from runner.results.summary import CancelStormResult, CheckResult, OverloadResult


def overload_checks(result: OverloadResult | None) -> list[CheckResult]:
    """Shedding, not timeouts or lost connections; and full success again once the ramp is over."""
    if result is None:
        return [CheckResult(name="load shed", status="ERROR", detail="no overload result was recorded")]
    shed = CheckResult(name="load shed as 529/503", status="PASS" if result.shed else "FAIL", detail=result.detail)
    hard = CheckResult(name="no timeouts or lost connections", status="FAIL" if result.hard_failures else "PASS",
                       detail=f"{result.hard_failures} timed out or lost the connection (shedding must answer fast)")
    return [shed, hard, _recovered(result)]


def _recovered(result: OverloadResult) -> CheckResult:
    after = result.after_ramp
    if after.requests == 0:
        return CheckResult(name="full success after the ramp", status="ERROR",
                           detail="no load attempt started after the ramp: raise --requests-per-client")
    status = "PASS" if after.failures == 0 else "FAIL"
    return CheckResult(name="full success after the ramp", status=status,
                       detail=f"{after.successes} of {after.requests} load attempts after the ramp succeeded")


def cancel_storm_checks(result: CancelStormResult | None) -> list[CheckResult]:
    """In flight back to 0 after the cancel, and a fresh request served."""
    if result is None:
        return [CheckResult(name="in flight drained", status="ERROR", detail="no cancel-storm result was recorded")]
    drained = result.drained_after_s is not None
    return [
        CheckResult(name="in flight drained to 0", status="PASS" if drained else "FAIL",
                    detail=f"after {result.drained_after_s:.3f} s" if drained else result.detail),
        CheckResult(name="fresh request succeeded", status="PASS" if result.fresh_request_ok else "FAIL",
                    detail=result.detail),
    ]
