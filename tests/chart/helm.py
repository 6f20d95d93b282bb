"""Drives the real helm binary over the chart: render, lint, install --dry-run."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
RELEASE = "ft"
NAMESPACE = "dynamo"
# Kubernetes version the rendered objects are validated against (kubernetes-validate schemas).
K8S_VERSION = "1.33"


def helm_binary() -> str:
    local = REPO / ".venv" / "tools" / "helm"
    if local.exists():
        return str(local)
    found = shutil.which("helm")
    if not found:
        raise RuntimeError("helm not found at .venv/tools/helm or on PATH: run `make setup-test`")
    return found


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def objects(self) -> list[dict]:
        return [doc for doc in yaml.safe_load_all(self.stdout) if doc]


def helm(*args: str, timeout: float = 60) -> Result:
    proc = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _value_args(files: tuple[Path | str, ...], sets: dict | None) -> list[str]:
    args: list[str] = []
    for f in files:
        args += ["-f", str(f)]
    for key, value in (sets or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


def template(*files: Path | str, sets: dict | None = None, extra: tuple[str, ...] = ()) -> Result:
    """`helm template` of the chart; `sets` maps dotted keys to JSON values (--set-json)."""
    return helm("template", RELEASE, str(CHART), "-n", NAMESPACE, *_value_args(files, sets), *extra)


def render(*files: Path | str, sets: dict | None = None, extra: tuple[str, ...] = ()) -> list[dict]:
    result = template(*files, sets=sets, extra=extra)
    assert result.returncode == 0, result.stderr
    return result.objects()


def dry_run_install(*files: Path | str, sets: dict | None = None) -> Result:
    return helm("install", RELEASE, str(CHART), "-n", NAMESPACE, "--dry-run=client", *_value_args(files, sets))


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str) -> dict:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def job_spec(objects: list[dict]) -> dict:
    """The Job's spec, from the Job or from the CronJob's jobTemplate."""
    jobs, crons = by_kind(objects, "Job"), by_kind(objects, "CronJob")
    assert len(jobs) + len(crons) == 1, "expected exactly one Job or CronJob"
    return jobs[0]["spec"] if jobs else crons[0]["spec"]["jobTemplate"]["spec"]


def runner_container(objects: list[dict]) -> dict:
    containers = job_spec(objects)["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["runner"]
    return containers[0]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def runner_config(objects: list[dict]) -> dict:
    """The runner's config file as the ConfigMap holds it."""
    cm = next(o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-config"))
    return yaml.safe_load(cm["data"]["config.yaml"])
