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
from runner.scenarios.catalog import BACKENDS, FAILURES, MODES, UnknownScenario, catalog, lookup, select
from runner.core.config import RunConfig, load_config_file
from runner.core.errors import UserError


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        parts.append(f"{where}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)


class Cli(click.Group):
    """Turns UserError, unknown scenarios and invalid values into one line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (UserError, UnknownScenario) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except ValidationError as exc:
            click.echo(f"error: {_validation_message(exc)}", err=True)
            sys.exit(2)


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


def _build_config(config_file: Path | None, overrides: dict) -> RunConfig:
    data: dict = load_config_file(config_file) if config_file else {}
    for dotted, value in overrides.items():
        if value is None or value == ():
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return RunConfig.model_validate(data)


@main.command("run")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML run configuration (the chart's ConfigMap uses the same format).")
@click.option("--scenario", "scenarios", multiple=True, help="Scenario name (repeatable). Default: the local suite.")
@click.option("--platform", type=click.Choice(["local", "kubernetes"]), help="Where Dynamo runs (default: local).")
@click.option("--client", type=click.Choice(["aiperf", "legacy"]), help="Load generator (default: aiperf).")
@click.option("--aiperf-mode", type=click.Choice(["pooled", "per-client"]), help="One aiperf process or one per client.")
@click.option("--clients", type=int, help="Concurrent clients.")
@click.option("--requests-per-client", type=int, help="Requests each client owes.")
@click.option("--request-rate", type=float, help="Requests/s per client (upper bound).")
@click.option("--input-tokens", type=int, help="Prompt length (ISL).")
@click.option("--output-tokens", type=int, help="max_tokens (OSL).")
@click.option("--streaming/--no-streaming", default=None, help="Stream responses (TTFT/ITL).")
@click.option("--max-attempts", type=int, help="aiperf runs per client / legacy tries per request.")
@click.option("--inject-after", type=float, help="Seconds after the first success at which the fault hits.")
@click.option("--targets", type=int, help="Replicas the fault targets.")
@click.option("--migration-limit", type=int, help="Frontend --migration-limit (0 = off).")
@click.option("--probe-rate", type=float, help="Probe stream: tiny requests/s beside the load (0 = off).")
@click.option("--max-model-len", type=int, help="Context limit of the workers.")
@click.option("--seed", type=int, help="Seed of the target choice.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), help="Result root (default: results/).")
@click.option("--run-id", help="Run id (default: time-based).")
@click.option("--model-dir", type=click.Path(path_type=Path), help="Local model directory (local platform).")
@click.option("--namespace", help="Kubernetes namespace.")
@click.option("--s3-bucket", help="Upload every scenario's tree to this bucket as soon as it ends.")
@click.option("--s3-prefix", help="Key prefix inside the bucket.")
@click.option("--s3-endpoint", help="S3-compatible endpoint URL (default: AWS).")
@click.option("--s3-region", help="Region of the bucket.")
@click.option("--s3-addressing-style", type=click.Choice(["path", "virtual", "auto"]), help="Bucket addressing.")
@click.option("--scenario-index", type=click.IntRange(min=0),
              help="Run only scenario N (from 0) of the list: an Indexed Job's completion index.")
def run_cmd(config_file, scenarios, platform, client, aiperf_mode, clients, requests_per_client, request_rate,
            input_tokens, output_tokens, streaming, max_attempts, inject_after, targets, migration_limit,
            probe_rate, max_model_len, seed, output, run_id, model_dir, namespace, s3_bucket, s3_prefix, s3_endpoint,
            s3_region, s3_addressing_style, scenario_index) -> None:
    """Deploy, load, inject, measure, judge and report one or more scenarios."""
    config = _build_config(
        config_file,
        {
            "scenarios": scenarios,
            "platform": platform,
            "load.client": client,
            "load.aiperf_mode": aiperf_mode,
            "load.clients": clients,
            "load.requests_per_client": requests_per_client,
            "load.request_rate_per_client": request_rate,
            "load.input_tokens": input_tokens,
            "load.output_tokens": output_tokens,
            "load.streaming": streaming,
            "load.max_attempts": max_attempts,
            "fault.inject_after_s": inject_after,
            "fault.targets": targets,
            "fault.seed": seed,
            "deployment.migration_limit": migration_limit,
            "probe.rate_per_s": probe_rate,
            "deployment.max_model_len": max_model_len,
            "output": str(output) if output else None,
            "run_id": run_id,
            "local.model_dir": str(model_dir) if model_dir else None,
            "kubernetes.namespace": namespace,
            "s3.bucket": s3_bucket,
            "s3.prefix": s3_prefix,
            "s3.endpoint": s3_endpoint,
            "s3.region": s3_region,
            "s3.addressing_style": s3_addressing_style,
        },
    )
    if scenario_index is not None:
        from runner.scenarios.matrix import pick

        config = config.model_copy(update={"scenarios": [pick(config.scenarios, scenario_index)]})
    from runner.run.scenario import run_suite

    sys.exit(run_suite(config))


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
