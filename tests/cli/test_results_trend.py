"""`ft-runner results trend` over local directories: filters, the regression lines, exit codes, bad input."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from report.history import noisy, run_id, scenario_summary, started_at, write_night
from runner.cli.main import main
from runner.cli.results import parse_since
from runner.core.errors import UserError

STEP, FLAT = "mocker-agg-tp-1-dp-2-decode_worker", "mocker-agg-tp-1-dp-1-none"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    rng = random.Random(5)
    for i in range(30):
        success = 0.995 if i < 24 else 0.93  # a step in the success rate at night 24
        n = noisy(rng)
        write_night(root, i, {STEP: scenario_summary(i, STEP, n.__class__(**{**n.__dict__, "success_rate": success})),
                              FLAT: scenario_summary(i, FLAT, noisy(rng), failure="none")}, extra_files=False)
    return root


def trend(*args: str):
    return CliRunner().invoke(main, ["results", "trend", *args, "--no-progress"])


def test_a_local_directory_of_runs(runs, tmp_path):
    res = trend(str(runs), "--output", str(tmp_path / "t"), "--fail-on-regression")
    assert res.exit_code == 1, res.output
    [line] = [x for x in res.output.splitlines() if x.startswith("regression: ")]
    assert line.startswith(f"regression: {STEP}: success rate 93.00% against a baseline of 99.") and \
        f"since run {run_id(24)} ({started_at(24)}, 6 run(s))" in line
    assert "1 regression(s) in 2 scenario(s) over 30 run(s)" in res.output
    assert (tmp_path / "t" / "trend.html").is_file()


def test_filters_narrow_what_is_judged(runs, tmp_path):
    flat = trend(str(runs), "--output", str(tmp_path / "a"), "--scenario", "*-none", "--fail-on-regression")
    assert flat.exit_code == 0 and "0 regression(s) in 1 scenario(s) over 30 run(s)" in flat.output, flat.output
    # since night 20: four normal runs before the step, enough for a baseline of 3
    recent = trend(str(runs), "--output", str(tmp_path / "b"), "--since", started_at(20), "--min-baseline", "3")
    assert recent.exit_code == 0 and f"since run {run_id(24)}" in recent.output, recent.output
    assert "over 10 run(s)" in recent.output
    html = (tmp_path / "b" / "trend.html").read_text()
    assert run_id(19) not in html and run_id(20) in html
    # a minimum of 5: the step's first night is still learning; the median keeps it from moving the
    # baseline, so the next night is the first judged one and the onset
    learning = trend(str(runs), "--output", str(tmp_path / "c"), "--since", started_at(20), "--min-baseline", "5")
    assert f"since run {run_id(25)}" in learning.output, learning.output


def test_one_run_directory_and_two_sources_count_each_run_once(runs, tmp_path):
    res = trend(str(runs / run_id(3)), str(runs), "--output", str(tmp_path / "t"))
    assert res.exit_code == 0 and "in 2 scenario(s) over 30 run(s)" in res.output, res.output


def test_bad_input_is_one_line_and_exit_2(runs, tmp_path):
    missing = trend(str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "is not a directory" in missing.output
    empty = trend(str(tmp_path))
    assert empty.exit_code == 2 and "no scenario summary under" in empty.output
    nothing = trend(str(runs), "--scenario", "vllm-*")
    assert nothing.exit_code == 2 and "matching the filters" in nothing.output
    publish = trend(str(runs), "--publish")
    assert publish.exit_code == 2 and "--publish needs an s3://" in publish.output


def test_parse_since():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_since("14d", now) == datetime(2026, 11, 17, 12, 0, tzinfo=UTC)
    assert parse_since("36h", now) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert parse_since("2w", now) == datetime(2026, 11, 17, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-20", now) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_since(None, now) is None
    with pytest.raises(UserError, match="neither an age"):
        parse_since("yesterday", now)
