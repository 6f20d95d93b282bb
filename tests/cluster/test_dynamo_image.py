"""The mocker's Dynamo runtime image (images/dynamo-mocker.Dockerfile) serves in this cluster.

No operator here, so this is the image alone: a frontend and a mocker worker as two containers of
one pod, discovering each other through a shared directory (the file backend, as locally), behind
a Service. What the operator would add (DGD -> pods, Kubernetes discovery) is #10's DGD tier.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from .conftest import image_on_node, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

ENV = [{"name": "DYN_DISCOVERY_BACKEND", "value": "file"}, {"name": "DYN_FILE_KV", "value": "/kv"},
       {"name": "DYN_LOG", "value": "info"}]
HARDENED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


@pytest.fixture(scope="module")
def dynamo_image() -> str:
    return image_on_node("FT_CLUSTER_DYNAMO_IMAGE", "dynamo-image.sh")


def container(name: str, image: str, args: list[str], extra_env: list[dict] = ()) -> dict:
    return {"name": name, "image": image, "imagePullPolicy": "Never", "command": ["python", "-m", *args],
            "env": ENV + list(extra_env), "securityContext": HARDENED,
            "volumeMounts": [{"name": "kv", "mountPath": "/kv"}, {"name": "tmp", "mountPath": "/tmp"}]}


def smoke_pod(image: str) -> dict:
    frontend = container("frontend", image, ["dynamo.frontend", "--http-port", "8000"])
    worker = container("mocker", image, ["dynamo.mocker", "--model-path", "/models/tiny-llm", "--model-name",
                                         "tiny-llm", "--max-model-len", "2048"],
                       [{"name": "DYN_SYSTEM_PORT", "value": "9090"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mocker", "labels": {"app": "mocker"}},
            "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                     "containers": [frontend, worker],
                     "volumes": [{"name": "kv", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}}


def post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def model_ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/v1/models", timeout=3) as resp:
            return any(m["id"] == "tiny-llm" for m in json.loads(resp.read())["data"])
    except OSError:
        return False


def test_frontend_and_mocker_from_the_image_serve_a_completion(kube, namespace, dynamo_image):
    kube.apply(smoke_pod(dynamo_image), namespace)
    kube.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mocker"},
                "spec": {"selector": {"app": "mocker"}, "ports": [{"port": 8000, "targetPort": 8000}]}}, namespace)
    ip = kube.json("get", "service", "mocker", "-n", namespace)["spec"]["clusterIP"]
    base = f"http://{ip}:8000"
    wait_for("tiny-llm listed by the frontend", lambda: model_ready(base), 240, interval=1)
    status, body = post(f"{base}/v1/chat/completions", {
        "model": "tiny-llm", "max_tokens": 8, "messages": [{"role": "user", "content": "hello"}]})
    assert status == 200
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] == 8
