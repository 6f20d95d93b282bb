"""finish() judges the server-side checks named in a config file from the scenario's tree."""

from __future__ import annotations

import json

from runner.cli.main import run_config
from runner.results.records import Record
from runner.run.finish import finish
from runner.run.observed import Observed
from runner.scenarios.plan import plan

S = 1_000_000_000
T0 = 1_796_000_000 * S
CONFIG = """\
checks:
  server:
    - kind: inflight_drains
      within_s: 2
    - kind: log_count
      name: no worker errors
      pattern: '"level": "ERROR"'
      roles: [decode]
"""


def write_tree(tree, inflight: list[int]) -> None:
    (tree / "Frontend").mkdir(parents=True)
    (tree / "decode").mkdir()
    scrapes = "".join(f"# scrape time_ns={T0 + i * S} pid=7\n"
                      f'dynamo_frontend_inflight_requests{{model="tiny-llm"}} {v}\n' for i, v in enumerate(inflight))
    (tree / "Frontend" / "fe-1.metrics.log").write_text(scrapes)
    (tree / "Frontend" / "fe-1.log").write_text('{"time": "2026-12-01T09:46:00Z", "level": "ERROR", "message": "x"}\n')
    (tree / "decode" / "dec-1.log").write_text('{"time": "2026-12-01T09:46:00Z", "level": "INFO", "message": "y"}\n')


def run_finish(tmp_path, inflight: list[int]) -> dict:
    (tmp_path / "config.yaml").write_text(CONFIG)
    config = run_config(["--config", str(tmp_path / "config.yaml"), "--scenario", "mocker-agg-tp-1-dp-1-none"])
    scenario = plan("mocker-agg-tp-1-dp-1-none", config)
    tree = tmp_path / "tree"
    write_tree(tree, inflight)
    records = [Record(start_ns=T0 + i * S // 2, end_ns=T0 + i * S // 2 + S // 4, ok=True, client="0")
               for i in range(6)]  # the last ends at +2.75 s
    observed = Observed(startup_s=1.0, records=records, role_dirs={"Frontend": "frontend", "decode": "decode"})
    finish(scenario, tree, "r1", T0, observed)
    return json.loads((tree / "summary.json").read_text())


def test_a_failed_server_check_from_the_config_file_fails_the_scenario(tmp_path):
    summary = run_finish(tmp_path, [1, 2, 2, 2, 2, 2, 2, 2])  # still 2 in flight 4.25 s after the load ended
    checks = {c["name"]: c for c in summary["server_checks"]}
    assert list(checks) == ["inflight_drains", "no worker errors"]
    assert checks["inflight_drains"]["verdict"] == "FAIL"
    assert checks["no worker errors"]["verdict"] == "PASS"  # the frontend's ERROR line is not a decode log's
    assert summary["verdict"] == "FAIL" and summary["stage2"]["status"] == "FAIL"
    assert summary["reasons"] == [
        "stage 2: server check: inflight_drains: in-flight still 2 at +4.2 s after the load ended (bound 2 s) "
        "on fe-1; peak 2"]
    assert summary["schema_version"] == "1.3"


def test_passing_server_checks_leave_the_verdict_to_the_rest(tmp_path):
    summary = run_finish(tmp_path, [1, 2, 2, 0, 0])
    assert [c["verdict"] for c in summary["server_checks"]] == ["PASS", "PASS"]
    assert summary["verdict"] == "PASS", summary["reasons"]
    stage2 = {c["name"]: c["status"] for c in summary["stage2"]["checks"]}
    assert stage2["server check: inflight_drains"] == "PASS"
