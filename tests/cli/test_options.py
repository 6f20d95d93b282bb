"""The CLI derived from the config models: one dotted flag per RunConfig setting, plus today's short flags."""

from __future__ import annotations

from pathlib import PurePath
from typing import get_args

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from runner.cli.main import main, run_config
from runner.cli.options import apply
from runner.core.config import AddressingStyle, ApiVersion, RunConfig


def leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            paths += leaf_paths(sub, f"{prefix}{name}.")
        else:
            paths.append(prefix + name)
    return paths


def value_at(config: BaseModel, dotted: str):
    for key in dotted.split("."):
        config = getattr(config, key)
    return config


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def help_text(*command: str) -> str:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    return result.output


def test_run_help_lists_every_run_config_setting():
    text = help_text("run")
    paths = leaf_paths(RunConfig)
    assert len(paths) > 70
    for dotted in paths:
        assert f"--{dotted.replace('_', '-')}" in text, dotted
    assert "--load.streaming, --streaming / --load.no-streaming, --no-streaming" in text


def test_help_shows_the_models_choices_and_defaults():
    text = help_text("run")
    assert "--load.client, --client [aiperf|legacy]" in text
    assert "[default: kubernetes 10, local 4]" in text  # clients: null means the platform's default
    assert "[default: 0.99]" in text  # checks.redundant.min_success_rate, from the nested default
    assert f"[{'|'.join(get_args(ApiVersion))}]" in help_text("render")
    assert f"[{'|'.join(get_args(AddressingStyle))}]" in help_text("results", "list")


def test_dotted_flags_reach_the_config_in_either_spelling():
    config = run_config(["--load.clients", "7", "--fault.inject_after_s", "2.5", "--load.no-streaming",
                         "--checks.redundant.max-recovery-s", "30"])
    assert config.load.clients == 7 and config.fault.inject_after_s == 2.5 and config.load.streaming is False
    assert config.checks.redundant.max_recovery_s == 30
    assert config.checks.redundant.min_success_rate == RunConfig().checks.redundant.min_success_rate


def test_lists_dicts_and_json_values():
    config = run_config([
        "--kubernetes.worker-extra-args", "--enforce-eager", "--kubernetes.worker-extra-args", "--foo=1",
        "--kubernetes.node-selector", "pool=gpu", "--kubernetes.node-selector", "zone=a=b",
        "--kubernetes.tolerations", '{"operator": "Exists"}',
        "--kubernetes.worker-resources", 'limits={"memory": "4Gi"}',
    ])
    assert config.kubernetes.worker_extra_args == ["--enforce-eager", "--foo=1"]
    assert config.kubernetes.node_selector == {"pool": "gpu", "zone": "a=b"}
    assert config.kubernetes.tolerations == [{"operator": "Exists"}]
    assert config.kubernetes.worker_resources == {"limits": {"memory": "4Gi"}}


