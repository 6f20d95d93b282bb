"""Scenario + config -> DynamoGraphDeployment (a plain dict), and roles back out of any DGD.

Templates live in `templates/{api_version}/{backend}/{agg,disagg}.yaml.j2` (or a user directory with
the same layout) and are rendered with `StrictUndefined`: a template that names a value the runner
does not provide is an error, never an empty string. A user may also hand over a complete DGD file.
Either way the runner stamps the identity (name, labels, owner) itself and finds the frontend,
decode and prefill roles from the component types, never from service names.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from runner.scenarios.catalog import DEFAULT_MODEL, CatalogEntry
from runner.core.config import KubernetesConfig, RunConfig
from runner.core.errors import UserError
from runner.faults.outage import outage_roles
from runner.faults.overload import overload_args
from runner.scenarios.plan import Scenario

API_VERSIONS = ("v1beta1", "v1alpha1")
GROUP = "nvidia.com"
KIND = "DynamoGraphDeployment"
PLURAL = "dynamographdeployments"
LABEL_PREFIX = "dynamo-ft-runner"
RUN_LABEL = f"{LABEL_PREFIX}/run-id"
SCENARIO_LABEL = f"{LABEL_PREFIX}/scenario"
# JSON log lines: the client<->server request join reads the frontend's and workers' collected logs
LOG_ENV = {"DYN_LOGGING_JSONL": "1"}
RUNNER_POD_LABEL = f"{LABEL_PREFIX}/runner-pod-uid"  # the reaper sidecar deletes what carries its pod's UID
MAX_DGD_NAME = 40  # leaves room for the operator's "<dgd>-<component>-<hash>" children within 63
# The operator labels DCDs and pods `nvidia.com/dynamo-namespace: <k8s namespace>-<dgd>`, and a label
# value holds at most 63 characters: the namespace shortens what is left for the DGD name.
LABEL_VALUE_MAX = 63
NAME_HASH_LEN = 8
# Every name ends "--<hash>" and its readable head never holds "--" (dashes are collapsed), so no
# name is a prefix of another: the frontend finds its workers by the prefix "<namespace>-<dgd>".
NAME_TERMINATOR = "--"
MIN_NAME_HEAD = 10  # enough of "<run id>-<scenario>" to tell runs apart by eye
MIN_DGD_NAME = MIN_NAME_HEAD + len(NAME_TERMINATOR) + NAME_HASH_LEN
MAX_NAMESPACE = LABEL_VALUE_MAX - 1 - MIN_DGD_NAME
FRONTEND_PORT = 8000  # the operator's DYN_HTTP_PORT: its frontend probes and Service use it
WORKER_SYSTEM_PORT = 9090  # the operator's DYN_SYSTEM_PORT: a worker's /metrics and health
DYNAMO_RUNTIME_VERSION = "1.6.1"
RUNTIME_IMAGE = {
    "vllm": "nvcr.io/nvidia/ai-dynamo/vllm-runtime",
    "sglang": "nvcr.io/nvidia/ai-dynamo/sglang-runtime",
    "trtllm": "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime",
    # every runtime image carries `dynamo.mocker`; the vLLM one is the most common
    "mocker": "nvcr.io/nvidia/ai-dynamo/vllm-runtime",
}
# what the operator parses a runtime version from: semver with an optional pre-release (1.6.1-rc1)
SEMVER_TAG = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")
ROLES = ("frontend", "decode", "prefill")


def builtin_template_dir() -> Path:
    """`templates/` next to the package (editable installs and the runner image keep it there)."""
    env = os.environ.get("FT_RUNNER_TEMPLATES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "templates"


# ---------------------------------------------------------------- names and labels


def _dns_label(text: str) -> str:
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    return re.sub(r"-+", "-", text).strip("-")


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def dgd_name_limit(namespace: str) -> int:
    """Longest DGD name for `namespace`: `<namespace>-<dgd>` must fit the operator's 63-character label."""
    room = LABEL_VALUE_MAX - len(namespace) - 1
    if room < MIN_DGD_NAME:
        raise UserError(
            f"namespace {namespace!r} is {len(namespace)} characters: the operator labels every pod "
            f"nvidia.com/dynamo-namespace=<namespace>-<graph name> (at most {LABEL_VALUE_MAX} characters), which leaves "
            f"{max(room, 0)} for the graph name and it needs {MIN_DGD_NAME}; use a namespace of at most "
            f"{MAX_NAMESPACE} characters (kubernetes.namespace)"
        )
    return min(MAX_DGD_NAME, room)


