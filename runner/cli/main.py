"""The `ft-runner` command line. Thin: parse, build a RunConfig, call the orchestrator.

Exit codes: 0 every scenario passed (or met an expected limitation), 1 a scenario
failed or could not be measured, 2 bad input or a missing prerequisite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from runner import __version__
from runner.cli import options
from runner.scenarios.catalog import BACKENDS, FAILURES, MODES, UnknownScenario, catalog, lookup, select
from runner.core import exits
from runner.core.config import RunConfig, load_config_file
from runner.core.errors import UserError


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        parts.append(f"{where}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)


class Cli(click.Group):
    """Turns UserError, unknown scenarios and invalid values (flags included) into one line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (UserError, UnknownScenario) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exits.USER_ERROR)
        except ValidationError as exc:
            click.echo(f"error: {_validation_message(exc)}", err=True)
            sys.exit(exits.USER_ERROR)
        except click.BadParameter as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exits.USER_ERROR)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ft-runner")
def main() -> None:
    """Fault-tolerance test runner for NVIDIA Dynamo inference graphs."""


@main.command("scenarios")
@click.option("--backend", type=click.Choice(BACKENDS), help="Only this backend.")
@click.option("--mode", type=click.Choice(MODES), help="Aggregated or disaggregated serving.")
@click.option("--failure", type=click.Choice(sorted(FAILURES)), help="Only this failure.")
@click.option("--platform", type=click.Choice(["local", "kubernetes"]), help="Only what this platform can run.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def scenarios_cmd(backend, mode, failure, platform, as_json) -> None:
    """List the scenario catalog and which platforms can run each scenario."""
    entries = select(backend=backend, mode=mode, failure=failure, platform=platform, include_migration_variants=True)
    if as_json:
        click.echo(json.dumps([e.as_row() for e in entries], indent=2))
        return
    from tabulate import tabulate

    rows = [
        (e.name, e.backend, e.mode, e.tp, e.dp, e.failure, ",".join(e.platforms), "custom_build" if e.custom_build else "")
        for e in entries
    ]
    click.echo(tabulate(rows, headers=["Scenario", "Backend", "Mode", "TP", "DP", "Failure", "Platforms", "Notes"]))
    click.echo(f"\n{len(entries)} of {len(catalog())} scenarios")


@main.command("make-model")
@click.argument("directory", type=click.Path(path_type=Path), required=False)
def make_model_cmd(directory: Path | None) -> None:
    """Create the tiny local model directory (tokenizer + config, no weights) used by the local platform."""
    from runner.platforms.local.env import default_model_dir
    from runner.platforms.local.tiny_model import make_tiny_model

    target = make_tiny_model(directory or default_model_dir())
    click.echo(f"model directory ready: {target}")


def load_scenario_file(path: Path) -> dict:
    """A multi-step scenario from YAML (validated with the rest of the config, as one of `timelines`)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"scenario file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"scenario file {path}: expected a mapping with name, deployment and steps "
                        "(see examples/scenarios/kill-recover-stall.yaml)")
    return data


def build_run_config(config_file: Path | None, scenario_index: int | None, flags: dict,
                     scenario_files: tuple[Path, ...] = ()) -> RunConfig:
    """The config file's data with the flags' values over it and the scenario files added to its timelines,
    validated; one scenario with an index."""
    data = options.apply(load_config_file(config_file) if config_file else {}, flags)
    if scenario_files:
        data["timelines"] = list(data.get("timelines") or []) + [load_scenario_file(p) for p in scenario_files]
    config = RunConfig.model_validate(data)
    if scenario_index is None:
        return config
    from runner.scenarios.matrix import pick

    # an Indexed Job spreads config.scenarios; scenario files run in a sequential Job (the chart says so)
    return config.model_copy(update={"scenarios": [pick(config.scenarios, scenario_index)], "timelines": []})


@main.command("run", context_settings=options.FLAG_CONTEXT)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML run configuration (the chart's ConfigMap uses the same format); flags override its values.")
@options.config_options(options.ALIASES)
@click.option("--scenario-file", "scenario_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A multi-step scenario (YAML: name, deployment, steps; see examples/scenarios/kill-recover-stall.yaml), run after "
                   "the --scenario ones; repeatable.")
@click.option("--scenario-index", type=click.IntRange(min=0),
              help="Run only scenario N (from 0) of the list: an Indexed Job's completion index.")
@click.pass_context
def run_cmd(ctx: click.Context, config_file: Path | None, scenario_files: tuple[Path, ...],
            scenario_index: int | None) -> None:
    """Deploy, load, inject, measure, judge and report one or more scenarios.

    Every setting of the config file is a flag named by its dotted path (`--load.clients 8`,
    `--fault.inject-after-s 5`); a flag overrides the --config file's value.
    """
    config = build_run_config(config_file, scenario_index, options.given(ctx), scenario_files)
    from runner.run.suite import run_suite

    sys.exit(run_suite(config))


def run_config(args: list[str]) -> RunConfig:
    """The RunConfig `ft-runner run ARGS` would run, without running anything."""
    with run_cmd.make_context("run", list(args)) as ctx:
        return build_run_config(ctx.params["config_file"], ctx.params["scenario_index"], options.given(ctx),
                                ctx.params["scenario_files"])


@main.command("show-scenario", hidden=True)
@click.argument("name")
def show_scenario_cmd(name: str) -> None:
    click.echo(json.dumps(lookup(name).__dict__, indent=2, default=str))


from runner.cli.render import render_cmd  # noqa: E402

main.add_command(render_cmd)

from runner.cli.results import results  # noqa: E402

main.add_command(results)


if __name__ == "__main__":  # pragma: no cover
    main()
