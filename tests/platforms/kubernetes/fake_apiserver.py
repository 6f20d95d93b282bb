"""An HTTP-level fake Kubernetes API server on 127.0.0.1, so the real `kubernetes` client code runs.

It serves what the runner uses: DGD create/get/delete, pod list/watch/get/delete, event list/watch,
pods/log (incl. follow and previous), pods/exec and pods/portforward (websocket, v4.channel.k8s.io),
pods/proxy. A tiny "operator" turns a DGD into pods (labels as the real operator sets
them) and replaces deleted pods; a tiny "kubelet" runs each pod's main container as a REAL local
process (a sleeping python whose argv carries the pod's unique module name) and restarts it when it
dies, with restartCount and lastState like the real one. A pod delete with grace 0 removes the object at
once and the "kubelet" stops the container (Killing event) a moment later; with a grace period the pod is
Terminating and its container terminated before the object goes. `fail_dgd` makes the "operator" mark
every DGD failed with that message, as the real one does when a child object is invalid. A DGD PATCH (merge
or JSON patch) bumps the generation; the "operator" then scales a component whose replicas changed (a
scale-down removes the newest pod, gracefully, as a ReplicaSet does) and rolls one whose pod-template
annotations changed (surge: a new pod, Ready, then the old one terminated), unless `operator=False`: then
nothing reconciles the patch, as in a cluster without the Dynamo operator. Exec runs the requested command with a
real `sh` on this machine, but the output and any `kill` are confined to the pod's own processes,
which is what a pod's PID namespace gives. An optional Role (`allowed`) answers 403 to other verbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import random
import string
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

from .patching import PatchFailed, apply

GRAPH = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT = "nvidia.com/dynamo-component"
COMPONENT_TYPE = "nvidia.com/dynamo-component-type"

# main process of a fake container; "engine" spawns a child titled like an engine subprocess.
# engine_mode "exit": the parent exits when its engine child dies (vLLM); "hang": it never reaps it (SGLang).
MAIN_CODE = r"""
import os, subprocess, sys, time
marker, mode = sys.argv[1], sys.argv[2]
title = os.environ["FAKE_ENGINE_TITLE"]  # only the child carries it, as a real process title
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", title]) if title != "-" else None
print("started", marker, flush=True)
while True:
    time.sleep(0.05)
    if child is not None and mode == "exit" and child.poll() is not None:
        print("engine died, exiting", flush=True)
        sys.exit(1)
