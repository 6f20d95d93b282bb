"""Server-side checks judged from hand-built metrics.log and service-log texts of known answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import TypeAdapter, ValidationError

from runner.core.check_specs import ServerCheck
from runner.results.server_checks import (
    CheckInputs,
    Sample,
    Source,
    counter_increase,
    evaluate,
    pending_until,
    read_sources,
    series,
)

S = 1_000_000_000
T0 = 1_796_000_000 * S  # the first scrape
SPEC = TypeAdapter(ServerCheck)


def spec(**fields):
    return SPEC.validate_python(fields)


def scrape(at_s: float, lines: str = "", pid: int | None = 7, header: str | None = None) -> str:
    head = header or (f"time_ns={T0 + int(at_s * S)}" + (f" pid={pid}" if pid is not None else ""))
    return f"# scrape {head}\n{lines}\n"


def frontend(at_s: float, inflight: float | None = None, queued: float | None = None, migrations=None,
             pid: int | None = 7) -> str:
    lines = ["# TYPE dynamo_frontend_inflight_requests gauge"]
    if inflight is not None:
        lines.append(f'dynamo_frontend_inflight_requests{{model="tiny-llm"}} {inflight}')
    lines.append('dynamo_frontend_inflight_requests_seconds_count{model="tiny-llm"} 99')  # a prefix, not the metric
    if queued is not None:
        lines.append(f'dynamo_frontend_queued_requests{{model="tiny-llm"}} {queued}')
    for kind, value in (migrations or {}).items():
        lines.append(f'dynamo_frontend_model_migration_total{{migration_type="{kind}",model="tiny-llm"}} {value}')
    return scrape(at_s, "\n".join(lines), pid)


def gauges(values: list[float | None], start_s: float = 0.0, pid: int | None = 7, **kw) -> str:
    return "".join(frontend(start_s + i, **{kw.get("metric", "inflight"): v}, pid=pid) for i, v in enumerate(values))


def inputs(metrics: dict[str, str] | None = None, logs: dict[str, str] | None = None, load_end_s: float | None = 3.0,
           fault_end_s: float | None = None, roles: dict[str, str] | None = None) -> CheckInputs:
    roles = roles or {}
    return CheckInputs(
        metrics=[Source(roles.get(name, "frontend"), name, text) for name, text in (metrics or {}).items()],
        logs=[Source(roles.get(name, "frontend"), name, text) for name, text in (logs or {}).items()],
        load_end_ns=None if load_end_s is None else T0 + int(load_end_s * S),
        fault_end_ns=None if fault_end_s is None else T0 + int(fault_end_s * S),
        fault_end_reason="no replica was faulted",
    )


# --- series ---------------------------------------------------------------------------------


def test_series_gives_each_scrapes_value_and_time_summing_label_sets():
    text = frontend(0, migrations={"new_request": 1, "ongoing_request": 2}) + frontend(1.5, migrations={})
    got = series(text, "dynamo_frontend_model_migration_total")
    assert got == [Sample(T0, 3.0, 0), Sample(T0 + int(1.5 * S), None, 0)]
    assert series(text, "dynamo_frontend_model_migration_total", max)[0].value == 2.0


def test_series_skips_failed_kubernetes_scrapes_and_ignores_metrics_sharing_the_prefix():
    text = (scrape(0, 'dynamo_frontend_inflight_requests{model="m"} 2', header=f"runner_ns={T0} time=x")
            + scrape(1, "# scrape failed: ConnectError: refused", header=f"runner_ns={T0 + S} time=y")
            + scrape(2, 'dynamo_frontend_inflight_requests_total 50\ndynamo_frontend_inflight_requests 0',
                     header=f"runner_ns={T0 + 2 * S} time=z"))
    assert [(s.time_ns - T0, s.value) for s in series(text, "dynamo_frontend_inflight_requests")] == [(0, 2.0), (2 * S, 0.0)]


def test_a_new_pid_starts_a_new_life():
    text = gauges([3, 3], pid=10) + gauges([0], start_s=2, pid=11)
    assert [s.life for s in series(text, "dynamo_frontend_inflight_requests")] == [0, 0, 1]


def test_counter_increase_sums_process_lives_and_respects_a_window():
    # a restart inside the series: 1, 2, 3 (pid 7), then 1, 2 (pid 8); then a drop without a pid (Kubernetes)
    text = "".join(frontend(i, migrations={"x": v}, pid=7) for i, v in enumerate((1, 2, 3)))
    text += "".join(frontend(3 + i, migrations={"x": v}, pid=8) for i, v in enumerate((1, 2)))
    samples = series(text, "dynamo_frontend_model_migration_total")
    assert counter_increase(samples) == 5
    assert counter_increase(samples, (T0 + int(1.5 * S), T0 + int(3.5 * S))) == 2  # 2 -> 3, then the new life's 1
    drop = [Sample(T0, 4, 0), Sample(T0 + S, 1, 0), Sample(T0 + 2 * S, 2, 0)]
    assert counter_increase(drop) == 6
    assert counter_increase(drop, (T0 + 5 * S, T0 + 6 * S)) is None


# --- inflight_drains / queue_drains -----------------------------------------------------------


def test_inflight_drains_passes_with_the_time_to_zero_and_the_peak():
    text = gauges([1, 4, 2, 2, 2, 0.0, 0.0])  # one scrape a second: 0 first at +5 s, 1.2 s after the load's end
    result = evaluate(spec(kind="inflight_drains", within_s=10), inputs({"fe": text}, load_end_s=3.8))
    assert result.verdict == "PASS", result.detail
    assert result.detail == "in-flight 0 at +1.2 s after the load ended (bound 10 s); peak 4"
    assert result.value == pytest.approx(1.2) and result.bound == 10


def test_inflight_drains_fails_when_still_in_flight_through_the_bound():
    text = gauges([2, 3, 3, 3, 3, 3])
    result = evaluate(spec(kind="inflight_drains", within_s=2), inputs({"fe": text}, load_end_s=1))
    assert result.verdict == "FAIL"
    assert result.detail == "in-flight still 3 at +4.0 s after the load ended (bound 2 s) on fe; peak 3"


def test_inflight_drains_fails_when_zero_comes_after_the_bound():
    result = evaluate(spec(kind="inflight_drains", within_s=1), inputs({"fe": gauges([2, 2, 2, 0])}, load_end_s=0))
    assert result.verdict == "FAIL" and "0 only at +3.0 s" in result.detail


def test_inflight_drains_is_an_error_when_observation_ends_before_the_bound():
    result = evaluate(spec(kind="inflight_drains", within_s=30), inputs({"fe": gauges([2, 2])}, load_end_s=0.5))
    assert result.verdict == "ERROR"
    assert "still 2 on fe at its last scrape, +0.5 s" in result.detail and "observation ended" in result.detail


@pytest.mark.parametrize("metrics,load_end_s,fragment", [
    ({}, 3.0, "no frontend metrics.log was collected"),
    ({"fe": gauges([1, 0])}, None, "no anchor: no request record"),
    ({"fe": gauges([None, None])}, 0.0, "no frontend scrape carries dynamo_frontend_inflight_requests"),
    ({"fe": gauges([1, 0])}, 9.0, "no frontend was scraped after the anchor"),
])
def test_inflight_drains_names_the_missing_data(metrics, load_end_s, fragment):
    result = evaluate(spec(kind="inflight_drains"), inputs(metrics, load_end_s=load_end_s))
    assert result.verdict == "ERROR" and fragment in result.detail, result.detail


def test_inflight_drains_after_a_frontend_restart_reads_the_new_process():
    # the killed frontend's last scrape showed 3 in flight; its restart starts from 0
    text = gauges([3, 3], pid=10) + gauges([0, 1, 0], start_s=2, pid=11)
    result = evaluate(spec(kind="inflight_drains", within_s=5, after="fault_end"),
                      inputs({"fe": text}, fault_end_s=1.5))
    assert result.verdict == "PASS" and result.detail.startswith("in-flight 0 at +0.5 s after the fault ended")


def test_inflight_drains_every_frontend_must_drain_and_a_replaced_one_is_not_waited_for():
    gone = gauges([5, 5])  # replaced before the load ended: no scrape after the anchor
    late = gauges([2, 2, 2, 2, 0])
    result = evaluate(spec(kind="inflight_drains", within_s=10),
                      inputs({"fe-a": gone, "fe-b": gauges([1, 0, 0, 0, 0]), "fe-c": late}, load_end_s=2.5))
    assert result.verdict == "PASS" and "0 at +1.5 s" in result.detail and "on 2 frontends" in result.detail


def test_fault_end_anchor_without_a_fault_is_an_error():
    result = evaluate(spec(kind="inflight_drains", after="fault_end"), inputs({"fe": gauges([0])}))
    assert result.verdict == "ERROR" and result.detail == "no anchor: no replica was faulted"


def test_queue_drains_reads_the_queued_gauge():
    text = "".join(frontend(i, inflight=1, queued=q) for i, q in enumerate((0, 3, 1, 0)))
    ok = evaluate(spec(kind="queue_drains", within_s=2), inputs({"fe": text}, load_end_s=1.5))
    assert ok.verdict == "PASS" and ok.detail == "queued 0 at +1.5 s after the load ended (bound 2 s); peak 3"
    stuck = "".join(frontend(i, inflight=0, queued=2) for i in range(5))
    assert evaluate(spec(kind="queue_drains", within_s=2), inputs({"fe": stuck}, load_end_s=0)).verdict == "FAIL"


def test_a_window_limits_the_scrapes_a_drain_sees():
    text = gauges([3, 3, 0, 3, 3, 3, 3])  # drained at +2 s, busy again from +3 s
    whole = evaluate(spec(kind="inflight_drains", within_s=1), inputs({"fe": text}, load_end_s=1.5))
    assert whole.verdict == "PASS"
    # a step whose span starts at +2.5 s sees no zero in it
    window = (T0 + int(2.5 * S), T0 + 6 * S)
    step = evaluate(spec(kind="inflight_drains", within_s=1), inputs({"fe": text}, load_end_s=3), window=window)
    assert step.verdict == "FAIL" and "still 3" in step.detail


def test_pending_until_says_how_long_more_scrapes_could_decide_a_drain():
    drains = [spec(kind="inflight_drains", within_s=10), spec(kind="queue_drains", within_s=20),
              spec(kind="no_panics")]
    bound = T0 + 13 * S  # the load ended at +3 s; in-flight's bound is 10 s later
    assert pending_until(drains[:1], inputs({"fe": gauges([2, 2, 2, 2, 3])}, load_end_s=3)) == bound
    assert pending_until(drains[:1], inputs({"fe": gauges([2, 2, 2])}, load_end_s=3)) == bound  # no scrape after yet
    assert pending_until(drains[:1], inputs({"fe": gauges([2, 2, 2, 2, 0])}, load_end_s=3)) is None  # drained
    assert pending_until(drains[:1], inputs({"fe": gauges([2] * 15)}, load_end_s=3)) is None  # stuck past its bound
    both = "".join(frontend(i, inflight=0, queued=q) for i, q in enumerate((0, 0, 0, 1, 1)))
    assert pending_until(drains, inputs({"fe": both}, load_end_s=3)) == T0 + 23 * S  # the queue is still waited for
    assert pending_until(drains[2:], inputs({"fe": gauges([2, 2, 2, 2, 3])}, load_end_s=3)) is None
    assert pending_until(drains, inputs({}, load_end_s=3)) is None  # nothing to wait for
    assert pending_until(drains[:1], inputs({"fe": gauges([None] * 5)}, load_end_s=3)) is None  # not exported
    assert pending_until(drains, inputs({"fe": gauges([3])}, load_end_s=None)) is None


# --- migration_counter ----------------------------------------------------------------------


def migrations(values: list[dict], pids: list[int] | None = None) -> str:
    return "".join(frontend(i, inflight=0, migrations=v, pid=(pids or [7] * len(values))[i])
                   for i, v in enumerate(values))


def test_migration_counter_in_bounds_across_a_restart_and_frontends():
    a = migrations([{}, {"new_request": 1}, {"new_request": 2, "ongoing_request": 1}, {}], pids=[7, 7, 7, 8])
    b = migrations([{"ongoing_request": 2}])
    result = evaluate(spec(kind="migration_counter", min=1, max=5), inputs({"fe-a": a, "fe-b": b}))
    assert result.verdict == "PASS" and result.value == 5
    assert result.detail == "dynamo_frontend_model_migration_total rose by 5; bound [1, 5]"


@pytest.mark.parametrize("bounds,verdict", [({"max": 2}, "FAIL"), ({"min": 4}, "FAIL"), ({"min": 3, "max": 3}, "PASS")])
def test_migration_counter_bounds(bounds, verdict):
    text = migrations([{"x": 1}, {"x": 3}])
    assert evaluate(spec(kind="migration_counter", **bounds), inputs({"fe": text})).verdict == verdict


def test_migration_counter_not_exported_yet_is_zero_and_missing_frontends_are_an_error():
    none_yet = evaluate(spec(kind="migration_counter", max=0), inputs({"fe": migrations([{}, {}])}))
    assert none_yet.verdict == "PASS" and none_yet.value == 0 and "no scrape carries the counter" in none_yet.detail
    at_least_one = evaluate(spec(kind="migration_counter", min=1), inputs({"fe": migrations([{}, {}])}))
    assert at_least_one.verdict == "FAIL"
    missing = evaluate(spec(kind="migration_counter"), inputs({}))
    assert missing.verdict == "ERROR" and missing.detail == "no frontend metrics.log was collected"
    outside = evaluate(spec(kind="migration_counter"), inputs({"fe": migrations([{}])}), window=(T0 + S, T0 + 2 * S))
    assert outside.verdict == "ERROR" and "no frontend was scraped inside the window" in outside.detail


def test_migration_counter_in_a_window_counts_only_its_rise():
    text = migrations([{"x": 1}, {"x": 2}, {"x": 6}, {"x": 7}])
    result = evaluate(spec(kind="migration_counter", max=10), inputs({"fe": text}), window=(T0 + int(1.5 * S), T0 + 2 * S))
    assert result.value == 4


# --- worker_metric_max ----------------------------------------------------------------------


def worker(values: list[tuple[float, ...]], pid: int = 20) -> str:
    out = ""
    for i, engines in enumerate(values):
        lines = "\n".join(f'vllm:kv_cache_usage_perc{{engine="{e}",model_name="tiny-llm"}} {v}'
                          for e, v in enumerate(engines))
        out += scrape(i, "# TYPE vllm:kv_cache_usage_perc gauge\n" + lines, pid)
    return out


def test_worker_metric_max_takes_the_largest_label_set_of_any_scrape():
    roles = {"dec-a": "decode", "dec-b": "decode", "pre-a": "prefill"}
    metrics = {"dec-a": worker([(0.1, 0.2), (0.5, 0.97)]), "dec-b": worker([(0.3,)]), "pre-a": worker([(0.99,)])}
    check = spec(kind="worker_metric_max", metric="vllm:kv_cache_usage_perc", max=0.95)
    failed = evaluate(check, inputs(metrics, roles=roles))
    assert failed.verdict == "FAIL" and failed.value == 0.99 and "on pre-a" in failed.detail
    decode_only = spec(kind="worker_metric_max", metric="vllm:kv_cache_usage_perc", max=0.98, roles=["decode"])
    passed = evaluate(decode_only, inputs(metrics, roles=roles))
    assert passed.verdict == "PASS", passed.detail
    assert passed.detail == "vllm:kv_cache_usage_perc peak 0.97 on dec-a (bound 0.98; 3 scrapes of 2 workers)"
    first_second = evaluate(check, inputs(metrics, roles=roles), window=(T0, T0 + S // 2))
    assert first_second.verdict == "FAIL"  # pre-a's only scrape is at +0 s
    dec_early = evaluate(decode_only, inputs(metrics, roles=roles), window=(T0, T0 + S // 2))
    assert dec_early.value == 0.3


def test_worker_metric_max_names_the_missing_data():
    check = spec(kind="worker_metric_max", metric="vllm:num_requests_waiting", max=1)
    no_worker = evaluate(check, inputs({"fe": gauges([0])}))
    assert no_worker.verdict == "ERROR" and no_worker.detail == "no decode/prefill worker metrics.log was collected"
    no_metric = evaluate(check, inputs({"dec": worker([(0.1,)])}, roles={"dec": "decode"}))
    assert no_metric.verdict == "ERROR" and no_metric.detail == "no worker scrape carries vllm:num_requests_waiting"


# --- log_count / no_panics ------------------------------------------------------------------


def jsonl(at_s: float, message: str, level: str = "INFO") -> str:
    ns = T0 + int(at_s * S)
    seconds, fraction = divmod(ns, S)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"
    return json.dumps({"time": stamp, "level": level, "target": "dynamo_llm", "message": message}) + "\n"


FRONTEND_LOG = (jsonl(0, "request received") + jsonl(1, "request completed", "ERROR")
                + jsonl(2, "connection reset by peer", "ERROR") + jsonl(5, "request completed", "ERROR"))
WORKER_LOG = (jsonl(0, "started") + "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'k'\n"
              + jsonl(4, "restarted"))
RUST_PANIC = "thread 'tokio-runtime-worker' panicked at lib/runtime/src/x.rs:12:5:\ncalled `Option::unwrap()`\n"


def test_log_count_counts_matching_lines_in_the_named_roles():
    logs = {"fe": FRONTEND_LOG, "dec": WORKER_LOG}
    roles = {"dec": "decode"}
    check = spec(kind="log_count", pattern=r'"level": "ERROR"', max=2)
    every = evaluate(check, inputs(logs=logs, roles=roles))
    assert every.verdict == "FAIL" and every.value == 3 and every.detail.startswith(
        '3 line(s) matching /"level": "ERROR"/ in 2 log(s) (bound 2); first in fe: {')
    assert evaluate(spec(kind="log_count", pattern="ERROR", max=2, roles=["decode"]),
                    inputs(logs=logs, roles=roles)).verdict == "PASS"
    windowed = evaluate(check, inputs(logs=logs, roles=roles), window=(T0 + int(0.5 * S), T0 + 3 * S))
    assert windowed.verdict == "PASS" and windowed.value == 2


def test_log_count_without_logs_of_the_roles_is_an_error_and_a_bad_pattern_is_refused():
    result = evaluate(spec(kind="log_count", pattern="x", roles=["prefill"]), inputs(logs={"fe": FRONTEND_LOG}))
    assert result.verdict == "ERROR" and result.detail == "no service log of role prefill was collected"
    with pytest.raises(ValidationError, match="not a regular expression"):
        spec(kind="log_count", pattern="(")


def test_no_panics_finds_python_tracebacks_and_rust_panics():
    roles = {"dec": "decode"}
    clean = evaluate(spec(kind="no_panics"), inputs(logs={"fe": FRONTEND_LOG}))
    assert clean.verdict == "PASS" and clean.value == 0
    traceback = evaluate(spec(kind="no_panics"), inputs(logs={"fe": FRONTEND_LOG, "dec": WORKER_LOG}, roles=roles))
    assert traceback.verdict == "FAIL" and "first in dec: Traceback (most recent call last):" in traceback.detail
    panic = evaluate(spec(kind="no_panics", roles=["frontend"]), inputs(logs={"fe": FRONTEND_LOG + RUST_PANIC}))
    assert panic.verdict == "FAIL" and "panicked at lib/runtime" in panic.detail
    assert evaluate(spec(kind="no_panics"), inputs()).verdict == "ERROR"


def test_an_untimed_line_takes_the_time_of_the_line_before_it():
    logs = {"dec": WORKER_LOG}  # the traceback follows the line at +0 s
    before = evaluate(spec(kind="no_panics"), inputs(logs=logs), window=(T0, T0 + S))
    after = evaluate(spec(kind="no_panics"), inputs(logs=logs), window=(T0 + S, T0 + 9 * S))
    assert (before.verdict, after.verdict) == ("FAIL", "PASS")


def test_names_default_from_the_kind_and_can_be_set():
    assert evaluate(spec(kind="no_panics"), inputs(logs={"fe": ""})).name == "no_panics"
    assert evaluate(spec(kind="log_count", pattern="oom"), inputs(logs={"fe": ""})).name == "log_count /oom/"
    named = spec(kind="worker_metric_max", metric="vllm:kv_cache_usage_perc", max=0.9, name="kv below 90 %")
    assert evaluate(named, inputs()).name == "kv below 90 %"


# --- reading a tree -------------------------------------------------------------------------


def test_read_sources_takes_metrics_and_logs_of_the_named_service_directories(tmp_path):
    (tmp_path / "Frontend").mkdir()
    (tmp_path / "decode").mkdir()
    (tmp_path / "client_pool").mkdir()
    (tmp_path / "Frontend" / "fe-1.metrics.log").write_text(gauges([0]))
    (tmp_path / "Frontend" / "fe-1.log").write_text(FRONTEND_LOG)
    (tmp_path / "decode" / "dec-1.log").write_text(WORKER_LOG)
    (tmp_path / "decode" / "dec-1.previous.log").write_text(RUST_PANIC)
    (tmp_path / "client_pool" / "client.log").write_text("Traceback (most recent call last):\n")
    metrics, logs = read_sources(tmp_path, {"Frontend": "frontend", "decode": "decode"})
    assert [(m.role, m.name) for m in metrics] == [("frontend", "fe-1")]
    assert sorted((s.role, s.name) for s in logs) == [("decode", "dec-1"), ("decode", "dec-1.previous"),
                                                      ("frontend", "fe-1")]
