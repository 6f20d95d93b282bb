"""runner.results.analysis on hand-built record sets whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from runner.results.analysis import analyze, analyze_phases, percentiles, service_recovery, window
from runner.results.records import Record

S = 1_000_000_000  # one second in ns
T0 = 1_800_000_000 * S  # an epoch-ns origin


def ok(end_s: float, latency_ms: float = 100.0, client: str = "c0", **extra) -> Record:
    end = T0 + int(end_s * S)
    return Record(
        start_ns=end - int(latency_ms * 1e6), end_ns=end, ok=True, client=client, status=200,
        latency_ms=latency_ms, **extra,
    )


def failed(end_s: float, error: str = "503 Service Unavailable", status: int | None = 503, **extra) -> Record:
    end = T0 + int(end_s * S)
    return Record(start_ns=end, end_ns=end, ok=False, status=status, error=error, **extra)


def at(seconds: float) -> int:
    return T0 + int(seconds * S)


# --- percentiles -------------------------------------------------------------------


def test_percentiles_interpolate_linearly_over_pooled_values():
    # sorted 10, 20, 30, 40: p50 sits halfway between 20 and 30; p90 at rank 2.7, p99 at rank 2.97
    stats = percentiles([40.0, 10.0, 30.0, 20.0])
    assert stats.count == 4
    assert stats.mean == pytest.approx(25.0)
    assert stats.p50 == pytest.approx(25.0)
    assert stats.p90 == pytest.approx(37.0)
    assert stats.p99 == pytest.approx(39.7)


def test_percentiles_of_nothing_are_none():
    stats = percentiles([])
    assert (stats.mean, stats.p50, stats.p90, stats.p99, stats.count) == (None, None, None, None, 0)


def test_percentiles_leave_out_missing_values():
    stats = percentiles([None, 5.0, None, 15.0])
    assert stats.count == 2
    assert stats.mean == pytest.approx(10.0)


def test_window_pools_latencies_across_clients_instead_of_averaging_client_statistics():
    # client a: 100, 200, 300 ms; client b: 1000 ms. Pooled mean 400 and p50 250;
    # the mean of client means would be 600 and the mean of client medians 600.
    records = [
        ok(1, 100, "a"), ok(2, 200, "a"), ok(3, 300, "a"),
        ok(1.5, 1000, "b"),
    ]
    stats = window(records)
    assert stats.latency_ms.mean == pytest.approx(400.0)
    assert stats.latency_ms.p50 == pytest.approx(250.0)
    # p99 at rank 2.97 of [100, 200, 300, 1000]: 300 + 0.97 * 700
    assert stats.latency_ms.p99 == pytest.approx(979.0)


# --- windows --------------------------------------------------------------------------


def test_a_failed_attempt_and_its_successful_retry_are_one_failure_and_one_success():
    records = [
        failed(10.0, client="c0", attempt=0),
        ok(10.5, 200, client="c0", attempt=1),
        ok(11.0, 100, client="c1"),
    ]
    stats = window(records)
    assert (stats.requests, stats.successes, stats.failures) == (3, 2, 1)
    assert stats.success_rate == pytest.approx(2 / 3)
    assert stats.errors == {"503 Service Unavailable": 1}
    # only successful attempts feed the latency statistics
    assert stats.latency_ms.count == 2
    assert stats.latency_ms.mean == pytest.approx(150.0)


def test_a_stream_that_fails_after_http_200_is_a_failure_and_its_latency_is_left_out():
    broken_stream = Record(
        start_ns=at(1.0), end_ns=at(1.4), ok=False, status=200, error="stream ended without [DONE]",
        latency_ms=400.0, ttft_ms=20.0,
    )
    records = [broken_stream, ok(2.0, 100, ttft_ms=10.0, itl_ms=2.0)]
    stats = window(records)
    assert (stats.successes, stats.failures) == (1, 1)
    assert stats.errors == {"stream ended without [DONE]": 1}
    assert stats.latency_ms.mean == pytest.approx(100.0)
    assert stats.ttft_ms.mean == pytest.approx(10.0)
    assert stats.itl_ms.mean == pytest.approx(2.0)


def test_window_selects_attempts_by_end_time_half_open():
    records = [ok(1.0), ok(2.0), ok(3.0), failed(4.0)]
    stats = window(records, at(2.0), at(4.0))
    # ends at 2.0 and 3.0 are in [2, 4); the one ending exactly at 4.0 is not
    assert (stats.requests, stats.successes, stats.failures) == (2, 2, 0)
    assert (stats.start_ns, stats.end_ns) == (at(2.0), at(4.0))
    assert stats.throughput_rps == pytest.approx(1.0)  # 2 successes over 2 s


def test_open_window_throughput_spans_first_start_to_last_end():
    # starts at 0.9 s (1.0 - 100 ms) and the last ends at 5.0 s: 3 successes over 4.1 s
    records = [ok(1.0), ok(3.0), ok(5.0), failed(4.0)]
    stats = window(records)
    assert stats.start_ns == at(0.9)
    assert stats.end_ns == at(5.0)
    assert stats.throughput_rps == pytest.approx(3 / 4.1)


def test_empty_windows():
    assert window([]).requests == 0
    assert window([]).success_rate is None
    assert window([]).throughput_rps is None
    records = [ok(1.0), ok(2.0)]
    after_everything = window(records, at(5.0), None)
    assert (after_everything.requests, after_everything.success_rate) == (0, None)
    assert after_everything.latency_ms.mean is None
    before_everything = window(records, None, at(0.5))
    assert before_everything.requests == 0
    bounded_but_empty = window(records, at(10.0), at(12.0))
    assert bounded_but_empty.throughput_rps == 0.0


def test_failures_without_error_text_are_still_counted_by_name():
    records = [Record(start_ns=at(1), end_ns=at(1), ok=False), failed(2.0, error="ClientConnectorError", status=None)]
    assert window(records).errors == {"unknown error": 1, "ClientConnectorError": 1}


# --- service recovery --------------------------------------------------------------------


def test_no_fault_means_no_recovery_with_the_reason():
    assert service_recovery([ok(1.0)], None, 5) == (None, "no fault was injected")


def test_no_failure_after_the_fault_is_no_disruption():
    records = [failed(0.5), ok(1.0), ok(2.0), ok(3.0)]  # the failure before the fault does not count
    assert service_recovery(records, at(0.8), 5) == (0.0, None)


def test_no_attempt_after_the_fault_cannot_show_recovery():
    seconds, reason = service_recovery([ok(1.0)], at(5.0), 5)
    assert seconds is None
    assert "no attempt ended at or after the fault" in reason


def test_recovery_is_the_first_success_of_the_first_clean_run_of_k():
    fault = at(10.0)
    records = [ok(9.0), ok(10.1), failed(10.2), failed(10.5)] + [ok(11.0 + i) for i in range(3)]
    seconds, reason = service_recovery(records, fault, 3)
    assert (seconds, reason) == (1.0, None)


def test_flapping_successes_do_not_count_as_recovery():
    fault = at(10.0)
    records = [
        failed(10.1),
        ok(10.2), ok(10.3),  # two successes, then
        failed(10.4),  # another failure: not recovered yet
        ok(10.5), ok(10.6), failed(10.7),
        ok(12.25), ok(12.5), ok(12.75),  # the first run of 3
        failed(13.0),  # a later failure does not undo the recovery
    ]
    assert service_recovery(records, fault, 3) == (2.25, None)


def test_recovery_has_millisecond_resolution():
    fault = at(10.0)
    records = [failed(10.0), Record(start_ns=fault, end_ns=fault + 1_234_567_891, ok=True)]
    assert service_recovery(records, fault, 1) == (1.235, None)


def test_records_are_ordered_by_end_time_whatever_their_input_order():
    fault = at(10.0)
    records = [ok(13.0), ok(12.0), failed(10.5), ok(11.0)]
    assert service_recovery(records, fault, 3) == (1.0, None)


def test_never_recovering_gives_an_honest_reason():
    fault = at(10.0)
    records = [failed(10.1), ok(10.2), ok(10.3), failed(10.4), failed(10.5)]
    seconds, reason = service_recovery(records, fault, 5)
    assert seconds is None
    assert "no 5 consecutive successful attempts" in reason
    assert "5 attempts ended after the fault, 3 failed" in reason
    assert "longest run of successes after the first failure: 2" in reason
    assert "FSSFF" in reason


def test_k_must_be_positive():
    with pytest.raises(ValueError):
        service_recovery([ok(1.0)], at(0.5), 0)


# --- analyze --------------------------------------------------------------------------------


def test_analyze_splits_at_the_fault_and_after_recovery():
    fault = at(10.0)
    records = (
        [ok(8.0, 100), ok(9.0, 300)]
        + [failed(10.0), failed(10.5, error="ClientConnectorError", status=None)]
        + [ok(12.0 + i, 200) for i in range(5)]
    )
    result = analyze(records, fault, 5)
    assert result.total.requests == 9
    assert (result.before.successes, result.before.failures) == (2, 0)
    assert result.before.latency_ms.mean == pytest.approx(200.0)
    # a failure ending exactly at the fault belongs after it
    assert (result.after.successes, result.after.failures) == (5, 2)
    assert result.service_recovery_s == 2.0
    assert result.service_recovery_reason is None
    assert result.recovery_ns == at(12.0)
    assert (result.after_recovery.requests, result.after_recovery.failures) == (5, 0)
    assert result.first_success_ns == at(8.0)
    assert result.fault_ns == fault


def test_analyze_baseline_has_everything_before_and_nothing_after():
    records = [ok(1.0), ok(2.0), failed(3.0)]
    result = analyze(records, None, 5)
    assert result.before == result.total
    assert result.total.requests == 3
    assert result.after.requests == 0
    assert result.after_recovery.requests == 0
    assert result.service_recovery_s is None
    assert result.service_recovery_reason == "no fault was injected"


def test_analyze_when_the_service_never_recovers_leaves_after_recovery_empty():
    fault = at(10.0)
    result = analyze([ok(9.0), failed(10.5), failed(11.0)], fault, 5)
    assert result.service_recovery_s is None
    assert result.after_recovery.requests == 0
    assert result.after.failures == 2


def test_analyze_with_no_records_at_all():
    result = analyze([], at(10.0), 5)
    assert result.total.requests == 0
    assert result.first_success_ns is None
    assert result.service_recovery_s is None
    assert "no attempt ended" in result.service_recovery_reason


# --- token overflow phases ----------------------------------------------------------------


def overflow_records() -> dict[str, list[Record]]:
    overflow = [failed(1.0 + i * 0.1, error="500 Internal Server Error", status=500) for i in range(9)]
    overflow.append(ok(2.0, 300))  # one oversized prompt slipped through
    recovery_start = at(5.0)
    recovery = [
        Record(start_ns=recovery_start, end_ns=at(5.2), ok=False, status=None, error="ClientConnectorError"),
        *[ok(6.0 + i, 250) for i in range(5)],
    ]
    return {"overflow": overflow, "recovery": recovery}


def test_analyze_phases_reports_each_phase_and_recovery_from_the_recovery_phase_start():
    result = analyze_phases(overflow_records(), 5)
    overflow, recovery = result.phases["overflow"], result.phases["recovery"]
    assert (overflow.requests, overflow.failures) == (10, 9)
    assert (recovery.requests, recovery.successes) == (6, 5)
    # answered with an HTTP status = rejected; a connection error is not a rejection
    assert result.rejected_by_phase == {"overflow": 9, "recovery": 0}
    assert result.fault_ns == at(5.0)
    # first failure at 5.2, then 5 successes from 6.0: 6.0 - 5.0
    assert result.service_recovery_s == 1.0
    assert result.total.requests == 16
    assert result.before.requests == 10  # the overflow phase ended before the recovery phase started


def test_analyze_phases_without_a_recovery_phase_says_so():
    result = analyze_phases({"overflow": overflow_records()["overflow"]}, 5)
    assert result.service_recovery_s is None
    assert result.service_recovery_reason == "the recovery phase has no attempts, so recovery could not be measured"


def test_analyze_with_phase_split_groups_records_by_their_phase():
    phases = overflow_records()
    records = [
        Record(**{**{f: getattr(r, f) for f in r.__struct_fields__}, "phase": name})
        for name, recs in phases.items()
        for r in recs
    ]
    by_field = analyze(records, None, 5, phase_split="recovery")
    by_mapping = analyze_phases(phases, 5)
    assert by_field.phases == by_mapping.phases
    assert by_field.service_recovery_s == by_mapping.service_recovery_s == 1.0


def test_analyze_refuses_both_a_fault_and_a_phase_split():
    with pytest.raises(ValueError, match="not both"):
        analyze([ok(1.0)], at(0.5), 5, phase_split="recovery")


# --- the real aiperf export --------------------------------------------------------------------


def test_analysis_of_the_real_aiperf_sample(shared_dir):
    from runner.results.records import iter_aiperf

    records = list(iter_aiperf(shared_dir / "notes/aiperf-sample/profile_export.first4.jsonl"))
    # line 1 is an HTTP 500 (end == start); lines 2-4 succeeded with these request_latency/TTFT/ITL values
    latencies = [246.829644, 263.924537, 258.800755]
    ttfts = [22.835625, 23.783756999999998, 23.46611]
    itls = [2.2625658484848485, 2.425664444444444, 2.377117626262626]
    fault_ns = records[0].end_ns  # as if the fault landed on the failed request
    result = analyze(records, fault_ns, 2)
    assert (result.total.requests, result.total.successes, result.total.failures) == (4, 3, 1)
    assert result.total.errors == {"500 Internal Server Error": 1}
    assert result.total.latency_ms.mean == pytest.approx(sum(latencies) / 3)
    assert result.total.latency_ms.p50 == pytest.approx(258.800755)
    assert result.total.ttft_ms.mean == pytest.approx(sum(ttfts) / 3)
    assert result.total.itl_ms.mean == pytest.approx(sum(itls) / 3)
    # the failure is the first attempt at the fault; the next two successes make K=2
    assert result.recovery_ns == records[1].end_ns
    assert result.service_recovery_s == round((records[1].end_ns - fault_ns) / 1e9, 3)


# --- error classes, recovery resolution, probe recovery ------------------------------


@pytest.mark.parametrize(("status", "error", "expected"), [
    (503, "503 Service Unavailable", "unavailable_503"),
    (529, "529 Overloaded", "overloaded_529"),
    (404, "HTTP 404: (empty body)", "rejected_4xx"),
    (400, "400 Bad Request", "rejected_4xx"),
    (500, "500 Internal Server Error", "server_error_5xx"),
    (200, "SSE error in HTTP 200: {...}", "stream_error_200"),
    (None, "ClientConnectorError", "connection"),
    (None, "ServerDisconnectedError", "connection"),
    (None, "TimeoutError", "timeout"),
    (None, "timeout after 60 s", "timeout"),
    (None, "cancelled", "cancelled"),
])
def test_error_classes_stay_apart(status, error, expected):
    from runner.results.analysis import error_class

    assert error_class(failed(1, error=error, status=status)) == expected


def test_windows_count_error_classes_and_end_time_sources():
    records = [ok(1), failed(2), failed(3, error="ClientConnectorError", status=None),
               failed(4, status=200, error="SSE error in HTTP 200", end_source="server")]
    stats = window(records)
    assert stats.error_classes == {"unavailable_503": 1, "connection": 1, "stream_error_200": 1}
    assert stats.end_times == {"client": 3, "server": 1}


def test_recovery_carries_the_gap_between_the_last_failure_and_the_first_success():
    # failures are instant (start = end); successes take 100 ms: the last failure was sent at 10.9,
    # the first success at 11.5, so the service came back inside those 0.6 s
    records = [ok(1), failed(10.2), failed(10.9), ok(11.6), ok(12.1), ok(12.6)]
    result = analyze(records, fault_ns=at(10), k=3)
    assert result.service_recovery_s == pytest.approx(1.6)
    assert result.service_recovery_resolution_s == pytest.approx(0.6)
    assert analyze([ok(1), ok(11)], fault_ns=at(10), k=1).service_recovery_resolution_s is None


def test_probe_recovery_is_measured_from_the_probe_records_alone():
    from runner.results.analysis import probe_recovery

    probes = [ok(9.95, 5), failed(10.0), failed(10.05), ok(10.10, 5), ok(10.15, 5)]
    seconds, reason, resolution = probe_recovery(probes, at(9.97), k=2)
    assert seconds == pytest.approx(0.13) and resolution == pytest.approx(0.045) and reason is None
    assert probe_recovery([], at(10), 2)[1].startswith("no probe stream ran")


def test_in_flight_counts_attempts_sent_before_the_fault_that_ended_after_it_by_outcome():
    from runner.results.analysis import in_flight
    from runner.results.records import Record

    def rec(start, end, ok):
        return Record(start_ns=start, end_ns=end, ok=ok, client="c", attempt=0)

    records = [rec(1, 4, True), rec(2, 8, True), rec(3, 9, False), rec(6, 7, False), rec(5, 10, True)]
    flight = in_flight(records, fault_ns=5)
    # (1,4) ended before, (6,7) started after, (5,10) started at the fault: not under way
    assert (flight.requests, flight.completed, flight.failed) == (2, 1, 1)