def dgd_name(run_id: str, scenario: str, namespace: str) -> str:
    """A DNS-1035 label `<run id>-<scenario, truncated to fit>--<hash of both>`, sized from the namespace.

    Prefix-free among all names (see NAME_TERMINATOR); the hash keeps truncated names unique.
    """
    limit = dgd_name_limit(namespace)
    head = _dns_label(f"{run_id}-{scenario}") or "ft"
    if not head[0].isalpha():
        head = "ft-" + head  # the operator derives Service names (DNS-1035: a letter first) from it
    head = head[: limit - len(NAME_TERMINATOR) - NAME_HASH_LEN].rstrip("-")
    digest = _short_hash(run_id + "\0" + scenario, NAME_HASH_LEN)
    return f"{head}{NAME_TERMINATOR}{digest}"


def label_value(text: str) -> str:
    """A valid label value (<= 63 chars, alphanumeric at both ends); hashed when too long."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    if len(text) > 63:
        text = text[:54].rstrip("-_.") + "-" + _short_hash(text)
    return text


def image_tag(image: str) -> str | None:
    """The tag of an image reference, its digest pin (`@sha256:...`) stripped, as the operator reads it."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]  # the last path part: a registry port is not a tag
    return last.split(":", 1)[1] if ":" in last else None


def is_semver(tag: str) -> bool:
    """MAJOR.MINOR.PATCH with an optional pre-release; numbers have no leading zeros (semver 2.0.0)."""
    match = SEMVER_TAG.match(tag)
    identifiers = (match.group(4) or "").split(".") if match else []
    return bool(match) and not any(i.isdigit() and len(i) > 1 and i[0] == "0" for i in identifiers)


def runtime_version_for(image: str, override: str | None) -> str | None:
    """runtimeVersionOverride to set: the configured one, else None when the tag is semver.

    DGD admission rejects a main image without a parseable semantic-version tag (pre-release
    allowed, digest ignored) unless the override is set, so any other image without an override is
    a user error (we cannot guess the version).
    """
    if override:
        return override
    tag = image_tag(image)
    if tag and is_semver(tag):
        return None
    raise UserError(
        f"image {image!r} has no semantic-version tag, which DGD admission rejects; set "
        "kubernetes.runtime_version_override to the image's Dynamo version (e.g. 1.6.1)"
    )


@dataclass(frozen=True)
class Identity:
    """What the runner stamps on every DGD it applies."""

    name: str
    namespace: str
    labels: dict
    annotations: dict
    owner_references: list


def owner_reference_from_env(namespace: str, env: dict | None = None) -> list[dict]:
    """The runner's own Pod as owner (from the chart's downward-API env), when it lives in `namespace`.

    The Pod, not the Job: a Job outlives its dead pod by ttlSecondsAfterFinished (a day by default),
    a Pod deleted in any way (grace 0, eviction, its Job deleted) takes its DGDs with it through the
    garbage collector within seconds. A runner container that dies while its Pod stays is covered
    by the reaper sidecar (runner/platforms/kubernetes/reaper.py). An owner in another namespace would make
    the garbage collector delete the DGD at once, so then no owner is set.
    """
    env = os.environ if env is None else env
    name, uid = env.get("FT_RUNNER_POD_NAME"), env.get("FT_RUNNER_POD_UID")
    pod_ns = env.get("FT_RUNNER_NAMESPACE")
    if not name or not uid or (pod_ns and pod_ns != namespace):
        return []
    return [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid, "controller": False}]


def identity(run_id: str, scenario_name: str, namespace: str, owner_references: list | None = None) -> Identity:
    labels = {
        "app.kubernetes.io/managed-by": "dynamo-ft-runner",
        RUN_LABEL: label_value(run_id),
        SCENARIO_LABEL: label_value(scenario_name),
    }
    for ref in owner_references or []:
        if ref.get("kind") == "Pod":
            labels[RUNNER_POD_LABEL] = ref["uid"]
    annotations = {RUN_LABEL: run_id, SCENARIO_LABEL: scenario_name}
    return Identity(dgd_name(run_id, scenario_name, namespace), namespace, labels, annotations, list(owner_references or []))


def apply_identity(dgd: dict, ident: Identity) -> dict:
    """Return a copy of `dgd` whose metadata carries the runner's name, namespace, labels and owner."""
    out = copy.deepcopy(dgd)
    meta = out.setdefault("metadata", {}) or {}
    out["metadata"] = meta
    meta["name"] = ident.name
    meta["namespace"] = ident.namespace
    meta["labels"] = {**(meta.get("labels") or {}), **ident.labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **ident.annotations}
    if ident.owner_references:
        meta["ownerReferences"] = copy.deepcopy(ident.owner_references)
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        meta.pop(key, None)
    out.pop("status", None)
    return out


