"""runner.results.checks: topology, stage 1, stage 2 and every verdict path."""

from __future__ import annotations

import pytest

from runner.faults.evidence import Evidence
from runner.results.analysis import analyze, analyze_phases
from runner.scenarios.catalog import lookup
from runner.results.checks import judge, stage1_scenario, stage2_results, topology, verdict
from runner.core.config import ChecksConfig
from runner.results.records import Record
from runner.results.summary import CheckResult, FaultRecord, Stage

S = 1_000_000_000
T0 = 1_800_000_000 * S
FAULT_NS = T0 + 100 * S
CHECKS = ChecksConfig()

BASELINE = lookup("mocker-agg-tp-1-dp-1-none")
SINGLE = lookup("mocker-agg-tp-1-dp-1-decode_worker")
REDUNDANT = lookup("mocker-agg-tp-1-dp-2-decode_worker")
PREFILL_POD = lookup("mocker-disagg-prefill-tp-1-decode-tp-1-dp-2-prefill_worker_pod")
OVERFLOW = lookup("mocker_agg_token_overflow_2x")
SGLANG_SCHEDULER = lookup("sglang-agg-tp-1-dp-1-sglang_decode_scheduler")


def at(seconds: float) -> int:
    return T0 + int(seconds * S)


def ok(end_s: float) -> Record:
    return Record(start_ns=at(end_s) - 100_000_000, end_ns=at(end_s), ok=True, status=200, latency_ms=100.0)


def failed(end_s: float, status: int | None = 503) -> Record:
    return Record(start_ns=at(end_s), end_ns=at(end_s), ok=False, status=status, error=f"{status} error")


def load(successes_before: int, failures_after: int, successes_after: int, recovery_gap_s: float = 1.0) -> list[Record]:
    """Successes 1 s apart up to the fault, failures right after it, then successes from fault + gap."""
    records = [ok(100 - successes_before + i) for i in range(successes_before)]
    records += [failed(100 + 0.01 * (i + 1)) for i in range(failures_after)]
    records += [ok(100 + recovery_gap_s + i) for i in range(successes_after)]
    return records


def fault_record(targets=("worker-0",)) -> FaultRecord:
    return FaultRecord(name="decode_worker", kind="process", role="decode", targets=list(targets), injected_ns=FAULT_NS)


def took_effect(target="worker-0") -> Evidence:
    return Evidence(target=target, took_effect=True, detail=f"{target}: PID 42 ended with signal 9")


def statuses(stage: Stage) -> dict[str, str]:
    return {c.name: c.status for c in stage.checks}


# --- topology -------------------------------------------------------------------------------


def test_topology_follows_the_replicas_left_untouched():
    assert topology(BASELINE, 1) == "baseline"
    assert topology(SINGLE, 1) == "single_replica"
    assert topology(REDUNDANT, 1) == "redundant"
    assert topology(REDUNDANT, 2) == "single_replica"  # both replicas hit: no survivor
    assert topology(PREFILL_POD, 1) == "redundant"
    assert topology(OVERFLOW, 1) == "token_overflow"


# --- stage 1 ----------------------------------------------------------------------------------


def stage1(entry, analysis, *, fault=None, evidence=(), restarts=0, targets=1, phases=False, errors=()):
    return stage1_scenario(
        entry, CHECKS, targets=targets, analysis=analysis, fault=fault, evidence=list(evidence),
        restarts=restarts, overflow_phases_present=phases, errors=errors,
    )


def test_stage1_baseline_passes_without_fault_or_restart():
    stage = stage1(BASELINE, analyze(load(10, 0, 0), None, 5))
    assert stage.status == "PASS"


def test_stage1_baseline_with_a_restart_fails():
    stage = stage1(BASELINE, analyze(load(10, 0, 0), None, 5), restarts=1)
    assert stage.status == "FAIL"
    assert "1 replica restart" in next(c.detail for c in stage.checks if c.status == "FAIL")


def test_stage1_baseline_with_a_fault_recorded_fails():
    stage = stage1(BASELINE, analyze(load(10, 0, 0), None, 5), fault=fault_record())
    assert statuses(stage)["no fault injected"] == "FAIL"


def test_stage1_without_records_is_an_error():
    stage = stage1(SINGLE, analyze([], FAULT_NS, 5), fault=fault_record(), evidence=[took_effect()])
    assert stage.status == "ERROR"
    assert statuses(stage)["request records"] == "ERROR"


