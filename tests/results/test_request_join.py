"""The client<->frontend request join, on hand-built records and log lines with known answers."""

from __future__ import annotations

import json

import pytest

from runner.results.analysis import analyze
from runner.results.frontend_log import parse_log_lines, parse_time_ns
from runner.results.records import END_CLIENT, END_SERVER, END_START, Record
from runner.results.request_join import (
    CUT_OFF,
    LOST_TAIL,
    NO_ID,
    NOT_LOGGED,
    PROBE,
    PROBE_STREAM,
    REFUSED,
    FrontendFault,
    estimate_offset,
    expected_counter_difference,
    join,
    join_lines,
    join_summary,
    migrations,
    partition_routing,
    replica_traffic,
    stall_routing,
)

S = 1_000_000_000
MS = 1_000_000
T0 = 1_796_118_000 * S  # a whole second: log times below are exact


def iso(ns: int) -> str:
    seconds, frac = divmod(ns, S)
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac // 1000:06d}Z"


def line(ns: int, message: str, request_id: str, x_request_id: str | None = None, **fields) -> bytes:
    body = {"time": iso(ns), "level": "INFO", "target": "dynamo_llm::http::service::metrics", "message": message,
            "request_id": request_id, **fields}
    if x_request_id:
        body["x_request_id"] = x_request_id
    return (json.dumps(body) + "\n").encode()


