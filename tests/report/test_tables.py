"""runner.report.tables: the numbers and N/A reasons land in the printed tables."""

from __future__ import annotations

from runner.results.analysis import Analysis, analyze, analyze_phases
from runner.results.records import Record
from runner.results.summary import CheckResult, FaultRecord, LoadInfo, ScenarioSummary, Stage, Timings
from runner.report.tables import group_tables, scenario_table

S = 1_000_000_000
T0 = 1_800_000_000 * S
FAULT_NS = T0 + 100 * S


def at(seconds: float) -> int:
    return T0 + int(seconds * S)


def ok(end_s: float, latency_ms: float, **extra) -> Record:
    return Record(start_ns=at(end_s) - int(latency_ms * 1e6), end_ns=at(end_s), ok=True, status=200,
                  latency_ms=latency_ms, **extra)


def failed(end_s: float, error: str = "503 Service Unavailable", status: int | None = 503) -> Record:
    return Record(start_ns=at(end_s), end_ns=at(end_s), ok=False, status=status, error=error)


def summary_of(
    analysis: Analysis,
    failure: str,
    *,
    group: str = "mocker-agg-tp-1-dp-1",
    verdict: str = "PASS",
    reasons: tuple[str, ...] = (),
    startup_s: float | None = 12.5,
    startup_reason: str | None = None,
    fault: FaultRecord | None = None,
    streaming: bool = False,
    stage2: Stage | None = None,
) -> ScenarioSummary:
    return ScenarioSummary(
        run_id="r1", scenario=f"{group}-{failure}", group=group, backend="mocker", mode="agg", tp=1, dp=1,
        failure=failure, platform="local", verdict=verdict, reasons=list(reasons),
        started_at="2027-01-15T08:00:00Z", finished_at="2027-01-15T08:05:00Z",
        load=LoadInfo(client="aiperf", mode="pooled", clients=4, requests_per_client=30, streaming=streaming,
                      input_tokens=100, output_tokens=100),
        timings=Timings(
            startup_s=startup_s, startup_reason=startup_reason, fault_ns=analysis.fault_ns,
            service_recovery_s=analysis.service_recovery_s,
            service_recovery_reason=analysis.service_recovery_reason,
            infrastructure_recovery_reason="no replica was faulted" if fault is None else None,
            infrastructure_recovery_s=3.25 if fault is not None else None,
        ),
        fault=fault, total=analysis.total, before=analysis.before, after=analysis.after,
        after_recovery=analysis.after_recovery, phases=analysis.phases,
        stage1=Stage(status="PASS"), stage2=stage2 or Stage(status="PASS"),
    )


def worker_kill() -> ScenarioSummary:
    # before: 400 and 600 ms; after: 2 failures, then 5 successes of 200 ms from 102 s
    records = [ok(98, 400), ok(99, 600), failed(100.5), failed(100.7, "ClientConnectorError", None)]
    records += [ok(102 + i, 200) for i in range(5)]
    fault = FaultRecord(name="decode_worker", kind="process", role="decode", targets=["decode-0"],
                        injected_ns=FAULT_NS, took_effect=True)
    return summary_of(analyze(records, FAULT_NS, 5), "decode_worker", fault=fault)


def baseline() -> ScenarioSummary:
    return summary_of(analyze([ok(10 + i, 500) for i in range(4)], None, 5), "none", startup_s=None,
                      startup_reason="not ready: frontend exited")


def metric_values(table: str) -> dict[str, str]:
    """Metric -> value of a Metric | Value table (first line of each cell)."""
    values = {}
    for line in table.splitlines():
        if line.startswith("│ "):
            metric, value = (cell.strip() for cell in line.strip("│").split("│"))
            values.setdefault(metric, value)
    return values