def test_stage1_fault_that_took_effect_passes():
    stage = stage1(SINGLE, analyze(load(10, 3, 10), FAULT_NS, 5), fault=fault_record(), evidence=[took_effect()])
    assert stage.status == "PASS"
    assert statuses(stage)["fault took effect: worker-0"] == "PASS"


def test_stage1_fault_that_did_not_take_effect_is_an_error_with_its_detail():
    evidence = [Evidence(target="worker-0", took_effect=False, detail="worker-0: PID 42 did not exit")]
    stage = stage1(SINGLE, analyze(load(10, 0, 10), FAULT_NS, 5), fault=fault_record(), evidence=evidence)
    assert stage.status == "ERROR"
    check = next(c for c in stage.checks if c.name == "fault took effect: worker-0")
    assert (check.status, check.detail) == ("ERROR", "worker-0: PID 42 did not exit")


def test_stage1_missing_fault_stamp_or_evidence_is_an_error():
    analysis = analyze(load(10, 0, 10), FAULT_NS, 5)
    no_stamp = stage1(SINGLE, analysis, fault=None, evidence=[took_effect()])
    assert statuses(no_stamp)["fault injected"] == "ERROR"
    no_evidence = stage1(SINGLE, analysis, fault=fault_record(), evidence=[])
    assert statuses(no_evidence)["fault took effect"] == "ERROR"
    unknown_effect = stage1(SINGLE, analysis, fault=fault_record(), evidence=[Evidence(target="worker-0", took_effect=False, detail="")])
    check = next(c for c in unknown_effect.checks if c.name == "fault took effect: worker-0")
    assert (check.status, check.detail) == ("ERROR", "no detail recorded")


def test_stage1_evidence_for_fewer_replicas_than_targeted_is_an_error():
    stage = stage1(
        REDUNDANT, analyze(load(10, 0, 10), FAULT_NS, 5), fault=fault_record(("w0", "w1")),
        evidence=[took_effect("w0")], targets=2,
    )
    assert statuses(stage)["fault evidence complete"] == "ERROR"


def test_stage1_run_errors_are_errors():
    stage = stage1(
        SINGLE, analyze(load(10, 0, 10), FAULT_NS, 5), fault=fault_record(), evidence=[took_effect()],
        errors=["teardown: timed out"],
    )
    assert stage.status == "ERROR"
    assert statuses(stage)["run completed"] == "ERROR"


def overflow_analysis(rejected: int, slipped_through: int, recovery_ok: int, recovery_failed: int = 0):
    overflow = [failed(1 + 0.1 * i, status=500) for i in range(rejected)]
    overflow += [ok(3 + 0.1 * i) for i in range(slipped_through)]
    recovery = [failed(10 + 0.1 * i, status=None) for i in range(recovery_failed)]
    recovery += [ok(20 + i) for i in range(recovery_ok)]
    return analyze_phases({"overflow": overflow, "recovery": recovery}, 5)


def test_stage1_overflow_passes_when_oversized_prompts_are_rejected():
    stage = stage1(OVERFLOW, overflow_analysis(10, 0, 10), phases=True)
    assert stage.status == "PASS"


def test_stage1_overflow_with_too_few_rejections_fails():
    stage = stage1(OVERFLOW, overflow_analysis(8, 2, 10), phases=True)  # 80 % < 90 %
    assert stage.status == "FAIL"
    assert "8 of 10 oversized prompts (80.00 %)" in next(c.detail for c in stage.checks if c.status == "FAIL")


def test_stage1_overflow_connection_errors_are_not_rejections():
    overflow = [failed(1 + 0.1 * i, status=None) for i in range(10)]
    analysis = analyze_phases({"overflow": overflow, "recovery": [ok(20)]}, 5)
    assert stage1(OVERFLOW, analysis, phases=True).status == "FAIL"


def test_overflow_restart_is_a_result_not_a_missing_scenario():
    assert stage1(OVERFLOW, overflow_analysis(10, 0, 10), phases=True, restarts=1).status == "PASS"
    stage = stage2_results(OVERFLOW, CHECKS, targets=1, analysis=overflow_analysis(10, 0, 10), restarts=1)
    assert stage.status == "FAIL"
    assert "1 replica restart" in next(c.detail for c in stage.checks if c.status == "FAIL")


