"""The chart rendered by the real helm binary: lint, every example, and one test per template behaviour."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from runner.core.config import RunConfig
from runner.scenarios.matrix import MatrixFilter, resolve

from .helm import (
    EXAMPLES,
    K8S_VERSION,
    NAMESPACE,
    by_kind,
    dry_run_install,
    env_of,
    helm,
    job_spec,
    one,
    render,
    runner_config,
    runner_container,
    template,
    CHART,
)

STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                   "app.kubernetes.io/managed-by", "helm.sh/chart")


def validate_all(objects: list[dict]) -> None:
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{obj['kind']} {obj['metadata']['name']}: {exc.message} at {list(exc.path)}") from exc


def test_helm_lint_strict():
    result = helm("lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_there_are_the_promised_examples():
    names = {p.name for p in EXAMPLES}
    assert {"vllm-agg-dp2-decode-worker.yaml", "sglang-disagg-prefill-kill.yaml", "token-overflow-pair.yaml",
            "mocker-cpu.yaml", "nightly-matrix.yaml"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_renders_valid_objects(example):
    objects = render(example)
    assert {o["kind"] for o in objects} >= {"ServiceAccount", "Role", "RoleBinding", "ConfigMap"}
    assert len(by_kind(objects, "Job")) + len(by_kind(objects, "CronJob")) == 1
    validate_all(objects)
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert all(label in labels for label in STANDARD_LABELS), (obj["kind"], labels)
        assert obj["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_config_is_a_valid_run_config(example):
    config = RunConfig.model_validate(runner_config(render(example)))
    assert config.platform == "kubernetes"
    assert config.kubernetes.namespace == NAMESPACE
    assert str(config.output) == "/results"
    values = yaml.safe_load(example.read_text())
    matrix = MatrixFilter.model_validate(values.get("matrix", {}))
    assert config.scenarios == resolve(values["config"]["scenarios"], matrix)


def test_default_values_render_valid_objects():
    objects = render()
    validate_all(objects)
    RunConfig.model_validate(runner_config(objects))


# ---------------------------------------------------------------- Job, CronJob, Indexed Job


def test_default_is_one_sequential_job():
    objects = render()
    assert not by_kind(objects, "CronJob")
    job = one(objects, "Job")
    spec = job["spec"]
    assert job["metadata"]["name"] == "ft-dynamo-ft-runner-1"  # carries the revision: an upgrade re-runs
    assert spec["backoffLimit"] == 0
    assert spec["completions"] == 1 and spec["parallelism"] == 1
    assert "completionMode" not in spec
    assert spec["activeDeadlineSeconds"] == 14400
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert runner_container(objects)["args"] == ["run", "--config", "/etc/ft-runner/config/config.yaml"]


def test_schedule_makes_a_cronjob_that_forbids_overlap():
    objects = render(sets={"schedule": "0 2 * * *", "cronJob": {"successfulJobsHistoryLimit": 5,
                                                                 "failedJobsHistoryLimit": 2,
                                                                 "timeZone": "Etc/UTC",
                                                                 "startingDeadlineSeconds": 600}})
    assert not by_kind(objects, "Job")
    cron = one(objects, "CronJob")
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["successfulJobsHistoryLimit"] == 5
    assert cron["spec"]["failedJobsHistoryLimit"] == 2
    assert cron["spec"]["timeZone"] == "Etc/UTC"
    assert cron["spec"]["startingDeadlineSeconds"] == 600
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert len(cron["metadata"]["name"]) <= 52
    validate_all(objects)


def test_indexed_job_runs_one_scenario_per_index():
    names = ["mocker-agg-tp-1-dp-1-none", "mocker-agg-tp-1-dp-2-decode_worker", "mocker_agg_token_overflow_2x"]
    objects = render(sets={"execution": "indexed", "parallelism": 2, "config.scenarios": names})
    spec = job_spec(objects)
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == 3
    assert spec["parallelism"] == 2
    assert spec["backoffLimitPerIndex"] == 0
    assert "backoffLimit" not in spec  # with it, the first failed index would stop every other one
    container = runner_container(objects)
    assert container["args"][-2:] == ["--scenario-index", "$(FT_RUNNER_SCENARIO_INDEX)"]
    index_env = env_of(container)["FT_RUNNER_SCENARIO_INDEX"]
    assert index_env["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert runner_config(objects)["scenarios"] == names
    validate_all(objects)


def test_indexed_parallelism_never_exceeds_the_scenario_count():
    objects = render(sets={"execution": "indexed", "parallelism": 8,
                           "config.scenarios": ["mocker-agg-tp-1-dp-1-none"]})
    assert job_spec(objects)["parallelism"] == 1


def test_indexed_cronjob_from_a_matrix():
    objects = render(CHART / "examples" / "nightly-matrix.yaml")
    cron = one(objects, "CronJob")
    spec = cron["spec"]["jobTemplate"]["spec"]
    expected = resolve([], MatrixFilter(backend="vllm", failures=["decode_worker", "frontend_pod"]))
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == len(expected) == 16
    assert spec["parallelism"] == 4
    assert runner_config(objects)["scenarios"] == expected


def test_indexed_job_needs_kubernetes_1_29():
    result = template(sets={"execution": "indexed"}, extra=("--kube-version", "1.28.0"))
    assert result.returncode != 0
    assert "execution: indexed needs Kubernetes 1.29 or newer" in result.stderr


# ---------------------------------------------------------------- matrix resolution (helm == runner.scenarios.matrix)


@pytest.mark.parametrize(
    "names,matrix",
    [
        ([], {"backend": "sglang", "mode": "disagg"}),
        ([], {"failures": ["token_overflow"]}),
        (["mocker-agg-tp-1-dp-1-none"], {"backend": "mocker", "dp": 2}),
        ([], {"backend": "vllm", "tp": 2, "failures": ["decode_worker", "prefill_worker_pod"]}),
        ([], {"backend": "vllm", "mode": "agg", "failures": ["none"], "include_custom_build": True}),
        (["vllm-agg-tp-1-dp-1-none", "mocker-agg-tp-1-dp-1-none"], {"backend": "vllm", "failures": ["none"]}),
        (["mocker-agg-tp-1-dp-2-decode_worker-migration-off"], {"backend": "mocker", "failures": ["decode_worker"]}),
    ],
)
def test_helm_resolves_a_matrix_as_the_runner_does(names, matrix):
    objects = render(sets={"config.scenarios": names, "matrix": matrix})
    assert runner_config(objects)["scenarios"] == resolve(names, MatrixFilter.model_validate(matrix))


def test_unknown_scenario_is_rejected_by_name():
    result = template(sets={"config.scenarios": ["vllm-agg-tp-3-dp-1-none"]})
    assert result.returncode != 0
    assert 'unknown scenario "vllm-agg-tp-3-dp-1-none"' in result.stderr


def test_an_empty_selection_is_rejected():
    result = template(sets={"config.scenarios": [], "matrix": {"backend": "mocker", "tp": 4}})
    assert result.returncode != 0
    assert "no scenario selected" in result.stderr


def _scenario_file() -> dict:
    from pathlib import Path

    return yaml.safe_load((Path(__file__).parents[2] / "examples/scenarios/kill-recover-stall.yaml").read_text())


def test_a_scenario_file_in_the_values_reaches_the_runner_config_and_plans():
    from runner.run.suite import resolve_scenarios

    timeline = _scenario_file()
    objects = render(sets={"config.scenarios": [], "config.timelines": [timeline]})
    config = RunConfig.model_validate(runner_config(objects))
    assert [t.name for t in config.timelines] == [timeline["name"]] and config.scenarios == []
    (planned,) = resolve_scenarios(config)  # plans on the kubernetes platform the chart sets
    assert planned.from_file and len(planned.steps) == len(timeline["steps"])
    assert job_spec(objects)["completions"] == 1


def test_a_scenario_file_is_refused_in_an_indexed_job():
    result = template(sets={"config.timelines": [_scenario_file()], "execution": "indexed",
                            "config.scenarios": ["mocker-agg-tp-1-dp-1-none"]})
    assert result.returncode != 0 and "config.timelines (scenario files) run in execution: sequential" in result.stderr


def test_a_malformed_scenario_file_is_refused_by_the_values_schema():
    bad = {**_scenario_file(), "steps": [{"load": "start", "wait": 2}]}
    result = template(sets={"config.timelines": [bad]})
    assert result.returncode != 0 and "timelines" in result.stderr


# ---------------------------------------------------------------- RBAC and ServiceAccount


def role_rules(objects: list[dict]) -> dict:
    return {(r["apiGroups"][0], r["resources"][0]): (sorted(r["verbs"]), r.get("resourceNames"))
            for r in one(objects, "Role")["rules"]}


def test_role_grants_exactly_what_the_runner_uses():
    assert role_rules(render()) == {
        ("nvidia.com", "dynamographdeployments"): (["create", "delete", "get", "list", "patch"], None),
        ("", "pods"): (["delete", "get", "list", "watch"], None),
        ("", "pods/exec"): (["create", "get"], None),
        ("", "pods/log"): (["get"], None),
        ("", "events"): (["list", "watch"], None),
    }
    for rule in one(render(), "Role")["rules"]:
        assert len(rule["apiGroups"]) == 1 and len(rule["resources"]) == 1


def test_network_faults_rbac_is_opt_in_and_adds_only_the_ephemeral_container_patch():
    default, opted = role_rules(render()), role_rules(render(sets={"rbac.networkFaults": True}))
    assert ("", "pods/ephemeralcontainers") not in default
    assert opted == {**default, ("", "pods/ephemeralcontainers"): (["patch"], None)}


def test_plane_outages_rbac_is_opt_in_and_adds_only_get_and_patch_on_the_scale_subresources():
    default, opted = role_rules(render()), role_rules(render(sets={"rbac.planeOutages": True}))
    assert ("apps", "statefulsets/scale") not in default and ("apps", "deployments/scale") not in default
    assert opted == {**default, ("apps", "statefulsets/scale"): (["get", "patch"], None),
                     ("apps", "deployments/scale"): (["get", "patch"], None)}
    assert ("apps", "statefulsets") not in opted  # the workload itself (its pod template) stays untouchable


@pytest.mark.parametrize("switches", [(), ("networkFaults",), ("planeOutages",), ("networkFaults", "planeOutages")])
def test_role_matches_the_calls_the_kubernetes_platform_declares(switches):
    """runner/platforms/kubernetes/api.py lists every API call the runner makes; the Role grants those, in-cluster
    (the calls marked opt-in only with their values switch)."""
    import re

    from runner.platforms.kubernetes import api as k8s_api

    declared: dict[tuple[str, str], list[str]] = {}
    for line in k8s_api.__doc__.splitlines():
        match = re.match(r"^\s+(\S+) (\S+): ([a-z]+(?:, [a-z]+)*)", line)
        opt_in = re.search(r"opt-in: rbac\.(\w+)", line)
        if match and "workstation" not in line and (not opt_in or opt_in[1] in switches):
            group = "" if match[1] == "core" else match[1]
            declared[(group, match[2])] = sorted(match[3].split(", "))
    assert declared, "the call list in runner/platforms/kubernetes/api.py's docstring was not found"
    # a WebSocket exec is a GET upgrade: authorized as "get" before Kubernetes 1.31, "create" after
    declared[("", "pods/exec")] = sorted({*declared[("", "pods/exec")], "get"})
    sets = {f"rbac.{switch}": True for switch in switches}
    granted = {key: verbs for key, (verbs, _) in role_rules(render(sets=sets)).items()}
    assert granted == declared


def test_role_binding_binds_the_runner_service_account():
    objects = render()
    binding = one(objects, "RoleBinding")
    sa = one(objects, "ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": one(objects, "Role")["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]
    assert job_spec(objects)["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_role_is_the_same_for_a_schedule():
    assert role_rules(render(sets={"schedule": "@daily"})) == role_rules(render())


def test_rbac_off_renders_no_role_and_no_binding():
    objects = render(sets={"rbac.create": False})
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")
    assert by_kind(objects, "ServiceAccount")


def test_existing_service_account_is_used_and_not_created():
    objects = render(sets={"serviceAccount.create": False, "serviceAccount.name": "ft-runner-sa"})
    assert not by_kind(objects, "ServiceAccount")
    assert job_spec(objects)["template"]["spec"]["serviceAccountName"] == "ft-runner-sa"
    assert one(objects, "RoleBinding")["subjects"][0]["name"] == "ft-runner-sa"


def test_existing_service_account_needs_a_name():
    result = template(sets={"serviceAccount.create": False})
    assert result.returncode != 0
    assert "serviceAccount.name: set the name of an existing ServiceAccount" in result.stderr


# ---------------------------------------------------------------- credentials, Downward API


def test_s3_credentials_come_from_the_named_secret_only():
    objects = render(sets={"s3Credentials.existingSecret": "ft-s3", "config.s3": {"bucket": "results"}})
    env = env_of(runner_container(objects))
    for name, key in (("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"), ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
                      ("AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN")):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "ft-s3" and ref["key"] == key
        assert "value" not in env[name]
    assert env["AWS_SESSION_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "optional" not in env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]
    assert not by_kind(objects, "Secret")
    for cm in by_kind(objects, "ConfigMap"):
        text = json.dumps(cm["data"])
        assert "AWS_" not in text and "ft-s3" not in text


def test_secret_keys_can_be_renamed():
    objects = render(sets={"s3Credentials": {"existingSecret": "minio", "accessKeyIdKey": "rootUser",
                                             "secretAccessKeyKey": "rootPassword"}})
    env = env_of(runner_container(objects))
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["key"] == "rootUser"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "rootPassword"


def test_no_secret_no_credential_env():
    env = env_of(runner_container(render()))
    assert not [name for name in env if name.startswith("AWS_")]


def test_credentials_cannot_be_put_in_the_config():
    result = template(sets={"config.s3": {"bucket": "b", "secret_access_key": "hunter2"}})
    assert result.returncode != 0
    assert "additional properties 'secret_access_key' not allowed" in result.stderr


def test_runner_knows_its_job_pod_namespace_and_cluster():
    env = env_of(runner_container(render()))
    assert env["FT_RUNNER_IN_CLUSTER"]["value"] == "1"
    names = ("FT_RUNNER_JOB_NAME", "FT_RUNNER_JOB_UID", "FT_RUNNER_NAMESPACE", "FT_RUNNER_POD_NAME", "FT_RUNNER_POD_UID")
    field = {name: env[name]["valueFrom"]["fieldRef"]["fieldPath"] for name in names}
    assert field == {
        "FT_RUNNER_JOB_NAME": "metadata.labels['batch.kubernetes.io/job-name']",
        "FT_RUNNER_JOB_UID": "metadata.labels['batch.kubernetes.io/controller-uid']",
        "FT_RUNNER_NAMESPACE": "metadata.namespace",
        "FT_RUNNER_POD_NAME": "metadata.name",
        "FT_RUNNER_POD_UID": "metadata.uid",
    }


def test_reaper_is_a_native_sidecar_of_the_runner_pod():
    pod = job_spec(render(sets={"reaper.deadlineSeconds": 40}))["template"]["spec"]
    (reaper,) = pod["initContainers"]
    assert reaper["restartPolicy"] == "Always"  # a sidecar: stopped by the kubelet after the runner ends
    assert reaper["image"] == runner_container(render())["image"]
    assert reaper["command"] == ["python", "-m", "runner.platforms.kubernetes.reaper"]
    env = env_of(reaper)
    assert env["FT_RUNNER_POD_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
    assert env["FT_RUNNER_REAPER_DEADLINE_S"]["value"] == "40"
    assert reaper["securityContext"]["readOnlyRootFilesystem"] is True
    assert reaper["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_extra_env_is_appended():
    env = env_of(runner_container(render(sets={"extraEnv": [{"name": "HF_HUB_OFFLINE", "value": "1"}]})))
    assert env["HF_HUB_OFFLINE"] == {"name": "HF_HUB_OFFLINE", "value": "1"}


# ---------------------------------------------------------------- pod hardening


def test_runner_pod_is_hardened():
    objects = render()
    pod = job_spec(objects)["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = runner_container(objects)
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/results"]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert runner_config(objects)["output"] == "/results"


def test_results_mount_path_is_the_config_output():
    objects = render(sets={"resultsVolume.mountPath": "/var/ft-results"})
    assert "/var/ft-results" in {m["mountPath"] for m in runner_container(objects)["volumeMounts"]}
    assert runner_config(objects)["output"] == "/var/ft-results"


def test_openshift_style_identity_leaves_the_uid_to_the_platform():
    objects = render(sets={"podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None}})
    sc = job_spec(objects)["template"]["spec"]["securityContext"]
    assert sc["runAsNonRoot"] is True and "runAsUser" not in sc and "fsGroup" not in sc


# ---------------------------------------------------------------- custom templates


def test_custom_template_files_become_a_mounted_configmap():
    text = "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\n# {{ scenario.name }}\n"
    objects = render(sets={"customTemplates.files": {"v1beta1/vllm/agg.yaml.j2": text}})
    cm = next(o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-templates"))
    assert cm["data"] == {"v1beta1__vllm__agg.yaml.j2": text}
    pod = job_spec(objects)["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "templates")
    assert volume["configMap"] == {"name": cm["metadata"]["name"],
                                   "items": [{"key": "v1beta1__vllm__agg.yaml.j2", "path": "v1beta1/vllm/agg.yaml.j2"}]}
    mount = next(m for m in runner_container(objects)["volumeMounts"] if m["name"] == "templates")
    assert mount["mountPath"] == "/etc/ft-runner/templates" and mount["readOnly"] is True
    assert runner_config(objects)["kubernetes"]["template_dir"] == "/etc/ft-runner/templates"
    validate_all(objects)


def test_custom_templates_from_an_existing_configmap():
    items = [{"key": "agg", "path": "v1beta1/sglang/agg.yaml.j2"}]
    objects = render(sets={"customTemplates": {"existingConfigMap": "my-templates", "items": items}})
    assert not [o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-templates")]
    volume = next(v for v in job_spec(objects)["template"]["spec"]["volumes"] if v["name"] == "templates")
    assert volume["configMap"] == {"name": "my-templates", "items": items}
    assert runner_config(objects)["kubernetes"]["template_dir"] == "/etc/ft-runner/templates"


def test_without_custom_templates_the_builtin_ones_are_used():
    objects = render()
    assert "template_dir" not in runner_config(objects)["kubernetes"]
    assert "templates" not in {v["name"] for v in job_spec(objects)["template"]["spec"]["volumes"]}


def test_custom_templates_files_and_existing_configmap_conflict():
    result = template(sets={"customTemplates": {"existingConfigMap": "x", "files": {"a.yaml.j2": "a"}}})
    assert result.returncode != 0
    assert "set either files or existingConfigMap, not both" in result.stderr


# ---------------------------------------------------------------- NOTES


def test_notes_tell_how_to_follow_and_download():
    result = dry_run_install(sets={"config.s3": {"bucket": "ft-results", "prefix": "nightly/"},
                                   "config.run_id": "run-7", "s3Credentials.existingSecret": "s3"})
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n dynamo logs -f job/ft-dynamo-ft-runner-1" in notes
    assert "kubectl -n dynamo wait --for=condition=complete --timeout=14400s job/ft-dynamo-ft-runner-1" in notes
    assert "s3://ft-results/nightly/<run-id>/<scenario>/" in notes
    assert "aws s3 cp --recursive s3://ft-results/nightly/run-7/ ./ft-results/run-7/" in notes


def test_notes_warn_when_results_have_nowhere_to_go():
    result = dry_run_install()
    assert result.returncode == 0, result.stderr
    assert "WARNING: config.s3.bucket is not set" in result.stdout


def test_notes_of_an_indexed_cronjob():
    result = dry_run_install(CHART / "examples" / "nightly-matrix.yaml")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "16 scenario(s) in namespace dynamo, as an Indexed Job (4 at a time)" in notes
    assert "kubectl -n dynamo create job --from=cronjob/ft-dynamo-ft-runner" in notes
    assert "aws s3 ls s3://my-ft-results/dynamo-ft/nightly/" in notes


def test_runner_knows_its_own_image_for_the_network_faults_ephemeral_container():
    objects = render(sets={"image.repository": "reg.example/ft-runner", "image.tag": "1.2.3"})
    runner = runner_container(objects)
    assert env_of(runner)["FT_RUNNER_IMAGE"]["value"] == runner["image"] == "reg.example/ft-runner:1.2.3"


def test_an_outage_target_in_the_values_reaches_the_runner_config_and_a_bad_one_is_refused():
    objects = render(sets={"config.scenarios": ["mocker-agg-tp-1-dp-1-etcd_outage"],
                           "config.kubernetes.outage_targets.etcd": "statefulset/etcd", "rbac.planeOutages": True})
    config = RunConfig.model_validate(runner_config(objects))
    assert config.kubernetes.outage_targets.etcd == "statefulset/etcd" and config.kubernetes.outage_targets.nats is None
    result = template(sets={"config.kubernetes.outage_targets.etcd": "pod/etcd"})
    assert result.returncode != 0 and "outage_targets" in result.stderr
