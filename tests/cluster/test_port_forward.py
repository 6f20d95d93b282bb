"""The workstation's port-forward (runner/platforms/kubernetes/observe.PortForwarder) against a real
API server and kubelet: data keeps flowing (the client library's own proxy stalled ~10 s now and then), and a
client that hangs up in the middle of a stream closes the pod's side of the connection too, or a cancelled
request runs to its end on the server (a cancel storm through a port-forward then counted 30 of its 32
disconnects).
"""

from __future__ import annotations

import gc
import socket

import pytest

from .conftest import wait_for
from runner.platforms.kubernetes.api import KubeApi, load_client
from runner.platforms.kubernetes.observe import PortForwarder

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

PORT = 9000
# Streams to every connection that asks (a readiness probe does not) as fast as it can, until a send fails;
# then prints one line per closed stream.
STREAMER = f"""
import socket, threading
def serve(conn):
    if conn.recv(3) != b"go\\n":
        return
    try:
        while True:
            conn.sendall(b"x" * 65536)
    except OSError:
        print("closed", flush=True)
server = socket.create_server(("0.0.0.0", {PORT}))
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
"""


def streamer_pod(image: str) -> dict:
    container = {"name": "streamer", "image": image, "imagePullPolicy": "Never", "command": ["python3", "-c", STREAMER],
                 "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 1}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "streamer"},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [container]}}


def closed_count(kube, namespace: str) -> int:
    return kube.run("logs", "streamer", "-n", namespace, check=False).stdout.split().count("closed")


def test_a_client_hanging_up_mid_stream_closes_the_pods_connection(kube, namespace, runner_image):
    kube.apply(streamer_pod(runner_image), namespace)
    kube.run("wait", "--for=condition=Ready", "pod/streamer", "-n", namespace, "--timeout=120s", timeout=130)
    forwarder = PortForwarder(KubeApi(load_client(), namespace), lambda: "streamer", PORT)
    gc.disable()  # a leaked websocket is otherwise closed whenever the collector happens to free it
    try:
        for hung_up in range(1, 21):
            with socket.create_connection(("127.0.0.1", forwarder.port), timeout=30) as client:
                client.sendall(b"go\n")
                got = 0
                while got < 200_000:  # well into the stream, with more of it unread when the client goes
                    got += len(client.recv(65536))
            wait_for(f"the pod to see connection {hung_up} closed",
                     lambda: closed_count(kube, namespace) >= hung_up, 30)
    finally:
        gc.enable()
        forwarder.close()
    assert not forwarder.errors