def test_stage1_overflow_without_phases():
    assert stage1(OVERFLOW, overflow_analysis(10, 0, 10), phases=False).status == "ERROR"
    empty = analyze_phases({"overflow": [], "recovery": [ok(20)]}, 5)
    assert statuses(stage1(OVERFLOW, empty, phases=True))["overflow phase ran"] == "ERROR"


# --- stage 2 ------------------------------------------------------------------------------------


def stage2(entry, analysis, targets=1):
    return stage2_results(entry, CHECKS, targets=targets, analysis=analysis)


def test_stage2_baseline_needs_every_attempt_to_succeed():
    assert stage2(BASELINE, analyze(load(20, 0, 0), None, 5)).status == "PASS"
    one_failure = analyze(load(20, 0, 0) + [failed(200)], None, 5)
    stage = stage2(BASELINE, one_failure)
    assert stage.status == "FAIL"
    assert statuses(stage) == {"success rate": "FAIL", "no failed request": "FAIL"}


def test_stage2_redundant_passes_at_99_percent_and_quick_recovery():
    # 99 successes + 1 failure = exactly 99 %
    analysis = analyze(load(90, 1, 9, recovery_gap_s=2.0), FAULT_NS, 5)
    stage = stage2(REDUNDANT, analysis)
    assert stage.status == "PASS", stage
    assert analysis.service_recovery_s == 2.0


def test_stage2_success_rate_counts_every_attempt_including_retried_ones():
    # 97 successes and 3 failed attempts (whose retries succeeded) = 97 % < 99 %
    analysis = analyze(load(90, 3, 7), FAULT_NS, 5)
    stage = stage2(REDUNDANT, analysis)
    assert statuses(stage)["success rate"] == "FAIL"
    assert "97.00 % (97 of 100 attempts" in stage.checks[0].detail


def test_stage2_single_replica_bar_is_lower():
    analysis = analyze(load(5, 40, 5), FAULT_NS, 5)  # 10 of 50 = 20 %
    assert stage2(SINGLE, analysis).status == "PASS"
    assert stage2(REDUNDANT, analysis).status == "FAIL"


def test_stage2_recovery_slower_than_the_bar_fails():
    analysis = analyze(load(990, 1, 20, recovery_gap_s=61.0), FAULT_NS, 5)
    stage = stage2(REDUNDANT, analysis)
    assert statuses(stage) == {"success rate": "PASS", "service recovery": "FAIL"}
    assert "61.000 s (needs <= 60 s)" in stage.checks[1].detail
    assert stage2(SINGLE, analysis).status == "PASS"  # 61 s <= 180 s


def test_stage2_never_recovering_is_a_failure_with_the_reason():
    analysis = analyze(load(10, 5, 0), FAULT_NS, 5)
    stage = stage2(SINGLE, analysis)
    check = next(c for c in stage.checks if c.name == "service recovery")
    assert check.status == "FAIL"
    assert "no 5 consecutive successful attempts" in check.detail


def test_stage2_recovery_that_could_not_be_measured_is_an_error():
    no_attempt_after = analyze(load(10, 0, 0), FAULT_NS, 5)
    assert statuses(stage2(SINGLE, no_attempt_after))["service recovery"] == "ERROR"
    no_fault = analyze(load(10, 0, 0), None, 5)
    assert statuses(stage2(SINGLE, no_fault))["service recovery"] == "ERROR"


def test_stage2_no_disruption_passes():
    stage = stage2(REDUNDANT, analyze(load(10, 0, 10), FAULT_NS, 5))
    assert stage.status == "PASS"
    assert "no request failed after the fault" in stage.checks[1].detail


def test_stage2_without_records_is_an_error():
    assert stage2(SINGLE, analyze([], FAULT_NS, 5)).status == "ERROR"


def test_stage2_overflow_judges_the_recovery_phase():
    assert stage2(OVERFLOW, overflow_analysis(10, 0, 10)).status == "PASS"
    assert stage2(OVERFLOW, overflow_analysis(10, 0, 9, recovery_failed=1)).status == "PASS"  # 90 %
    stage = stage2(OVERFLOW, overflow_analysis(10, 0, 8, recovery_failed=2))  # 80 %
    assert stage.status == "FAIL"
    assert stage2(OVERFLOW, overflow_analysis(10, 0, 0)).status == "ERROR"


