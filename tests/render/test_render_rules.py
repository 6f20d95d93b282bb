"""Rendering rules: command lines per backend, roles from component types, user templates and files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from runner.scenarios.catalog import catalog
from runner.cli.main import main
from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.scenarios.plan import plan
from runner.render.dgd import (
    MAX_NAMESPACE,
    RUNNER_POD_LABEL,
    dgd_name,
    dgd_name_limit,
    discover_components,
    label_value,
    owner_reference_from_env,
    render_dgd,
    roles_of,
)

from .crds import EXAMPLES, errors, require_shared


def _config(**k8s) -> RunConfig:
    return RunConfig(platform="kubernetes", kubernetes={"namespace": "ft", **k8s})


def _workers(dgd: dict) -> dict[str, dict]:
    """component name -> main container (v1beta1)."""
    return {c["name"]: c["podTemplate"]["spec"]["containers"][0] for c in dgd["spec"]["components"]}


@pytest.mark.parametrize(
    "backend, flag",
    [("vllm", "--max-model-len"), ("sglang", "--context-length"), ("trtllm", "--max-seq-len"), ("mocker", "--max-model-len")],
)
def test_token_overflow_sets_the_backends_context_limit_on_every_worker(backend, flag):
    for mode in ("agg", "disagg"):
        dgd = render_dgd(plan(f"{backend}_{mode}_token_overflow_2x", _config()), run_id="r")
        workers = {n: c for n, c in _workers(dgd).items() if n != "Frontend"}
        assert workers
        for container in workers.values():
            args = container["args"]
            assert args[args.index(flag) + 1] == "1024"


def test_ordinary_scenarios_have_no_context_limit():
    dgd = render_dgd(plan("vllm-agg-tp-1-dp-1-decode_worker", _config()), run_id="r")
    assert "--max-model-len" not in _workers(dgd)["decode"]["args"]


def test_frontend_gets_the_migration_limit_and_tp_sets_gpus():
    config = RunConfig(platform="kubernetes", deployment={"migration_limit": 0})
    dgd = render_dgd(plan("sglang-agg-tp-4-dp-1-decode_worker", config), run_id="r")
    containers = _workers(dgd)
    fe = containers["Frontend"]["args"]
    assert fe[fe.index("--migration-limit") + 1] == "0"
    worker = containers["decode"]
    assert worker["args"][worker["args"].index("--tp") + 1] == "4"
    assert worker["args"].count("--tp") == 1  # not appended twice like upstream
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert "resources" not in containers["Frontend"] or "nvidia.com/gpu" not in str(containers["Frontend"]["resources"])


def test_mocker_in_a_cluster_loads_a_real_model_id_but_serves_the_scenario_model():
    dgd = render_dgd(plan("mocker-disagg-prefill-tp-1-decode-tp-1-dp-1-none", _config()), run_id="r")
    containers = _workers(dgd)
    for name, mode in (("decode", "decode"), ("prefill", "prefill")):
        args = containers[name]["args"]
        assert containers[name]["command"] == ["python3", "-m", "dynamo.mocker"]
        assert args[args.index("--model-path") + 1] == "Qwen/Qwen3-0.6B"
        assert args[args.index("--model-name") + 1] == "tiny-llm"
        assert args[args.index("--disaggregation-mode") + 1] == mode
        assert containers[name]["resources"] == {}  # no GPU
    assert "backendFramework" not in dgd["spec"]


def test_moe_runs_data_parallel_inside_one_pod_with_two_gpus():
    dgd = render_dgd(plan("vllm-moe-disagg-tp-1-dp-2-prefill_worker", _config()), run_id="r")
    comps = {c["name"]: c for c in dgd["spec"]["components"]}
    assert comps["decode"]["replicas"] == comps["prefill"]["replicas"] == 1
    args = comps["prefill"]["podTemplate"]["spec"]["containers"][0]["args"]
    assert args[args.index("--data-parallel-size") + 1] == "2"
    assert comps["prefill"]["podTemplate"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_dgd_names_are_dns_labels_and_keep_run_and_scenario_apart():
    long = dgd_name("20260101-120000-abcdef", "sglang-disagg-prefill-tp-4-decode-tp-4-dp-1-sglang_prefill_detokenizer", "ft")
    # a leading digit gets "ft-": the operator derives Service names (DNS-1035, letter first) from it
    assert len(long) == 40 and long.startswith("ft-20260101-120000-abcdef-sg") and DNS_1035.match(long)
    assert long != dgd_name("20260101-120000-abcdef", "sglang-disagg-prefill-tp-4-decode-tp-4-dp-1-sglang_prefill_scheduler",
                            "ft")
    assert re.fullmatch(r"run-1-vllm-agg-token-overflow--[0-9a-f]{8}", dgd_name("Run_1", "vllm_agg_token_overflow_2x", "ft"))
    assert dgd_name("1a", "x", "ft")[0].isalpha()
    assert dgd_name("r", "a_b", "ft") != dgd_name("r", "a-b", "ft")  # the hash sees the names as written
    frontend, frontend_pod = (dgd_name("idx", f"mocker-agg-tp-1-dp-1-{f}", "ft") for f in ("frontend", "frontend_pod"))
    assert not frontend_pod.startswith(frontend)
    assert len(label_value("x" * 80)) <= 63


@pytest.mark.parametrize("ns_len, name_len", [(1, 40), (22, 40), (23, 39), (40, 22), (MAX_NAMESPACE, 20)])
def test_dgd_names_are_sized_so_the_operators_namespace_label_fits(ns_len, name_len):
    namespace = "n" * ns_len
    name = dgd_name("20260101-120000-abcdef", "mocker-disagg-prefill-tp-1-decode-tp-1-dp-1-prefill_worker_pod",
                    namespace)
    assert dgd_name_limit(namespace) == name_len
    assert name_len - 1 <= len(name) <= name_len and DNS_1035.match(name)  # -1: a dash cut at the end is dropped
    assert len(f"{namespace}-{name}") <= 63
    assert name.startswith("ft-2026") and "--" in name  # still readable, still hashed


@pytest.mark.parametrize("ns_len", [MAX_NAMESPACE + 1, 62, 63])
def test_a_namespace_too_long_for_the_operators_label_is_refused_naming_the_fix(ns_len):
    config = RunConfig(platform="kubernetes", kubernetes={"namespace": "n" * ns_len})
    with pytest.raises(UserError, match=rf"is {ns_len} characters: .*use a namespace of at most {MAX_NAMESPACE} "
                                        r"characters \(kubernetes.namespace\)$"):
        render_dgd(plan("mocker-agg-tp-1-dp-1-none", config), run_id="r")


@pytest.mark.parametrize("ns_len", [1, 22, 23, 40])
def test_graph_names_of_the_whole_catalog_are_prefix_free_with_a_fixed_run_id(ns_len):
    # an Indexed Job with a fixed run id puts every scenario's graph in one namespace at once; the
    # frontend takes every worker whose Dynamo namespace starts with "<namespace>-<its dgd>"
    namespace = "n" * ns_len
    prefixes = sorted(f"{namespace}-{dgd_name('idx', s, namespace)}" for s in catalog())
    assert len(set(prefixes)) == len(prefixes)
    clashes = [(a, b) for a, b in zip(prefixes, prefixes[1:]) if b.startswith(a)]  # sorted: a prefix sits right before
    assert clashes == []
    assert all(len(p) <= 63 for p in prefixes)


def test_owner_reference_is_the_runner_pod_in_the_same_namespace():
    env = {"FT_RUNNER_POD_NAME": "ft-run-x7", "FT_RUNNER_POD_UID": "1234-uid", "FT_RUNNER_NAMESPACE": "ft"}
    assert owner_reference_from_env("ft", env) == [
        {"apiVersion": "v1", "kind": "Pod", "name": "ft-run-x7", "uid": "1234-uid", "controller": False}
    ]
    assert owner_reference_from_env("other", env) == []
    assert owner_reference_from_env("ft", {}) == []
    dgd = render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config()), "r", owner_reference_from_env("ft", env))
    assert dgd["metadata"]["ownerReferences"][0]["uid"] == "1234-uid"
    assert dgd["metadata"]["labels"][RUNNER_POD_LABEL] == "1234-uid"  # what the reaper selects on


@pytest.mark.parametrize("key, port", [("frontend_port", "8000"), ("worker_metrics_port", "9090")])
def test_the_operators_ports_cannot_be_configured(key, port):
    with pytest.raises(ValidationError, match=rf"kubernetes.{key} cannot be set: .*{port}.*; remove it from the config"):
        RunConfig(platform="kubernetes", kubernetes={key: 8000})


def test_the_frontend_listens_on_the_operators_port():
    beta = render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config()), run_id="r")
    alpha = render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config(api_version="v1alpha1")), run_id="r")
    for container in (_workers(beta)["Frontend"], alpha["spec"]["services"]["Frontend"]["extraPodSpec"]["mainContainer"]):
        assert container["args"][container["args"].index("--http-port") + 1] == "8000"


def test_non_semver_image_without_override_is_a_user_error():
    with pytest.raises(UserError, match="runtime_version_override"):
        render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config(image="my/dynamo:latest")), run_id="r")


# ---------------------------------------------------------------- roles from the real example manifests


@pytest.mark.parametrize(
    "path, expected",
    [
        ("vllm/agg.yaml", {"frontend": ["Frontend"], "decode": ["VllmDecodeWorker"], "prefill": []}),
        ("vllm/disagg.yaml", {"frontend": ["Frontend"], "decode": ["VllmDecodeWorker"], "prefill": ["VllmPrefillWorker"]}),
        ("sglang/disagg.yaml", {"frontend": ["Frontend"], "decode": ["decode"], "prefill": ["prefill"]}),
        ("trtllm/agg.yaml", {"frontend": ["Frontend"], "decode": ["TRTLLMWorker"], "prefill": []}),
        ("v1alpha1/trtllm/disagg.yaml",
         {"frontend": ["Frontend"], "decode": ["TRTLLMDecodeWorker"], "prefill": ["TRTLLMPrefillWorker"]}),
        ("v1alpha1/sglang/agg.yaml", {"frontend": ["Frontend"], "decode": ["decode"], "prefill": []}),
        ("ft-templates/vllm/moe_disagg.yaml",
         {"frontend": ["Frontend"], "decode": ["VllmDecodeWorker"], "prefill": ["VllmPrefillWorker"]}),
    ],
)
def test_roles_come_from_component_types_of_real_manifests(path, expected):
    require_shared()
    dgd = yaml.safe_load((EXAMPLES / path).read_text())
    roles = roles_of(dgd)
    assert {role: [c.name for c in comps] for role, comps in roles.items()} == expected


def test_roles_ignore_service_names():
    dgd = {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "spec": {"services": {
            "Frontend": {"componentType": "worker", "subComponentType": "prefill", "replicas": 1},
            "decode": {"componentType": "frontend"},
            "Planner": {"componentType": "planner"},
        }},
    }
    assert {c.name: c.role for c in discover_components(dgd)} == {"Frontend": "prefill", "decode": "frontend"}


def test_a_full_dgd_file_is_deployed_with_the_runners_identity(tmp_path):
    require_shared()
    config = _config(dgd_file=str(EXAMPLES / "vllm" / "disagg.yaml"))
    dgd = render_dgd(plan("vllm-disagg-prefill-tp-1-decode-tp-1-dp-1-prefill_worker_pod", config), run_id="r9")
    assert dgd["metadata"]["name"].startswith("r9-vllm-disagg")
    assert dgd["metadata"]["namespace"] == "ft"
    assert all(c["podTemplate"]["spec"]["shareProcessNamespace"] for c in dgd["spec"]["components"])
    assert errors(dgd) == []
    with pytest.raises(UserError, match="needs 2"):
        render_dgd(plan("vllm-disagg-prefill-tp-1-decode-tp-1-dp-2-prefill_worker_pod", config), run_id="r9")
    with pytest.raises(UserError, match="no prefill component"):
        render_dgd(plan("vllm-disagg-prefill-tp-1-decode-tp-1-dp-1-none", _config(
            dgd_file=str(EXAMPLES / "vllm" / "agg.yaml"))), run_id="r9")


def _user_template(root: Path, body: str) -> Path:
    target = root / "v1beta1" / "mocker"
    target.mkdir(parents=True)
    (target / "agg.yaml.j2").write_text(body)
    return root


def test_user_template_without_a_frontend_is_rejected_with_the_fix(tmp_path):
    _user_template(tmp_path, """apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata: {name: {{ name }}}
