"""The whole pipeline on the real local deployment: numbers, evidence, verdicts and the result tree."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


def _explain(run) -> str:
    return f"exit {run.proc.returncode}\nstdout:\n{run.proc.stdout[-3000:]}\nstderr:\n{run.proc.stderr[-3000:]}"


def test_baseline_with_aiperf(run_local):
    run = run_local("mocker-agg-tp-1-dp-1-none", extra=["--client", "aiperf"])
    assert run.proc.returncode == 0, _explain(run)
    s = run.summary("mocker-agg-tp-1-dp-1-none")
    assert s["verdict"] == "PASS"
    assert s["total"]["requests"] == 3 * 16 and s["total"]["failures"] == 0
    assert 0 < s["timings"]["startup_s"] < 60
    assert s["fault"] is None and s["stage1"]["status"] == "PASS"
    tree = run.run_dir / "mocker-agg-tp-1-dp-1-none"
    assert list(tree.glob("client_pool/attempt_0/profile_export.jsonl"))
    # run() returns once every record is in; the runner still waits for aiperf's own summaries
    assert (tree / "client_pool/attempt_0/profile_export_aiperf.json").is_file()
    # the local tokenizer was read offline as a cached hub repository: no prefetch subprocess
    aiperf_log = (tree / "client_pool/attempt_0/logs/aiperf.log").read_text()
    assert "HF offline mode already set" in aiperf_log and "Prefetching" not in aiperf_log
    assert list((tree / "Frontend").glob("*.log")) and list((tree / "decode").glob("*.metrics.log"))
    assert (tree / "test.log.txt").read_text().count("[TEST]") > 3
    # the client counted every request the frontend counted (plus the readiness probe)
    assert s["cross_check"]["difference"] == 1
    assert "Test Group: mocker-agg-tp-1-dp-1" in run.proc.stdout and "Startup" in run.proc.stdout
    # the run's reports: junit.xml, a self-contained report.html and the scenario's timeline
    assert (run.run_dir / "junit.xml").read_text().count("<testcase") == 1
    assert "<svg" in (run.run_dir / "report.html").read_text()
    assert (tree / "timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_single_worker_kill_recovers_with_legacy_client(run_local):
    name = "mocker-agg-tp-1-dp-1-decode_worker"
    run = run_local(name, extra=["--client", "legacy", "--streaming"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    assert len(s["fault"]["targets"]) == 1
    assert s["timings"]["infrastructure_recovery_s"] is not None and s["timings"]["infrastructure_recovery_s"] > 0
    assert s["timings"]["service_recovery_s"] is not None
    assert s["after"]["failures"] > 0, "killing the only worker must cost requests"
    assert s["before"]["ttft_ms"]["p50"] is not None
    assert s["verdict"] == "PASS", _explain(run)
    assert run.proc.returncode == 0
    faults = json.loads((run.run_dir / name / "faults.json").read_text())
    ev = faults["evidence"][0]
    assert faults["version"] == "2" and ev["injected"]["signal"] == "SIGKILL"
    assert ev["after"]["exit"]["signal"] == "SIGKILL" and ev["after"]["replacement_pid"] != ev["before"]["pid"]
    assert ev["before"]["restarts"] == 0 and ev["after"]["restarts_after"] == 1
    assert list((run.run_dir / name / "decode").glob("*.previous.log")), "the restarted container keeps its previous log"
    join = s["request_join"]  # the legacy client sends its own X-Request-Id on every try
    assert join["match_rate"] == 1.0 and join["matched"] == join["reached_frontend"] > 0, join
    assert s["before"]["failures"] == 0


def test_two_workers_with_migration_lose_nothing(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker"
    run = run_local(name, extra=["--client", "aiperf", "--streaming", "--migration-limit", "3"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    assert s["total"]["failures"] == 0, s["total"]["errors"]
    assert s["verdict"] == "PASS" and run.proc.returncode == 0
    assert s["request_join"]["match_rate"] == 1.0
    replicas = {r["replica"]: r for r in s["replicas"]}
    assert len(replicas) >= 2 and all(r["before"]["successes"] > 0 for r in replicas.values())


def test_frontend_kill(run_local):
    name = "mocker-agg-tp-1-dp-1-frontend"
    run = run_local(name, extra=["--client", "legacy"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    (ev,) = json.loads((run.run_dir / name / "faults.json").read_text())["evidence"]
    assert ev["injected"]["signal"] == "SIGINT" and ev["after"]["exit"]["exit_code"] == 0  # a graceful stop
    assert ev["after"]["replacement_pid"] != ev["before"]["pid"] and ev["ready_ns"] > ev["injected_ns"]
    assert s["timings"]["infrastructure_recovery_s"] == round((ev["ready_ns"] - ev["injected_ns"]) / 1e9, 3)
    # one frontend: the service is down until it is back, within the single-replica bar (>= 10 %, <= 180 s)
    assert s["after"]["failures"] > 0 and s["verdict"] == "PASS" and run.proc.returncode == 0, _explain(run)
    assert s["stage1"]["status"] == "PASS"
    join = s["request_join"]  # cut connections while the frontend was down never reached one
    assert join["match_rate"] == 1.0 and set(join["unmatched"]) <= {
        "refused before it reached a frontend (connection error, no HTTP response)",
        "no HTTP response while the faulted frontend was down: the connection was cut before a frontend logged it "
        "(by the Service or proxy, or with a killed frontend's log tail)"}, join


def test_disaggregated_prefill_kill(run_local):
    name = "mocker-disagg-prefill-tp-1-decode-tp-1-dp-1-prefill_worker"
    run = run_local(name, extra=["--client", "legacy"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    assert s["fault"]["role"] == "prefill"
    tree = run.run_dir / name
    assert list((tree / "prefill").glob("*.log")) and list((tree / "decode").glob("*.log"))
    assert s["stage1"]["status"] == "PASS" and s["verdict"] == "PASS", _explain(run)


def test_token_overflow_phases(run_local):
    name = "mocker_agg_token_overflow_2x"
    run = run_local(name, extra=["--client", "legacy"])
    s = run.summary(name)
    assert set(s["phases"]) == {"overflow", "recovery"}, _explain(run)
    assert s["phases"]["overflow"]["failures"] == s["phases"]["overflow"]["requests"] > 0
    assert s["phases"]["recovery"]["failures"] == 0
    assert s["fault"]["took_effect"] is True and "oversized prompts answered with an error" in s["fault"]["detail"]
    tree = run.run_dir / name
    assert list((tree / "overflow").glob("client_*.log.txt")) and list((tree / "recovery").glob("client_*.log.txt"))
    assert s["verdict"] == "PASS", _explain(run)


def test_per_client_aiperf_keeps_the_seed_layout(run_local):
    name = "mocker-agg-tp-1-dp-1-none"
    run = run_local(name, extra=["--client", "aiperf", "--aiperf-mode", "per-client", "--clients", "2",
                                 "--requests-per-client", "6"])
    assert run.proc.returncode == 0, _explain(run)
    tree = run.run_dir / name
    for client in ("client_0", "client_1"):
        assert (tree / client / "attempt_0" / "profile_export.jsonl").exists()
        assert (tree / client / "attempt_0" / "genai_perf.log").exists()
    s = run.summary(name)
    assert s["total"]["requests"] == 12 and s["load"]["mode"] == "per-client"


def _join_rows(tree) -> list[dict]:
    return [json.loads(line) for line in (tree / "requests_join.jsonl").read_text().splitlines()]


def test_single_worker_kill_with_aiperf_is_seen_from_both_sides(run_local):
    name = "mocker-agg-tp-1-dp-1-decode_worker"
    run = run_local(name, extra=["--client", "aiperf", "--probe-rate", "20"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    assert s["before"]["failures"] == 0, s["before"]["errors"]  # every failure came after the kill
    assert s["after"]["failures"] > 0 and s["after"]["error_classes"].get("unavailable_503", 0) > 0
    join = s["request_join"]
    assert join["matched"] == join["reached_frontend"] and join["match_rate"] == 1.0, join
    rows = _join_rows(run.run_dir / name)
    attempts = [r for r in rows if r["client"] is not None]
    assert len(attempts) == s["total"]["requests"]
    failed_and_logged = [r for r in attempts if not r["client"]["ok"] and r["server"] is not None]
    assert failed_and_logged and all(r["client"]["end_source"] == "server" for r in failed_and_logged)
    assert all(r["client"]["end_ns"] > r["client"]["start_ns"] for r in failed_and_logged)
    cross = s["cross_check"]
    assert cross["difference"] == cross["expected_difference"], cross
    assert s["timings"]["service_recovery_resolution_s"] is not None
    assert [r["role"] for r in s["replicas"]] == ["decode"] and s["replicas"][0]["after"]["successes"] > 0
    # the probe stream: counted apart from the load, recovery resolved to within 100 ms
    probe, timings = s["probe"], s["timings"]
    assert probe["requests"] > 20 and probe["failures"] > 0, probe
    assert timings["probe_service_recovery_s"] is not None, timings
    assert timings["probe_service_recovery_resolution_s"] <= 0.1, timings
    assert join["server_only"].get("the probe stream (counted apart from the load)", 0) > 0


def test_migration_off_by_name_costs_the_in_flight_requests(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker-migration-off"
    # 200-token streams (~1.2 s each): several are in flight on the killed worker
    run = run_local(name, extra=["--client", "legacy", "--streaming", "--output-tokens", "200"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    assert s["migration_limit"] == 0 and s["group"] == "mocker-agg-tp-1-dp-2"
    m = s["migrations"]
    assert m["migrated"] == 0 and m["retries"] == 0, m
    # 1.6.1 counts refused migrations in dynamo_frontend_model_migration_total too
    assert m["metric_total"] == m["refused"] and m["detail"] == "", m
    assert s["after"]["failures"] > 0, "without migration the killed worker's in-flight streams fail"
    assert s["request_join"]["match_rate"] == 1.0
    assert "decode_worker-migration-off" in run.proc.stdout  # the group table's row label


def test_decode_worker_stall_is_stopped_then_continued_with_the_same_pid(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker_stall"
    run = run_local(name, extra=["--client", "legacy", "--fault.stall-s", "3"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    (ev,) = json.loads((run.run_dir / name / "faults.json").read_text())["evidence"]
    pid = ev["before"]["pid"]
    assert ev["injected"]["signal"] == "SIGSTOP" and ev["after"]["states"] == {str(pid): "T"}, ev
    assert ev["restored"]["states"][str(pid)] in ("S", "R"), ev  # running again, the same process
    assert ev["restored"]["continued_ns"] - ev["injected_ns"] >= 3e9  # held for the configured stall
    assert s["timings"]["infrastructure_recovery_s"] >= 3.0
    # requests routed to the stopped worker waited (3 s < the 60 s timeout) instead of failing; nothing restarted
    assert s["total"]["failures"] == 0 and s["stage1"]["status"] == "PASS", _explain(run)
    stall = s["stall"]
    assert stall["routed_to_stalled"] == stall["completed"] + stall["failed"] and stall["failed"] == 0, stall
    check = next(c for c in s["stage2"]["checks"] if c["name"] == "stalled replica routed around")
    assert check["status"] == ("PASS" if stall["routed_around"] else "FAIL") and "Stall Routing" in run.proc.stdout


def test_the_next_scenarios_load_generator_starts_during_the_one_before(run_local):
    first, second = "mocker-agg-tp-1-dp-1-none", "mocker-agg-tp-1-dp-1-decode_worker"
    run = run_local(first, second, extra=["--client", "aiperf"])
    assert run.proc.returncode == 0, _explain(run)
    assert f"Started the load generator of the next scenario ({second})" in \
        (run.run_dir / first / "test.log.txt").read_text()
    assert "Using the load generator started during the previous scenario" in \
        (run.run_dir / second / "test.log.txt").read_text()
    s = run.summary(second)
    assert s["fault"]["took_effect"] is True and s["before"]["failures"] == 0, _explain(run)
    assert s["total"]["requests"] >= 3 * 16 and s["verdict"] == "PASS"


def test_decode_worker_sigterm_is_a_graceful_stop_and_says_what_was_in_flight(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker_sigterm"
    run = run_local(name, extra=["--client", "legacy", "--streaming", "--output-tokens", "200"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True, _explain(run)
    (ev,) = json.loads((run.run_dir / name / "faults.json").read_text())["evidence"]
    assert ev["injected"]["signal"] == "SIGTERM" and ev["after"]["replacement_pid"] != ev["before"]["pid"], ev
    flight = s["in_flight"]
    assert flight["requests"] > 0 and flight["completed"] + flight["failed"] == flight["requests"], flight
    assert "In Flight at Fault" in run.proc.stdout
    assert s["timings"]["infrastructure_recovery_s"] > 0 and s["stage1"]["status"] == "PASS", _explain(run)


def test_a_surge_rollout_of_two_workers_keeps_one_routable_and_stops_each_old_one_gracefully(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker_rolling_upgrade"
    run = run_local(name, extra=["--client", "aiperf"])
    assert run.proc.returncode == 0, _explain(run)
    s = run.summary(name)
    rollout = s["rollout"]
    assert rollout["strategy"] == "surge" and rollout["replicas"] == 2 and len(rollout["steps"]) == 2, rollout
    for step in rollout["steps"]:
        assert step["new_ready_s"] <= step["old_stopped_s"] < step["old_gone_s"], step
    assert rollout["longest_unroutable_s"] == 0 and s["verdict"] == "PASS", _explain(run)
    evidence = json.loads((run.run_dir / name / "faults.json").read_text())["evidence"]
    assert [e["after"]["exit"]["exit_code"] for e in evidence] == [0, 0]  # SIGTERM, drained, exited by itself
    assert "a replica routable throughout the rollout" in json.dumps(s["stage2"])
    assert "Rollout" in run.proc.stdout


def test_a_replace_rollout_of_one_worker_measures_its_window_without_a_worker(run_local):
    name = "mocker-agg-tp-1-dp-1-decode_worker_rolling_upgrade"
    run = run_local(name, extra=["--client", "aiperf", "--fault.rollout-strategy", "replace"])
    s = run.summary(name)
    rollout = s["rollout"]
    (step,) = rollout["steps"]
    assert step["old_stopped_s"] < step["new_ready_s"], step
    # nothing serves from the stop until the new worker's first success, at least until it was ready
    assert rollout["longest_unroutable_s"] >= step["new_ready_s"] - step["old_stopped_s"] > 0, rollout
    assert s["stage1"]["status"] == "PASS", _explain(run)


def test_a_scale_down_drains_the_removed_worker_and_restores_the_count(run_local):
    name = "mocker-agg-tp-1-dp-2-decode_worker_scale_down"
    run = run_local(name, extra=["--client", "legacy", "--streaming", "--output-tokens", "200",
                                 "--fault.scaled-down-s", "3"])
    s = run.summary(name)
    assert s["fault"]["took_effect"] is True and s["stage1"]["status"] == "PASS", _explain(run)
    flight = s["in_flight"]
    assert flight["replicas"] == s["fault"]["targets"] and flight["requests"] > 0, flight
    assert flight["completed"] == flight["requests"], flight  # a graceful removal drains what it had
    (ev,) = json.loads((run.run_dir / name / "faults.json").read_text())["evidence"]
    assert ev["injected"]["exit"]["exit_code"] == 0 and ev["replacement"] not in s["fault"]["targets"], ev
    assert s["timings"]["infrastructure_recovery_s"] >= 3, s["timings"]  # back to full capacity after the hold
    assert s["verdict"] == "PASS", _explain(run)


def test_an_unwritable_store_with_best_effort_runs_anyway_and_the_exports_are_in_the_tree(run_local, monkeypatch,
                                                                                          tmp_path):
    """--s3-best-effort: the store check fails (nothing listens on the port), the scenario still runs, the
    upload is tried once at the end (exit 3); metrics.prom and fault_tolerance_report.json are in the tree."""
    import socket
    from importlib import resources

    import jsonschema
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for var, value in (("AWS_ACCESS_KEY_ID", "e2e"), ("AWS_SECRET_ACCESS_KEY", "e2e-secret"),
                       ("AWS_CONFIG_FILE", str(tmp_path / "none")), ("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))):
        monkeypatch.setenv(var, value)  # the run inherits them: the refusal is the closed port, not the credentials
    name = "mocker-agg-tp-1-dp-1-none"
    run = run_local(name, extra=["--client", "legacy", "--s3-bucket", "nowhere", "--s3-endpoint",
                                 f"http://127.0.0.1:{port}", "--s3-region", "us-east-1", "--s3-best-effort"])
    assert run.proc.returncode == 3, _explain(run)
    out = " ".join((run.proc.stdout + run.proc.stderr).split())
    assert "the result store is not writable (store unreachable" in out and "running anyway (--s3-best-effort)" in out
    s = run.summary(name)
    assert s["verdict"] == "PASS"
    passed = [x for fam in text_string_to_metric_families((run.run_dir / "metrics.prom").read_text())
              for x in fam.samples if x.name == "ft_runner_scenario_passed"]
    assert [(x.labels["scenario"], x.value) for x in passed] == [(name, 1.0)]
    report = json.loads((run.run_dir / name / "fault_tolerance_report.json").read_text())
    schema = json.loads(resources.files("runner").joinpath("schemas/fault_tolerance_report.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert report["rows"][0]["success_before"] == s["total"]["successes"] > 0
    assert 'href="../_trend/trend.html"' in (run.run_dir / "report.html").read_text()


SERVER_CHECKS = """\
checks:
  server:
    - kind: no_panics
    - kind: inflight_drains
      within_s: 30
    - kind: worker_metric_max
      metric: "vllm:kv_cache_usage_perc"
      max: 0.95
    - kind: log_count
      name: no request completed
      pattern: '"message":"request completed"'
      roles: [frontend]