# ---------------------------------------------------------------- roles from component types


@dataclass(frozen=True)
class Component:
    name: str  # service / component name as written in the DGD
    role: str  # frontend | decode | prefill
    replicas: int


def api_version_of(dgd: dict) -> str:
    api = str(dgd.get("apiVersion", ""))
    group, _, version = api.partition("/")
    if group != GROUP or version not in API_VERSIONS or dgd.get("kind") != KIND:
        raise UserError(
            f"not a DynamoGraphDeployment of a supported version (apiVersion {api!r}, kind {dgd.get('kind')!r}); "
            f"use apiVersion {GROUP}/v1beta1 or {GROUP}/v1alpha1"
        )
    return version


def role_of_type(component_type: str | None, sub_type: str | None = None) -> str | None:
    """Role from a component type: v1beta1 `type`, v1alpha1 `componentType` + `subComponentType`."""
    ctype = (component_type or "").lower()
    sub = (sub_type or "").lower()
    if ctype == "frontend":
        return "frontend"
    if ctype in ("prefill", "decode"):
        return ctype
    if ctype == "worker":
        return "prefill" if sub == "prefill" else "decode"
    return None  # planner, epp, main, ...: not a role the runner hits


def discover_components(dgd: dict) -> list[Component]:
    version = api_version_of(dgd)
    spec = dgd.get("spec") or {}
    found: list[Component] = []
    if version == "v1beta1":
        for comp in spec.get("components") or []:
            role = role_of_type(comp.get("type"))
            if role:
                found.append(Component(comp["name"], role, int(comp.get("replicas", 1))))
    else:
        for name, svc in (spec.get("services") or {}).items():
            role = role_of_type(svc.get("componentType"), svc.get("subComponentType"))
            if role:
                found.append(Component(name, role, int(svc.get("replicas", 1))))
    return found


def roles_of(dgd: dict) -> dict[str, list[Component]]:
    out: dict[str, list[Component]] = {role: [] for role in ROLES}
    for comp in discover_components(dgd):
        out[comp.role].append(comp)
    return out


def expected_replicas(entry: CatalogEntry, role: str) -> int:
    """Pods per role. MoE runs its data parallelism inside one pod (like upstream)."""
    if entry.moe:
        return 0 if (role == "prefill" and entry.mode == "agg") else 1
    return entry.replicas(role)


def check_roles(dgd: dict, entry: CatalogEntry, source: str) -> dict[str, list[Component]]:
    """Every role the scenario needs exists exactly once with the scenario's replica count."""
    roles = roles_of(dgd)
    needed = ["frontend", "decode"] + (["prefill"] if entry.mode == "disagg" else [])
    for role in needed:
        comps = roles[role]
        if not comps:
            hint = {
                "frontend": "type: frontend (v1alpha1 componentType: frontend)",
                "decode": "type: worker or decode (v1alpha1 componentType: worker)",
                "prefill": "type: prefill (v1alpha1 componentType: worker, subComponentType: prefill)",
            }[role]
            raise UserError(f"{source} has no {role} component; add one with {hint}")
        if len(comps) > 1:
            names = ", ".join(c.name for c in comps)
            raise UserError(f"{source} has several {role} components ({names}); keep exactly one per role")
        want = expected_replicas(entry, role)
        if comps[0].replicas != want:
            raise UserError(
                f"{source}: component {comps[0].name} ({role}) has {comps[0].replicas} replicas but scenario "
                f"{entry.name} needs {want}; template its replicas from the runner's values or pick a matching scenario"
            )
    return roles


# ---------------------------------------------------------------- template values


def _gpu_resources_v1beta1(extra: dict, gpus: int, gpu_resource: str) -> dict:
    out = {kind: dict(values) for kind, values in extra.items()}
    if gpus:
        for kind in ("limits", "requests"):
            out.setdefault(kind, {})[gpu_resource] = str(gpus)
    return out


def _resources_v1alpha1(extra: dict, gpus: int, gpu_resource: str) -> dict:
    out: dict = {}
    for kind, values in extra.items():
        section = out.setdefault(kind, {})
        for key, value in values.items():
            if key in ("cpu", "memory"):
                section[key] = str(value)
            else:
                section.setdefault("custom", {})[key] = str(value)
    if gpus:
        for kind in ("limits", "requests"):
            section = out.setdefault(kind, {})
            section["gpu"] = str(gpus)
            if gpu_resource != "nvidia.com/gpu":
                section["gpuType"] = gpu_resource
    return out


