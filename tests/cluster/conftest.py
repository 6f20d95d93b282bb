"""Fixtures of the cluster tier: a real Kubernetes cluster named by KUBECONFIG (the one-machine
cluster of `make cluster-up`, or any cluster a user points at), the runner image built from this
checkout, the real DGD CRDs, a fresh namespace per test and the in-cluster S3 server.

Environment:
  KUBECONFIG               the cluster (required; `make test` sets it through scripts/cluster/tier.sh)
  FT_CLUSTER_RUNNER_IMAGE  the runner image already on the node (scripts/cluster/runner-image.sh)
  FT_CLUSTER_REQUIRED=1    a missing cluster or image fails instead of skipping (the tier sets it)
  FT_KUBECTL               kubectl to use (default: the one-machine cluster's, else kubectl on PATH)
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO.parent / "shared" / "dynamo-crds"
CLUSTER_CACHE = Path(os.environ.get("FT_CLUSTER_CACHE", "/var/cache/ft-runner-cluster"))
S3_NAMESPACE, S3_SERVICE, S3_PORT = "ft-s3", "s3", 7070


def missing(reason: str):
    if os.environ.get("FT_CLUSTER_REQUIRED") == "1":
        pytest.fail(f"cluster tier: {reason}", pytrace=False)
    pytest.skip(reason)


def kubectl_binary() -> str:
    if os.environ.get("FT_KUBECTL"):
        return os.environ["FT_KUBECTL"]
    built = sorted(CLUSTER_CACHE.glob("kubernetes-*/kubectl"))
    if built:
        return str(built[-1])
    return shutil.which("kubectl") or missing("kubectl not found (set FT_KUBECTL)")


class Kube:
    """kubectl against the cluster, with the waits the tests need (conditions, never fixed sleeps)."""

    def __init__(self, binary: str):
        self.binary = binary

    def run(self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None):
        proc = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: dict | str, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        self.run("apply", *(["-n", namespace] if namespace else []), "-f", "-", input=text)

    def exists(self, kind: str, name: str, namespace: str) -> bool:
        proc = self.run("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name", check=False)
        return bool(proc.stdout.strip())

    def can_i(self, who: str, verb: str, resource: str, namespace: str | None) -> bool:
        scope = ["-n", namespace] if namespace else ["--all-namespaces"]
        resource, _, sub = resource.partition("/")  # kubectl reads pods/exec as the pod named "exec"
        sub_arg = [f"--subresource={sub}"] if sub else []
        proc = self.run("auth", "can-i", verb, resource, *sub_arg, "--as", who, *scope, check=False)
        return proc.stdout.strip() == "yes"


def wait_for(what: str, condition, timeout: float, interval: float = 0.5):
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def kube() -> Kube:
    if not os.environ.get("KUBECONFIG"):
        missing("needs a real cluster: set KUBECONFIG (make cluster-up prints it)")
    k = Kube(kubectl_binary())
    proc = k.run("get", "--raw", "/readyz", check=False, timeout=20)
    if proc.returncode != 0:
        missing(f"the cluster in KUBECONFIG does not answer: {proc.stderr.strip()}")
    return k


def image_on_node(variable: str, builder: str) -> str:
    image = os.environ.get(variable)
    if not image:
        missing(f"set {variable} to an image present on the node (scripts/cluster/{builder} builds and imports it)")
    return image


@pytest.fixture(scope="session")
def runner_image() -> str:
    return image_on_node("FT_CLUSTER_RUNNER_IMAGE", "runner-image.sh")


@pytest.fixture(scope="session")
def dgd_crd(kube: Kube) -> str:
    """The real DGD CRD (../shared/dynamo-crds), installed once; returns the served version used."""
    crd = CRD_DIR / "nvidia.com_dynamographdeployments.yaml"
    if not crd.is_file():
        missing(f"the DGD CRD is not at {crd} (the ../shared reference folder)")
    if not kube.exists("crd", "dynamographdeployments.nvidia.com", "default"):
        kube.run("apply", "--server-side", "-f", str(crd))
    wait_for("the DGD CRD to be established", lambda: any(
        c["type"] == "Established" and c["status"] == "True"
        for c in kube.json("get", "crd", "dynamographdeployments.nvidia.com").get("status", {}).get("conditions") or []),
        60)
    return "v1beta1"


@pytest.fixture
def namespace(kube: Kube, request):
    name = f"ftt-{request.node.name[5:20].replace('_', '-').strip('-').lower()}-{uuid.uuid4().hex[:5]}"
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


# ---------------------------------------------------------------- the in-cluster S3 server


def s3_root_credentials(kube: Kube) -> dict[str, str]:
    secret = kube.json("get", "secret", "s3-root", "-n", S3_NAMESPACE)
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


@pytest.fixture(scope="session")
def s3(kube: Kube):
    """The cluster's S3 server: endpoints from the host (Service IP) and from pods (DNS name)."""
    if not kube.exists("service", S3_SERVICE, S3_NAMESPACE):
        missing(f"no S3 Service {S3_SERVICE}.{S3_NAMESPACE} (make cluster-up deploys one)")
    creds = s3_root_credentials(kube)
    ip = kube.json("get", "service", S3_SERVICE, "-n", S3_NAMESPACE)["spec"]["clusterIP"]
    return {
        "host_endpoint": f"http://{ip}:{S3_PORT}",
        "pod_endpoint": f"http://{S3_SERVICE}.{S3_NAMESPACE}.svc:{S3_PORT}",
        "access_key_id": creds["access_key_id"],
        "secret_access_key": creds["secret_access_key"],
    }


@pytest.fixture
def bucket(s3):
    import boto3

    client = boto3.client("s3", endpoint_url=s3["host_endpoint"], region_name="us-east-1",
                          aws_access_key_id=s3["access_key_id"], aws_secret_access_key=s3["secret_access_key"])
    name = f"ft-results-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    yield name, client
    # A runner that is being killed may still upload what it had (it keeps what was measured) after
    # the test is over, so emptying and deleting are retried until the bucket is really gone.
    wait_for(f"bucket {name} to be emptied and deleted", lambda: bucket_removed(client, name), 120, 2)


def bucket_removed(client, name: str) -> bool:
    from botocore.exceptions import ClientError

    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=obj["Key"])
    try:
        client.delete_bucket(Bucket=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "BucketNotEmpty":
            return False
        raise
    return True


@pytest.fixture
def s3_secret(kube: Kube, namespace: str, s3) -> str:
    """The S3 credentials as a Secret in the test namespace, in the chart's default keys."""
    kube.run("create", "secret", "generic", "ft-s3", "-n", namespace,
             f"--from-literal=AWS_ACCESS_KEY_ID={s3['access_key_id']}",
             f"--from-literal=AWS_SECRET_ACCESS_KEY={s3['secret_access_key']}")
    return "ft-s3"
