"""The one-machine cluster's network rules, seen from inside a pod: cluster names resolve and its
Services answer; nothing else resolves, and no address off the cluster is reachable."""

from __future__ import annotations

import json

import pytest

from .conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

PROBE = r"""
import json, socket, urllib.request
out = {}
for name in ("kubernetes.default.svc.cluster.local", "s3.ft-s3.svc", "pypi.org", "proxy.golang.org"):
    try:
        out[name] = socket.gethostbyname(name)
    except OSError as exc:
        out[name] = "error: " + type(exc).__name__
try:
    out["s3"] = urllib.request.urlopen("http://s3.ft-s3.svc:7070/health", timeout=5).status
except Exception as exc:
    out["s3"] = "error: " + repr(exc)
for host, port in (("192.0.2.1", 53), ("1.1.1.1", 443), ("10.255.255.53", 53)):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        out[host] = "connected"
    except OSError as exc:
        out[host] = "errno %s" % exc.errno
print(json.dumps(out))
"""


def test_pod_reaches_the_cluster_and_nothing_else(kube, namespace, runner_image):
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "netprobe"},
        "spec": {"restartPolicy": "Never", "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                 "containers": [{"name": "probe", "image": runner_image, "imagePullPolicy": "Never",
                                 "command": ["python", "-c", PROBE]}]},
    }
    kube.apply(pod, namespace)
    wait_for("the probe pod to finish", lambda: kube.json("get", "pod", "netprobe", "-n", namespace)["status"]
             .get("phase") in ("Succeeded", "Failed"), 120, interval=1)
    seen = json.loads(kube.run("logs", "netprobe", "-n", namespace).stdout.strip().splitlines()[-1])
    assert seen["kubernetes.default.svc.cluster.local"] == "10.96.0.1"
    assert seen["s3.ft-s3.svc"].startswith("10.96.0.")
    assert seen["s3"] == 200
    assert seen["pypi.org"].startswith("error") and seen["proxy.golang.org"].startswith("error")  # no forwarder
    for host in ("192.0.2.1", "1.1.1.1", "10.255.255.53"):
        assert seen[host] == "errno 101", (host, seen[host])  # ENETUNREACH: pods have no default route