def default_image(backend: str) -> str:
    return f"{RUNTIME_IMAGE[backend]}:{DYNAMO_RUNTIME_VERSION}"


def model_path_for(scenario: Scenario, k8s: KubernetesConfig) -> str:
    """Where the workers load the model from. The mocker's local tiny model does not exist in a
    cluster, so there it reads tokenizer and config from `kubernetes.mocker_model` instead."""
    entry = scenario.entry
    if entry.backend == "mocker" and scenario.model == DEFAULT_MODEL["mocker"]:
        return k8s.mocker_model
    return scenario.model


def template_values(scenario: Scenario, ident: Identity, api_version: str) -> dict:
    entry = scenario.entry
    k8s = scenario.config.kubernetes
    image = k8s.image or default_image(entry.backend)
    gpus = 0 if entry.backend == "mocker" else (2 if entry.moe else entry.tp)
    shape = _gpu_resources_v1beta1 if api_version == "v1beta1" else _resources_v1alpha1
    pod_spec_extra: dict = {}
    if k8s.node_selector:
        pod_spec_extra["nodeSelector"] = dict(k8s.node_selector)
    if k8s.tolerations:
        pod_spec_extra["tolerations"] = [dict(t) for t in k8s.tolerations]
    if k8s.image_pull_secrets:
        pod_spec_extra["imagePullSecrets"] = [{"name": s} for s in k8s.image_pull_secrets]
    if k8s.termination_grace_period_s is not None:
        pod_spec_extra["terminationGracePeriodSeconds"] = k8s.termination_grace_period_s
    return {
        "api_version": api_version,
        "name": ident.name,
        "namespace": ident.namespace,
        "labels": ident.labels,
        "annotations": ident.annotations,
        "owner_references": ident.owner_references,
        "pod_labels": ident.labels,
        "backend": entry.backend,
        "mode": entry.mode,
        "moe": entry.moe,
        "image": image,
        "runtime_version_override": runtime_version_for(image, k8s.runtime_version_override),
        "model_path": model_path_for(scenario, k8s),
        "served_model_name": scenario.model,
        "tp": entry.tp,
        "gpus_per_worker": gpus,
        "frontend_replicas": expected_replicas(entry, "frontend"),
        "worker_replicas": expected_replicas(entry, "decode"),
        "prefill_replicas": expected_replicas(entry, "prefill"),
        "migration_limit": scenario.migration_limit,
        "context_limit": scenario.max_model_len,
        "env": [{"name": k, "value": v}
                for k, v in sorted({**LOG_ENV, **k8s.extra_env, **plane_env(scenario)}.items())],
        "hf_token_secret": k8s.hf_token_secret,
        "worker_extra_args": list(k8s.worker_extra_args) + overload_args(scenario, "worker"),
        "frontend_extra_args": list(k8s.frontend_extra_args) + overload_args(scenario, "frontend"),
        "worker_resources": shape(k8s.worker_resources, gpus, k8s.gpu_resource),
        "frontend_resources": shape(k8s.frontend_resources, 0, k8s.gpu_resource),
        "pod_spec_extra": pod_spec_extra,
        "frontend_port": FRONTEND_PORT,
    }


# ---------------------------------------------------------------- the user's etcd / NATS (outage scenarios)

PLANE_PORTS = {"etcd": ("http", 2379), "nats": ("nats", 4222)}
def plane_endpoint(role: str, k8s: KubernetesConfig) -> str | None:
    """Where the graph reaches the etcd / NATS that kubernetes.outage_targets names: its explicit endpoint, else
    a Service named as the workload on the server's standard port; None when none is named."""
    targets = k8s.outage_targets
    named = getattr(targets, role)
    if not named:
        return None
    scheme, port = PLANE_PORTS[role]
    return getattr(targets, f"{role}_endpoint") or f"{scheme}://{named.partition('/')[2]}.{k8s.namespace}.svc:{port}"


