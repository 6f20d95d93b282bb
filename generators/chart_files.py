"""Generates the Helm chart's values contract from the runner's own models.

    python -m generators.chart_files            # writes the three files below
    python -m generators.chart_files --check    # exits 1 when any of them is stale

- chart/values.schema.json: the chart-only values (image, schedule, parallelism,
  resources, ...) defined here, plus `config`, which is `runner.core.config.RunConfig`
  less the fields the chart sets itself (CHART_SET_FIELDS), and `matrix`
  (`runner.scenarios.matrix.MatrixFilter`).
- chart/values.yaml: every value with its default and a `# --` description.
- chart/files/catalog.json: the scenario catalog, which the chart filters to
  resolve `matrix` at render time (an Indexed Job needs its completion count).

The chart's ConfigMap is `config` plus the fields the chart sets, so it always
validates as a RunConfig.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from runner.scenarios.catalog import BACKENDS
from runner.core.config import RunConfig
from runner.scenarios.matrix import MatrixFilter, catalog_rows

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "chart"
SCHEMA_FILE = CHART / "values.schema.json"
VALUES_FILE = CHART / "values.yaml"
CATALOG_FILE = CHART / "files" / "catalog.json"

# RunConfig fields the chart sets itself (never from values), if RunConfig has them.
CHART_SET_FIELDS = {
    "platform": "always kubernetes",
    "output": "the results emptyDir (resultsVolume.mountPath)",
    "local": "local platform only",
    "kubernetes.namespace": "the release namespace (the Role is namespaced)",
    "kubernetes.template_dir": "set from customTemplates",
    "kubernetes.context": "kubeconfig contexts are for workstations",
    "kubernetes.access": "in the cluster the runner reaches the frontend's Service (FT_RUNNER_IN_CLUSTER=1)",
    "kubernetes.dgd_file": "a file path inside the runner pod; not offered by the chart yet",
}

# The description of `config` as a chart value (its fields are described in runner/core/config.py).
CONFIG_DESCRIPTION = (
    "The runner's configuration (runner.core.config.RunConfig, the YAML `ft-runner run --config` reads), "
    "rendered into the ConfigMap. Keys are the runner's own (snake_case)."
)

SCENARIO_NAME_PATTERN = rf"^({'|'.join(BACKENDS)})[-_][a-z0-9][a-z0-9_-]*$"
K8S_NAME = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
CRON = r"^$|^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$|^\S+( +\S+){4}$"
TEMPLATE_PATH = r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"


class ChartModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Image(ChartModel):
    repository: str = Field("dynamo-ft-runner", min_length=1, description="Runner image repository.")
    tag: str = Field("", description="Runner image tag (default: the chart's appVersion).")
    pullPolicy: Literal["Always", "IfNotPresent", "Never"] = Field("IfNotPresent", description="Image pull policy.")


class LocalObjectReference(ChartModel):
    name: str = Field(pattern=K8S_NAME, min_length=1)


class CronJobSettings(ChartModel):
    timeZone: str | None = Field(None, description="Time zone of the schedule, e.g. Etc/UTC (null: the controller's).")
    startingDeadlineSeconds: NonNegativeInt | None = Field(
        None, description="Skip a run that could not start within this many seconds of its time."
    )
    successfulJobsHistoryLimit: NonNegativeInt = Field(3, description="Finished successful Jobs kept.")
    failedJobsHistoryLimit: NonNegativeInt = Field(3, description="Finished failed Jobs kept.")
    suspend: bool = Field(False, description="Suspend the schedule.")


class S3Credentials(ChartModel):
    existingSecret: str = Field(
        "",
        pattern=K8S_NAME,
        description="Name of an existing Secret with the S3 credentials; empty: none are injected (e.g. IRSA via "
        "serviceAccount.annotations). Credentials never go into values or the ConfigMap.",
    )
    accessKeyIdKey: str = Field("AWS_ACCESS_KEY_ID", min_length=1, description="Secret key holding the access key id.")
    secretAccessKeyKey: str = Field(
        "AWS_SECRET_ACCESS_KEY", min_length=1, description="Secret key holding the secret access key."
    )
    sessionTokenKey: str = Field(
        "AWS_SESSION_TOKEN", min_length=1, description="Secret key holding a session token (optional in the Secret)."
    )


class KeyToPath(ChartModel):
    key: str = Field(min_length=1)
    path: str = Field(pattern=TEMPLATE_PATH)


class CustomTemplates(ChartModel):
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Jinja DGD templates by relative path, e.g. {v1beta1/vllm/agg.yaml.j2: ...}: the chart puts "
        "them in a ConfigMap and the runner renders from that directory (use --set-file).",
        json_schema_extra={"propertyNames": {"pattern": TEMPLATE_PATH}},
    )
    existingConfigMap: str = Field(
        "", pattern=K8S_NAME, description="Instead of files: an existing ConfigMap of templates."
    )
    items: list[KeyToPath] = Field(
        default_factory=list,
        description="existingConfigMap keys to lay out as paths ([{key, path}]); empty: every key at the top.",
    )


class Resources(ChartModel):
    requests: dict[str, str | int | float] = Field(default_factory=dict, description="Resource requests.")
    limits: dict[str, str | int | float] = Field(default_factory=dict, description="Resource limits.")


class ScratchVolume(ChartModel):
    sizeLimit: str | None = Field(None, description="sizeLimit of the emptyDir (null: none).")


class ResultsVolume(ChartModel):
    mountPath: str = Field("/results", pattern=r"^/[^:]*$", description="Where results are written (config.output).")
    sizeLimit: str | None = Field(None, description="sizeLimit of the emptyDir (null: none).")


class PodSecurityContext(ChartModel):
    runAsUser: PositiveInt | None = Field(10001, description="UID of the runner (the image's user; null on OpenShift).")
    runAsGroup: PositiveInt | None = Field(10001, description="GID of the runner (null on OpenShift).")
    fsGroup: PositiveInt | None = Field(10001, description="fsGroup of the pod's volumes (null on OpenShift).")


class EnvVar(ChartModel):
    name: str = Field(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str | None = None
    valueFrom: dict[str, Any] | None = None


class ServiceAccount(ChartModel):
    create: bool = Field(True, description="Create the runner's ServiceAccount.")
    name: str = Field("", pattern=K8S_NAME, description="Its name (default: the release's full name).")
    annotations: dict[str, str] = Field(default_factory=dict, description="Its annotations (e.g. an IRSA role).")


class Rbac(ChartModel):
    create: bool = Field(True, description="Create the Role and RoleBinding the runner needs in the namespace.")
    networkFaults: bool = Field(
        False, description="Also grant patch on pods/ephemeralcontainers: the partition and connection-reset faults "
        "add an ephemeral container (root, NET_ADMIN) to the worker pod to cut its network. Off by default.")
    planeOutages: bool = Field(
        False, description="Also grant get and patch on statefulsets/scale and deployments/scale: etcd_outage and "
        "nats_outage scale the etcd / NATS workload named in config.kubernetes.outage_targets to 0 for the outage, "
        "then back. Off by default.")


class Reaper(ChartModel):
    resources: Resources = Field(
        default_factory=lambda: Resources(requests={"cpu": "10m", "memory": "64Mi"}, limits={"memory": "256Mi"}),
        description="Resources of the reaper sidecar (deletes the runner's graphs when the runner dies).",
    )
    deadlineSeconds: PositiveInt = Field(
        25, description="How long the reaper waits for the graphs it deleted to be gone."
    )


class ChartValues(ChartModel):
    image: Image = Field(default_factory=Image, description="The runner image (Dockerfile at the repo root).")
    imagePullSecrets: list[LocalObjectReference] = Field(
        default_factory=list, description="Pull secrets of the runner pod ([{name: ...}])."
    )
    nameOverride: str = Field("", description="Replaces the chart name in object names.")
    fullnameOverride: str = Field("", description="Replaces the full object name prefix.")
    config: dict = Field(default_factory=dict)  # replaced by the RunConfig schema
    matrix: MatrixFilter = Field(
        default_factory=MatrixFilter,
        description="Adds every catalog scenario matching this filter after config.scenarios (set "
        "config.scenarios: [] to run only the matches); no key set: no filter.",
    )
    execution: Literal["sequential", "indexed"] = Field(
        "sequential",
        description="sequential: one pod runs the scenarios one after another; indexed: an Indexed Job, one "
        "scenario per completion index.",
    )
    parallelism: PositiveInt = Field(2, description="indexed: how many scenario pods run at once.")
    schedule: str = Field(
        "", pattern=CRON, description='Cron schedule, e.g. "0 2 * * *": install a CronJob instead of a Job.'
    )
    cronJob: CronJobSettings = Field(
        default_factory=CronJobSettings, description="CronJob settings (concurrencyPolicy is always Forbid)."
    )
    activeDeadlineSeconds: PositiveInt = Field(14400, description="Hard time limit of the runner Job.")
    ttlSecondsAfterFinished: NonNegativeInt = Field(
        86400, description="Delete the finished Job (and its pods) after this many seconds."
    )
    terminationGracePeriodSeconds: NonNegativeInt = Field(
        300, description="Time the runner gets to tear its graph down when the Job is stopped."
    )
    s3Credentials: S3Credentials = Field(
        default_factory=S3Credentials, description="S3 credentials, from an existing Secret."
    )
    customTemplates: CustomTemplates = Field(
        default_factory=CustomTemplates, description="Custom Jinja DGD templates (config.kubernetes.template_dir)."
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(requests={"cpu": "1", "memory": "2Gi"}, limits={"memory": "4Gi"}),
        description="Resources of the runner container (aiperf runs inside it).",
    )
    resultsVolume: ResultsVolume = Field(
        default_factory=lambda: ResultsVolume(sizeLimit="20Gi"), description="The emptyDir that holds the results."
    )
    tmpVolume: ScratchVolume = Field(
        default_factory=lambda: ScratchVolume(sizeLimit="5Gi"),
        description="The emptyDir at /tmp (tokenizer cache, aiperf scratch; the root filesystem is read-only).",
    )
    podSecurityContext: PodSecurityContext = Field(
        default_factory=PodSecurityContext,
        description="Runner identity. Always set: runAsNonRoot, seccomp RuntimeDefault, read-only root "
        "filesystem, no privilege escalation, all capabilities dropped.",
    )
    nodeSelector: dict[str, str] = Field(default_factory=dict, description="nodeSelector of the runner pod.")
    tolerations: list[dict[str, Any]] = Field(default_factory=list, description="Tolerations of the runner pod.")
    affinity: dict[str, Any] = Field(default_factory=dict, description="Affinity of the runner pod.")
    podAnnotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the runner pod.")
    podLabels: dict[str, str] = Field(default_factory=dict, description="Extra labels of the runner pod.")
    extraEnv: list[EnvVar] = Field(
        default_factory=list, description="Extra environment of the runner ([{name, value | valueFrom}])."
    )
    reaper: Reaper = Field(
        default_factory=Reaper,
        description="The native sidecar that deletes the runner's DGDs when the runner container dies in any way "
        "(always on; see docs/cluster-testing.md).",
    )
    serviceAccount: ServiceAccount = Field(default_factory=ServiceAccount, description="The runner's ServiceAccount.")
    rbac: Rbac = Field(default_factory=Rbac, description="RBAC objects.")


# Chart defaults that differ from RunConfig's: a plain install runs a CPU-only mocker scenario.
CHART_CONFIG_DEFAULTS = {"scenarios": ["mocker-agg-tp-1-dp-1-none"]}


# ---------------------------------------------------------------- schema


def _inline(node: Any, defs: dict) -> Any:
    """Resolve every $ref into a self-contained tree (paths then mirror value paths)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inline({**target, **rest}, defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _tidy(node: Any) -> Any:
    """Drop titles; fold `anyOf: [X, {type: null}]` into X with a nullable type (clearer messages)."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _tidy(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
    if node.get("type") == "integer" and node.get("exclusiveMinimum") == 0:
        del node["exclusiveMinimum"]
        node["minimum"] = 1  # "minimum: got 0, want 1" reads better than an exclusive bound
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        if isinstance(other.get("type"), str):
            merged = {k: v for k, v in node.items() if k != "anyOf"}
            merged.update(other)
            merged["type"] = [other["type"], "null"]
            if "enum" in merged:
                merged["enum"] = [*merged["enum"], None]
            return merged
    return node


def _model_schema(model: type[BaseModel]) -> dict:
    raw = model.model_json_schema()
    return _tidy(_inline(raw, raw.get("$defs", {})))


def config_schema() -> dict:
    schema = _model_schema(RunConfig)
    for dotted in CHART_SET_FIELDS:
        *parents, leaf = dotted.split(".")
        node = schema
        for key in parents:
            node = node.get("properties", {}).get(key, {})
        node.get("properties", {}).pop(leaf, None)
        if leaf in node.get("required", []):
            node["required"].remove(leaf)
    schema["properties"]["scenarios"]["items"]["pattern"] = SCENARIO_NAME_PATTERN
    schema["properties"]["scenarios"]["default"] = CHART_CONFIG_DEFAULTS["scenarios"]
    schema["description"] = CONFIG_DESCRIPTION
    return schema


def build_schema() -> dict:
    schema = _model_schema(ChartValues)
    schema["properties"]["config"] = config_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dynamo-ft-runner chart values",
        "description": "Generated by `python -m generators.chart_files` from runner/core/config.py and generators/chart_files.py; "
        "do not edit.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


# ---------------------------------------------------------------- values.yaml


def default_values() -> dict:
    values = ChartValues().model_dump(mode="json")
    values["config"] = {**RunConfig().model_dump(mode="json"), **CHART_CONFIG_DEFAULTS}
    return values


def _scalar_lines(key: str, value: Any, pad: str) -> list[str]:
    if isinstance(value, (dict, list)) and not value:
        return [f"{pad}{key}: {'{}' if isinstance(value, dict) else '[]'}"]
    text = yaml.safe_dump({key: value}, default_flow_style=False, sort_keys=False, width=1000).rstrip("\n")
    return [pad + line for line in text.splitlines()]


def _comment(text: str, pad: str) -> list[str]:
    lines = textwrap.wrap(text, width=max(40, 110 - len(pad)), break_on_hyphens=False)
    return [f"{pad}# -- {lines[0]}"] + [f"{pad}#    {line}" for line in lines[1:]]


def _emit(schema: dict, values: dict, path: str, depth: int) -> list[str]:
    out: list[str] = []
    pad = "  " * depth
    for name, sub in schema["properties"].items():
        dotted = f"{path}.{name}" if path else name
        description = sub.get("description")
        if not description:
            raise SystemExit(
                f"{dotted} has no description: give it Field(description=...) in its model "
                "(runner/core/config.py, or the chart's models in generators/chart_files.py)"
            )
        if out and depth == 0:
            out.append("")
        out += _comment(description, pad)
        value = values[name]
        if "properties" in sub and isinstance(value, dict):
            out.append(f"{pad}{name}:")
            out += _emit(sub, value, dotted, depth + 1)
        else:
            out += _scalar_lines(name, value, pad)
    return out


def values_yaml(schema: dict | None = None) -> str:
    schema = schema or build_schema()
    header = [
        "# Values of the dynamo-ft-runner chart.",
        "# Generated by `python -m generators.chart_files` (from runner/core/config.py and generators/chart_files.py): do not",
        "# edit; override in your own file (`helm install ft ./chart -f my-values.yaml`). Every key is",
        "# validated by values.schema.json. The parameter table in README.md is generated from this file.",
        "",
    ]
    values = default_values()
    _prune(values["config"], schema["properties"]["config"])  # drop what the chart sets itself
    return "\n".join(header + _emit(schema, values, "", 0)) + "\n"


def _prune(values: dict, schema: dict) -> None:
    for key in list(values):
        sub = schema["properties"].get(key)
        if sub is None:
            del values[key]
        elif "properties" in sub and isinstance(values[key], dict):
            _prune(values[key], sub)


# ---------------------------------------------------------------- files


def catalog_json() -> str:
    rows = ",\n".join("  " + json.dumps(row) for row in catalog_rows())
    return '{"scenarios": [\n' + rows + "\n]}\n"


def outputs() -> dict[Path, str]:
    schema = build_schema()
    return {
        SCHEMA_FILE: json.dumps(schema, indent=2) + "\n",
        VALUES_FILE: values_yaml(schema),
        CATALOG_FILE: catalog_json(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.chart_files", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Report stale files instead of writing them.")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in outputs().items():
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale += 1
            rel = path.relative_to(REPO)
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(rel), str(rel)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print(f"{stale} generated chart file(s) are stale: run `python -m generators.chart_files`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
