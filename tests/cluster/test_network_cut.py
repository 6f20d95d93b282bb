"""Partition and connection-reset faults on a real cluster: the runner's own fault step (snapshot, inject,
verify, restore) against the Kubernetes platform, hitting a worker pod through an ephemeral container.

No operator here turns a DGD into pods, so the test creates the DGD the scenario renders (the real API
server, the real CRD) and then two plain pods carrying the labels the operator would give them (owned
by the DGD, so teardown's garbage collection removes them): a "worker" serving HTTP/1.1 on two ports,
and a "frontend" holding one pooled keep-alive connection to it, sending a request on it every 0.2 s and
logging each outcome with the local port of its connection and when the attempt started and ended.
The runner's pod watch, role mapping, cut, probe and heal are the ones a scenario uses.

The pods' clock is the runner's here (one machine): client log times and runner stamps are compared.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from .conftest import image_on_node, wait_for
from .stand_ins import deploy_dgd, fault_step, record, restricted_api, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

PORTS = (8081, 8082)
PARTITION, RESET = "mocker-agg-tp-1-dp-1-decode_worker_partition", "mocker-agg-tp-1-dp-1-decode_worker_conn_reset"
SERVER = r"""
import http.server, threading
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
servers = [http.server.ThreadingHTTPServer(("0.0.0.0", p), H) for p in (8081, 8082)]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
"""
CLIENT = r"""
import http.client, json, os, time
conn = None
while True:
    if conn is None:
        conn = http.client.HTTPConnection(os.environ["WORKER"], 8081, timeout=2)
    rec = {"t": time.time(), "port": None}
    try:
        if conn.sock is None:
            conn.connect()
        rec["port"] = conn.sock.getsockname()[1]
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        rec["ok"] = resp.status == 200
    except Exception as exc:
        rec.update(ok=False, error=type(exc).__name__)
        conn.close()
        conn = None
    rec["end"] = time.time()
    print(json.dumps(rec), flush=True)
    time.sleep(0.2)
"""


@pytest.fixture(scope="module")
def dynamo_image() -> str:
    return image_on_node("FT_CLUSTER_DYNAMO_IMAGE", "dynamo-image.sh")


def plain_pod(name: str, image: str, code: str, labels: dict, owner: dict, env: dict | None = None,
              ready_port: int | None = None) -> dict:
    main = {"name": "main", "image": image, "imagePullPolicy": "Never", "command": ["python3", "-c", code],
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    if ready_port:
        main["readinessProbe"] = {"tcpSocket": {"port": ready_port}, "periodSeconds": 1}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
            "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001}, "containers": [main],
                     "terminationGracePeriodSeconds": 1}}


def client_log(kube, namespace: str) -> list[dict]:
    out = kube.run("logs", "frontend", "-n", namespace, check=False).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def pooled_port(kube, namespace: str) -> int | None:
    """The local port of a connection that served at least 5 requests in a row (pooled), else None."""
    recs = client_log(kube, namespace)[-5:]
    ports = {r.get("port") for r in recs}
    return recs[-1]["port"] if len(recs) == 5 and all(r["ok"] for r in recs) and len(ports) == 1 else None


def client_log_once_back(kube, namespace: str, observed) -> list[dict]:
    """The client's log once it has succeeded again after the heal (its own retry timing decides when)."""
    healed = observed.evidence[0].restored["healed_ns"] / 1e9

    def back():
        recs = client_log(kube, namespace)
        return recs if any(r["ok"] and r["t"] > healed for r in recs) else None
    return wait_for("the client to succeed again after the heal", back, 30)


def healed_event(tmp_path: Path, scenario_name: str) -> dict:
    events = [json.loads(line) for line in (tmp_path / scenario_name / "events.jsonl").read_text().splitlines()]
    (healed,) = [e for e in events if e["reason"] == "NetworkHealed"]
    return healed


def run_config(namespace: str, tmp_path: Path, runner_image: str, dynamo_image: str, reset_s: float):
    from runner.core.config import RunConfig

    return RunConfig.model_validate({
        "platform": "kubernetes", "run_id": "netcut", "output": str(tmp_path),
        "kubernetes": {"namespace": namespace, "image": dynamo_image, "runtime_version_override": "1.6.1",
                       "network_fault_image": runner_image, "poll_interval_s": 0.5},
        "fault": {"partition_s": 8, "reset_s": reset_s, "probe_timeout_s": 1, "verify_timeout_s": 120},
    })


