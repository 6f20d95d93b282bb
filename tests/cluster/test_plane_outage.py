"""etcd outages on a real cluster: the runner's own fault step (snapshot, take down, verify, always bring back)
through the Kubernetes platform, against a real etcd StatefulSet that a real Dynamo frontend and mocker worker
(ai-dynamo 1.6.1) use for discovery.

No operator here turns a DGD into pods, so the test creates the DGD the etcd_outage scenario renders (the real
API server, the real CRD) and then two plain pods from its two components (command, args and env as rendered:
DYN_DISCOVERY_BACKEND=etcd, ETCD_ENDPOINTS at the etcd Service), labelled as the operator would label them and
owned by the DGD. The etcd is the "user's own": a StatefulSet of the cluster's etcd v3.6.13 binary
(scripts/cluster/plane-images.sh), its data on a hostPath (as a PersistentVolume would keep it), behind a
ClusterIP Service named as the workload. A client on this machine sends a chat completion to the frontend's pod
IP every 0.25 s and records each attempt (start, end, outcome); the runner's own outage analysis
(results.load_faults.outage_result) then judges those records against the fault's stamps.

The worker the fault adds during the outage is a DGD patch (decode replicas + 1), which only an operator acts
on; the test plays that one part of the operator: when the DGD asks for two decode replicas it creates a second
plain worker pod, so what a new worker does while etcd is down (and after) is measured, not assumed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO, image_on_node, missing, wait_for
from .stand_ins import deploy_dgd, fault_step, record, restricted_api, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

SCENARIO = "mocker-agg-tp-1-dp-1-etcd_outage"
NATS_SCENARIO = "mocker-agg-tp-1-dp-1-nats_outage"
OUTAGE_S = 15.0
REGISTRATION_S = 8.0
LOAD_PERIOD_S, LOAD_TIMEOUT_S, LOAD_MAX = 0.25, 5.0, 2000
HOST_DATA = Path("/var/tmp/ft-plane-outage")


@pytest.fixture(scope="module")
def dynamo_image() -> str:
    return image_on_node("FT_CLUSTER_DYNAMO_IMAGE", "dynamo-image.sh")


@pytest.fixture(scope="module")
def plane_images() -> dict[str, str]:
    proc = subprocess.run(["bash", str(REPO / "scripts/cluster/plane-images.sh")], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    if proc.returncode != 0:
        missing(f"scripts/cluster/plane-images.sh failed: {proc.stderr.strip()[-300:]}")
    etcd, nats = proc.stdout.split()[-2:]
    return {"etcd": etcd, "nats": nats}


@pytest.fixture
def etcd_data(kube, namespace):
    """The etcd's data directory on this node; removed once no pod of the test's etcd writes into it."""
    path = HOST_DATA / namespace
    path.mkdir(parents=True)
    os.chown(path, 65532, 65532)
    yield path
    kube.run("delete", "statefulset", "etcd", "-n", namespace, "--ignore-not-found", "--wait=true", check=False)
    wait_for("the etcd pods gone", lambda: not kube.json("get", "pods", "-n", namespace, "-l", "app=etcd")["items"],
             60)
    shutil.rmtree(path, ignore_errors=True)


def etcd_objects(namespace: str, image: str, data: Path) -> list[dict]:
    url = f"http://etcd.{namespace}.svc:2379"
    args = ["--name", "etcd", "--data-dir", "/data", "--listen-client-urls", "http://0.0.0.0:2379",
            "--advertise-client-urls", url, "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--initial-cluster", "etcd=http://127.0.0.1:2380"]
    container = {"name": "etcd", "image": image, "imagePullPolicy": "Never", "args": args,
                 "ports": [{"containerPort": 2379, "name": "client"}],
                 "readinessProbe": {"httpGet": {"path": "/health", "port": 2379}, "periodSeconds": 1},
                 "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "etcd"},
           "spec": {"serviceName": "etcd", "replicas": 1, "selector": {"matchLabels": {"app": "etcd"}},
                    "template": {"metadata": {"labels": {"app": "etcd"}}, "spec": {
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
                        "terminationGracePeriodSeconds": 5, "containers": [container],
                        "volumes": [{"name": "data", "hostPath": {"path": str(data), "type": "Directory"}}]}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "etcd"},
           "spec": {"selector": {"app": "etcd"}, "ports": [{"port": 2379, "targetPort": 2379, "name": "client"}]}}
    return [sts, svc]


def nats_objects(image: str) -> list[dict]:
    """A NATS server with JetStream (as Dynamo's platform chart runs it), monitoring on 8222 for its readiness."""
    container = {"name": "nats", "image": image, "imagePullPolicy": "Never",
                 "args": ["-p", "4222", "-m", "8222", "-js", "-sd", "/data"],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8222}, "periodSeconds": 1},
                 "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "nats"},
           "spec": {"serviceName": "nats", "replicas": 1, "selector": {"matchLabels": {"app": "nats"}},
                    "template": {"metadata": {"labels": {"app": "nats"}}, "spec": {
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
                        "terminationGracePeriodSeconds": 5, "containers": [container],
                        "volumes": [{"name": "data", "emptyDir": {}}]}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nats"},
           "spec": {"selector": {"app": "nats"}, "ports": [{"port": 4222, "targetPort": 4222, "name": "client"}]}}
    return [sts, svc]


def component_pod(name: str, component: dict, labels: dict, owner: dict, extra_env: dict, ready: dict) -> dict:
    """A plain pod of one rendered DGD component: its main container's command, args and env as rendered, plus the
    env the operator would add (ports, the pod IP the request plane advertises)."""
    main = component["podTemplate"]["spec"]["containers"][0]
    env = list(main["env"]) + [{"name": k, "value": v} for k, v in extra_env.items()] + [
        {"name": "DYN_TCP_RPC_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    container = {"name": "main", "image": main["image"], "imagePullPolicy": "Never", "command": main["command"],
                 "args": main["args"], "env": env, "readinessProbe": {**ready, "periodSeconds": 1},
                 "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
            "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001}, "containers": [container],
                     "shareProcessNamespace": True, "terminationGracePeriodSeconds": 2}}


WORKER_ENV = {"DYN_SYSTEM_PORT": "9090", "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS": '["generate"]'}
WORKER_READY = {"httpGet": {"path": "/health", "port": 9090}}
FRONTEND_READY = {"tcpSocket": {"port": 8000}}


class Load:
    """One chat completion every LOAD_PERIOD_S to the frontend, each attempt recorded (bounded in count)."""

    def __init__(self, base: str):
        self.url, self.records, self.stop = f"{base}/v1/chat/completions", [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self) -> dict:
        body = json.dumps({"model": "tiny-llm", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
        rec = {"t": time.time(), "ok": False, "status": None, "error": None}
        req = urllib.request.Request(self.url, body.encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=LOAD_TIMEOUT_S) as resp:
                rec["status"] = resp.status
                rec["ok"] = resp.status == 200 and bool(json.loads(resp.read())["choices"])
        except urllib.error.HTTPError as exc:
            rec["status"], rec["error"] = exc.code, exc.read().decode("utf-8", "replace")[:200]
        except (OSError, ValueError) as exc:
            rec["error"] = f"{type(exc).__name__}: {exc}"[:200]
        rec["end"] = time.time()
        return rec

    def _run(self) -> None:
        while not self.stop.is_set() and len(self.records) < LOAD_MAX:
            self.records.append(self._one())
            self.stop.wait(LOAD_PERIOD_S)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(LOAD_TIMEOUT_S + 5)

    def as_records(self):
        from runner.results.records import Record

        return [Record(start_ns=int(r["t"] * 1e9), end_ns=int(r["end"] * 1e9), ok=r["ok"], status=r["status"],
                       error=r["error"]) for r in self.records]


def run_config(namespace: str, tmp_path: Path, dynamo_image: str, targets: dict | None = None):
    from runner.core.config import RunConfig

    return RunConfig.model_validate({
        "platform": "kubernetes", "run_id": "outage", "output": str(tmp_path),
        "kubernetes": {"namespace": namespace, "image": dynamo_image, "runtime_version_override": "1.6.1",
                       "mocker_model": "/models/tiny-llm", "poll_interval_s": 0.5,
                       "outage_targets": targets or {"etcd": "statefulset/etcd"}},
        "fault": {"outage_s": OUTAGE_S, "registration_timeout_s": REGISTRATION_S, "verify_timeout_s": 120},
    })


def model_listed(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/v1/models", timeout=3) as resp:
            return any(m["id"] == "tiny-llm" for m in json.loads(resp.read())["data"])
    except (OSError, ValueError):
        return False


class StandInOperator:
    """The one part of an operator the fault needs: a second worker pod once the DGD asks for two decode replicas."""

    def __init__(self, kube, namespace: str, deployment, make_pod):
        self.kube, self.namespace, self.deployment, self.make_pod = kube, namespace, deployment, make_pod
        self.created_ns: int | None = None
        self.noted: str | None = None  # the DGD's way-back annotation as seen during the outage
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _decode_replicas(self) -> int:
        from runner.platforms.kubernetes.plane_outage import RESTORE_ANNOTATION

        dgd = self.kube.json("get", "dynamographdeployments", self.deployment.name, "-n", self.namespace)
        self.noted = (dgd["metadata"].get("annotations") or {}).get(RESTORE_ANNOTATION)
        return next(c["replicas"] for c in dgd["spec"]["components"] if c["type"] == "worker")

    def _run(self) -> None:
        while not self.stop.wait(0.3):
            if self._decode_replicas() >= 2:
                self.kube.apply(self.make_pod("worker-2"), self.namespace)
                self.created_ns = time.time_ns()
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


async def deploy(kube, namespace: str, config, tmp_path: Path, name: str = SCENARIO):
    """The scenario's DGD through the platform (its watches start), then its two components as plain pods."""
    from runner.platforms.kubernetes.decide import COMPONENT_LABEL, GRAPH_LABEL

    # preflight: the named etcd exists and its scale can be patched (a dry run)
    scenario, deployment, owner = await deploy_dgd(config, name, tmp_path, preflight=True)
    components = {c["name"]: c for c in deployment.manifest["spec"]["components"]}
    decode = next(c for c, role in deployment.component_roles.items() if role == "decode")
    labels = {GRAPH_LABEL: deployment.name}

    def worker_pod(name: str) -> dict:
        return component_pod(name, components[decode], {**labels, COMPONENT_LABEL: decode}, owner, WORKER_ENV,
                             WORKER_READY)
    kube.apply(component_pod("frontend", components[deployment.frontend_component],
                             {**labels, COMPONENT_LABEL: deployment.frontend_component}, owner, {}, FRONTEND_READY),
               namespace)
    kube.apply(worker_pod("worker"), namespace)
    await until("both pods Ready in the runner's view", lambda: len(deployment.replicas("decode")) == 1 and all(
        po["status"].get("podIP") and po["metadata"]["name"] in ("frontend", "worker")
        for po in deployment._live()) and len([p for p in deployment._live() if _ready(p)]) == 2, 240)
    ip = next(p["status"]["podIP"] for p in deployment._live() if p["metadata"]["name"] == "frontend")
    return scenario, deployment, f"http://{ip}:8000", worker_pod


def _ready(pod: dict) -> bool:
    from runner.platforms.kubernetes.decide import pod_ready

    return pod_ready(pod)


def apply_ready(kube, namespace: str, objects: list[dict]) -> None:
    for obj in objects:
        kube.apply(obj, namespace)
    name = objects[0]["metadata"]["name"]
    wait_for(f"{name} Ready", lambda: kube.json("get", "statefulset", name, "-n", namespace)["status"].get(
        "readyReplicas") == 1, 120)


def run_outage(kube, namespace: str, config, tmp_path: Path, name: str):
    """Deploy, load until 5 successes, the runner's fault step, then load until 5 successes in a row after it."""
    async def scenario():
        sc, deployment, base, worker_pod = await deploy(kube, namespace, config, tmp_path, name)
        try:
            await asyncio.to_thread(wait_for, "tiny-llm listed through etcd discovery", lambda: model_listed(base),
                                    180, 1)
            with Load(base) as load, StandInOperator(kube, namespace, deployment, worker_pod) as operator:
                await asyncio.to_thread(wait_for, "5 successes before the fault",
                                        lambda: sum(r["ok"] for r in load.records) >= 5, 60)
                observed = await fault_step(sc, deployment)
                (ev,) = observed.evidence
                assert ev.restored["ready_ns"], f"the server did not come back: {ev.detail}"
                await asyncio.to_thread(wait_for, "5 successes in a row after the outage", lambda: _streak_after(
                    load.records, ev.restored["ready_ns"] / 1e9) >= 5, 120)
            from runner.platforms.kubernetes.plane_outage import RESTORE_ANNOTATION

            dgd = deployment.api.get_dgd(deployment.version, deployment.name)
            assert RESTORE_ANNOTATION not in (dgd["metadata"].get("annotations") or {})  # removed once back
            return observed, load, operator
        finally:
            await deployment.teardown(120)
    return asyncio.run(scenario())


def assert_down_and_back(kube, namespace: str, observed, tmp_path: Path, name: str, workload: str, selector: str):
    """The workload went to 0 and came back Ready through the scale subresource, for fault.outage_s, as the
    evidence, the events and the API server all say."""
    (ev,) = observed.evidence
    stamp, after, restored = ev.injected, ev.after, ev.restored
    assert stamp["mechanism"] == "scale-subresource" and stamp["replicas_before"] == 1
    assert ev.before["replicas"] == 1 and ev.before["ready"] == 1 and ev.before["selector"] == selector
    assert after["down_ns"] and after["gone_ns"] and after["pods_after"] == []
    assert after["down_ns"] <= after["stopped_ns"] <= after["gone_ns"]
    assert restored["replicas"] == 1 and restored["ready_ns"] and [p["ready"] for p in restored["pods_back"]] == [True]
    # held for fault.outage_s from when the server container was seen stopped
    assert OUTAGE_S <= (restored["scaled_back_ns"] - after["stopped_ns"]) / 1e9 < OUTAGE_S + 1.5
    assert ev.took_effect and observed.fault.took_effect
    sts = kube.json("get", "statefulset", workload.partition("/")[2], "-n", namespace)
    assert sts["spec"]["replicas"] == 1 and sts["status"]["readyReplicas"] == 1
    events = [json.loads(line) for line in (tmp_path / name / "events.jsonl").read_text().splitlines()]
    assert [(e["reason"], e["object"]) for e in events if e["reason"].startswith("PlaneScaled")] == [
        ("PlaneScaledDown", workload), ("PlaneScaledBack", workload)]


def assert_measured(observed, load, operator, role: str):
    """What the requests did, measured: the runner's analysis over the client's records equals a count by hand;
    the worker the fault added during the outage was created (by the stand-in operator) during it. Returns the
    runner's result and the failures seen during the outage."""
    from runner.results.load_faults import outage_result

    (ev,) = observed.evidence
    after, restored = ev.after, ev.restored
    result = outage_result(observed.evidence, load.as_records())
    start, end = after["stopped_ns"] / 1e9, restored["continued_ns"] / 1e9
    during = [r for r in load.records if start <= r["end"] < end]
    assert during and result.requests_during == len(during)
    assert result.failures_during == sum(1 for r in during if not r["ok"])
    assert result.first_success_after_s is not None and result.first_success_after_s < 60
    gone = after["gone_ns"] / 1e9
    while_gone = [r for r in load.records if gone <= r["t"] and r["end"] < restored["scaled_back_ns"] / 1e9]
    assert len(while_gone) >= OUTAGE_S  # requests were sent all along while no server pod existed at all
    assert operator.created_ns is not None  # the DGD asked for a second decode replica during the outage
    assert operator.created_ns < restored["scaled_back_ns"]
    # while down, the DGD carried the way back (what the reaper sidecar scales back if the runner dies)
    assert json.loads(operator.noted) == {"workload": ev.target, "replicas": 1}
    failures = sorted({(r["status"], (r["error"] or "")[:60]) for r in during if not r["ok"]}, key=str)
    reg_during, reg_after = after["registration_during"], restored["registration_after"]
    record(f"{role} outage (scale 1 -> 0): patch -> no pod Ready", (after["down_ns"] - ev.injected_ns) / 1e9)
    record(f"{role} outage: patch -> the server container stopped", (after["stopped_ns"] - ev.injected_ns) / 1e9)
    record(f"{role} outage: patch -> every pod gone", (after["gone_ns"] - ev.injected_ns) / 1e9)
    record(f"{role} outage: scaled back -> Ready", (restored["ready_ns"] - restored["scaled_back_ns"]) / 1e9)
    record(f"{role} outage: requests during the outage", None, requests=result.requests_during,
           failed=result.failures_during, failures=failures)
    record(f"{role} outage: Ready -> first success", result.first_success_after_s)
    record(f"{role} outage: worker added during the outage", reg_during.get("after_s"),
           during=reg_during, after=reg_after, created_s_after_patch=(operator.created_ns - ev.injected_ns) / 1e9)
    print(json.dumps({"result": result.model_dump(), "during": reg_during, "after": reg_after,
                      "failures": failures}, default=str))
    return result, reg_during, reg_after


def test_etcd_outage_scales_the_users_etcd_to_zero_and_back_and_measures_requests_and_registration(
        kube, namespace, dgd_crd, dynamo_image, plane_images, etcd_data, tmp_path):
    apply_ready(kube, namespace, etcd_objects(namespace, plane_images["etcd"], etcd_data))
    config = run_config(namespace, tmp_path, dynamo_image)
    observed, load, operator = run_outage(kube, namespace, config, tmp_path, SCENARIO)
    assert_down_and_back(kube, namespace, observed, tmp_path, SCENARIO, "statefulset/etcd", "app=etcd")
    _, reg_during, reg_after = assert_measured(observed, load, operator, "etcd")
    # measured (every run here): a mocker started with etcd down does not register (nor get Ready) until etcd is
    # back, then it does; meanwhile the frontend's /health does not answer (it reads discovery), while the load's
    # requests to it keep being served
    assert reg_during["registered"] is False and "did not answer" in reg_during["detail"]
    assert reg_after["registered"] is True


def test_nats_outage_scales_the_users_nats_to_zero_and_back_and_measures_requests_and_registration(
        kube, namespace, dgd_crd, dynamo_image, plane_images, etcd_data, tmp_path):
    """The graph uses the named etcd for discovery and the named NATS as its event plane; NATS is taken down."""
    apply_ready(kube, namespace, etcd_objects(namespace, plane_images["etcd"], etcd_data))
    apply_ready(kube, namespace, nats_objects(plane_images["nats"]))
    config = run_config(namespace, tmp_path, dynamo_image, {"etcd": "statefulset/etcd", "nats": "statefulset/nats"})
    observed, load, operator = run_outage(kube, namespace, config, tmp_path, NATS_SCENARIO)
    assert_down_and_back(kube, namespace, observed, tmp_path, NATS_SCENARIO, "statefulset/nats", "app=nats")
    _, reg_during, reg_after = assert_measured(observed, load, operator, "nats")
    # measured (every run here): the frontend's /health keeps answering without NATS (etcd is up), listing the one
    # worker it had; a mocker started with NATS down does not register until NATS is back, then it does
    assert reg_during["registered"] is False and reg_during["instances"] == 1
    assert reg_after["registered"] is True


def _streak_after(records: list[dict], since: float) -> int:
    streak = 0
    for r in records:
        if r["t"] >= since:
            streak = streak + 1 if r["ok"] else 0
    return streak


def test_an_outage_without_its_named_workload_or_without_the_scale_right_is_refused_before_any_graph(
        kube, namespace, dgd_crd, dynamo_image, plane_images, etcd_data, tmp_path):
    """No target named: one line naming kubernetes.outage_targets.etcd. Named, but the ServiceAccount has only what
    the chart grants by default: one line naming rbac.planeOutages. Named and allowed (admin): no error, and the
    dry run changed nothing."""
    from runner.core.config import RunConfig
    from runner.core.errors import UserError
    from runner.platforms.kubernetes.api import KubeApi, load_client
    from runner.platforms.kubernetes.deployment import KubernetesPlatform
    from runner.scenarios.plan import plan

    for obj in etcd_objects(namespace, plane_images["etcd"], etcd_data):
        kube.apply(obj, namespace)
    unnamed = RunConfig.model_validate({"platform": "kubernetes", "kubernetes": {"namespace": namespace,
                                                                                  "image": dynamo_image}})
    with pytest.raises(UserError) as err:
        KubernetesPlatform(unnamed, KubeApi(load_client(), namespace)).preflight([plan(SCENARIO, unnamed)])
    assert "kubernetes.outage_targets.etcd" in str(err.value) and "\n" not in str(err.value)

    restricted = restricted_api(kube, namespace, "no-scale")
    config = run_config(namespace, tmp_path, dynamo_image)
    with pytest.raises(UserError) as err:
        KubernetesPlatform(config, restricted).preflight([plan(SCENARIO, config)])
    assert "rbac.planeOutages=true" in str(err.value) and "\n" not in str(err.value)
    generation = kube.json("get", "statefulset", "etcd", "-n", namespace)["metadata"]["generation"]
    KubernetesPlatform(config, KubeApi(load_client(), namespace)).preflight([plan(SCENARIO, config)])
    sts = kube.json("get", "statefulset", "etcd", "-n", namespace)
    assert sts["spec"]["replicas"] == 1 and sts["metadata"]["generation"] == generation  # the dry run changed nothing


@pytest.mark.parametrize("opt_in", [False, True])
def test_the_charts_role_grants_the_scale_subresources_only_when_opted_in(kube, namespace, runner_image, s3, opt_in):
    from .chart_run import chart_values, helm_install

    values = chart_values(runner_image, "unused", s3, "ft-s3", ["mocker-agg-tp-1-dp-1-none"])
    proc = helm_install(namespace, {**values, "schedule": "0 3 * * *", "rbac": {"planeOutages": opt_in}})
    assert proc.returncode == 0, proc.stderr  # a CronJob: nothing runs now
    sa = kube.json("get", "serviceaccount", "-n", namespace, "-l", "app.kubernetes.io/instance=ft")["items"][0]
    who = f"system:serviceaccount:{namespace}:{sa['metadata']['name']}"
    for verb in ("get", "patch"):
        assert kube.can_i(who, verb, "statefulsets.apps/scale", namespace) is opt_in
        assert kube.can_i(who, verb, "deployments.apps/scale", namespace) is opt_in
    assert not kube.can_i(who, "patch", "statefulsets.apps/scale", "default")
    assert not kube.can_i(who, "patch", "statefulsets.apps", namespace)  # the workload itself stays untouchable
    assert not kube.can_i(who, "get", "statefulsets.apps", namespace)


def test_the_reaper_scales_back_an_outage_its_runner_did_not_end(kube, namespace, dgd_crd, dynamo_image,
                                                                  plane_images, etcd_data, tmp_path):
    """The runner died during an outage: its DGD carries the way back; the reaper (its sidecar's code, called as
    the sidecar calls it) scales the etcd back to 1 before deleting the DGD."""
    from runner.platforms.kubernetes import reaper
    from runner.platforms.kubernetes.api import KubeApi, load_client
    from runner.platforms.kubernetes.plane_outage import RESTORE_ANNOTATION, restore_note
    from runner.render.dgd import RUNNER_POD_LABEL, render_dgd
    from runner.scenarios.plan import plan

    apply_ready(kube, namespace, etcd_objects(namespace, plane_images["etcd"], etcd_data))
    config = run_config(namespace, tmp_path, dynamo_image)
    dgd = render_dgd(plan(SCENARIO, config), "reaped")
    dgd["metadata"]["labels"][RUNNER_POD_LABEL] = "dead-runner-uid"
    dgd["metadata"]["annotations"][RESTORE_ANNOTATION] = restore_note("statefulset/etcd", 1)
    kube.apply(dgd, namespace)
    kube.run("scale", "statefulset", "etcd", "-n", namespace, "--replicas=0")  # as the dead runner left it
    left = reaper.reap(KubeApi(load_client(), namespace), "dead-runner-uid", 30)
    assert left == []
    assert kube.json("get", "statefulset", "etcd", "-n", namespace)["spec"]["replicas"] == 1
    wait_for("etcd Ready again", lambda: kube.json("get", "statefulset", "etcd", "-n", namespace)["status"].get(
        "readyReplicas") == 1, 120)
    assert not kube.exists("dynamographdeployments", dgd["metadata"]["name"], namespace)
