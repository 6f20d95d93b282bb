"""`ft-runner results show DIR` re-prints runner.report.tables' tables from a saved tree."""

from __future__ import annotations

import json

from click.testing import CliRunner

from report.synthetic import build_run
from runner.report import tables
from runner.cli.main import main


def test_show_prints_the_same_tables_as_the_run(tmp_path):
    run_dir, run, summaries, _ = build_run(tmp_path / "results", write_products=False)
    res = CliRunner().invoke(main, ["results", "show", str(run_dir)])
    assert res.exit_code == 0, res.output
    expected = "\n\n".join(tables.scenario_table(s) for s in summaries)
    assert expected in res.output
    assert tables.group_tables(summaries) in res.output
    assert res.output.startswith(f"run {run.run_id} (local)")


def test_show_accepts_one_scenario_directory(tmp_path):
    run_dir, _, summaries, _ = build_run(tmp_path / "results", write_products=False)
    res = CliRunner().invoke(main, ["results", "show", str(run_dir / summaries[2].scenario)])
    assert res.exit_code == 0 and tables.scenario_table(summaries[2]) in res.output


def test_show_of_a_run_without_its_run_summary(tmp_path):
    """A run that died before writing <run>/summary.json still shows what its scenarios saved."""
    run_dir, _, summaries, _ = build_run(tmp_path / "results", write_products=False)
    (run_dir / "summary.json").unlink()
    res = CliRunner().invoke(main, ["results", "show", str(run_dir)])
    assert res.exit_code == 0
    for s in summaries:
        assert tables.scenario_table(s) in res.output


def test_show_names_the_broken_file(tmp_path):
    run_dir, _, summaries, _ = build_run(tmp_path / "results", write_products=False)
    broken = run_dir / summaries[0].scenario / "summary.json"
    data = json.loads(broken.read_text())
    data["verdict"] = "MAYBE"
    broken.write_text(json.dumps(data))
    res = CliRunner().invoke(main, ["results", "show", str(run_dir)])
    assert res.exit_code == 2
    assert f"error: {broken} does not match the ScenarioSummary schema (verdict:" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["results", "show", str(empty)])
    assert res.exit_code == 2 and "holds no summary.json: give a run directory" in res.output


def test_compare_local_runs_and_fail_on_regression(tmp_path):
    run_a, _, summaries, _ = build_run(tmp_path / "a", "run-a", write_products=False)
    run_b, _, _, _ = build_run(tmp_path / "b", "run-b", write_products=False)
    res = CliRunner().invoke(main, ["results", "compare", str(run_a), str(run_b), "--fail-on-regression"])
    assert res.exit_code == 0, res.output
    assert res.output.rstrip().endswith("0 regression(s)")

    worse = run_b / summaries[1].scenario / "summary.json"
    data = json.loads(worse.read_text())
    data["verdict"] = "FAIL"
    data["total"]["success_rate"] = 0.5
    worse.write_text(json.dumps(data))
    res = CliRunner().invoke(main, ["results", "compare", str(run_a), str(run_b)])
    assert res.exit_code == 0 and "verdict PASS -> FAIL; success rate -50.00 pp" in res.output
    res = CliRunner().invoke(main, ["results", "compare", str(run_a), str(run_b), "--fail-on-regression"])
    assert res.exit_code == 1 and res.output.rstrip().endswith("1 regression(s)")