"""


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _letters(n: int = 8) -> str:
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.json_response(body, status=code)


def _flag(req: web.Request, name: str) -> bool:
    """Boolean query parameters as the API server parses them (the python client sends "True")."""
    return req.query.get(name, "").lower() in ("true", "1")


def _matches(labels: dict, selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakePod:
    def __init__(self, server: FakeApiServer, dgd: dict, component: str, ctype: str, container: dict):
        self.server = server
        self.name = f"{dgd['metadata']['name']}-{component.lower()}-{_letters(5)}"
        self.uid = str(uuid.uuid4())
        self.module = f"dynamo.ftfake{_letters()}"
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None
        self.generations: list[list[str]] = []
        self.last_state: dict = {}
        self.terminated: dict = {}  # the container's terminated state while the pod terminates gracefully
        self.ready = False
        self.deleted = False
        self.obj = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "namespace": server.namespace, "uid": self.uid,
                         "creationTimestamp": _now(), "resourceVersion": "0",
                         "labels": {GRAPH: dgd["metadata"]["name"], COMPONENT: component, COMPONENT_TYPE: ctype}},
            "spec": {"shareProcessNamespace": True, "nodeName": "node-1",
                     "containers": [{**container, "name": "main", "command": ["python3", "-m", self.module]}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
        }

    def title(self) -> str:
        return self.server.engine_title if self.obj["metadata"]["labels"][COMPONENT_TYPE] != "frontend" else "-"

    def start_container(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", MAIN_CODE, self.module, self.server.engine_mode],
            env={**os.environ, "FAKE_ENGINE_TITLE": self.title()},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.pgid = self.proc.pid
        self.generations.append([f"{_now().replace('Z', '.000000001Z')} started {self.module} pid {self.proc.pid}"])

    def pids(self) -> set[int]:
        """The pod's PID namespace: the members of its container's process group (its own session).

        A PGID cannot be reused while a member lives, so this never names a stranger's process.
        """
        if not self.pgid:
            return set()
        out = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True).stdout
        return {int(pid) for pid, pgid in (line.split() for line in out.splitlines()) if int(pgid) == self.pgid}

    def refresh(self) -> None:
        cs = {"name": "main", "ready": self.ready, "restartCount": self.restarts, "image": "fake", "started": True,
              "state": self._state(),
              "lastState": self.last_state}
        self.obj["status"].update(
            phase="Running" if self.proc else "Pending", podIP="127.0.0.1",
            conditions=[{"type": "PodScheduled", "status": "True"},
                        {"type": "Ready", "status": "True" if self.ready else "False"}],
            containerStatuses=[cs])

    def _state(self) -> dict:
        if self.terminated:
            return {"terminated": self.terminated}
        if self.ready or self.proc:
            return {"running": {"startedAt": _now()}}
        return {"waiting": {"reason": "ContainerCreating"}}

    def kill_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()


class FakeApiServer:
    def __init__(self, namespace: str = "ft", ready_delay: float = 0.05, engine_title: str = "VLLM::EngineCore",
                 engine_mode: str = "exit", allowed: set[tuple[str, str]] | None = None,
                 hold_finalizer: bool = False, model: str = "tiny-llm", fail_dgd: str | None = None,
                 operator: bool = True):
        self.namespace = namespace
        self.ready_delay = ready_delay
        self.engine_title, self.engine_mode = engine_title, engine_mode
        self.allowed = allowed
        self.hold_finalizer = hold_finalizer
        self.model = model
        self.kubelet_lag_s = 0.2  # how long after an API-side delete the kubelet acts on it
        self.fail_dgd = fail_dgd  # the operator's message when it marks every DGD failed (and makes no pods)
        self.operator = operator  # False: DGD patches are stored and nothing acts on them
        self.patches: list[tuple[str, object]] = []  # (content type, body) of every DGD patch
        self.dgds: dict[str, dict] = {}
        self.pods: dict[str, FakePod] = {}
        self.events: list[dict] = []
        self.rv = 0
        self.pod_watchers: list[tuple[str | None, asyncio.Queue]] = []
        self.event_watchers: list[asyncio.Queue] = []
        self.requests: list[tuple[str, str]] = []  # (verb, resource) the client made
        self.chat_requests = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.frontend_port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    # ---------------------------------------------------------- process plumbing

    def start(self) -> FakeApiServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake API server did not start")
        return self

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self) -> None:
        api = web.Application()
        r = api.router
        dgd = "/apis/nvidia.com/{version}/namespaces/{ns}/dynamographdeployments"
        r.add_post(dgd, self.create_dgd)
        r.add_get(dgd + "/{name}", self.get_dgd)
        r.add_delete(dgd + "/{name}", self.delete_dgd)
        r.add_patch(dgd + "/{name}", self.patch_dgd)
        pods = "/api/v1/namespaces/{ns}/pods"
        r.add_get(pods, self.list_pods)
        r.add_get(pods + "/{name}", self.get_pod)
        r.add_delete(pods + "/{name}", self.delete_pod)
        r.add_get(pods + "/{name}/log", self.pod_log)
        r.add_route("*", pods + "/{name}/exec", self.pod_exec)
        r.add_route("*", pods + "/{name}/portforward", self.pod_portforward)
        r.add_get(pods + "/{name}/proxy/{path:.*}", self.pod_proxy)
        r.add_get("/api/v1/namespaces/{ns}/events", self.list_events)
        runner = web.AppRunner(api, shutdown_timeout=0.5)
        self._runners = [runner]
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

        fe = web.Application()
        fe.router.add_get("/v1/models", self.fe_models)
        fe.router.add_post("/v1/chat/completions", self.fe_chat)
        fe.router.add_get("/metrics", self.fe_metrics)
        fe_runner = web.AppRunner(fe, shutdown_timeout=0.5)
        self._runners.append(fe_runner)
        await fe_runner.setup()
        fe_site = web.TCPSite(fe_runner, "127.0.0.1", 0)
        await fe_site.start()
        self.frontend_port = fe_site._server.sockets[0].getsockname()[1]
        asyncio.get_running_loop().create_task(self._kubelet())

    def stop(self) -> None:
        for pod in list(self.pods.values()):
            pod.kill_all()
        if self.loop and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for runner in self._runners:
            await runner.cleanup()
        asyncio.get_running_loop().stop()

    def call(self, fn, *args):
        """Run `fn` on the server loop (tests use it to change state)."""
        fut = asyncio.run_coroutine_threadsafe(self._acall(fn, *args), self.loop)
        return fut.result(10)

    async def _acall(self, fn, *args):
        return fn(*args)

    def kubeconfig(self) -> dict:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": self.namespace}}],
        }

    # ---------------------------------------------------------- bookkeeping

    def _authorize(self, verb: str, resource: str) -> web.Response | None:
        self.requests.append((verb, resource))
        if self.allowed is not None and (verb, resource) not in self.allowed:
            return _status(403, "Forbidden", f'{resource} is forbidden: User "system:serviceaccount:ft:runner" '
                                             f'cannot {verb} resource "{resource}" in the namespace "{self.namespace}"')
        return None

    def _bump(self, obj: dict) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj

    def _emit_pod(self, kind: str, pod: FakePod) -> None:
        pod.refresh()
        obj = json.loads(json.dumps(self._bump(pod.obj)))
        for selector, queue in self.pod_watchers:
            if _matches(obj["metadata"]["labels"], selector):
                queue.put_nowait({"type": kind, "object": obj})

    def _event(self, obj_kind: str, name: str, reason: str, message: str, etype: str = "Normal",
               uid: str | None = None) -> None:
        involved = {"kind": obj_kind, "name": name, "namespace": self.namespace, **({"uid": uid} if uid else {})}
        event = self._bump({
            "apiVersion": "v1", "kind": "Event", "type": etype, "reason": reason, "message": message,
            "metadata": {"name": f"{name}.{_letters(6)}", "namespace": self.namespace, "uid": str(uuid.uuid4())},
            "involvedObject": involved,
            "firstTimestamp": _now(), "lastTimestamp": _now(), "count": 1, "source": {"component": "fake"},
        })
        self.events.append(event)
        for queue in self.event_watchers:
            queue.put_nowait({"type": "ADDED", "object": event})

    @staticmethod
    def _pod_annotations(dgd: dict) -> dict[str, dict]:
        spec = dgd["spec"]
        if "components" in spec:
            return {c["name"]: ((c.get("podTemplate") or {}).get("metadata") or {}).get("annotations") or {}
                    for c in spec["components"]}
        return {name: (svc.get("extraPodMetadata") or {}).get("annotations") or {}
                for name, svc in spec["services"].items()}

    def _components(self, dgd: dict) -> list[tuple[str, str, int, dict]]:
        spec = dgd["spec"]
        if "components" in spec:
            return [(c["name"], c["type"], c.get("replicas", 1), c["podTemplate"]["spec"]["containers"][0])
                    for c in spec["components"]]
        out = []
        for name, svc in spec["services"].items():
            ctype = svc.get("subComponentType") or svc.get("componentType")
            out.append((name, ctype, svc.get("replicas", 1), svc["extraPodSpec"]["mainContainer"]))
        return out

    def _add_pod(self, dgd: dict, component: str, ctype: str, container: dict) -> FakePod:
        pod = FakePod(self, dgd, component, ctype, container)
        pod.obj["metadata"]["annotations"] = dict(self._pod_annotations(dgd).get(component) or {})
        self.pods[pod.name] = pod
        self._emit_pod("ADDED", pod)
        self._event("Pod", pod.name, "Scheduled", f"Successfully assigned {self.namespace}/{pod.name} to node-1")
        self.loop.call_later(self.ready_delay, self._start_pod, pod)
        return pod

    def _start_pod(self, pod: FakePod) -> None:
        if pod.deleted:
            return
        pod.start_container()
        self._emit_pod("MODIFIED", pod)
        self.loop.call_later(self.ready_delay, self._set_ready, pod)

    def _set_ready(self, pod: FakePod) -> None:
        if pod.deleted or not pod.proc or pod.proc.poll() is not None:
            return
        if pod.title() != "-" and len(pod.pids()) < 2:  # Ready only once the engine child runs
            self.loop.call_later(0.05, self._set_ready, pod)
            return
        pod.ready = True
        self._emit_pod("MODIFIED", pod)
        self._update_dgd_status()

    def _update_dgd_status(self) -> None:
        for dgd in self.dgds.values():
            if dgd["status"].get("state") == "failed":
                continue
            name = dgd["metadata"]["name"]
            want = sum(r for _, _, r, _ in self._components(dgd))
            ready = [p for p in self.pods.values() if p.obj["metadata"]["labels"][GRAPH] == name and p.ready]
            ok = len(ready) >= want
            dgd["status"] = {
                "state": "successful" if ok else "pending",
                "observedGeneration": dgd["metadata"]["generation"] if self.operator else 1,
                "conditions": [{"type": "Ready", "status": "True" if ok else "False", "reason": "AllReady" if ok else
                                "Pending", "message": "", "lastTransitionTime": _now()}],
            }

    async def _kubelet(self) -> None:
        """Restart containers whose main process died, like the kubelet with restartPolicy Always."""
        while True:
            await asyncio.sleep(0.05)
            for pod in list(self.pods.values()):
                if pod.deleted or not pod.proc:
                    continue
                code = pod.proc.poll()
                if code is None:
                    continue
                pod.ready = False
                pod.restarts += 1
                exit_code = 128 - code if code < 0 else code
                pod.last_state = {"terminated": {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed",
                                                 "finishedAt": _now()}}
                pod.kill_all()  # the container's other processes die with it
                pod.proc = pod.pgid = None
                self._emit_pod("MODIFIED", pod)
                self._event("Pod", pod.name, "BackOff", "Back-off restarting failed container main", "Warning")
                self._update_dgd_status()
                self.loop.call_later(self.ready_delay, self._start_pod, pod)

    # ---------------------------------------------------------- DGDs

    async def create_dgd(self, req: web.Request) -> web.Response:
        if denied := self._authorize("create", "dynamographdeployments"):
            return denied
        body = await req.json()
        name = body["metadata"]["name"]
        if name in self.dgds:
            return _status(409, "AlreadyExists", f'dynamographdeployments.nvidia.com "{name}" already exists')
        body["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
        body["status"] = {"state": "initializing"}
        self.dgds[name] = self._bump(body)
        self._event("DynamoGraphDeployment", name, "Created", "graph accepted")
        if self.fail_dgd:
            self.loop.call_later(self.ready_delay, self._fail, body)
            return web.json_response(body, status=201)
        for component, ctype, replicas, container in self._components(body):
            for _ in range(replicas):
                self._add_pod(body, component, ctype, container)
        return web.json_response(body, status=201)

    def _fail(self, dgd: dict) -> None:
        dgd["status"] = {"state": "failed", "observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "False", "reason": "ReconcileFailed", "message": self.fail_dgd,
             "lastTransitionTime": _now()}]}
        self._bump(dgd)

    async def get_dgd(self, req: web.Request) -> web.Response:
        if denied := self._authorize("get", "dynamographdeployments"):
            return denied
        dgd = self.dgds.get(req.match_info["name"])
        if dgd is None:
            return _status(404, "NotFound", f'dynamographdeployments.nvidia.com "{req.match_info["name"]}" not found')
        return web.json_response(dgd)

    async def delete_dgd(self, req: web.Request) -> web.Response:
        if denied := self._authorize("delete", "dynamographdeployments"):
            return denied
        name = req.match_info["name"]
        dgd = self.dgds.get(name)
        if dgd is None:
            return _status(404, "NotFound", f'dynamographdeployments.nvidia.com "{name}" not found')
        dgd["metadata"]["deletionTimestamp"] = _now()
        for pod in [p for p in self.pods.values() if p.obj["metadata"]["labels"][GRAPH] == name]:
            self._remove_pod(pod, replace=False)
        if self.hold_finalizer:
            dgd["metadata"]["finalizers"] = ["nvidia.com/finalizer"]
        else:
            del self.dgds[name]
        return web.json_response(dgd)

    async def patch_dgd(self, req: web.Request) -> web.Response:
        if denied := self._authorize("patch", "dynamographdeployments"):
            return denied
        name, ctype = req.match_info["name"], req.content_type
        dgd = self.dgds.get(name)
        if dgd is None:
            return _status(404, "NotFound", f'dynamographdeployments.nvidia.com "{name}" not found')
        body = await req.json()
        self.patches.append((ctype, body))
        try:
            patched = apply(dgd, body, ctype)
        except PatchFailed as exc:
            return _status(422, "Invalid", f'dynamographdeployments.nvidia.com "{name}" is invalid: {exc}')
        if patched["spec"] != dgd["spec"]:
            patched["metadata"]["generation"] = dgd["metadata"]["generation"] + 1
        old = dgd
        self.dgds[name] = dgd = self._bump(patched)
        if self.operator and dgd["metadata"]["generation"] != old["metadata"]["generation"]:
            self._reconcile(old, dgd)
        return web.json_response(dgd)

    def _reconcile(self, old: dict, new: dict) -> None:
        """Scale components whose replicas changed; roll those whose pod-template annotations changed."""
        before = {c: r for c, _, r, _ in self._components(old)}
        rolled = {c for c, a in self._pod_annotations(new).items() if a != self._pod_annotations(old).get(c)}
        for component, ctype, replicas, container in self._components(new):
            pods = self._pods_of(new["metadata"]["name"], component)
            for _ in range(replicas - before.get(component, replicas)):
                self._add_pod(new, component, ctype, container)
            for pod in sorted(pods, key=lambda p: p.obj["metadata"]["creationTimestamp"] + p.name, reverse=True)[
                    :max(0, before.get(component, replicas) - replicas)]:
                self._terminate_gracefully(pod, replace=False)
            if component in rolled:
                self.loop.create_task(self._roll(new, component, ctype, container, pods))
        self._update_dgd_status()

    def _pods_of(self, dgd_name: str, component: str) -> list[FakePod]:
        return [p for p in self.pods.values() if not p.deleted and p.obj["metadata"]["labels"][GRAPH] == dgd_name
                and p.obj["metadata"]["labels"][COMPONENT] == component]

    async def _roll(self, dgd: dict, component: str, ctype: str, container: dict, olds: list[FakePod]) -> None:
        """A surge rollout, one pod at a time: the new pod Ready, then the old one terminated."""
        for old in olds:
            new = self._add_pod(dgd, component, ctype, container)
            while not new.ready and not new.deleted:
                await asyncio.sleep(0.02)
            if not old.deleted:
                self._terminate_gracefully(old, replace=False)

    # ---------------------------------------------------------- pods

    async def list_pods(self, req: web.Request) -> web.StreamResponse:
        selector = req.query.get("labelSelector")
        if _flag(req, "watch"):
            if denied := self._authorize("watch", "pods"):
                return denied
            return await self._watch(req, self.pod_watchers, selector)
        if denied := self._authorize("list", "pods"):
            return denied
        items = [p.obj for p in self.pods.values() if _matches(p.obj["metadata"]["labels"], selector)]
        for pod in self.pods.values():
            pod.refresh()
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(self.rv)},
                                  "items": items})

    async def _watch(self, req: web.Request, registry: list, selector) -> web.StreamResponse:
        queue: asyncio.Queue = asyncio.Queue()
        entry = (selector, queue) if registry is self.pod_watchers else queue
        registry.append(entry)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(req)
        deadline = time.monotonic() + float(req.query.get("timeoutSeconds", "30"))
        try:
            while time.monotonic() < deadline:
                try:
                    event = await asyncio.wait_for(queue.get(), max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
                await resp.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            registry.remove(entry)
        return resp

    async def get_pod(self, req: web.Request) -> web.Response:
        if denied := self._authorize("get", "pods"):
            return denied
        pod = self.pods.get(req.match_info["name"])
        if pod is None:
            return _status(404, "NotFound", f'pods "{req.match_info["name"]}" not found')
        pod.refresh()
        return web.json_response(pod.obj)

    def _remove_pod(self, pod: FakePod, replace: bool, stop_after_s: float = 0.0) -> None:
        """The object goes now; the kubelet stops the container `stop_after_s` later (a force delete)."""
        pod.deleted = True
        del self.pods[pod.name]
        self._emit_pod("DELETED", pod)
        if stop_after_s:
            self.loop.call_later(stop_after_s, self._stop_container, pod)
        else:
            self._stop_container(pod)
        if replace:
            self._replace(pod)
        self._update_dgd_status()

    def _stop_container(self, pod: FakePod) -> None:
        self._event("Pod", pod.name, "Killing", "Stopping container main", uid=pod.uid)
        pod.kill_all()

    def _replace(self, pod: FakePod) -> None:
        labels = pod.obj["metadata"]["labels"]
        dgd = self.dgds[labels[GRAPH]]
        self._add_pod(dgd, labels[COMPONENT], labels[COMPONENT_TYPE], pod.obj["spec"]["containers"][0])

    def _terminate_gracefully(self, pod: FakePod, replace: bool = True) -> None:
        """Terminating (replacement created at once), container stopped and seen terminated, then the object goes."""
        pod.deleted = True
        pod.ready = False
        pod.obj["metadata"]["deletionTimestamp"] = _now()
        self._emit_pod("MODIFIED", pod)
        if replace:
            self._replace(pod)
        self._stop_container(pod)
        pod.terminated = {"exitCode": 137, "reason": "Error", "finishedAt": _now()}
        self._emit_pod("MODIFIED", pod)
        self.loop.call_later(self.kubelet_lag_s, self._forget, pod)

    def _forget(self, pod: FakePod) -> None:
        self.pods.pop(pod.name, None)
        self._emit_pod("DELETED", pod)
        self._update_dgd_status()

    async def delete_pod(self, req: web.Request) -> web.Response:
        if denied := self._authorize("delete", "pods"):
            return denied
        pod = self.pods.get(req.match_info["name"])
        if pod is None:
            return _status(404, "NotFound", f'pods "{req.match_info["name"]}" not found')
        obj = json.loads(json.dumps(pod.obj))
        if int(req.query.get("gracePeriodSeconds", "30")) == 0:
            self._remove_pod(pod, replace=True, stop_after_s=self.kubelet_lag_s)
        else:
            self._terminate_gracefully(pod)
        return web.json_response(obj)

    async def pod_log(self, req: web.Request) -> web.StreamResponse:
        if denied := self._authorize("get", "pods/log"):
            return denied
        pod = self.pods.get(req.match_info["name"])
        if pod is None:
            return _status(404, "NotFound", f'pods "{req.match_info["name"]}" not found')
        if _flag(req, "previous"):
            if len(pod.generations) < 2:
                return _status(400, "BadRequest", "previous terminated container \"main\" not found")
            return web.Response(text="\n".join(pod.generations[-2]) + "\n")
        generation = len(pod.generations)
        text = "\n".join(pod.generations[-1]) + "\n" if pod.generations else ""
        if not _flag(req, "follow"):
            return web.Response(text=text)
        resp = web.StreamResponse()
        await resp.prepare(req)
        await resp.write(text.encode())
        while not pod.deleted and len(pod.generations) == generation and pod.proc is not None:
            await asyncio.sleep(0.05)
        return resp

    async def pod_proxy(self, req: web.Request) -> web.Response:
        if denied := self._authorize("get", "pods/proxy"):
            return denied
        return await self.fe_metrics(req)

    async def list_events(self, req: web.Request) -> web.StreamResponse:
        if _flag(req, "watch"):
            if denied := self._authorize("watch", "events"):
                return denied
            return await self._watch(req, self.event_watchers, None)
        if denied := self._authorize("list", "events"):
            return denied
        return web.json_response({"kind": "EventList", "metadata": {"resourceVersion": str(self.rv)},
                                  "items": self.events})

    # ---------------------------------------------------------- exec and port-forward (websockets)

    async def pod_exec(self, req: web.Request) -> web.StreamResponse:
        if denied := self._authorize("create", "pods/exec"):
            return denied
        pod = self.pods.get(req.match_info["name"])
        command = req.query.getall("command")
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io", "channel.k8s.io"))
        await ws.prepare(req)
        if pod is None or pod.proc is None:
            await ws.send_bytes(b"\x03" + json.dumps({"status": "Failure", "message": "container not running"}).encode())
            await ws.close()
            return ws
        allowed = pod.pids()
        if command[:2] == ["sh", "-c"] and len(command) > 4 and command[4].isdigit() and int(command[4]) not in allowed:
            out = "@@FAILED 1\n"  # a PID outside the pod's namespace: kill would fail there
            code = 1
        else:
            proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            raw, err = await proc.communicate()
            code = proc.returncode
            out = raw.decode("utf-8", "replace")
            if "@@SELF" in out:
                out = self._confine_dump(out, allowed | {proc.pid})
            if err:
                await ws.send_bytes(b"\x02" + err)
        await ws.send_bytes(b"\x01" + out.encode())
        status = {"status": "Success"} if code == 0 else {
            "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        return ws

    @staticmethod
    def _confine_dump(out: str, allowed: set[int]) -> str:
        head, *blocks = out.split("@@PROC ")
        keep = [b for b in blocks if b.split("\n", 1)[0].strip().isdigit()
                and int(b.split("\n", 1)[0]) in allowed]
        return head + "".join("@@PROC " + b for b in keep)

    async def pod_portforward(self, req: web.Request) -> web.StreamResponse:
        if denied := self._authorize("create", "pods/portforward"):
            return denied
        port = int(req.query.get("ports", "0"))
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(req)
        header = port.to_bytes(2, "little")
        await ws.send_bytes(b"\x00" + header)
        await ws.send_bytes(b"\x01" + header)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.frontend_port)

        async def upstream() -> None:
            while data := await reader.read(65536):
                await ws.send_bytes(b"\x00" + data)
            await ws.close()

        task = asyncio.create_task(upstream())
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data[:1] == b"\x00" and len(msg.data) > 1:
                writer.write(msg.data[1:])
                await writer.drain()
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        task.cancel()
        writer.close()
        return ws

    # ---------------------------------------------------------- the frontend behind the port-forward

    async def fe_models(self, req: web.Request) -> web.Response:
        ready = [p for p in self.pods.values() if p.ready and p.obj["metadata"]["labels"][COMPONENT_TYPE] != "frontend"]
        return web.json_response({"object": "list", "data": [{"id": self.model}] if ready else []})

    async def fe_chat(self, req: web.Request) -> web.Response:
        self.chat_requests += 1
        return web.json_response({"choices": [{"message": {"content": "pong"}}]})

    async def fe_metrics(self, req: web.Request) -> web.Response:
        # the fake answers every request at once, so none is ever in flight or queued (Dynamo exports both gauges)
        return web.Response(text="# HELP dynamo_frontend_requests_total Total requests\n# TYPE dynamo_frontend_requests_total counter\n"
                                 f'dynamo_frontend_requests_total{{model="{self.model}",status="success"}} '
                                 f"{self.chat_requests}\n"
                                 "# TYPE dynamo_frontend_inflight_requests gauge\n"
                                 f'dynamo_frontend_inflight_requests{{model="{self.model}"}} 0\n'
                                 "# TYPE dynamo_frontend_queued_requests gauge\n"
                                 f'dynamo_frontend_queued_requests{{model="{self.model}"}} 0\n')
