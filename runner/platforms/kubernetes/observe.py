"""Watchers of a Kubernetes deployment: pod and event watches, log followers, a local port-forward.

Each runs in a daemon thread (the kubernetes client is synchronous) and stops when its Event is set.
What they see is stamped with the runner's clock (time.time_ns) next to the server's own times.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from runner.platforms.kubernetes.api import KubeApi


class Watcher(threading.Thread):
    """Runs `api.watch(resource, ...)` from a list snapshot and hands every event to `on_event`."""

    def __init__(self, api: KubeApi, resource: str, selector: str | None, resource_version: str,
                 on_event: Callable[[str, dict, int], None], on_error: Callable[[str], None], timeout_s: int = 60):
        super().__init__(daemon=True, name=f"watch-{resource}")
        self.api, self.resource, self.selector, self.rv = api, resource, selector, resource_version
        self.on_event, self.on_error, self.timeout_s = on_event, on_error, timeout_s
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.rv = self.api.watch(self.resource, self.selector, self.rv, self.stop_event,
                                         lambda kind, obj: self.on_event(kind, obj, time.time_ns()), self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - reported, then the watch resumes
                if self.stop_event.is_set():
                    return
                self.on_error(f"watch {self.resource}: {exc}")
                self.stop_event.wait(1.0)

    def stop(self) -> None:
        self.stop_event.set()


class LogFollower(threading.Thread):
    """Streams one container's log into `<pod>.log` (timestamps on), across container restarts.

    When the stream ends because the container restarted, the previous instance's log is fetched
    into `<pod>.previous.log` (the kubelet keeps one generation) and following resumes.
    """

    def __init__(self, api: KubeApi, pod: str, container: str, path: Path,
                 restart_count: Callable[[], int | None], poll_s: float = 1.0):
        super().__init__(daemon=True, name=f"log-{pod}-{container}")
        self.api, self.pod, self.container, self.path = api, pod, container, path
        self.restart_count, self.poll_s = restart_count, poll_s
        self.stop_event = threading.Event()
        self.last_ts = ""

    def run(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        seen_restarts = self.restart_count() or 0
        with self.path.open("a") as out:
            while not self.stop_event.is_set():
                try:
                    for line in self.api.follow_log(self.pod, self.container, self.stop_event):
                        ts = line.split(" ", 1)[0]
                        if ts and ts <= self.last_ts:
                            continue  # resumed stream of the same container: already written
                        self.last_ts = ts
                        out.write(line + "\n")
                        out.flush()
                except Exception:  # noqa: BLE001 - the container is restarting or the pod is gone
                    pass
                if self.stop_event.wait(self.poll_s):
                    return
                count = self.restart_count()
                if count is None:
                    return  # pod gone
                if count > seen_restarts:
                    seen_restarts = count
                    self.last_ts = ""
                    self.fetch_previous()
                    out.write(f"# ---- container {self.container} restarted (restartCount {count}) ----\n")
                    out.flush()

    def fetch_previous(self) -> None:
        try:
            text = self.api.read_log(self.pod, self.container, previous=True)
        except Exception:  # noqa: BLE001
            return
        if text:
            self.path.with_name(self.path.name.replace(".log", ".previous.log")).write_text(text)

    def stop(self) -> None:
        self.stop_event.set()


class PortForwarder:
    """127.0.0.1:<port> -> a Ready frontend pod, one API-server port-forward per TCP connection.

    Lower fidelity than the Service (documented): traffic goes through the API server and kubelet,
    and a connection stays on the pod chosen when it opened.
    """

    def __init__(self, api: KubeApi, pick_pod: Callable[[], str | None], remote_port: int):
        self.api, self.pick_pod, self.remote_port = api, pick_pod, remote_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.errors: list[str] = []
        threading.Thread(target=self._accept, daemon=True, name="port-forward").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        pod = self.pick_pod()
        if not pod:
            conn.close()
            return
        try:
            stream = self.api.port_forward(pod, self.remote_port)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(str(exc))
            conn.close()
            return
        done = threading.Event()

        def upstream() -> None:
            try:
                while data := conn.recv(65536):
                    stream.send(data)
            except Exception:  # noqa: BLE001 - either side gone: the connection is over
                pass
            finally:
                done.set()

        def downstream() -> None:
            try:
                while data := stream.recv():
                    conn.sendall(data)
            except OSError:
                pass
            finally:
                done.set()

        threading.Thread(target=upstream, daemon=True).start()
        threading.Thread(target=downstream, daemon=True).start()
        done.wait()
        stream.close()
        conn.close()
        if stream.error:
            self.errors.append(f"{pod}:{self.remote_port}: {stream.error}")

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