spec:
  components:
  - {name: Worker, type: worker, replicas: {{ worker_replicas }}}
""")
    with pytest.raises(UserError, match="no frontend component; add one with type: frontend"):
        render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config(template_dir=str(tmp_path))), run_id="r")


def test_user_template_with_an_unknown_value_is_rejected(tmp_path):
    _user_template(tmp_path, "apiVersion: {{ not_a_runner_value }}\n")
    with pytest.raises(UserError, match="undefined value"):
        render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config(template_dir=str(tmp_path))), run_id="r")


def test_user_template_with_own_names_works_and_can_reuse_builtin_macros(tmp_path):
    _user_template(tmp_path, """{%- import "v1beta1/_macros.yaml.j2" as m with context -%}
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
{{- m.metadata() }}
spec:
  components:
  - {name: gateway, type: frontend, replicas: {{ frontend_replicas }}}
  - {name: engine-a, type: worker, replicas: {{ worker_replicas }}}
""")
    dgd = render_dgd(plan("mocker-agg-tp-1-dp-2-decode_worker", _config(template_dir=str(tmp_path))), run_id="r")
    assert {c.name: c.role for c in discover_components(dgd)} == {"gateway": "frontend", "engine-a": "decode"}


def test_missing_template_for_a_backend_names_the_file(tmp_path):
    (tmp_path / "v1beta1").mkdir()
    with pytest.raises(UserError, match="no template v1beta1/nope"):
        from runner.render.dgd import render_template

        render_template({}, "v1beta1", "nope", "agg", tmp_path)
    with pytest.raises(UserError, match="unknown DGD API version 'v2'"):
        from runner.render.dgd import render_template

        render_template({}, "v2", "mocker", "agg", None)


def test_render_command_prints_the_manifest():
    result = CliRunner().invoke(main, ["render", "--scenario", "mocker-agg-tp-1-dp-2-decode_worker",
                                       "--api-version", "v1alpha1", "--model", "my-model", "--image", "img:1.6.1"])
    assert result.exit_code == 0, result.output
    dgd = yaml.safe_load(result.output)
    assert dgd["apiVersion"] == "nvidia.com/v1alpha1"
    worker = dgd["spec"]["services"]["decode"]
    assert worker["replicas"] == 2 and worker["extraPodSpec"]["mainContainer"]["image"] == "img:1.6.1"
    assert "my-model" in worker["extraPodSpec"]["mainContainer"]["args"]


def test_render_command_rejects_bad_input_with_exit_code_2():
    result = CliRunner().invoke(main, ["render", "--scenario", "mocker-agg-tp-1-dp-1-none", "--image", "x:latest"])
    assert result.exit_code == 2 and "runtime_version_override" in result.output
    result = CliRunner().invoke(main, ["render", "--scenario", "no-such-scenario"])
    assert result.exit_code == 2 and "unknown scenario" in result.output


def test_every_component_logs_json_lines_for_the_request_join():
    dgd = render_dgd(plan("mocker-disagg-prefill-tp-1-decode-tp-1-dp-1-none", _config()), "r")
    for component in dgd["spec"]["components"]:
        env = {e["name"]: e.get("value") for e in component["podTemplate"]["spec"]["containers"][0]["env"]}
        assert env["DYN_LOGGING_JSONL"] == "1", component["name"]
    dgd = render_dgd(plan("mocker-agg-tp-1-dp-1-none", _config(extra_env={"DYN_LOGGING_JSONL": "0"})), "r")
    assert {"name": "DYN_LOGGING_JSONL", "value": "0"} in dgd["spec"]["components"][0]["podTemplate"]["spec"]["containers"][0]["env"]


def _args_by_component(dgd: dict) -> dict[str, list[str]]:
    if "components" in dgd["spec"]:
        return {c["name"]: c["podTemplate"]["spec"]["containers"][0]["args"] for c in dgd["spec"]["components"]}
    return {n: s["extraPodSpec"]["mainContainer"]["args"] for n, s in dgd["spec"]["services"].items()}


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


@pytest.mark.parametrize("api_version", ["v1beta1", "v1alpha1"])
@pytest.mark.parametrize("name", ["mocker-agg-tp-1-dp-1-overload",
                                  "mocker-disagg-prefill-tp-1-decode-tp-1-dp-2-overload"])
def test_an_overload_scenarios_frontend_sheds_and_its_mockers_get_a_small_kv_cache(api_version, name):
    config = RunConfig(platform="kubernetes", kubernetes={"namespace": "ft", "api_version": api_version},
                       fault={"overload": {"busy_threshold": 0.25, "kv_blocks": 96, "block_size": 8}})
    dgd = render_dgd(plan(name, config), run_id="r")
    assert errors(dgd) == []
    args = _args_by_component(dgd)
    assert _flag(args.pop("Frontend"), "--active-decode-blocks-threshold") == "0.25"
    assert args and all((_flag(a, "--num-gpu-blocks-override"), _flag(a, "--block-size")) == ("96", "8")
                        for a in args.values())


@pytest.mark.parametrize("backend", ["vllm", "sglang", "trtllm"])
def test_a_gpu_backends_overload_sets_only_the_frontends_threshold(backend):
    dgd = render_dgd(plan(f"{backend}-disagg-prefill-tp-1-decode-tp-1-dp-1-overload", _config()), run_id="r")
    assert errors(dgd) == []
    args = _args_by_component(dgd)
    assert _flag(args.pop("Frontend"), "--active-decode-blocks-threshold") == "0.5"
    assert not [a for a in args.values() if "--num-gpu-blocks-override" in a or "--block-size" in a]


@pytest.mark.parametrize("name", ["mocker-agg-tp-1-dp-1-cancel_storm", "mocker-agg-tp-1-dp-1-decode_worker"])
def test_other_scenarios_have_no_busy_threshold_nor_kv_override(name):
    args = _args_by_component(render_dgd(plan(name, _config()), run_id="r"))
    assert not [a for a in args.values() if {"--active-decode-blocks-threshold", "--num-gpu-blocks-override"} & set(a)]


def test_the_overload_args_come_after_the_users_extra_args():
    config = RunConfig(platform="kubernetes", kubernetes={"namespace": "ft", "frontend_extra_args": ["--x", "1"]})
    fe = _args_by_component(render_dgd(plan("mocker-agg-tp-1-dp-1-overload", config), run_id="r"))["Frontend"]
    assert fe[-4:] == ["--x", "1", "--active-decode-blocks-threshold", "0.5"]