async def deploy_plain_pods(kube, namespace: str, config, scenario_name: str, dynamo_image: str, tmp_path: Path):
    """The scenario's DGD through the platform (its watches start), then the two plain pods it would own."""
    from runner.platforms.kubernetes.decide import COMPONENT_LABEL, GRAPH_LABEL

    scenario, deployment, owner = await deploy_dgd(config, scenario_name, tmp_path)
    decode = next(c for c, role in deployment.component_roles.items() if role == "decode")
    labels = {GRAPH_LABEL: deployment.name}
    kube.apply(plain_pod("worker", dynamo_image, SERVER, {**labels, COMPONENT_LABEL: decode}, owner,
                         ready_port=PORTS[0]), namespace)
    ip = wait_for("the worker's IP", lambda: kube.json("get", "pod", "worker", "-n", namespace)["status"]
                  .get("podIP"), 120)
    kube.apply(plain_pod("frontend", dynamo_image, CLIENT, {**labels, COMPONENT_LABEL: deployment.frontend_component},
                         owner, env={"WORKER": ip}), namespace)
    def both_seen() -> bool:
        frontends = deployment._by_role().get("frontend", [])
        return deployment.replicas("decode") == ["worker"] and any(
            p["metadata"]["name"] == "frontend" and p["status"].get("podIP") for p in frontends)
    await until("both pods in the runner's view", both_seen, 120)
    return scenario, deployment


def run(coro):
    return asyncio.run(coro)


async def cut_and_watch(kube, namespace, config, name: str, dynamo_image, tmp_path):
    """Deploy the plain pods, wait for the frontend's pooled connection, run the fault step; returns the
    pooled connection's port, what the step observed, and the client's log once it is back."""
    sc, deployment = await deploy_plain_pods(kube, namespace, config, name, dynamo_image, tmp_path)
    try:
        port = await asyncio.to_thread(wait_for, "a pooled connection", lambda: pooled_port(kube, namespace), 60)
        observed = await fault_step(sc, deployment, target=0)
        return port, observed, await asyncio.to_thread(client_log_once_back, kube, namespace, observed)
    finally:
        await deployment.teardown(120)


def test_partition_cuts_the_pooled_connection_blocks_new_ones_and_heals(kube, namespace, runner_image, dgd_crd,
                                                                        dynamo_image, tmp_path):
    config = run_config(namespace, tmp_path, runner_image, dynamo_image, reset_s=5)
    pooled, observed, recs = run(cut_and_watch(kube, namespace, config, PARTITION, dynamo_image, tmp_path))
    (ev,) = observed.evidence
    stamp, after, restored = ev.injected, ev.after, ev.restored
    assert stamp["mechanism"] == "ephemeral-container", stamp["mechanism"]
    assert "ephemeral-container" in ev.detail
    assert stamp["ports"] == list(PORTS)
    assert stamp["connections_cut"] >= 1  # the pooled one
    assert after["probe_during"] == {"8081": "timeout", "8082": "timeout"}
    assert restored["probe_after"] == {"8081": "connected", "8082": "connected"}
    assert ev.took_effect and observed.fault.took_effect
    healed_by = healed_event(tmp_path, PARTITION)
    assert healed_by["removed"] is True and healed_by["healed_by"] in ("asked", "timer")
    (kept,) = (tmp_path / PARTITION).glob(f"*/worker.{stamp['container']}.log")
    assert "@@FT-NETCUT rules" in kept.read_text() and "@@FT-NETCUT healed" in kept.read_text()

    # the container's own stamps of its rules set and of their removal starting (the pod's clock is the
    # runner's here)
    rules, healed = stamp["rules_ns_pod_clock"] / 1e9, healed_by["healing_ns_pod_clock"] / 1e9
    first_error = next(r for r in recs if not r["ok"] and r["t"] >= stamp["injected_ns"] / 1e9)
    assert first_error["port"] == pooled  # the pooled connection broke
    assert not [r for r in recs if r["ok"] and r["port"] == pooled and r["t"] > first_error["t"]]  # for good
    assert not [r for r in recs if r["ok"] and rules + 0.1 < r["end"] < healed]  # nothing got through
    back = next(r for r in recs if r["ok"] and r["t"] > first_error["t"])
    assert back["port"] != pooled
    record("partition (ephemeral container): patch -> rules in place", stamp["patch_to_rules_s"])
    record("partition: rules in place -> the pooled connection's first failure", first_error["end"] - rules,
           error=first_error.get("error"))
    asked = stamp["injected_ns"] / 1e9 + 8  # the restore asks at the stamp plus fault.partition_s
    record("partition: heal asked -> rules being removed", healed - asked)
    record("partition: heal asked -> rules gone (the container's own stamp)",
           healed_by["healed_ns_pod_clock"] / 1e9 - asked)
    record("partition: heal asked -> the runner saw it healed", restored["healed_ns"] / 1e9 - asked)
    record("partition: rules being removed -> fresh probe connected", (ev.ready_ns or 0) / 1e9 - healed)
    record("partition: rules being removed -> the client's first success", back["end"] - healed,
           probe_during=after["probe_during"], failures_during=sum(1 for r in recs if not r["ok"]))