def test_scenario_table_shows_counts_latencies_and_recovery():
    text = scenario_table(worker_kill())
    assert "FAULT TOLERANCE TEST SUMMARY - AIPERF" in text
    assert "╒" in text and "╞" in text  # fancy_grid
    values = metric_values(text)
    expected = {
        "Scenario": "mocker-agg-tp-1-dp-1-decode_worker",
        "Number of Clients": "4",
        "Startup Time": "12.50 s",
        "Fault Injected": "decode_worker into decode-0 at 2027-01-15T08:01:40.000Z; took effect",
        "Service Recovery": "2.00 s",  # first of 5 successes at 102 s - fault at 100 s
        "Infrastructure Recovery": "3.25 s",
        "Total Requests": "9",
        "Successful Requests": "7",
        "Failed Requests": "2",
        "Success Rate": "77.78%",
        "Before Fault": "2 ok / 0 failed",
        "After Fault": "5 ok / 2 failed",
        "After Service Recovery": "5 ok / 0 failed",
        "Errors": "503 Service Unavailable x1; ClientConnectorError x1",
        "Mean Latency": "0.286",  # (400 + 600 + 5 * 200) / 7 ms
        "P50 Latency": "0.200",
        "P90 Latency": "0.480",  # rank 5.4 of [200 x5, 400, 600]: 400 + 0.4 * 200
        "P99 Latency": "0.588",  # rank 5.94: 400 + 0.94 * 200
        "Total Throughput": "0.83 req/s",  # 7 successes from 97.6 s (first start) to 106 s (last end)
        "Avg Client Throughput": "0.21 req/s",
        "Verdict": "PASS",
    }
    assert {metric: values.get(metric) for metric in expected} == expected


def test_scenario_table_says_why_a_number_is_missing():
    text = scenario_table(baseline())
    assert "N/A (not ready: frontend exited)" in text
    assert "N/A (no fault was injected)" in text  # service recovery of a baseline
    assert "N/A (no replica was faulted)" in text
    assert "Before Fault" not in text  # no split without a fault


def test_scenario_table_without_successes_says_so():
    summary = summary_of(analyze([failed(100.5)], FAULT_NS, 5), "decode_worker", verdict="FAIL")
    text = scenario_table(summary)
    assert "N/A (no successful request)" in text
    assert "no 5 consecutive successful attempts" in text


def test_scenario_table_no_disruption_reads_as_such():
    summary = summary_of(analyze([ok(101, 100), ok(102, 100)], FAULT_NS, 5), "decode_worker")
    assert "0.00 s (no request failed after the fault)" in scenario_table(summary)


def test_scenario_table_streaming_rows_and_stage_details():
    records = [ok(10 + i, 250, ttft_ms=20.0 + i, itl_ms=2.5) for i in range(3)]
    stage2 = Stage(status="FAIL", checks=[CheckResult(name="service recovery", status="FAIL", detail="61.000 s")])
    summary = summary_of(analyze(records, None, 5), "none", streaming=True, verdict="FAIL",
                         reasons=("stage 2: service recovery: 61.000 s",), stage2=stage2)
    text = scenario_table(summary)
    assert "21.00 ms" in text  # mean TTFT of 20, 21, 22
    assert "2.50 ms" in text
    assert "FAIL; service recovery: 61.000 s" in text
    assert "FAIL; stage 2: service recovery: 61.000 s" in text


def test_scenario_table_lists_token_overflow_phases():
    analysis = analyze_phases(
        {"overflow": [failed(1 + i, "500 Internal Server Error", 500) for i in range(3)],
         "recovery": [ok(10 + i, 300) for i in range(5)]},
        5,
    )
    text = scenario_table(summary_of(analysis, "token_overflow", group="mocker_agg_token_overflow_2x"))
    assert "Overflow Phase" in text and "0 ok / 3 failed, 0.00% ok" in text
    assert "Recovery Phase" in text and "5 ok / 0 failed, 100.00% ok" in text
    assert "Before Fault" not in text


def group_lines(text: str, label: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"│ {label} ")]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("│").split("│")]


def test_group_table_columns_and_values():
    text = group_tables([worker_kill(), baseline()])
    assert text.startswith("Test Group: mocker-agg-tp-1-dp-1")
    header = next(line for line in text.splitlines() if "Failure" in line)
    assert cells(header) == [
        "Failure", "Startup", "Success Before", "Failed Before", "Success After", "Failed After",
        "Latency Before", "Latency After", "Recovery", "Verdict",
    ]
    kill = cells(group_lines(text, "decode_worker")[0])
    # latency before: (400 + 600) / 2 ms = 0.50 s; after: 200 ms = 0.20 s
    assert kill == ["decode_worker", "12.50", "2", "0", "5", "2", "0.50", "0.20", "2.00", "PASS"]
    none = cells(group_lines(text, "none")[0])
    assert none == ["none", "N/A", "4", "0", "N/A", "N/A", "0.50", "N/A", "N/A", "PASS"]