def test_server_checks_come_from_the_config_file_or_one_json_flag_each(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("checks:\n  server:\n    - kind: queue_drains\n      within_s: 5\n"
                    "    - {kind: log_count, pattern: 'out of memory', max: 1}\n")
    config = run_config(["--config", str(path)])
    assert [(c.kind, getattr(c, "within_s", None)) for c in config.checks.server] == [
        ("queue_drains", 5.0), ("log_count", None)]
    assert config.checks.redundant == RunConfig().checks.redundant  # the rest of checks keeps its defaults
    flagged = run_config(["--config", str(path), "--checks.server", '{"kind": "no_panics", "roles": ["decode"]}'])
    assert [(c.kind, c.roles) for c in flagged.checks.server] == [("no_panics", ["decode"])]


def test_a_flag_overrides_the_config_file_and_a_flag_not_given_does_not(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("load:\n  clients: 9\n  streaming: true\n")
    config = run_config(["--config", str(path)])
    assert (config.load.clients, config.load.streaming) == (9, True)
    config = run_config(["--config", str(path), "--clients", "2"])
    assert (config.load.clients, config.load.streaming) == (2, True)


def test_scenario_index_picks_after_the_flags():
    config = run_config(["--scenario", "mocker-agg-tp-1-dp-1-none", "--scenario", "mocker-agg-tp-1-dp-2-none",
                         "--scenario-index", "1"])
    assert config.scenarios == ["mocker-agg-tp-1-dp-2-none"]


ALIASES = [
    (["--scenario", "mocker-agg-tp-1-dp-1-none"], "scenarios", ["mocker-agg-tp-1-dp-1-none"]),
    (["--platform", "kubernetes"], "platform", "kubernetes"),
    (["--client", "legacy"], "load.client", "legacy"),
    (["--aiperf-mode", "per-client"], "load.aiperf_mode", "per-client"),
    (["--clients", "3"], "load.clients", 3),
    (["--requests-per-client", "5"], "load.requests_per_client", 5),
    (["--request-rate", "2.5"], "load.request_rate_per_client", 2.5),
    (["--input-tokens", "64"], "load.input_tokens", 64),
    (["--output-tokens", "32"], "load.output_tokens", 32),
    (["--streaming"], "load.streaming", True),
    (["--no-streaming"], "load.streaming", False),
    (["--max-attempts", "4"], "load.max_attempts", 4),
    (["--inject-after", "3"], "fault.inject_after_s", 3.0),
    (["--targets", "2"], "fault.targets", 2),
    (["--migration-limit", "0"], "deployment.migration_limit", 0),
    (["--probe-rate", "20"], "probe.rate_per_s", 20.0),
    (["--max-model-len", "2048"], "deployment.max_model_len", 2048),
    (["--seed", "7"], "fault.seed", 7),
    (["--output", "out"], "output", "out"),
    (["--run-id", "r1"], "run_id", "r1"),
    (["--model-dir", "/models/tiny"], "local.model_dir", "/models/tiny"),
    (["--namespace", "ft"], "kubernetes.namespace", "ft"),
    (["--s3-bucket", "b"], "s3.bucket", "b"),
    (["--s3-prefix", "p/q"], "s3.prefix", "p/q"),
    (["--s3-endpoint", "http://localhost:9000"], "s3.endpoint", "http://localhost:9000"),
    (["--s3-region", "eu-west-1"], "s3.region", "eu-west-1"),
    (["--s3-addressing-style", "path"], "s3.addressing_style", "path"),
]


@pytest.mark.parametrize("args,dotted,expected", ALIASES, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_each_alias_sets_its_field_and_nothing_else(args, dotted, expected):
    config = run_config(args)
    value = value_at(config, dotted)
    assert (str(value) if isinstance(value, PurePath) else value) == expected
    assert config == RunConfig.model_validate(apply({}, {dotted: expected}))


@pytest.mark.parametrize("args,fragment", [
    (["--load.clients", "0"], "invalid configuration: load.clients: Input should be greater than 0"),
    (["--clients", "ten"], "'ten' is not a valid integer"),
    (["--load.client", "nope"], "'nope' is not one of 'aiperf', 'legacy'"),
    (["--kubernetes.tolerations", "{"], "is not JSON"),
    (["--kubernetes.node-selector", "pool"], "'pool' is not KEY=VALUE"),
    (["--kubernetes.namespace", "Bad_NS"], "kubernetes.namespace: String should match pattern"),
    (["--fault.inject_after_s", "-1"], "fault.inject_after_s: Input should be greater than or equal to 0"),
    (["--checks.server", '{"kind": "log_count", "pattern": "("}'], "checks.server.0.log_count.pattern: Value error, "
     "not a regular expression"),
])
def test_a_bad_value_is_one_line_and_exit_code_2(args, fragment):
    result = cli("run", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert fragment in result.stderr
    assert result.stdout == ""
