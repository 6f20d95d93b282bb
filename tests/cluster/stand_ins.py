"""What the cluster tests of single faults share: the scenario's real DGD through the Kubernetes platform,
with plain pods standing in for the ones the (absent) operator would make; the runner's own fault step
on them; a ServiceAccount with fewer rights; a measurement line."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

from .conftest import REPO


async def deploy_dgd(config, scenario_name: str, tmp_path: Path, preflight: bool = False):
    """(scenario, deployment, owner reference of its DGD): the platform's watches run from here on."""
    from runner.platforms.kubernetes.deployment import KubernetesPlatform
    from runner.scenarios.plan import plan

    scenario = plan(scenario_name, config)
    tree = tmp_path / scenario_name
    tree.mkdir(parents=True)
    platform = KubernetesPlatform(config)
    if preflight:
        platform.preflight([scenario])
    deployment = await platform.deploy(scenario, tree)
    meta = deployment.last_dgd["metadata"]
    owner = {"apiVersion": deployment.manifest["apiVersion"], "kind": "DynamoGraphDeployment", "name": meta["name"],
             "uid": meta["uid"]}
    return scenario, deployment, owner


async def until(what: str, condition, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out after {timeout:.0f} s waiting for {what}"
        await asyncio.sleep(0.2)


async def fault_step(scenario, deployment, observed=None, **target):
    """The runner's own fault step (snapshot, inject, verify, restore) of the scenario's fault."""
    from runner.run.fault_step import run_fault
    from runner.run.ui import ProgressUI

    observed = observed or SimpleNamespace(fault=None, evidence=[])
    await run_fault(scenario, deployment, ProgressUI(), observed, **target)
    return observed


def restricted_api(kube, namespace: str, account: str):
    """The runner's API client as a new ServiceAccount that may only read pods and DGDs and delete them."""
    from kubernetes import client

    from runner.platforms.kubernetes.api import KubeApi, load_client

    kube.run("create", "serviceaccount", account, "-n", namespace)
    kube.run("create", "role", account, "-n", namespace, "--verb=get,list,watch,delete",
             "--resource=pods,dynamographdeployments.nvidia.com")
    kube.run("create", "rolebinding", account, "-n", namespace, f"--role={account}",
             f"--serviceaccount={namespace}:{account}")
    token = kube.run("create", "token", account, "-n", namespace).stdout.strip()
    admin = load_client().configuration
    as_sa = client.Configuration()
    as_sa.host, as_sa.ssl_ca_cert, as_sa.verify_ssl = admin.host, admin.ssl_ca_cert, admin.verify_ssl
    as_sa.api_key = {"authorization": f"Bearer {token}"}
    return KubeApi(client.ApiClient(as_sa), namespace)


def record(what: str, seconds: float | None, **extra) -> None:
    out = REPO / "test-artifacts" / "cluster-measurements.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps({"what": what, "seconds": None if seconds is None else round(seconds, 3), **extra}) + "\n")
