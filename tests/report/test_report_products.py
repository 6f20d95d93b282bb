"""timeline.png, report.html (static checks), junit.xml and the comparison table, from synthetic trees."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from report.synthetic import S, T0_NS, build_run
from runner.report.compare import compare, render
from runner.report.junit import write_junit
from runner.results.records import Record
from runner.report.html import render as render_html
from runner.report.html import write_report
from runner.results.summary import CheckResult, RunSummary, ScenarioSummary, Stage, Timings
from runner.report.timeline import choose_bin, series, timeline_svg, write_timeline_png


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("results"))


def summary(**kw) -> ScenarioSummary:
    base = dict(run_id="r", scenario="s", group="g", backend="vllm", mode="agg", tp=1, dp=1, failure="decode_worker",
                platform="local", verdict="PASS", started_at="2026-11-27T05:00:00+00:00",
                finished_at="2026-11-27T05:02:30+00:00")
    return ScenarioSummary(**{**base, **kw})


def rec(start_s: float, latency_ms: float, ok: bool = True) -> Record:
    start = T0_NS + int(start_s * S)
    return Record(start_ns=start, end_ns=start + int(latency_ms * 1e6), ok=ok, latency_ms=latency_ms)


# --- timeline -----------------------------------------------------------------------


def test_series_bins_by_outcome_time_and_marks_fault_and_recovery():
    records = [rec(0.0, 100), rec(0.5, 100), rec(1.2, 50, ok=False), rec(2.1, 300), rec(2.2, 500), rec(2.3, 600)]
    s = series(records, summary(timings=Timings(fault_ns=T0_NS + int(1.0 * S), service_recovery_s=1.5,
                                                 infrastructure_recovery_s=1.2)))
    assert s.bin_s == 1.0 and s.times == [0.0, 1.0, 2.0]
    assert s.successes == [2, 0, 3] and s.failures == [0, 1, 0]
    assert s.p50_ms[0] == 100 and math.isnan(s.p50_ms[1]) and s.p50_ms[2] == 500 and s.p99_ms[2] == 600
    assert s.fault_s == 1.0 and s.recovery.start_s == 1.0 and s.recovery.end_s == 2.5
    assert s.infra_s == pytest.approx(2.2)
    assert s.fault_label == "fault: decode_worker"


def test_bins_have_an_edge_at_the_fault_so_no_failure_after_it_is_drawn_before_it():
    fault = T0_NS + int(10.6 * S)
    records = [rec(0.0, 100), rec(10.2, 500, ok=False), rec(10.7, 100, ok=False), rec(11.5, 100)]
    s = series(records, summary(timings=Timings(fault_ns=fault)))
    assert s.fault_s == pytest.approx(10.6) and s.times[0] == pytest.approx(-0.4)
    fault_bin = min(range(len(s.times)), key=lambda i: abs(s.times[i] - 10.6))
    assert s.times[fault_bin] == pytest.approx(10.6)
    assert sum(s.failures[:fault_bin]) == 0 and sum(s.failures[fault_bin:]) == 2


def test_served_per_replica_shows_traffic_moving_to_the_replacement():
    old = [Record(start_ns=T0_NS + i * S, end_ns=T0_NS + i * S + S // 2, ok=True, replica="decode-a") for i in range(3)]
    new = [Record(start_ns=T0_NS + i * S, end_ns=T0_NS + i * S + S // 2, ok=True, replica="decode-b")
           for i in range(5, 7)]
    s = series(old + new, summary())
    assert s.served["decode-a"][:3] == [1.0, 1.0, 1.0] and sum(s.served["decode-a"][3:]) == 0
    assert sum(s.served["decode-b"][:5]) == 0 and s.served["decode-b"][5:7] == [1.0, 1.0]


def test_series_without_recovery_says_why():
    s = series([rec(0, 100)], summary(timings=Timings(fault_ns=T0_NS, service_recovery_reason="never 5 in a row")))
    assert s.recovery is None and s.recovery_note == "service recovery: N/A (never 5 in a row)"


def test_long_runs_get_wider_bins():
    assert choose_bin(100) == 1.0 and choose_bin(600) == 1.0 and choose_bin(601) == 2.0 and choose_bin(3600) == 6.0
    records = [rec(i * 3.0, 100) for i in range(1000)]  # ~50 minutes
    s = series(records, summary())
    assert s.bin_s == 5.0 and len(s.times) <= 600 and sum(s.successes) * s.bin_s == pytest.approx(1000)


def test_timeline_png_is_written_even_without_records(tmp_path):
    path = write_timeline_png(tmp_path, summary(verdict="ERROR"), [])
    assert path == tmp_path / "timeline.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_png_of_a_real_shaped_scenario(built):
    run_dir, _, summaries, records = built
    png = run_dir / summaries[0].scenario / "timeline.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 580)


def test_svg_ids_differ_between_scenarios(built):
    _, _, summaries, records = built
    a = timeline_svg(summaries[0], records[summaries[0].scenario], id_prefix="a-")
    b = timeline_svg(summaries[2], records[summaries[2].scenario], id_prefix="b-")
    assert a.startswith("<svg") and b.startswith("<svg")
    import re

    ids_a = set(re.findall(r'id="([^"]+)"', a))
    ids_b = set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b, "two inline SVGs in one page must not share element ids"
    refs = set(re.findall(r'href="#([^"]+)"', a)) | set(re.findall(r"url\(#([^)]+)\)", a))
    assert refs and refs <= ids_a, "every reference points at an element of the same plot"


# --- report.html (static) --------------------------------------------------------------


def test_report_is_self_contained(built):
    run_dir, run, summaries, _ = built
    html = (run_dir / "report.html").read_text()
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "http://" not in html.replace("http://www.w3.org/", "") and "https://" not in html
    import re

    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids are unique across the page"
    assert html.count('<div class="plot"') == len(summaries)
    for s in summaries:
        assert f'id="s-{s.scenario}"' in html and f'href="{s.scenario}/timeline.png"' in html


def test_report_escapes_what_it_shows(tmp_path):
    evil = summary(scenario="x", verdict="FAIL", reasons=['<script>alert("x")</script>'],
                   stage2=Stage(status="FAIL", checks=[CheckResult(name="2.2 <b>", status="FAIL", detail="a & b")]))
    run = RunSummary(run_id="r<1>", platform="local", started_at="t")
    html = render_html(run, [evil], {})
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "2.2 &lt;b&gt;" in html and "a &amp; b" in html and "run r&lt;1&gt;" in html
    assert write_report(tmp_path, run, [evil], {}).name == "report.html"


# --- junit.xml ------------------------------------------------------------------------------


def test_junit_one_testcase_per_scenario_with_failures_and_errors(built, tmp_path):
    run_dir, run, summaries, _ = built
    limited = summary(scenario="sglang-agg-tp-1-dp-1-sglang_decode_scheduler", verdict="EXPECTED-LIMITATION",
                      reasons=["subprocess kill leaves a zombie"])
    path = write_junit(tmp_path, run, summaries + [limited])
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite.get("tests") == str(len(summaries) + 1) and suite.get("failures") == "1" and suite.get("errors") == "1"
    assert suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == [s.scenario for s in summaries] + [limited.scenario]
    assert cases["vllm-agg-tp-1-dp-1-none"].find("failure") is None and cases["vllm-agg-tp-1-dp-1-none"].find("error") is None
    failure = cases["vllm-agg-tp-1-dp-1-decode_worker"].find("failure")
    assert failure.get("message").startswith("stage 2: 2.2 success rate: FAIL")
    assert "stage 2: 2.3 recovery time: FAIL" in failure.text
    error = cases["vllm-agg-tp-1-dp-1-frontend"].find("error")
    assert "stage 1: the fault did not take effect" in error.get("message")
    assert "stage 1: 1.1 fault took effect: ERROR" in error.text
    assert cases[limited.scenario].find("skipped").get("message") == "expected limitation: subprocess kill leaves a zombie"
    assert float(cases["vllm-agg-tp-1-dp-1-none"].get("time")) > 0
    props = {p.get("name"): p.get("value") for p in cases["vllm-agg-tp-1-dp-2-decode_worker"].iter("property")}
    assert props["verdict"] == "PASS" and float(props["success_rate"]) == pytest.approx(0.975)


def test_junit_stage1_failure_and_control_characters(tmp_path):
    s = summary(verdict="FAIL", stage1=Stage(status="FAIL", checks=[
        CheckResult(name="1.1 pod deleted", status="FAIL", detail="no Killing event\x1b[0m\x00")]))
    root = ET.parse(write_junit(tmp_path, RunSummary(run_id="r", platform="local", started_at="t"), [s])).getroot()
    failure = root.find("testsuite/testcase/failure")
    assert failure.get("message") == "stage 1: 1.1 pod deleted: FAIL - no Killing event?[0m?"


# --- compare ----------------------------------------------------------------------------------


def with_(s: ScenarioSummary, **kw) -> ScenarioSummary:
    return s.model_copy(update=kw)


def test_compare_flags_regressions_side_by_side(built):
    _, _, a, _ = built
    worse = [with_(a[0], verdict="FAIL", total=a[0].total.model_copy(update={
                 "success_rate": 0.90, "latency_ms": a[0].total.latency_ms.model_copy(update={"p99": 900.0})}),
                 timings=a[0].timings.model_copy(update={"service_recovery_s": 30.0})),
             a[1], with_(a[2], verdict="PASS")]
    rows = compare(a, worse)
    by = {r.scenario: r for r in rows}
    assert by[a[0].scenario].regressions == [
        "verdict PASS -> FAIL", "success rate -7.50 pp", "recovery 1.8 -> 30.0 s",
        f"p99 latency {a[0].total.latency_ms.p99:.0f} -> 900 ms"]
    assert by[a[1].scenario].regressions == [] and by[a[2].scenario].regressions == []
    text = render(rows, "runs/a", "s3://b/p/run-b")
    assert "A = runs/a" in text and "B = s3://b/p/run-b" in text
    line = next(line for line in text.splitlines() if line.startswith(a[0].scenario))
    assert "97.50%" in line and "90.00%" in line and "-7.50 pp" in line and "+28.2" in line
    assert "only in A" in text and text.rstrip().endswith("1 regression(s)")


def test_compare_small_changes_are_not_regressions(built):
    _, _, a, _ = built
    b = [with_(a[0], total=a[0].total.model_copy(update={"success_rate": 0.97}))]
    assert compare(a[:1], b)[0].regressions == []


def test_plot_marks_the_fault_and_the_recovery_span(built):
    from runner.report.timeline import COLORS

    _, _, summaries, records = built
    faulted = timeline_svg(summaries[0], records[summaries[0].scenario])
    baseline = timeline_svg(summaries[1], records[summaries[1].scenario])
    for svg in (faulted, baseline):
        assert COLORS["ok"] in svg and COLORS["p50"] in svg  # successes and latency drawn
    assert COLORS["fault"] in faulted and COLORS["recovery"] in faulted and COLORS["infra"] in faulted
    assert COLORS["fault"] not in baseline and COLORS["recovery"] not in baseline
    overflow = timeline_svg(summaries[3], records[summaries[3].scenario])
    assert COLORS["phase"] in overflow and COLORS["fail"] in overflow
