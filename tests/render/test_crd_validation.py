"""Every catalog scenario renders, for both API versions, into a DGD its CRD schema accepts."""

from __future__ import annotations

import json
import re

import pytest

from runner.scenarios.catalog import select
from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.scenarios.plan import plan
from runner.render.dgd import SCENARIO_LABEL, render_dgd, roles_of, expected_replicas

from .crds import V1ALPHA1_ONLY, errors, require_shared

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SCENARIOS = [e.name for e in select(platform="kubernetes")]


def _config(api_version: str, **k8s) -> RunConfig:
    return RunConfig(platform="kubernetes", kubernetes={"api_version": api_version, "namespace": "ft", **k8s})


def _pods(dgd: dict) -> list[dict]:
    spec = dgd["spec"]
    if "components" in spec:
        return [c["podTemplate"]["spec"] for c in spec["components"]]
    return [s["extraPodSpec"] for s in spec["services"].values()]


@pytest.fixture(scope="module", autouse=True)
def _shared():
    require_shared()


def test_catalog_is_not_empty():
    assert len(SCENARIOS) > 200


@pytest.mark.parametrize("api_version", ["v1beta1", "v1alpha1"])
def test_every_scenario_renders_and_validates(api_version):
    config = _config(api_version)
    names: set[str] = set()
    failures = {}
    for name in SCENARIOS:
        scenario = plan(name, config)
        dgd = render_dgd(scenario, run_id="20260101-abc")
        problems = errors(dgd)
        if problems:
            failures[name] = problems[:3]
            continue
        meta = dgd["metadata"]
        assert DNS_LABEL.match(meta["name"]) and len(meta["name"]) <= 40, meta["name"]
        assert meta["name"] not in names, f"two scenarios share the DGD name {meta['name']}"
        names.add(meta["name"])
        assert meta["namespace"] == "ft"
        assert meta["annotations"][SCENARIO_LABEL] == name
        for value in meta["labels"].values():
            assert LABEL_VALUE.match(value) and len(value) <= 63, value
        assert all(pod["shareProcessNamespace"] is True for pod in _pods(dgd))
        roles = roles_of(dgd)
        for role in ("frontend", "decode", "prefill"):
            want = expected_replicas(scenario.entry, role)
            got = sum(c.replicas for c in roles[role])
            assert got == want, (name, role, got, want)
    assert not failures, failures


def test_v1alpha1_renders_also_fit_the_older_v1alpha1_only_crd():
    if not V1ALPHA1_ONLY.is_file():
        pytest.skip(f"{V1ALPHA1_ONLY} is absent")
    config = _config("v1alpha1")
    for name in ("vllm-agg-tp-1-dp-1-none", "sglang-disagg-prefill-tp-1-decode-tp-1-dp-2-prefill_worker",
                 "mocker_disagg_token_overflow_2x", "trtllm-agg-tp-2-dp-1-decode_worker_pod"):
        dgd = render_dgd(plan(name, config), run_id="r1")
        assert errors(dgd, V1ALPHA1_ONLY) == [], name


def test_the_strict_schema_rejects_a_field_of_the_other_version():
    """The validator is not vacuous: upstream's v1beta1 `spec.envs` mistake is caught."""
    dgd = render_dgd(plan("vllm-agg-tp-1-dp-1-none", _config("v1beta1")), run_id="r1")
    assert errors(dgd) == []
    dgd["spec"]["envs"] = [{"name": "DYN_LOG", "value": "info"}]
    assert any("envs" in e for e in errors(dgd))
    dgd = render_dgd(plan("vllm-agg-tp-1-dp-1-none", _config("v1beta1")), run_id="r1")
    dgd["spec"]["components"][1]["type"] = "backend"
    assert errors(dgd)


def test_runtime_version_override_is_set_for_non_semver_tags_and_validates():
    for api in ("v1beta1", "v1alpha1"):
        config = _config(api, image="registry.local/dynamo:abc123-vllm-amd64", runtime_version_override="1.6.1")
        dgd = render_dgd(plan("vllm-agg-tp-1-dp-1-frontend", config), run_id="r1")
        assert errors(dgd) == []
        comps = dgd["spec"].get("components") or list(dgd["spec"]["services"].values())
        assert {c["runtimeVersionOverride"] for c in comps} == {"1.6.1"}


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("image", ["ft.local/dynamo-mocker:1.6.1-rc1", "localhost:5000/dynamo:1.6.1",
                                   "ft.local/dynamo-runtime:1.6.1-3f9a0c2e1b7d", "ft.local/dynamo-runtime:1.6.1-0",
                                   f"nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1@{DIGEST}", "my/dynamo:v1.6.1-rc.2"])
def test_tags_the_operator_parses_need_no_runtime_version_override(image):
    for api in ("v1beta1", "v1alpha1"):
        dgd = render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config(api, image=image)), run_id="r1")
        assert errors(dgd) == []
        comps = dgd["spec"].get("components") or list(dgd["spec"]["services"].values())
        assert all("runtimeVersionOverride" not in c for c in comps)
        assert image in json.dumps(dgd)  # the digest pin is kept on the pods


@pytest.mark.parametrize("image", [f"my/dynamo@{DIGEST}", "my/dynamo:latest", "my/dynamo:1.6", "localhost:5000/dynamo",
                                   "my/dynamo:1.6.1-01", "my/dynamo:01.6.1", "my/dynamo:1.6.1_rc1"])
def test_images_without_a_parseable_version_still_need_the_override(image):
    with pytest.raises(UserError, match="set kubernetes.runtime_version_override"):
        render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config("v1beta1", image=image)), run_id="r1")


def test_user_settings_reach_every_pod_and_validate():
    config = _config(
        "v1beta1",
        node_selector={"pool": "gpu"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        image_pull_secrets=["nvcr"],
        termination_grace_period_s=5,
        extra_env={"DYN_LOG": "debug"},
        worker_resources={"requests": {"memory": "8Gi", "cpu": "2"}},
        worker_extra_args=["--enforce-eager"],
        hf_token_secret="hf-token",
    )
    dgd = render_dgd(plan("vllm-agg-tp-2-dp-1-decode_worker", config), run_id="r1")
    assert errors(dgd) == []
    for comp in dgd["spec"]["components"]:
        pod = comp["podTemplate"]["spec"]
        assert pod["nodeSelector"] == {"pool": "gpu"}
        assert pod["imagePullSecrets"] == [{"name": "nvcr"}]
        assert pod["terminationGracePeriodSeconds"] == 5
        main = pod["containers"][0]
        assert {"name": "DYN_LOG", "value": "debug"} in main["env"]
        assert main["envFrom"] == [{"secretRef": {"name": "hf-token"}}]
    worker = dgd["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    assert worker["resources"]["requests"] == {"memory": "8Gi", "cpu": "2", "nvidia.com/gpu": "2"}
    assert worker["args"][-1] == "--enforce-eager"

    alpha = render_dgd(plan("vllm-agg-tp-2-dp-1-decode_worker", config.model_copy(
        update={"kubernetes": config.kubernetes.model_copy(update={"api_version": "v1alpha1"})})), run_id="r1")
    assert errors(alpha) == []
    assert alpha["spec"]["services"]["decode"]["resources"]["requests"] == {"memory": "8Gi", "cpu": "2", "gpu": "2"}