def plane_env(scenario: Scenario) -> dict[str, str]:
    """An outage scenario's graph uses the named etcd for discovery and the named NATS as its event plane (Dynamo
    1.6: DYN_DISCOVERY_BACKEND, ETCD_ENDPOINTS, DYN_EVENT_PLANE, NATS_SERVER); etcd without NATS keeps the event
    plane on ZMQ (etcd discovery would pick NATS). {} for every other scenario: never by default. These win over
    kubernetes.extra_env, so the server taken down is the one the graph uses."""
    if not outage_roles(scenario):
        return {}
    k8s = scenario.config.kubernetes
    etcd, nats = plane_endpoint("etcd", k8s), plane_endpoint("nats", k8s)
    env = {"DYN_DISCOVERY_BACKEND": "etcd", "ETCD_ENDPOINTS": etcd} if etcd else {}
    if nats:
        env.update(DYN_EVENT_PLANE="nats", NATS_SERVER=nats)
    elif etcd:
        env["DYN_EVENT_PLANE"] = "zmq"
    return env


# ---------------------------------------------------------------- rendering


@lru_cache(maxsize=8)
def _environment(search_path: tuple[Path, ...]):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["json"] = lambda value: json.dumps(value)
    return env


def template_name(api_version: str, backend: str, mode: str) -> str:
    return f"{api_version}/{backend}/{mode}.yaml.j2"


def render_template(values: dict, api_version: str, backend: str, mode: str, template_dir: Path | None) -> dict:
    import jinja2

    if api_version not in API_VERSIONS:
        raise UserError(f"unknown DGD API version {api_version!r}; use one of {', '.join(API_VERSIONS)}")
    search = ([Path(template_dir)] if template_dir else []) + [builtin_template_dir()]
    name = template_name(api_version, backend, mode)
    if template_dir and not Path(template_dir).is_dir():
        raise UserError(f"template directory {template_dir} does not exist; fix kubernetes.template_dir")
    try:
        text = _environment(tuple(search)).get_template(name).render(**values)
    except jinja2.TemplateNotFound:
        raise UserError(f"no template {name} in {', '.join(map(str, search))}; add it or choose another scenario")
    except jinja2.UndefinedError as exc:
        raise UserError(f"template {name} uses an undefined value ({exc}); use only the documented template values")
    except jinja2.TemplateError as exc:
        raise UserError(f"template {name} is invalid: {exc}")
    try:
        dgd = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"template {name} does not render to valid YAML: {exc}".splitlines()[0])
    if not isinstance(dgd, dict):
        raise UserError(f"template {name} must render one YAML mapping (a DynamoGraphDeployment)")
    return dgd


def load_dgd_file(path: Path) -> dict:
    try:
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    except OSError as exc:
        raise UserError(f"cannot read DGD file {path}: {exc.strerror}; fix kubernetes.dgd_file")
    except yaml.YAMLError as exc:
        raise UserError(f"DGD file {path} is not valid YAML: {exc}".splitlines()[0])
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise UserError(f"DGD file {path} must hold exactly one DynamoGraphDeployment")
    return docs[0]


def ensure_shared_process_namespace(dgd: dict) -> dict:
    """Set shareProcessNamespace on every pod of a user-supplied DGD, so a SIGKILL is real (DESIGN §3.8)."""
    out = copy.deepcopy(dgd)
    spec = out.get("spec") or {}
    if api_version_of(out) == "v1beta1":
        for comp in spec.get("components") or []:
            pod = comp.setdefault("podTemplate", {}).setdefault("spec", {})
            pod.setdefault("shareProcessNamespace", True)
    else:
        for svc in (spec.get("services") or {}).values():
            svc.setdefault("extraPodSpec", {}).setdefault("shareProcessNamespace", True)
    return out


def render_dgd(scenario: Scenario, run_id: str, owner_references: list | None = None) -> dict:
    """The DGD the runner applies for this scenario (validated roles, runner identity stamped)."""
    k8s = scenario.config.kubernetes
    ident = identity(run_id, scenario.name, k8s.namespace, owner_references)
    if k8s.dgd_file:
        dgd = ensure_shared_process_namespace(load_dgd_file(k8s.dgd_file))
        source = f"DGD file {k8s.dgd_file}"
    else:
        values = template_values(scenario, ident, k8s.api_version)
        dgd = render_template(values, k8s.api_version, scenario.entry.backend, scenario.entry.mode, k8s.template_dir)
        source = f"template {template_name(k8s.api_version, scenario.entry.backend, scenario.entry.mode)}"
    api_version_of(dgd)
    check_roles(dgd, scenario.entry, source)
    return apply_identity(dgd, ident)


def render_for_cli(config: RunConfig, scenario_name: str, run_id: str) -> dict:
    from runner.scenarios.plan import plan

    return render_dgd(plan(scenario_name, config), run_id)