"""


def test_server_checks_from_a_config_file_judge_the_collected_tree(run_local, tmp_path):
    name = "mocker-agg-tp-1-dp-1-none"
    (tmp_path / "checks.yaml").write_text(SERVER_CHECKS)
    run = run_local(name, extra=["--client", "legacy", "--config", str(tmp_path / "checks.yaml")])
    assert run.proc.returncode == 1, _explain(run)  # the log_count bound of 0 cannot hold: every request completes
    s = run.summary(name)
    checks = {c["name"]: c for c in s["server_checks"]}
    assert [c["verdict"] for c in checks.values()] == ["PASS", "PASS", "PASS", "FAIL"], checks
    assert checks["inflight_drains"]["value"] < 30 and "in-flight 0 at +" in checks["inflight_drains"]["detail"]
    assert 0 < checks["worker_metric_max vllm:kv_cache_usage_perc"]["value"] <= 0.95
    assert checks["no request completed"]["value"] >= 3 * 16
    assert s["verdict"] == "FAIL" and s["stage1"]["status"] == "PASS"
    assert len(s["reasons"]) == 1 and s["reasons"][0].startswith("stage 2: server check: no request completed: ")
    assert "no request completed" in run.proc.stdout  # the per-test table's Server Checks rows


def test_the_example_scenario_file_runs_each_step_with_its_own_evidence_and_window(run_local):
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples/scenarios/kill-recover-stall.yaml"
    run = run_local(extra=["--scenario-file", str(example), "--client", "aiperf", "--requests-per-client", "40",
                           "--fault.stall-s", "3"])
    assert run.proc.returncode == 0, _explain(run)
    s = run.summary("kill-recover-stall")
    assert s["from_file"] and s["group"] == "mocker-agg-tp-1-dp-2" and s["verdict"] == "PASS", _explain(run)
    steps = s["steps"]
    assert [st["kind"] for st in steps] == ["load", "wait", "fault", "wait", "fault", "wait"]
    kill, stall = steps[2], steps[4]
    assert kill["fault"]["name"] == "decode_worker" and stall["fault"]["name"] == "decode_worker_stall"
    assert kill["fault"]["targets"] != stall["fault"]["targets"]  # replica 0, then replica 1
    assert kill["fault"]["took_effect"] and stall["fault"]["took_effect"] and all(st["met"] for st in steps[1::2])
    assert [st["started_s"] for st in steps] == sorted(st["started_s"] for st in steps)
    # every attempt in one window of the load, the first wait and the two faults; a wait after a fault is
    # part of that fault's window
    assert sum(steps[i]["window"]["requests"] for i in (0, 1, 2, 4)) == s["total"]["requests"]
    assert steps[3]["window"]["requests"] <= kill["window"]["requests"]
    assert steps[5]["window"]["requests"] <= stall["window"]["requests"]
    names = {c["name"]: c["status"] for c in kill["checks"]}
    assert names == {"step 3: service recovery": "PASS", "step 3: server check: no_panics": "PASS"}, kill["checks"]
    assert stall["checks"][0]["name"] == "step 5: success rate"
    stage1 = [c["name"] for c in s["stage1"]["checks"]]
    assert "step 5: fault decode_worker_stall -> replica 1" in stage1 and "step 6: wait ready (decode)" in stage1
    assert "Step 5" in run.proc.stdout and (run.run_dir / "kill-recover-stall" / "timeline.png").is_file()
