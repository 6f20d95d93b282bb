"""metrics.prom read back by prometheus_client's parsers; fault_tolerance_report.json checked against its schema."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_classic

from report.synthetic import DEFAULT_SPECS, build_run
from runner.report.exports import METRICS_NAME, UPSTREAM_NAME, openmetrics, upstream_report
from runner.results.summary import RunSummary


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("exports"), write_products=True)


def _samples(text: str, parse) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value for fam in parse(text) for s in fam.samples}


def test_metrics_prom_is_valid_openmetrics_and_carries_each_scenarios_figures(built):
    run_dir, run, summaries, _ = built
    text = (run_dir / METRICS_NAME).read_text()
    assert text.endswith("# EOF\n")
    samples = _samples(text, parse_openmetrics)  # raises on anything that is not OpenMetrics
    for s in summaries:
        base = {"run_id": run.run_id, "scenario": s.scenario, "backend": s.backend, "mode": s.mode,
                "failure": s.failure, "platform": s.platform}
        passed = samples[("ft_runner_scenario_passed", frozenset(base.items()))]
        assert passed == (1.0 if s.verdict in ("PASS", "EXPECTED-LIMITATION") else 0.0)
        assert samples[("ft_runner_scenario_verdict", frozenset({**base, "verdict": s.verdict}.items()))] == 1.0
        total = frozenset({**base, "window": "total"}.items())
        assert samples[("ft_runner_requests", total)] == s.total.requests
        assert samples[("ft_runner_failed_requests", total)] == s.total.failures
        if s.total.latency_ms.p99 is not None:
            q99 = frozenset({**base, "window": "total", "quantile": "0.99"}.items())
            assert samples[("ft_runner_latency_seconds", q99)] == pytest.approx(s.total.latency_ms.p99 / 1000)
        key = ("ft_runner_service_recovery_seconds", frozenset(base.items()))
        if s.timings.service_recovery_s is None:
            assert key not in samples  # not measured: left out, never a made-up 0
        else:
            assert samples[key] == pytest.approx(s.timings.service_recovery_s)
    # the classic text parser (Prometheus' textfile collector, Pushgateway) reads the same samples
    assert _samples(text, parse_classic).keys() >= {k for k in samples if not k[0].endswith("_timestamp_seconds")}


def test_labels_are_escaped():
    run = RunSummary(run_id='r"1', platform="local\\x", started_at="2026-11-27T05:20:00+00:00")
    text = openmetrics(run, [])
    [fam] = list(parse_openmetrics(text))
    assert fam.samples[0].labels == {"run_id": 'r"1', "platform": "local\\x"}
    assert fam.samples[0].value == pytest.approx(1795756800.0)


def test_upstream_report_matches_its_schema_and_the_summary(built):
    run_dir, _, summaries, _ = built
    schema = json.loads(resources.files("runner").joinpath("schemas/fault_tolerance_report.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    assert len(summaries) == len(DEFAULT_SPECS)
    for s in summaries:
        report = json.loads((run_dir / s.scenario / UPSTREAM_NAME).read_text())
        validator.validate(report)
        [row] = report["rows"]
        assert report["test_name"] == row["test_name"] == s.scenario
        if s.timings.fault_ns is not None:
            assert (row["success_before"], row["failed_before"]) == (s.before.successes, s.before.failures)
            assert (row["success_after"], row["failed_after"]) == (s.after.successes, s.after.failures)
            fault = next(e for e in report["events"] if e["type"] == "fault")
            assert fault["started_at_ns"] == s.timings.fault_ns and fault["name"] == s.failure
        else:
            assert row["success_before"] == s.total.successes and row["success_after"] == 0
        assert row["recovery_s"] == s.timings.service_recovery_s
        assert row["startup_s"] == s.timings.startup_s


def test_the_schema_rejects_what_upstream_readers_could_not_use(built):
    _, _, summaries, _ = built
    schema = json.loads(resources.files("runner").joinpath("schemas/fault_tolerance_report.schema.json").read_text())
    good = upstream_report(summaries[0])
    jsonschema.validate(good, schema)
    for broken in ({**good, "rows": []}, {k: v for k, v in good.items() if k != "events"},
                   {**good, "rows": [{**good["rows"][0], "success_before": -1}]},
                   {**good, "rows": [{k: v for k, v in good["rows"][0].items() if k != "recovery_s"}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