def test_group_table_orders_failures_and_separates_groups():
    other_group = summary_of(analyze([ok(1, 100)], None, 5), "none", group="mocker-agg-tp-1-dp-2")
    pod = summary_of(analyze([ok(101, 100)], FAULT_NS, 5), "decode_worker_pod")
    frontend = summary_of(analyze([ok(101, 100)], FAULT_NS, 5), "frontend")
    text = group_tables([pod, worker_kill(), other_group, frontend, baseline()])
    first, second = text.split("Test Group: mocker-agg-tp-1-dp-2")
    order = [cells(line)[0] for line in first.splitlines() if line.startswith("│ ") and "Failure" not in line]
    assert order == ["none", "frontend", "decode_worker", "decode_worker_pod"]
    assert "│ none " in second


def test_group_table_token_overflow_has_one_row_per_phase():
    analysis = analyze_phases(
        {"overflow": [failed(1 + i, "500 Internal Server Error", 500) for i in range(3)],
         "recovery": [failed(9.5)] + [ok(10 + i, 300) for i in range(5)]},
        5,
    )
    text = group_tables([summary_of(analysis, "token_overflow", group="mocker_agg_token_overflow_2x")])
    overflow = cells(group_lines(text, "token_overflow (overflow)")[0])
    recovery = cells(group_lines(text, "token_overflow (recovery)")[0])
    assert overflow == ["token_overflow (overflow)", "12.50", "N/A", "N/A", "0", "3", "N/A", "N/A", "N/A", "PASS"]
    # recovery phase starts at 9.5 s; the first of 5 consecutive successes ends at 10 s
    assert recovery == ["token_overflow (recovery)", "12.50", "N/A", "N/A", "5", "1", "N/A", "0.30", "0.50", "PASS"]


def test_group_tables_of_nothing():
    assert group_tables([]) == "No scenario results."


def test_tables_of_a_run_that_measured_nothing():
    summary = ScenarioSummary(
        run_id="r1", scenario="mocker-agg-tp-1-dp-1-decode_worker", group="mocker-agg-tp-1-dp-1", backend="mocker",
        mode="agg", tp=1, dp=1, failure="decode_worker", platform="local", verdict="ERROR",
        reasons=["stage 1: request records: no request record: nothing was measured"],
        started_at="2027-01-15T08:00:00Z", finished_at="2027-01-15T08:00:05Z",
    )
    values = metric_values(scenario_table(summary))
    assert values["Number of Clients"] == "N/A (no load information recorded)"
    assert values["Startup Time"] == "N/A (no reason recorded)"
    assert values["Fault Injected"] == "N/A (no fault was recorded)"
    assert values["Success Rate"] == "N/A (no request was recorded)"
    assert values["Mean Latency"] == "N/A (no successful request)"
    assert values["Total Throughput"].startswith("N/A (")
    assert values["Verdict"].startswith("ERROR; stage 1: request records")
    row = cells(group_lines(group_tables([summary]), "decode_worker")[0])
    assert row == ["decode_worker", "N/A", "N/A", "N/A", "N/A", "N/A", "N/A", "N/A", "N/A", "ERROR"]


def test_scenario_table_shows_what_was_in_flight_at_the_fault():
    from runner.results.summary import InFlight

    summary = worker_kill()
    assert "In Flight at Fault" not in metric_values(scenario_table(summary))
    summary.in_flight = InFlight(requests=3, completed=2, failed=1)
    assert metric_values(scenario_table(summary))["In Flight at Fault"] == "3 (2 completed, 1 failed)"


def test_scenario_table_has_a_row_per_server_check():
    from runner.results.summary import ServerCheckResult

    summary = worker_kill()
    assert "=== Server Checks ===" not in metric_values(scenario_table(summary))
    summary.server_checks = [
        ServerCheckResult(name="no_panics", kind="no_panics", verdict="PASS", detail="0 line(s) matching"),
        ServerCheckResult(name="inflight_drains", kind="inflight_drains", verdict="FAIL",
                          detail="in-flight still 2 at +31.0 s after the load ended (bound 30 s) on fe; peak 3"),
    ]
    values = metric_values(scenario_table(summary))
    assert "=== Server Checks ===" in values
    assert values["no_panics"] == "PASS: 0 line(s) matching"
    assert values["inflight_drains"].startswith("FAIL: in-flight still 2 at +31.0 s after the load ended")