def served(rid: str, xid: str | None, received: int, completed: int, *, ok: bool = True, worker: str = "111",
           migrations: int = 0, http: int | None = None) -> list[bytes]:
    """The frontend's lines for one request it handled (received -> completed)."""
    lines = [line(received, "request received", rid, xid, endpoint="chat_completions")]
    lines += [line(received + MS, "migration retry scheduled", rid, xid) for _ in range(migrations)]
    status = "success" if ok else "error"
    lines.append(line(completed, "request completed", rid, xid, status=status, decode_worker_id=worker,
                      prefill_worker_id=worker, elapsed_ms=str((completed - received) // MS),
                      error_type="" if ok else "unavailable"))
    lines.append(line(completed, "http response sent", rid, xid, status=str(http or (200 if ok else 503))))
    return lines


def refused(rid: str, xid: str, at: int) -> list[bytes]:
    """A request the frontend refuses before its handler (503 model not ready): one line only."""
    return [line(at, "http response sent", rid, xid, status="503")]


def ok_record(xid: str, start: int, end: int) -> Record:
    return Record(start_ns=start, end_ns=end, ok=True, status=200, request_id=xid, latency_ms=(end - start) / MS)


def aiperf_error(xid: str | None, start: int, status: int | None = 503, error: str = "503 Service Unavailable") -> Record:
    """aiperf 0.13's error record: its end is its start."""
    return Record(start_ns=start, end_ns=start, ok=False, status=status, error=error, request_id=xid,
                  end_source=END_START)


def test_time_parsing_keeps_nanoseconds():
    assert parse_time_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_time_ns("2026-12-01T09:46:00.269273123Z") % S == 269_273_123
    with pytest.raises(ValueError):
        parse_time_ns("2026-12-01T09:46:00+01:00")


def test_an_error_without_a_client_end_takes_the_servers_completion_and_moves_after_the_fault():
    fault = T0 + 10 * S
    lines = served("r1", "a", T0 + 1 * S, T0 + 1 * S + 500 * MS)
    lines += served("r2", "b", fault - 390 * MS, fault + 140 * MS, ok=False)  # sent before the kill, failed after
    view = parse_log_lines(lines, "frontend-0")
    records = [ok_record("a", T0 + 1 * S - MS, T0 + 1 * S + 501 * MS), aiperf_error("b", fault - 391 * MS)]
    joined = join(records, view.requests)
    corrected = joined.records()
    assert corrected[1].end_source == END_SERVER and corrected[1].end_ns == fault + 140 * MS
    assert corrected[0].end_source == END_CLIENT and corrected[0].end_ns == records[0].end_ns
    assert corrected[0].replica == "111"  # no worker log names the id: the id stands for the replica
    before_join = analyze(records, fault, k=1)
    after_join = analyze(corrected, fault, k=1)
    assert before_join.before.failures == 1  # the wrong number this join exists to fix
    assert after_join.before.failures == 0 and after_join.after.failures == 1
    assert after_join.after.end_times == {"server": 1}


def test_neither_side_timed_it_so_it_is_classified_by_its_start_and_said_so():
    records = [aiperf_error("lost", T0)]
    summary = join_summary(join(records, []))
    assert summary.end_times == {END_START: 1}
    assert "1 attempts had no end time on either side and are classified by their start" in summary.detail
    assert summary.unmatched == {NOT_LOGGED: 1}


def test_every_unmatched_attempt_has_a_reason_and_refused_ones_do_not_count_as_reaching_a_frontend():
    fault = FrontendFault(start_ns=T0 + 5 * S, end_ns=T0 + 8 * S)
    records = [
        aiperf_error(None, T0 + 1 * S, status=None, error="ClientConnectorError"),
        aiperf_error("x-lost", T0 + 6 * S, status=None, error="ServerDisconnectedError"),
        aiperf_error("x-none", T0 + 9 * S),
        Record(start_ns=T0, end_ns=T0 + S, ok=True, status=200),
    ]
    joined = join(records, [], frontend_fault=fault)
    reasons = [a.reason for a in joined.attempts]
    assert reasons == [REFUSED, LOST_TAIL, NOT_LOGGED, NO_ID]
    summary = join_summary(joined)
    assert summary.reached_frontend == 2 and summary.matched == 0 and summary.match_rate == 0.0
    answered = aiperf_error("x-503", T0 + 6 * S)  # an HTTP status arrived: it reached a frontend's handler
    assert join([answered], [], frontend_fault=fault).attempts[0].reason == NOT_LOGGED


def test_frontend_requests_no_client_sent_are_named():
    lines = served("probe", None, T0 - 2 * S, T0 - 2 * S + 20 * MS)  # readiness probe: no request id, before load
    lines += served("p1", "ft-probe-0", T0 + S, T0 + S + 5 * MS)
    lines += served("cut", "zzz", T0 + 3 * S, T0 + 3 * S + 5 * MS)
    lines += served("r1", "a", T0, T0 + 300 * MS)
    joined = join([ok_record("a", T0 - MS, T0 + 301 * MS)], parse_log_lines(lines, "fe").requests)
    assert sorted(reason for _, reason in joined.server_only) == sorted([PROBE, PROBE_STREAM, CUT_OFF])
    summary = join_summary(joined)
    assert summary.server_requests == 4 and summary.matched == 1 and summary.match_rate == 1.0


def test_the_counter_difference_is_predicted_by_the_join():
    # 3 client attempts: one served, two refused before the handler (not counted); plus the readiness probe
    lines = served("probe", None, T0 - S, T0 - S + 10 * MS)
    lines += served("r1", "a", T0, T0 + 300 * MS)
    lines += refused("r2", "b", T0 + S) + refused("r3", "c", T0 + 2 * S)
    records = [ok_record("a", T0 - MS, T0 + 301 * MS), aiperf_error("b", T0 + S - MS), aiperf_error("c", T0 + 2 * S - MS)]
    joined = join(records, parse_log_lines(lines, "fe").requests)
    counter = 2  # what dynamo_frontend_requests_total says: the probe and r1
    assert expected_counter_difference(joined) == counter - len(records) == -1
    assert join_summary(joined).frontend_counted == 2
    assert all(a.record.end_source == END_SERVER for a in joined.attempts[1:])


def test_a_pods_clock_offset_is_estimated_and_removed():
    skew = 2_500 * MS  # the pod's clock runs 2.5 s ahead of the runner's
    lines, records = [], []
    for i in range(5):
        start = T0 + i * S
        lines += served(f"r{i}", f"x{i}", start + skew + 2 * MS, start + skew + 300 * MS)
        records.append(ok_record(f"x{i}", start, start + 303 * MS))
    lines += served("r9", "x9", T0 + 9 * S + skew, T0 + 9 * S + skew + 530 * MS, ok=False)
    records.append(aiperf_error("x9", T0 + 9 * S - MS))
    joined = join(records, parse_log_lines(lines, "pod-a").requests)
    offset = joined.offsets["pod-a"]
    assert offset.consistent and offset.pairs == 5
    assert 2_497 <= offset.offset_ms <= 2_502
    fixed = joined.records()[-1]
    assert fixed.end_source == END_SERVER
    assert abs(fixed.end_ns - (T0 + 9 * S + 530 * MS)) <= 3 * MS


def test_offset_is_zero_when_zero_fits_and_the_median_when_nothing_fits():
    assert estimate_offset("a", [(-MS, MS), (-2 * MS, 3 * MS)]).offset_ms == 0.0
    assert estimate_offset("a", []).pairs == 0
    crossed = estimate_offset("a", [(10 * MS, 12 * MS), (20 * MS, 22 * MS), (30 * MS, 32 * MS)])
    assert not crossed.consistent and crossed.offset_ms == 21.0


def test_migrated_requests_and_their_outcome_are_counted_and_cross_checked():
    lines = served("r1", "a", T0, T0 + 600 * MS, migrations=1)
    lines += served("r2", "b", T0, T0 + 700 * MS, migrations=2, ok=False)
    lines += served("r3", "c", T0, T0 + 500 * MS)
    records = [ok_record("a", T0 - MS, T0 + 601 * MS), aiperf_error("b", T0 - MS), ok_record("c", T0 - MS, T0 + 501 * MS)]
    joined = join(records, parse_log_lines(lines, "fe").requests)
    result = migrations(joined, metric_total=3)
    assert (result.migrated, result.retries, result.succeeded, result.failed) == (2, 3, 1, 1)
    assert result.detail == ""
    assert "says 4" in migrations(joined, metric_total=4).detail


def test_migrations_refused_by_a_zero_limit_count_in_the_metric_but_migrate_nothing():
    lines = served("r1", "a", T0, T0 + 600 * MS, ok=False)
    lines.insert(1, line(T0 + 100 * MS, "migration retries exhausted", "r1", "a"))
    joined = join([aiperf_error("a", T0 - MS)], parse_log_lines(lines, "fe").requests)
    result = migrations(joined, metric_total=1)
    assert (result.migrated, result.retries, result.refused, result.detail) == (0, 0, 1, "")


def test_traffic_per_replica_before_and_after_the_fault():
    fault = T0 + 10 * S
    lines = served("r1", "a", T0, T0 + 300 * MS, worker="111")
    lines += served("r2", "b", fault + S, fault + S + 300 * MS, worker="222")
    records = [ok_record("a", T0 - MS, T0 + 301 * MS), ok_record("b", fault + S - MS, fault + S + 301 * MS)]
    joined = join(records, parse_log_lines(lines, "fe").requests)
    rows = replica_traffic(joined, fault, {"111": "decode-old", "222": "decode-new"})
    by_name = {r.replica: r for r in rows}
    assert by_name["decode-old"].before.successes == 1 and by_name["decode-old"].after.requests == 0
    assert by_name["decode-new"].after.successes == 1 and by_name["decode-new"].worker_ids == ["222"]


def test_log_formats_kubelet_prefix_text_format_and_worker_lines():
    kubelet = b"2026-12-01T09:46:00.100000000Z " + line(T0, "request received", "r1", "a").strip()
    text = (b"2026-12-01T09:46:01.250000Z  INFO dynamo_llm::http::service::metrics: request completed "
            b'status=success elapsed_ms=1150 decode_worker_id=77 request_id=r1 x_request_id=a')
    worker = json.dumps({"time": iso(T0), "message": "request received", "request_id": "r1", "x_request_id": "a",
                         "instance_id": "77", "component": "backend",
                         "target": "dynamo_runtime::pipeline::network::ingress::push_handler"}).encode()
    noise = [b"not json at all\n", b'{"broken": \n', b"\n"]
    view = parse_log_lines([kubelet, text, worker, *noise], "pod")
    (request,) = view.requests
    assert request.x_request_id == "a" and request.received_ns == T0
    assert request.completed_ns == parse_time_ns("2026-12-01T09:46:01.250000Z")
    assert request.outcome == "success" and request.decode_worker == "77" and request.elapsed_ms == 1150
    assert view.worker_instances == {"77"}


def test_join_file_rows_hold_both_views_and_the_match_status():
    lines = served("r1", "a", T0, T0 + 300 * MS) + served("probe", None, T0 - S, T0 - S + MS)
    joined = join([ok_record("a", T0 - MS, T0 + 301 * MS), aiperf_error(None, T0, status=None, error="ClientConnectorError")],
                  parse_log_lines(lines, "fe").requests)
    rows = [json.loads(json.dumps(row)) for row in join_lines(joined)]
    assert [r["match"] for r in rows] == ["matched", "unmatched", "server_only"]
    assert rows[0]["client"]["request_id"] == rows[0]["server"]["x_request_id"] == "a"
    assert rows[1]["reason"] == REFUSED and rows[1]["server"] is None
    assert rows[2]["reason"] == PROBE and rows[2]["client"] is None


def _stall_join(starts_on_stalled: list[int]):
    """Requests every 0.5 s for 10 s from T0, on worker 222 (stopped) at the given offsets (in 0.5 s), else 111."""
    lines, records = [], []
    for i in range(20):
        at = T0 + i * 500 * MS
        worker = "222" if i in starts_on_stalled else "111"
        lines += served(f"r{i}", f"x{i}", at + MS, at + 300 * MS, worker=worker)
        records.append(ok_record(f"x{i}", at, at + 301 * MS))
    return join(records, parse_log_lines(lines, "fe").requests)


def test_a_stall_the_frontend_routes_around_early_passes_and_one_it_never_does_says_so():
    names = {"111": "decode-a", "222": "decode-b"}
    early = stall_routing(_stall_join([0, 1, 2]), {"decode-b"}, T0, T0 + 10 * S, names)
    assert early.routed_around and early.routed_to_stalled == 3 and early.last_routed_after_s == 1.0, early
    # the stall ends at 9.2 s: the request sent at 9.0 s ends at 9.301 s, the first success after SIGCONT
    assert stall_routing(_stall_join([0]), {"decode-b"}, T0, T0 + 9200 * MS,
                         names).first_success_after_continue_s == 0.101
    never = stall_routing(_stall_join([0, 4, 8, 12, 16, 19]), {"decode-b"}, T0, T0 + 10 * S, names)
    assert not never.routed_around and never.last_routed_after_s == 9.5 and "never routed around" in never.detail
    untouched = stall_routing(_stall_join([]), {"decode-b"}, T0, T0 + 10 * S, names)
    assert untouched.routed_around and untouched.routed_to_stalled == 0 and untouched.last_routed_after_s is None


def test_a_partition_reports_the_time_to_detect_it_and_when_the_cut_worker_served_again():
    names = {"111": "decode-a", "222": "decode-b"}
    # cut at T0, healed at 6 s: routed to the cut worker at 0 s and 1 s, then again from 7 s on
    result = partition_routing(_stall_join([0, 2, 14, 15]), {"decode-b"}, T0, T0 + 6 * S, names)
    assert result.routed_to_cut == 2 and result.last_routed_after_s == 1.0 and result.routed_around, result
    assert result.back_after_heal_s == 1.301 and result.requests_during == 12 and result.failures_during == 0
    assert "the last 1.0 s into it" in result.detail and "served again 1.301 s after the heal" in result.detail
    never_back = partition_routing(_stall_join([0]), {"decode-b"}, T0, T0 + 6 * S, names)
    assert never_back.back_after_heal_s is None and "served nothing after the heal" in never_back.detail
