"""The runner image, built as CI builds it (scripts/build-image-ci.sh) and run as the chart runs it:
non-root, read-only root filesystem, no capabilities, no network."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from runner.scenarios.catalog import select

from chart.helm import CHART, render, runner_config  # tests/chart (pytest puts tests/ on sys.path)

pytestmark = [pytest.mark.image, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[2]
TAG = "dynamo-ft-runner:test"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")
# How the chart runs the container (chart/templates/_jobspec.tpl), in docker's words.
HARDENED = ["--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--network", "none"]


@pytest.fixture(scope="session")
def image():
    if os.geteuid() != 0:
        pytest.skip("building the CI image needs root (it starts dockerd and runs debootstrap)")
    for tool in ("dockerd", "debootstrap"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: run scripts/install-system-test-deps.sh (make setup-test does)")
    daemon_was_up = docker("info").returncode == 0
    state = REPO / "test-artifacts" / "dockerd"
    log = REPO / "test-artifacts" / "image-build.log"
    state.mkdir(parents=True, exist_ok=True)
    (state / "dockerd.pid").unlink(missing_ok=True)  # only a pid written by this build is ever signalled
    try:
        with log.open("w") as out:
            proc = subprocess.run(["bash", str(REPO / "scripts" / "build-image-ci.sh"), TAG], stdout=subprocess.PIPE,
                                  stderr=out, text=True, timeout=2400, env={**os.environ, "FT_DOCKERD_DIR": str(state)})
        assert proc.returncode == 0, f"image build failed ({log}):\n" + "\n".join(log.read_text().splitlines()[-40:])
        assert proc.stdout.strip() == TAG
        yield TAG
    finally:
        pid_file = state / "dockerd.pid"
        if not daemon_was_up and pid_file.exists():  # stop the daemon this session started, by its pid
            pid = int(pid_file.read_text())
            pid_file.unlink()
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)


def run(image: str, *args: str, volumes: tuple[str, ...] = (), entrypoint: str | None = None,
        user: str | None = "10001:10001") -> subprocess.CompletedProcess:
    opts = list(HARDENED)
    if user:
        opts += ["--user", user]
    for volume in volumes:
        opts += ["-v", volume]
    if entrypoint:
        opts += ["--entrypoint", entrypoint]
    return docker("run", *opts, image, *args)


def test_image_defaults_to_a_non_root_user_and_the_cli(image):
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["ft-runner"]
    ids = run(image, "-c", "import os; print(os.getuid(), os.getgid())", entrypoint="python", user=None)
    assert ids.returncode == 0, ids.stderr
    assert ids.stdout.split() == ["10001", "10001"]


def test_help(image):
    result = run(image, "--help")
    assert result.returncode == 0, result.stderr
    assert "Fault-tolerance test runner for NVIDIA Dynamo inference graphs" in result.stdout
    for command in ("run", "scenarios", "render"):
        assert command in result.stdout


def test_scenarios(image):
    result = run(image, "scenarios", "--platform", "kubernetes", "--json")
    assert result.returncode == 0, result.stderr
    names = [row["name"] for row in json.loads(result.stdout)]
    assert names == [e.name for e in select(platform="kubernetes", include_migration_variants=True)]
    assert "mocker-agg-tp-1-dp-1-none" in names


def test_render_a_scenario(image):
    result = run(image, "render", "--scenario", "mocker-agg-tp-1-dp-1-none")
    assert result.returncode == 0, result.stderr
    dgd = yaml.safe_load(result.stdout)
    assert dgd["kind"] == "DynamoGraphDeployment"
    assert dgd["apiVersion"] == "nvidia.com/v1beta1"


def test_render_from_the_charts_configmap(image, tmp_path):
    """The config the chart renders is read by the image's runner as the pod reads it."""
    objects = render(CHART / "examples" / "mocker-cpu.yaml")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(runner_config(objects)))
    config.chmod(0o644)
    tmp_path.chmod(0o755)
    result = run(image, "render", "--config", "/etc/ft-runner/config/config.yaml",
                 "--scenario", "mocker-agg-tp-1-dp-2-decode_worker",
                 volumes=(f"{tmp_path}:/etc/ft-runner/config:ro",))
    assert result.returncode == 0, result.stderr
    dgd = yaml.safe_load(result.stdout)
    assert dgd["metadata"]["namespace"] == "dynamo"
    assert "vllm-runtime:1.6.1" in result.stdout


def test_indexed_job_arguments_reach_the_runner(image, tmp_path):
    objects = render(sets={"execution": "indexed", "config.scenarios": ["mocker-agg-tp-1-dp-1-none"]})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(runner_config(objects)))
    (tmp_path / "config.yaml").chmod(0o644)
    tmp_path.chmod(0o755)
    result = run(image, "run", "--config", "/etc/ft-runner/config/config.yaml", "--scenario-index", "1",
                 volumes=(f"{tmp_path}:/etc/ft-runner/config:ro",))
    assert result.returncode == 2
    assert "--scenario-index 1 is out of range: the configuration lists 1 scenario(s)" in result.stderr


def test_image_holds_aiperf_and_the_templates_but_not_dynamo(image):
    probe = (
        "import importlib.metadata as m, importlib.util as u, os, shutil;"
        "print(m.version('aiperf'));"
        "print(bool(shutil.which('aiperf')));"
        "print(u.find_spec('dynamo') is None);"
        "print(os.path.isdir(os.environ['FT_RUNNER_TEMPLATES'] + '/v1beta1'))"
    )
    result = run(image, "-c", probe, entrypoint="python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.13.0", "True", "True", "True"]


def test_image_size_stays_bounded(image):
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
    # aiperf's dependencies (pyarrow, transformers, scipy, pandas, plotly...) are most of it
    assert size < 2_000_000_000, f"image is {size / 1e9:.2f} GB"


def test_custom_templates_from_the_chart_are_used(image, tmp_path):
    """customTemplates.files, laid out as the pod's templates volume, override the image's own template."""
    builtin = (REPO / "templates" / "v1beta1" / "mocker" / "agg.yaml.j2").read_text()
    custom = builtin.replace("w.working_dir", '"/custom-templates-were-used"')
    assert custom != builtin, "the builtin mocker template changed: update this test's edit"
    objects = render(sets={"config.scenarios": ["mocker-agg-tp-1-dp-1-none"],
                           "customTemplates.files": {"v1beta1/mocker/agg.yaml.j2": custom}})
    cm = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-templates"))
    pod = next(o for o in objects if o["kind"] == "Job")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "templates")["configMap"]
    for item in volume["items"]:  # what the kubelet does with the ConfigMap volume
        target = tmp_path / "templates" / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(cm["data"][item["key"]])
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(runner_config(objects)))
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    result = run(image, "render", "--config", "/etc/ft-runner/config/config.yaml",
                 "--scenario", "mocker-agg-tp-1-dp-1-none",
                 volumes=(f"{tmp_path / 'config'}:/etc/ft-runner/config:ro",
                          f"{tmp_path / 'templates'}:/etc/ft-runner/templates:ro"))
    assert result.returncode == 0, result.stderr
    assert "workingDir: /custom-templates-were-used" in result.stdout