# --- verdicts -------------------------------------------------------------------------------------


def stage_of(status, name="check", detail="why"):
    return Stage(status=status, checks=[CheckResult(name=name, status=status, detail=detail)])


@pytest.mark.parametrize(
    ("stage1_status", "stage2_status", "limitation", "expected"),
    [
        ("PASS", "PASS", None, "PASS"),
        ("PASS", "FAIL", None, "FAIL"),
        ("PASS", "FAIL", "known zombie", "EXPECTED-LIMITATION"),
        ("PASS", "ERROR", None, "ERROR"),
        ("PASS", "ERROR", "known zombie", "ERROR"),
        ("ERROR", "PASS", None, "ERROR"),
        ("FAIL", "PASS", None, "ERROR"),
        ("ERROR", "FAIL", "known zombie", "ERROR"),
        ("PASS", "SKIPPED", None, "ERROR"),
        ("SKIPPED", "PASS", None, "ERROR"),
    ],
)
def test_verdict_paths(stage1_status, stage2_status, limitation, expected):
    outcome, reasons = verdict(stage_of(stage1_status), stage_of(stage2_status), limitation)
    assert outcome == expected
    if expected != "PASS":
        assert reasons


def test_verdict_reasons_name_the_stage_and_check():
    outcome, reasons = verdict(stage_of("PASS"), stage_of("FAIL", "service recovery", "61 s"), None)
    assert (outcome, reasons) == ("FAIL", ["stage 2: service recovery: 61 s"])
    outcome, reasons = verdict(stage_of("PASS"), stage_of("FAIL", "service recovery", "never"), "zombie")
    assert outcome == "EXPECTED-LIMITATION"
    assert reasons == ["expected limitation: zombie", "stage 2: service recovery: never"]


def test_judge_runs_both_stages_and_uses_the_known_limitation():
    analysis = analyze(load(10, 5, 0), FAULT_NS, 5)
    fault = FaultRecord(name="sglang_decode_scheduler", kind="subprocess", targets=["w0"], injected_ns=FAULT_NS)
    stage1_result, stage2_result, outcome, reasons = judge(
        entry=SGLANG_SCHEDULER, checks=CHECKS, targets=1, analysis=analysis, fault=fault,
        evidence=[took_effect("w0")], restarts=0, errors=[],
    )
    assert (stage1_result.status, stage2_result.status, outcome) == ("PASS", "FAIL", "EXPECTED-LIMITATION")
    assert "zombie" in reasons[0]


def test_judge_plain_failure_and_overflow_phases_default():
    analysis = analyze(load(10, 5, 0), FAULT_NS, 5)
    _, _, outcome, _ = judge(
        entry=SINGLE, checks=CHECKS, targets=1, analysis=analysis, fault=fault_record(),
        evidence=[took_effect()], restarts=1, errors=[],
    )
    assert outcome == "FAIL"
    _, _, outcome, reasons = judge(
        entry=OVERFLOW, checks=CHECKS, targets=1, analysis=overflow_analysis(10, 0, 10), fault=None,
        evidence=[], restarts=0,
    )
    assert (outcome, reasons) == ("PASS", [])


def test_a_stall_never_routed_around_fails_a_redundant_topology_but_not_a_single_replica():
    from runner.results.checks import stage2_results
    from runner.results.summary import StallRouting

    kept = StallRouting(routed_to_stalled=12, routed_around=False, detail="12 attempt(s) ...; never routed around")
    redundant = lookup("mocker-agg-tp-1-dp-2-decode_worker_stall")
    analysis = analyze(load(10, 0, 10), FAULT_NS, 5)
    stage = stage2_results(redundant, CHECKS, targets=1, analysis=analysis, stall=kept)
    check = next(c for c in stage.checks if c.name == "stalled replica routed around")
    assert stage.status == "FAIL" and check.status == "FAIL" and "never routed around" in check.detail
    single = lookup("mocker-agg-tp-1-dp-1-decode_worker_stall")
    assert all(c.name != "stalled replica routed around"
               for c in stage2_results(single, CHECKS, targets=1, analysis=analysis, stall=kept).checks)
    around = kept.model_copy(update={"routed_around": True})
    assert stage2_results(redundant, CHECKS, targets=1, analysis=analysis, stall=around).status == "PASS"