def test_conn_reset_resets_the_pooled_connection_and_refuses_new_ones(kube, namespace, runner_image, dgd_crd,
                                                                      dynamo_image, tmp_path):
    config = run_config(namespace, tmp_path, runner_image, dynamo_image, reset_s=5)
    pooled, observed, recs = run(cut_and_watch(kube, namespace, config, RESET, dynamo_image, tmp_path))
    (ev,) = observed.evidence
    stamp, after, restored = ev.injected, ev.after, ev.restored
    assert stamp["mechanism"] == "ephemeral-container"
    assert stamp["connections_cut"] >= 1
    assert set(after["probe_during"].values()) <= {"refused", "reset"} and after["probe_during"]
    assert set(restored["probe_after"].values()) == {"connected"}
    assert ev.took_effect
    healed_by = healed_event(tmp_path, RESET)
    assert healed_by["removed"] is True
    rules, healed = stamp["rules_ns_pod_clock"] / 1e9, healed_by["healing_ns_pod_clock"] / 1e9
    first_error = next(r for r in recs if not r["ok"] and r["t"] >= stamp["injected_ns"] / 1e9)
    assert first_error["port"] == pooled and first_error["error"] in (
        "ConnectionResetError", "RemoteDisconnected", "BrokenPipeError")
    during = [r for r in recs if rules + 0.1 < r["end"] < healed]
    assert during and not [r for r in during if r["ok"]]
    assert {r.get("error") for r in during} <= {"ConnectionRefusedError", "ConnectionResetError"}  # no timeouts
    back = next(r for r in recs if r["ok"] and r["t"] > first_error["t"])
    record("conn reset (ephemeral container): patch -> rules in place", stamp["patch_to_rules_s"])
    record("conn reset: rules in place -> the pooled connection's reset", first_error["end"] - rules,
           error=first_error["error"])
    record("conn reset: rules being removed -> fresh probe connected", (ev.ready_ns or 0) / 1e9 - healed)
    record("conn reset: rules being removed -> the client's first success", back["end"] - healed,
           probe_during=after["probe_during"], failures_during=len(during))


def test_a_cut_that_did_not_take_effect_fails_the_fault_step(kube, namespace, dgd_crd, dynamo_image, tmp_path):
    """The Dynamo image has no iptables (nor ss): the container fails, the stamp names no mechanism and why,
    and the fault is judged not to have taken effect (the scenario's ERROR)."""
    config = run_config(namespace, tmp_path, dynamo_image, dynamo_image, reset_s=5)

    async def scenario():
        sc, deployment = await deploy_plain_pods(kube, namespace, config, PARTITION, dynamo_image, tmp_path)
        try:
            return await fault_step(sc, deployment, target=0)
        finally:
            await deployment.teardown(120)

    observed = run(scenario())
    (ev,) = observed.evidence
    assert ev.injected["mechanism"].startswith("none (ephemeral-container ft-netcut-")
    assert "not found" in ev.injected["mechanism"]  # sh: iptables: not found
    assert not ev.took_effect and not observed.fault.took_effect
    assert ev.injected["connections_cut"] == 0 and "not found" in ev.detail  # the judgement names the cause


def test_a_role_without_the_opt_in_is_refused_before_any_graph_naming_the_values_switch(kube, namespace, dgd_crd,
                                                                                        runner_image, tmp_path):
    """A ServiceAccount with what the chart grants by default (here: pods and DGDs) is refused in preflight,
    before a graph is deployed, and at the patch itself, in one line naming rbac.networkFaults; the admin
    passes the same preflight."""
    from runner.core.errors import UserError
    from runner.platforms.kubernetes.api import KubeApi, load_client
    from runner.platforms.kubernetes.deployment import KubernetesPlatform
    from runner.platforms.kubernetes.netcut import ephemeral_container
    from runner.scenarios.plan import plan

    restricted = restricted_api(kube, namespace, "no-netcut")
    config = run_config(namespace, tmp_path, runner_image, runner_image, reset_s=5)
    scenario = plan(PARTITION, config)

    with pytest.raises(UserError) as err:
        KubernetesPlatform(config, restricted).preflight([scenario])
    assert "rbac.networkFaults=true" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError) as err:
        restricted.add_ephemeral_container("any", ephemeral_container("x", runner_image, "true"))
    assert "rbac.networkFaults=true" in str(err.value)
    KubernetesPlatform(config, KubeApi(load_client(), namespace)).preflight([scenario])  # allowed: no error


@pytest.mark.parametrize("opt_in", [False, True])
def test_the_charts_role_grants_the_ephemeral_container_patch_only_when_opted_in(kube, namespace, runner_image, s3,
                                                                                 opt_in):
    from .chart_run import chart_values, helm_install

    values = chart_values(runner_image, "unused", s3, "ft-s3", [PARTITION])
    proc = helm_install(namespace, {**values, "schedule": "0 3 * * *", "rbac": {"networkFaults": opt_in}})
    assert proc.returncode == 0, proc.stderr  # a CronJob: nothing runs now
    sa = kube.json("get", "serviceaccount", "-n", namespace, "-l", "app.kubernetes.io/instance=ft")["items"][0]
    who = f"system:serviceaccount:{namespace}:{sa['metadata']['name']}"
    assert kube.can_i(who, "patch", "pods/ephemeralcontainers", namespace) is opt_in
    assert not kube.can_i(who, "patch", "pods/ephemeralcontainers", "default")
    assert not kube.can_i(who, "patch", "pods", namespace)  # the pod itself stays untouchable
    assert kube.can_i(who, "create", "pods/exec", namespace)  # the probe and the early heal
