"""`ft-runner render`: print the DynamoGraphDeployment the runner would apply, touching no cluster."""

from __future__ import annotations

from pathlib import Path

import click

from runner.cli.options import FLAG_CONTEXT, apply, config_option, given
from runner.core.config import RunConfig, load_config_file


@click.command("render", context_settings=FLAG_CONTEXT)
@click.option("--scenario", "scenario_name", required=True, help="Scenario name (see `ft-runner scenarios`).")
@config_option("kubernetes.api_version", "--api-version")
@config_option("kubernetes.image", "--image")
@config_option("deployment.model", "--model")
@config_option("kubernetes.namespace", "--namespace")
@click.option("--run-id", default="render", show_default=True, help="Run id carried in the DGD name and labels.")
@config_option("kubernetes.template_dir", "--template-dir")
@config_option("kubernetes.runtime_version_override", "--runtime-version")
@config_option("kubernetes.dgd_file", "--dgd-file")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML run configuration (its kubernetes/deployment sections apply); flags override its values.")
@click.pass_context
def render_cmd(ctx: click.Context, scenario_name: str, run_id: str, config_file: Path | None) -> None:
    """Print the DynamoGraphDeployment for a scenario (YAML), without touching a cluster."""
    import yaml

    from runner.render.dgd import render_for_cli

    data = load_config_file(config_file) if config_file else {}
    config = RunConfig.model_validate(apply(data, {**given(ctx), "platform": "kubernetes"}))
    dgd = render_for_cli(config, scenario_name, run_id)
    click.echo(yaml.safe_dump(dgd, sort_keys=False, width=120), nl=False)
