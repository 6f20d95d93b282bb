"""`ft-runner render`: print the DynamoGraphDeployment the runner would apply, touching no cluster."""

from __future__ import annotations

from pathlib import Path

import click

from runner.core.config import RunConfig, load_config_file


@click.command("render")
@click.option("--scenario", "scenario_name", required=True, help="Scenario name (see `ft-runner scenarios`).")
@click.option("--api-version", type=click.Choice(["v1beta1", "v1alpha1"]), help="DGD API version (default v1beta1).")
@click.option("--image", help="Dynamo runtime image.")
@click.option("--model", help="Served model (default: the scenario's).")
@click.option("--namespace", help="Namespace written into the manifest.")
@click.option("--run-id", default="render", show_default=True, help="Run id carried in the DGD name and labels.")
@click.option("--template-dir", type=click.Path(file_okay=False, path_type=Path), help="Custom template directory.")
@click.option("--runtime-version", help="runtimeVersionOverride (MAJOR.MINOR.PATCH) for a non-semver image tag.")
@click.option("--dgd-file", type=click.Path(dir_okay=False, path_type=Path), help="A complete DGD to use instead.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML run configuration (its kubernetes/deployment sections apply).")
def render_cmd(scenario_name, api_version, image, model, namespace, run_id, template_dir, runtime_version, dgd_file,
               config_file) -> None:
    """Print the DynamoGraphDeployment for a scenario (YAML), without touching a cluster."""
    import yaml

    from runner.render.dgd import render_for_cli

    data: dict = load_config_file(config_file) if config_file else {}
    data["platform"] = "kubernetes"
    k8s = data.setdefault("kubernetes", {})
    for key, value in (("api_version", api_version), ("image", image), ("namespace", namespace),
                       ("template_dir", template_dir), ("dgd_file", dgd_file),
                       ("runtime_version_override", runtime_version)):
        if value is not None:
            k8s[key] = str(value) if isinstance(value, Path) else value
    if model:
        data.setdefault("deployment", {})["model"] = model
    config = RunConfig.model_validate(data)
    dgd = render_for_cli(config, scenario_name, run_id)
    click.echo(yaml.safe_dump(dgd, sort_keys=False, width=120), nl=False)
