"""runner.platforms.frontend_load: the in-flight gauge read from the frontend's metrics text, and a ramp step's
outcome classes (the HTTP parts run against the real frontend in tests/e2e/test_network_and_load_faults.py)."""

from __future__ import annotations

from runner.platforms.frontend_load import inflight_value, step_counts
from runner.results.records import Record

METRICS = """# HELP dynamo_frontend_inflight_requests Number of inflight requests
# TYPE dynamo_frontend_inflight_requests gauge
dynamo_frontend_inflight_requests{model="tiny-llm"} 3
dynamo_frontend_inflight_requests{model="other"} 2
dynamo_frontend_queued_requests{model="tiny-llm"} 9
"""


def test_the_inflight_gauge_sums_every_model_and_is_none_when_absent():
    assert inflight_value(METRICS) == 5.0
    assert inflight_value("dynamo_frontend_queued_requests 1\n") is None


def test_a_step_counts_successes_and_each_failure_class_apart():
    records = [Record(start_ns=0, end_ns=1, ok=True, status=200),
               Record(start_ns=0, end_ns=1, ok=False, status=529, error="HTTP 529"),
               Record(start_ns=0, end_ns=1, ok=False, status=None, error="timeout after 30 s"),
               Record(start_ns=0, end_ns=1, ok=False, status=200, error="SSE error in HTTP 200")]
    assert step_counts(4.0, records) == {"rate_per_s": 4.0, "sent": 4, "ok": 1, "overloaded_529": 1,
                                         "stream_error_200": 1, "timeout": 1}
