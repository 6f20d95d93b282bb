"""Bad input gets one clear line naming the fix, exit code 2 and no traceback."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(ft_runner, *args, tmp_path=None, env=None):
    proc = subprocess.run([str(ft_runner), *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=env)
    return proc


def assert_clean_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_unknown_scenario_names_closest(ft_runner, tmp_path):
    proc = run_cli(ft_runner, "run", "--scenario", "mocker-agg-tp-1-dp-2-decode_wroker", tmp_path=tmp_path)
    assert_clean_error(proc, "unknown scenario", "mocker-agg-tp-1-dp-2-decode_worker")


def test_scenario_the_platform_cannot_run(ft_runner, tmp_path):
    proc = run_cli(ft_runner, "run", "--scenario", "vllm-agg-tp-1-dp-1-vllm_decode_engine_core", tmp_path=tmp_path)
    assert_clean_error(proc, "local platform runs only the mocker backend")


@pytest.mark.parametrize("flag,value", [("--clients", "0"), ("--requests-per-client", "-3")])
def test_non_positive_counts(ft_runner, tmp_path, flag, value):
    proc = run_cli(ft_runner, "run", flag, value, tmp_path=tmp_path)
    assert_clean_error(proc, "invalid configuration", "greater than 0")


def test_missing_model_directory(ft_runner, tmp_path):
    proc = run_cli(ft_runner, "run", "--model-dir", str(tmp_path / "nope"), tmp_path=tmp_path)
    assert_clean_error(proc, "does not exist", "ft-runner make-model")


def test_model_directory_without_tokenizer(ft_runner, tmp_path, model_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((model_dir / "config.json").read_text())
    proc = run_cli(ft_runner, "run", "--model-dir", str(broken), tmp_path=tmp_path)
    assert_clean_error(proc, "tokenizer.json", "make-model")


def test_busy_port(ft_runner, tmp_path, model_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"local:\n  frontend_port: {port}\n  model_dir: {model_dir}\n")
        proc = run_cli(ft_runner, "run", "--config", str(cfg), tmp_path=tmp_path)
    assert_clean_error(proc, f"port {port} is busy")


def test_missing_dynamo_install(ft_runner, tmp_path, model_dir):
    bare = Path(getattr(sys, "_base_executable", "/usr/bin/python3"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"local:\n  python: {bare}\n  model_dir: {model_dir}\n")
    proc = run_cli(ft_runner, "run", "--config", str(cfg), tmp_path=tmp_path)
    assert_clean_error(proc, "ai-dynamo is not installed", "make setup")


def test_unknown_config_key(ft_runner, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("load:\n  clientz: 3\n")
    proc = run_cli(ft_runner, "run", "--config", str(cfg), tmp_path=tmp_path)
    assert_clean_error(proc, "load.clientz", "Extra inputs are not permitted")


def test_nothing_written_before_validation(ft_runner, tmp_path):
    proc = run_cli(ft_runner, "run", "--scenario", "nope", "--output", str(tmp_path / "out"), tmp_path=tmp_path)
    assert_clean_error(proc, "unknown scenario")
    assert not (tmp_path / "out").exists()


def test_scenarios_listing_filters_and_json(ft_runner):
    import json

    proc = run_cli(ft_runner, "scenarios", "--backend", "mocker", "--platform", "local", "--json")
    assert proc.returncode == 0, proc.stderr
    names = {e["name"] for e in json.loads(proc.stdout)}
    assert "mocker-agg-tp-1-dp-2-decode_worker" in names
    assert all("local" in e["platforms"] for e in json.loads(proc.stdout))
    table = run_cli(ft_runner, "scenarios", "--failure", "frontend_pod")
    assert table.returncode == 0, table.stderr
    assert "vllm-agg-tp-1-dp-1-frontend_pod" in table.stdout and "Platforms" in table.stdout


def _scenario_file(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


SCENARIO_FILE = """name: two-steps
deployment: mocker-agg-tp-1-dp-2
steps:
  - load: start
  - fault: {fault}
"""


def test_a_scenario_file_becomes_a_timeline_of_the_run(tmp_path):
    from runner.cli.main import run_config

    config = run_config(["--scenario-file", _scenario_file(tmp_path, SCENARIO_FILE.format(fault="decode_worker")),
                         "--scenario-file", _scenario_file(tmp_path, SCENARIO_FILE.format(fault="decode_worker")
                                                           .replace("two-steps", "again"), "t.yaml")])
    assert [t.name for t in config.timelines] == ["two-steps", "again"] and config.scenarios == []


@pytest.mark.parametrize("text,fragments", [
    ("name: [unclosed", ("scenario file", "s.yaml")),
    ("- just\n- a list\n", ("expected a mapping with name, deployment and steps",)),
    (SCENARIO_FILE.format(fault="decode_worker") + "  - load: start\n    wait: 2\n",
     ("timelines.0.steps.2", "exactly one of the keys load, fault, wait")),
    (SCENARIO_FILE.format(fault="prefill_worker"), ("the catalog has no fault 'prefill_worker'",)),
])
def test_a_bad_scenario_file_is_one_line(ft_runner, tmp_path, text, fragments):
    proc = run_cli(ft_runner, "run", "--scenario-file", _scenario_file(tmp_path, text),
                   "--output", str(tmp_path / "out"), tmp_path=tmp_path)
    assert_clean_error(proc, *fragments)
    assert not (tmp_path / "out").exists()


def test_two_scenario_files_with_one_name_are_refused(ft_runner, tmp_path):
    text = SCENARIO_FILE.format(fault="decode_worker")
    proc = run_cli(ft_runner, "run", "--scenario-file", _scenario_file(tmp_path, text),
                   "--scenario-file", _scenario_file(tmp_path, text, "t.yaml"), tmp_path=tmp_path)
    assert_clean_error(proc, "two scenarios are named 'two-steps'")
