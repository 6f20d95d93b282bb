"""runner.results.load_faults and load_faults_checks: shedding apart from hard failures, the recovery window
after the ramp, the storm's drain; and the stage-2 verdicts built on them."""

from __future__ import annotations

from runner.core.config import ChecksConfig
from runner.faults.evidence import Evidence
from runner.results.analysis import analyze
from runner.results.checks import stage2_results, topology
from runner.results.load_faults import cancel_storm_result, overload_result
from runner.results.records import Record
from runner.scenarios.catalog import lookup

S = 1_000_000_000
T0 = 1_800_000_000 * S
OVERLOAD = lookup("mocker-agg-tp-1-dp-1-overload")
STORM = lookup("mocker-agg-tp-1-dp-2-cancel_storm")


def rec(start_s: float, ok: bool = True, status: int | None = 200, error: str | None = None) -> Record:
    return Record(start_ns=T0 + int(start_s * S), end_ns=T0 + int((start_s + 0.2) * S), ok=ok, status=status,
                  error=error)


def ramp(steps: list[dict], end_s: float = 20) -> list[Evidence]:
    injected = {"steps": steps, "first_shed_rate_per_s": 4.0, "ended_ns": T0 + int(end_s * S)}
    return [Evidence(target="f", injected=injected, injected_ns=T0 + 5 * S, took_effect=True, detail="shed")]


STEPS = [{"rate_per_s": 4.0, "sent": 10, "ok": 7, "overloaded_529": 3, "held": False}]


def test_shedding_is_counted_apart_from_timeouts_and_other_errors():
    records = [rec(1), rec(10, False, 529, "HTTP 529"), rec(11, False, None, "timeout after 30 s"),
               rec(12, False, 500, "HTTP 500"), *(rec(23 + i) for i in range(5))]
    result = overload_result(ramp(STEPS), records, recovery_s=2)
    assert (result.shed, result.hard_failures, result.other_failures) == (4, 1, 1)
    assert result.steps[0].classes == {"overloaded_529": 3} and result.first_shed_rate_per_s == 4.0
    assert result.after_ramp.requests == 5 and result.after_ramp.failures == 0  # starts >= 20 + 2 s


def test_overload_stage2_passes_on_shedding_and_full_recovery():
    records = [rec(1), rec(10, False, 529, "HTTP 529"), *(rec(23 + i) for i in range(5))]
    result = overload_result(ramp(STEPS), records, recovery_s=2)
    stage = stage2_results(OVERLOAD, ChecksConfig(), targets=1, analysis=analyze(records, T0 + 5 * S, 5),
                           overload=result)
    assert topology(OVERLOAD, 1) == "overload" and stage.status == "PASS", stage


def test_overload_stage2_fails_on_timeouts_or_a_failure_after_the_ramp():
    records = [rec(10, False, None, "timeout after 30 s"), rec(23), rec(24, False, 529, "HTTP 529")]
    result = overload_result(ramp(STEPS), records, recovery_s=2)
    stage = stage2_results(OVERLOAD, ChecksConfig(), targets=1, analysis=analyze(records, T0 + 5 * S, 5),
                           overload=result)
    failed = {c.name for c in stage.checks if c.status == "FAIL"}
    assert failed == {"no timeouts or lost connections", "full success after the ramp"}, stage


def test_overload_with_no_load_after_the_ramp_is_an_error():
    records = [rec(1), rec(10, False, 529, "HTTP 529")]
    result = overload_result(ramp(STEPS), records, recovery_s=2)
    stage = stage2_results(OVERLOAD, ChecksConfig(), targets=1, analysis=analyze(records, T0 + 5 * S, 5),
                           overload=result)
    assert stage.status == "ERROR" and "raise --requests-per-client" in stage.checks[2].detail


def storm(drained_s: float | None, fresh: bool = True) -> list[Evidence]:
    after = {"drained_ns": None if drained_s is None else T0 + int(drained_s * S), "fresh_ok": fresh}
    return [Evidence(target="f", injected={"cancelled": 32, "mid_stream": 32, "inflight_before": 33.0}, after=after,
                     injected_ns=T0, took_effect=True, detail="storm")]


def test_the_storm_result_and_its_checks():
    records = [rec(i) for i in range(10)]
    analysis = analyze(records, T0, 5)
    result = cancel_storm_result(storm(0.3))
    assert (result.cancelled, result.drained_after_s, result.fresh_request_ok) == (32, 0.3, True)
    assert stage2_results(STORM, ChecksConfig(), targets=1, analysis=analysis, cancel_storm=result).status == "PASS"
    stuck = cancel_storm_result(storm(None, fresh=False))
    stage = stage2_results(STORM, ChecksConfig(), targets=1, analysis=analysis, cancel_storm=stuck, restarts=1)
    failed = {c.name for c in stage.checks if c.status == "FAIL"}
    assert failed == {"in flight drained to 0", "fresh request succeeded", "no replica restarted"}, stage


def test_an_outage_counts_the_attempts_while_the_server_was_stopped_and_the_registrations():
    from runner.results.load_faults import outage_result

    evidence = [Evidence(target="etcd", injected_ns=T0 + 5 * S, took_effect=True, detail="stopped",
                         after={"registration_during": {"registered": False, "after_s": None, "detail": "no answer"}},
                         restored={"continued_ns": T0 + 15 * S,
                                   "registration_after": {"registered": True, "after_s": 11.5}})]
    records = [rec(1), rec(6), rec(7, False, 503, "HTTP 503"), rec(16)]
    result = outage_result(evidence, records)
    assert (result.requests_during, result.failures_during, result.registered_during) == (2, 1, False)
    assert result.registered_after_s == 11.5 and result.first_success_after_s == 1.2
    assert "not registered (no answer) during it; registered after 11.50 s after it" in result.detail
    assert "not recorded" in outage_result([], records).detail


def test_a_kubernetes_outage_counts_from_when_the_server_stopped_not_from_the_scale_patch():
    """A terminating etcd serves its open connections until it exits: the window starts at stopped_ns."""
    from runner.results.load_faults import outage_result

    evidence = [Evidence(target="statefulset/etcd", injected_ns=T0 + 5 * S, took_effect=True, detail="scaled",
                         after={"stopped_ns": T0 + 6.5 * S}, restored={"continued_ns": T0 + 15 * S})]
    records = [rec(1), rec(6), rec(7, False, 503, "HTTP 503"), rec(16)]
    result = outage_result(evidence, records)
    assert (result.requests_during, result.failures_during) == (1, 1)  # rec(6) ended before the server stopped
