"""The Kubernetes platform: one DynamoGraphDeployment per scenario, faults with before/after evidence.

apply -> DGD Ready + every pod Ready + model listed + a probe request; a pod watch and an event watch
run from the moment the DGD exists; logs are followed and /metrics scraped once observing starts.
Faults hit exactly the named pods: delete (grace configurable) or a signal sent through pods/exec to a
process found in `/proc` of the pod's shared PID namespace. Decisions live in
`runner.platforms.kubernetes.decide` (pure).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from pathlib import Path

import aiohttp
import yaml

from runner.core.config import RunConfig
from runner.core.errors import UserError
from runner.results.observe import EventLog, frontend_requests_total, iso_from_ns
from runner.scenarios.plan import Scenario
from runner.platforms.kubernetes import decide as d
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes.api import KubeApi, load_client
from runner.platforms.kubernetes.frontend_faults import FrontendFaults
from runner.platforms.kubernetes.netcut import PodNetCut, cuts_network, image_for, peer_ips
from runner.platforms.kubernetes.observe import LogFollower, PortForwarder, Watcher
from runner.platforms.kubernetes import plane_outage, scaling
from runner.render.dgd import (
    FRONTEND_PORT,
    WORKER_SYSTEM_PORT,
    api_version_of,
    expected_replicas,
    owner_reference_from_env,
    render_dgd,
    roles_of,
)


def in_cluster(env: dict | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("FT_RUNNER_IN_CLUSTER") == "1"


def use_service(access: str, env: dict | None = None) -> bool:
    return access == "service" or (access == "auto" and in_cluster(env))


def service_url(dgd_name: str, frontend_component: str, namespace: str, port: int) -> str:
    """The operator's frontend Service: `<dgd>-<component, lowercased>` on the frontend port.

    `<svc>.<namespace>.svc` resolves through the pod's DNS search path on any cluster domain
    (`cluster.local` is only the default)."""
    return f"http://{dgd_name}-{frontend_component.lower()}.{namespace}.svc:{port}"


class KubernetesPlatform:
    name = "kubernetes"

    def __init__(self, config: RunConfig, api: KubeApi | None = None):
        self.config = config
        self._api = api

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            k8s = self.config.kubernetes
            self._api = KubeApi(load_client(k8s.context), k8s.namespace)
        return self._api

    def preflight(self, scenarios: list[Scenario]) -> None:
        """Render every scenario (template errors first), then check the API server answers."""
        for scenario in scenarios:
            render_dgd(scenario, run_id="preflight")
        version = self.config.kubernetes.api_version
        self.api.get_dgd(version, "ft-runner-preflight-probe")  # 404 is fine; 403/unreachable/no CRD raise
        if any(cuts_network(s) for s in scenarios):  # before any graph is deployed: the image and the right
            image_for(self.config.kubernetes.network_fault_image, os.environ)
            self.api.check_ephemeral_containers()
        outages = [s for s in scenarios if plane_outage.outage_roles(s)]
        if outages:  # the user's own etcd / NATS, named, existing and scalable: before any graph
            plane_outage.preflight(self.api, self.config.kubernetes, outages)

    def planned_endpoints(self, scenario: Scenario) -> tuple[list[str], str] | None:
        """None: a DynamoGraphDeployment takes far longer to become ready than aiperf takes to start,
        so the load generator starting with the deployment (prepare) already hides its start-up."""
        return None

    async def deploy(self, scenario: Scenario, tree: Path) -> KubernetesDeployment:
        run_id = self.config.run_id or scenario.config.run_id or tree.parent.name
        dgd = render_dgd(scenario, run_id, owner_reference_from_env(self.config.kubernetes.namespace))
        deployment = KubernetesDeployment(scenario, tree, self.api, dgd)
        await deployment.start()
        return deployment


class KubernetesDeployment(FrontendFaults):
    def __init__(self, scenario: Scenario, tree: Path, api: KubeApi, dgd: dict):
        self.scenario = scenario
        self.k8s = scenario.config.kubernetes
        self.api = api
        self.manifest = dgd
        self.version = api_version_of(dgd)
        self.name = dgd["metadata"]["name"]
        self.tree = tree
        roles = roles_of(dgd)
        self.component_roles = {c.name: role for role, comps in roles.items() for c in comps}
        self.frontend_component = roles["frontend"][0].name
        self.expected = {role: expected_replicas(scenario.entry, role) for role in ("frontend", "decode", "prefill")
                         if expected_replicas(scenario.entry, role)}
        self.selector = f"{d.GRAPH_LABEL}={self.name}"
        self.events = EventLog(tree / "events.jsonl")
        self.lock = threading.Lock()
        self.pods: dict[str, dict] = {}  # uid -> latest object
        self.history: dict[str, list[dict]] = {}
        self.gone_ns: dict[str, int] = {}
        self.killings: dict[str, list[dict]] = {}  # pod UID (or name) -> the kubelet's Killing events, in order
        self.ready_ns: dict[tuple[str, int], int] = {}  # (uid, restartCount) -> first seen Ready
        self.dgd_history: list[dict] = []
        self.last_dgd: dict | None = None
        self.initial_uids: set[str] = set()
        self.watchers: list[Watcher] = []
        self.followers: dict[str, LogFollower] = {}
        self.observing = False
        self.frontend_counts: dict[str, float] = {}
        self.injected: dict[str, dict] = {}
        self.errors: list[str] = []
        self.forwarder: PortForwarder | None = None
        self._scraper: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self.created_ns: int | None = None
        self._netcut: PodNetCut | None = None
        self._disconnected_before: dict[str, float | None] = {}  # frontend pod -> its count as a storm began
        self._planes: plane_outage.PlaneOutage | None = None
        self._registration: plane_outage.WorkerRegistration | None = None

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        existing = await asyncio.to_thread(self.api.get_dgd, self.version, self.name)
        if existing:
            raise PlatformError(f"DynamoGraphDeployment {self.name} already exists in {self.k8s.namespace}; "
                                "use a new run id (names carry it) or delete the old one")
        self.created_ns = time.time_ns()
        created = await asyncio.to_thread(self.api.create_dgd, self.version, self.manifest)
        self._record_dgd(created)
        self.events.write("DeploymentCreated", f"DynamoGraphDeployment/{self.name}", source="runner",
                          uid=created["metadata"].get("uid"), api_version=self.version)
        items, rv = await asyncio.to_thread(self.api.list_pods, self.selector)
        now = time.time_ns()
        for pod in items:
            self._on_pod("ADDED", pod, now)
        self._watch("pods", self.selector, rv, self._on_pod)
        self._watch("events", None, "", self._on_event)

    def _watch(self, resource: str, selector: str | None, rv: str, handler) -> None:
        watcher = Watcher(self.api, resource, selector, rv, handler, self._on_watch_error,
                          timeout_s=max(5, int(60 * self.k8s.poll_interval_s)))
        watcher.start()
        self.watchers.append(watcher)

    def _on_watch_error(self, message: str) -> None:
        self.errors.append(message)
        self.events.write("WatchError", self.name, source="runner", message=message)

    def _notify(self) -> None:
        if self._loop and self._changed:
            self._loop.call_soon_threadsafe(self._changed.set)

    async def _changed_or(self, timeout: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def _on_pod(self, kind: str, pod: dict, now: int) -> None:
        if kind == "RELISTED":
            return
        uid = d.pod_uid(pod)
        with self.lock:
            self.pods[uid] = pod
            summary = d.container_summary(pod)
            hist = self.history.setdefault(uid, [])
            if not hist or {k: v for k, v in hist[-1].items() if k not in ("runner_ns", "time", "watch")} != summary:
                hist.append({"runner_ns": now, "time": iso_from_ns(now), "watch": kind, **summary})
            if kind == "DELETED":
                self.gone_ns.setdefault(uid, now)
            elif d.pod_ready(pod):
                self.ready_ns.setdefault((uid, d.restart_count(pod, d.main_container(pod))), now)
        if self.observing and kind != "DELETED":
            self._follow(pod)
        self._notify()

    def _on_event(self, kind: str, event: dict, now: int) -> None:
        if kind == "RELISTED":
            return
        with self.lock:
            names = {d.pod_name(p) for p in self.pods.values()}
        if not d.event_concerns(event, self.name, names):
            return
        rec = d.event_record(event, kind, now)
        killed = d.killed_pod(event)
        if killed:
            with self.lock:
                self.killings.setdefault(killed, []).append(dict(rec))
        self.events.write(rec.pop("reason") or "Event", rec.pop("object"), source="kubernetes", **rec)

    def _record_dgd(self, dgd: dict) -> None:
        now = time.time_ns()
        self.last_dgd = dgd
        status = dgd.get("status") or {}
        if not self.dgd_history or self.dgd_history[-1]["status"] != status:
            self.dgd_history.append({"runner_ns": now, "time": iso_from_ns(now), "status": status})

    # -------------------------------------------------------------- protocol: views

    @property
    def endpoints(self) -> list[str]:
        if use_service(self.k8s.access):
            return [service_url(self.name, self.frontend_component, self.k8s.namespace, FRONTEND_PORT)]
        if self.forwarder is None:
            self.forwarder = PortForwarder(self.api, self._pick_frontend, FRONTEND_PORT)
        return [self.forwarder.url]

    @property
    def tokenizer(self) -> str:
        from runner.render.dgd import model_path_for

        return self.k8s.tokenizer or model_path_for(self.scenario, self.k8s)

    def _live(self) -> list[dict]:
        with self.lock:
            return [p for uid, p in self.pods.items() if uid not in self.gone_ns]

    def _by_role(self) -> dict[str, list[dict]]:
        return d.pods_by_role(self._live(), self.component_roles)

    def use_pod_ip(self) -> bool:
        """In the cluster the runner reaches pod IPs (metrics scrapes, frontend faults); else a port-forward."""
        return use_service(self.k8s.access)

    def replicas(self, role: str) -> list[str]:
        if role in plane_outage.PLANE_ROLES:
            return self.planes.replicas(role)
        return [d.pod_name(p) for p in self._by_role().get(role, [])]

    def _pick_frontend(self) -> str | None:
        ready = [d.pod_name(p) for p in self._by_role().get("frontend", []) if d.pod_ready(p)]
        return ready[int(time.monotonic() * 1000) % len(ready)] if ready else None

    def _pod(self, name: str) -> dict | None:
        with self.lock:
            live = [p for uid, p in self.pods.items() if d.pod_name(p) == name and uid not in self.gone_ns]
        return live[-1] if live else None

    def role_dirs(self) -> dict[str, str]:
        return dict(self.component_roles)  # a pod's directory is its component's name (see _dir)

    def restarts_observed(self) -> int:
        with self.lock:
            restarts = sum(d.restart_count(p, d.main_container(p)) for p in self.pods.values())
            replaced = sum(1 for uid in self.pods if self.initial_uids and uid not in self.initial_uids)
        return restarts + replaced

    # -------------------------------------------------------------- readiness

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        reason = "not checked yet"
        while time.monotonic() < deadline:
            dgd = await asyncio.to_thread(self.api.get_dgd, self.version, self.name)
            if dgd is None:
                raise PlatformError(f"DynamoGraphDeployment {self.name} disappeared while starting")
            self._record_dgd(dgd)
            failure = d.dgd_failure(dgd)
            if failure:
                raise PlatformError(f"DynamoGraphDeployment {self.name} failed (state failed, Ready False): {failure}")
            ok, reason = d.dgd_ready(dgd)
            if ok:
                ok, reason = d.pods_ready(self._live(), self.component_roles, self.expected)
            if ok:
                ok, reason = await self._serving()
            if ok:
                with self.lock:
                    self.initial_uids = {uid for uid in self.pods if uid not in self.gone_ns}
                self.events.write("DeploymentReady", f"DynamoGraphDeployment/{self.name}", source="runner",
                                  detail=reason)
                return
            await self._changed_or(min(self.k8s.poll_interval_s, max(0.0, deadline - time.monotonic())))
        problems = [p for p in (d.pod_problem(pod) for pod in self._live()) if p]
        extra = f"; {'; '.join(problems)}" if problems else ""
        raise PlatformError(f"{self.name} not ready after {timeout_s:g} s: {reason}{extra}")

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def _serving(self) -> tuple[bool, str]:
        """The model is listed by the frontend and a one-token request succeeds."""
        base, model = self.endpoints[0], self.scenario.model
        session = await self._http()
        try:
            async with session.get(f"{base}/v1/models") as resp:
                listed = [m.get("id") for m in (await resp.json(content_type=None)).get("data", [])]
            if model not in listed:
                return False, f"frontend lists {listed or 'no model'}, not {model}"
            body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
            async with session.post(f"{base}/v1/chat/completions", json=body) as resp:
                if resp.status != 200:
                    return False, f"probe request: HTTP {resp.status}"
                await resp.read()
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
            return False, f"frontend not answering at {base}: {type(exc).__name__} {exc}".strip()
        return True, "model listed and a probe request succeeded"

    # -------------------------------------------------------------- observing

    async def start_observing(self, tree: Path) -> None:
        self.observing = True
        for pod in self._live():
            self._follow(pod)
        self._scraper = asyncio.create_task(self._scrape_loop())

    def _dir(self, pod: dict) -> Path:
        return self.tree / d.component_of_pod(pod)

    def _follow(self, pod: dict) -> None:
        uid = d.pod_uid(pod)
        if uid in self.followers or (pod.get("status") or {}).get("phase") not in ("Running",):
            return
        container = d.main_container(pod)

        def restarts() -> int | None:
            with self.lock:
                if uid in self.gone_ns:
                    return None
                return d.restart_count(self.pods[uid], container)

        follower = LogFollower(self.api, d.pod_name(pod), container, self._dir(pod) / f"{d.pod_name(pod)}.log",
                               restarts, self.k8s.poll_interval_s)
        self.followers[uid] = follower
        follower.start()

    async def stop_observing(self) -> None:
        self.observing = False
        if self._scraper:
            self._scraper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scraper
            self._scraper = None
        await self._scrape_all()
        for follower in self.followers.values():
            follower.stop()

    async def _scrape_loop(self) -> None:
        while True:
            started = time.monotonic()
            await self._scrape_all()
            await asyncio.sleep(max(0.0, self.k8s.metrics_interval_s - (time.monotonic() - started)))

    async def scrape_now(self) -> None:
        await self._scrape_all()

    async def _scrape_all(self) -> None:
        pods = [p for p in self._live() if (p.get("status") or {}).get("phase") == "Running"]
        await asyncio.gather(*(self._scrape(p) for p in pods), return_exceptions=True)

    async def _scrape(self, pod: dict) -> None:
        role = d.role_of_pod(pod, self.component_roles)
        port = FRONTEND_PORT if role == "frontend" else WORKER_SYSTEM_PORT
        name = d.pod_name(pod)
        now = time.time_ns()
        try:
            if use_service(self.k8s.access) and (pod.get("status") or {}).get("podIP"):
                session = await self._http()
                async with session.get(f"http://{pod['status']['podIP']}:{port}/metrics") as resp:
                    text = await resp.text()
            else:
                text = await asyncio.to_thread(self.api.proxy_get, name, port, "metrics")
        except Exception as exc:  # noqa: BLE001 - a dead pod does not answer; recorded
            text = f"# scrape failed: {type(exc).__name__}: {exc}\n"
        path = self._dir(pod) / f"{name}.metrics.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(f"# scrape runner_ns={now} time={iso_from_ns(now)}\n{text.rstrip()}\n")
        if role == "frontend":
            total = frontend_requests_total(text)
            if total is not None:
                self.frontend_counts[d.pod_uid(pod)] = total

    async def frontend_request_count(self) -> int | None:
        if not self.frontend_counts:
            return None
        return int(sum(self.frontend_counts.values()))

    # -------------------------------------------------------------- faults

    async def _dump(self, name: str, container: str) -> list[d.Proc]:
        out, err, code = await asyncio.to_thread(self.api.exec, name, container, d.dump_command(), 30)
        if code not in (0, None) or ("@@SELF" not in out):
            raise PlatformError(f"listing processes in {name}/{container} failed (exit {code}): {err.strip()[:200]}")
        return d.parse_dump(out)

    async def snapshot(self, role: str, names: list[str], processes: tuple[str, ...] | None = None) -> list[dict]:
        if role in plane_outage.PLANE_ROLES:
            return await self.planes.snapshot(role, names)
        role_uids = [d.pod_uid(p) for p in self._by_role().get(role, [])]
        out = []
        for name in names:
            pod = self._pod(name)
            if pod is None:
                raise PlatformError(f"{name} is not a live pod of {self.name}")
            container = d.main_container(pod)
            # the pod's state lives under "before" (and the after-evidence's under "after"): the
            # orchestrator merges before, stamp and after into one faults.json record
            state = {"snapshot_ns": time.time_ns(), "restart_count": d.restart_count(pod, container),
                     "ready": d.pod_ready(pod)}
            ev = {"target": name, "uid": d.pod_uid(pod), "node": (pod.get("spec") or {}).get("nodeName"),
                  "container": container, "role_uids": role_uids, "before": state}
            if self.scenario.entry.fault_kind != "pod":
                patterns = processes or d.main_process_patterns(pod)
                procs = d.match_processes(await self._dump(name, container), patterns)
                ev["patterns"] = list(patterns)
                state["processes"] = [p.as_dict() for p in procs]
            out.append(ev)
        return out

    async def signal(self, names: list[str], signal_name: str, processes: tuple[str, ...] | None = None) -> list[dict]:
        return list(await asyncio.gather(*(self._signal(n, signal_name, processes) for n in names)))

    async def delete(self, names: list[str]) -> list[dict]:
        return list(await asyncio.gather(*(self._delete(n) for n in names)))

    async def process_states(self, names: list[str], processes: tuple[str, ...] | None = None) -> list[dict]:
        out = []
        for name in names:
            pod = self._pod(name)
            if pod is None:
                out.append({"target": name, "processes": []})
                continue
            procs = d.match_processes(await self._dump(name, d.main_container(pod)),
                                      processes or d.main_process_patterns(pod))
            out.append({"target": name, "processes": [p.as_dict() for p in procs]})
        return out

    # scaling and rolling: DGD patches, judged from the pod watch (runner.platforms.kubernetes.scaling)

    async def start_replicas(self, role: str, count: int, timeout_s: float) -> list[dict]:
        """`count` more replicas in the DGD's spec, until as many new pods are Ready."""
        return await self._scaler().scale_up(role, count, timeout_s)

    async def stop_replicas(self, names: list[str], timeout_s: float) -> list[dict]:
        """`len(names)` fewer replicas in the DGD's spec, until as many pods are gone: the controller picks
        which (`removed_pod` in each result), the runner cannot."""
        pod = self._pod(names[0]) if names else None
        role = d.role_of_pod(pod, self.component_roles) if pod else None
        if role is None:
            raise PlatformError(f"{names} are not live pods of {self.name}")
        return await self._scaler().scale_down(role, names, timeout_s)

    async def roll_role(self, role: str, names: list[str], strategy: str, timeout_s: float) -> list[dict]:
        """One pod-template change the operator rolls; per old pod (names) its step, until all are replaced."""
        return await self._scaler().roll(role, names, strategy, timeout_s)

    def _scaler(self) -> scaling.DgdScaler:
        components = {role: name for name, role in reversed(list(self.component_roles.items()))}
        return scaling.DgdScaler(self.api, self.version, self.name, components, self._tracks, self._changed_or,
                                 self._on_patched, self.k8s.poll_interval_s)

    def _tracks(self, role: str) -> list[scaling.PodTrack]:
        with self.lock:
            return [scaling.track(d.pod_name(p), uid, self.history.get(uid, []), self._first_ready_locked(uid),
                                  self.gone_ns.get(uid), d.main_container(p))
                    for uid, p in self.pods.items() if d.role_of_pod(p, self.component_roles) == role]

    def _on_patched(self, dgd: dict, patch: scaling.Patch) -> None:
        self._record_dgd(dgd)
        for name, role in self.component_roles.items():
            if role in self.expected:
                self.expected[role] = scaling.component_replicas(dgd, name)
        self.events.write("DeploymentPatched", f"DynamoGraphDeployment/{self.name}", source="runner",
                          what=patch.what, generation=(dgd.get("metadata") or {}).get("generation"))

    # network faults: an ephemeral container in the worker pod (runner.platforms.kubernetes.netcut)

    @property
    def netcut(self) -> PodNetCut:
        if self._netcut is None:
            self._netcut = PodNetCut(self.api, image_for(self.k8s.network_fault_image, os.environ))
        return self._netcut

    async def cut(self, names: list[str], action: str) -> list[dict]:
        fault = self.scenario.config.fault
        once = action == "reset" and fault.reset_s == 0
        seconds = fault.partition_s if action == "partition" else fault.reset_s
        peers = peer_ips(self._by_role().get("frontend", []))
        stamps = []
        for name in names:
            pod = self._pod(name)
            if pod is None:
                raise PlatformError(f"{name} is not a live pod of {self.name}")
            done = await self.netcut.cut(pod, peers, action, seconds, once, fault.verify_timeout_s)
            self.events.write("NetworkCut", f"Pod/{name}", source="runner", action=action, **done)
            stamps.append({"target": name, "action": action, **done})
        return stamps

    async def heal(self, names: list[str]) -> list[dict]:
        out = []
        for name in names:
            healed = await self.netcut.heal(name)
            cut, pod = self.netcut.cuts.get(name), self._pod(name)
            if cut and pod:  # the container's own account, beside the pod's logs
                self._dir(pod).mkdir(parents=True, exist_ok=True)
                (self._dir(pod) / f"{name}.{cut.container}.log").write_text(cut.log)
            self.events.write("NetworkHealed", f"Pod/{name}", source="runner", **healed)
            out.append({"target": name, "healed_ns": time.time_ns(), **healed})
        return out

    async def probe(self, names: list[str], timeout_s: float) -> list[dict]:
        ready = [p for p in self._by_role().get("frontend", []) if d.pod_ready(p)]
        frontend = (d.pod_name(ready[0]), d.main_container(ready[0])) if ready else None
        return [await self.netcut.probe(name, frontend, timeout_s) for name in names]

    # etcd / NATS outages: the user's workload scaled to 0 and back (runner.platforms.kubernetes.plane_outage)

    @property
    def planes(self) -> plane_outage.PlaneOutage:
        if self._planes is None:
            def event(reason: str, workload: str, **fields) -> None:
                self.events.write(reason, workload, source="runner", **fields)
            self._planes = plane_outage.PlaneOutage(self.api, self.k8s, event, self._note_outage)
        return self._planes

    async def _note_outage(self, note: str | None) -> None:
        """The way back from an outage, on the DGD (None removes it): the reaper scales back if the runner dies."""
        body = {"metadata": {"annotations": {plane_outage.RESTORE_ANNOTATION: note}}}
        self._record_dgd(await asyncio.to_thread(self.api.patch_dgd, self.version, self.name, body,
                                                 "application/merge-patch+json"))

    async def take_down(self, names: list[str]) -> list[dict]:
        return await self.planes.take_down(names)

    async def await_down(self, before: list[dict], stamps: list[dict], timeout_s: float) -> list[dict]:
        return await self.planes.await_down(before, stamps, timeout_s)

    async def bring_back(self, evidence: list, timeout_s: float) -> list[dict]:
        return await self.planes.bring_back(evidence, timeout_s)

    async def register_worker(self, timeout_s: float) -> dict:
        """One more decode replica in the DGD's spec (the operator starts it), watched until the frontend lists it."""
        self._registration = plane_outage.WorkerRegistration(
            self._scaler().scale_up, lambda: self._by_role().get("decode", []), lambda: self.endpoints[0], self._http)
        return await self._registration.start(timeout_s)

    async def await_registration(self, timeout_s: float) -> dict:
        if self._registration is None:
            return {"registered": False, "after_s": None, "detail": "no worker was started"}
        return await self._registration.watch(timeout_s)

    async def _delete(self, name: str) -> dict:
        grace = self.scenario.config.fault.pod_delete_grace_period_s
        pod = self._pod(name)
        stamp = time.time_ns()
        await asyncio.to_thread(self.api.delete_pod, name, grace)
        stamp = {"target": name, "injected_ns": stamp, "action": f"delete pod (grace {grace} s)",
                 "uid": d.pod_uid(pod) if pod else None}
        self.injected[name] = stamp
        self.events.write("FaultInjected", f"Pod/{name}", source="runner", action=stamp["action"], uid=stamp["uid"])
        return stamp

    async def _signal(self, name: str, sig: str, processes: tuple[str, ...] | None) -> dict:
        pod = self._pod(name)
        if pod is None:
            raise PlatformError(f"{name} is not a live pod of {self.name}")
        container = d.main_container(pod)
        patterns = processes or d.main_process_patterns(pod)
        procs = d.match_processes(await self._dump(name, container), patterns)
        results: dict[str, str] = {}
        stamp = time.time_ns()
        for proc in procs:
            out, _, _ = await asyncio.to_thread(self.api.exec, name, container,
                                                d.kill_command(proc.pid, proc.start_time, sig), 30)
            results[str(proc.pid)] = d.parse_kill(out)
        stamp = {"target": name, "injected_ns": stamp, "signal": f"SIG{sig}", "container": container,
                 "patterns": list(patterns), "pids": [p.pid for p in procs],
                 "processes": [p.as_dict() for p in procs], "signal_results": results}
        self.injected[name] = stamp
        self.events.write("FaultInjected", f"Pod/{name}", source="runner", signal=f"SIG{sig}",
                          pids=stamp["pids"], results=results)
        return stamp

    async def await_replacement(self, kind: str, role: str, before: list[dict], timeout_s: float) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        if kind == "pod":
            return list(await asyncio.gather(*(self._await_delete(role, b, deadline) for b in before)))
        return list(await asyncio.gather(*(self._await_signal(kind, b, deadline) for b in before)))

    async def _await_delete(self, role: str, before: dict, deadline: float) -> dict:
        uid = before["uid"]
        grace = self.scenario.config.fault.pod_delete_grace_period_s
        state: dict = {"terminating": False, "grace_period_s": grace}
        after: dict = {"target": before["target"], "gone_ns": None, "ready_ns": None, "replacement": None,
                       "after": state}
        while time.monotonic() < deadline:
            with self.lock:
                after["gone_ns"] = self.gone_ns.get(uid)
                current = self.pods.get(uid)
            state["terminating"] = bool(current and d.is_terminating(current))
            state.update(self._container_stop(before))
            self._replacement(role, before, after)
            if after["gone_ns"] and after["ready_ns"] and (state["container_stopped_ns"] or grace > 0):
                break
            await self._changed_or(min(self.k8s.poll_interval_s, max(0.0, deadline - time.monotonic())))
        after["took_effect"], after["detail"] = d.judge_pod_delete(before, after)
        return after

    def _container_stop(self, before: dict) -> dict:
        """The kubelet stopping the deleted pod's container: its Killing event, the container seen terminated."""
        since = self.injected.get(before["target"], {}).get("injected_ns", 0)
        with self.lock:
            killings = self.killings.get(before["uid"]) or self.killings.get(before["target"]) or []
            history = list(self.history.get(before["uid"], []))
        killing = d.first_after(killings, since)
        terminated = d.container_terminated_ns(history, before.get("container", d.MAIN_CONTAINER), since)
        seen = [t for t in (killing and killing["runner_ns"], terminated) if t]
        return {"killing_event": killing, "container_terminated_ns": terminated,
                "container_stopped_ns": min(seen) if seen else None}

    def _replacement(self, role: str, before: dict, after: dict) -> None:
        new = [p for p in self._by_role().get(role, []) if d.pod_uid(p) not in before["role_uids"]]
        if not new:
            return
        pod = sorted(new, key=lambda p: (p["metadata"].get("creationTimestamp") or "", d.pod_name(p)))[0]
        after["replacement"], after["replacement_uid"] = d.pod_name(pod), d.pod_uid(pod)
        after["ready_ns"] = self._first_ready(d.pod_uid(pod), 0)

    async def _await_signal(self, kind: str, before: dict, deadline: float) -> dict:
        name, uid = before["target"], before["uid"]
        stamp = self.injected.get(name, {})
        targets = {p["pid"]: p["start_time"] for p in stamp.get("processes") or []}
        count_before = before["before"]["restart_count"]
        state: dict = {"restart_count": count_before, "last_state": None, "pids_gone": [], "pids_zombie": []}
        after: dict = {"target": name, "gone_ns": None, "ready_ns": None, "replacement": None,
                       "signal": stamp.get("signal"), "signal_results": stamp.get("signal_results") or {},
                       "after": state}
        container = before.get("container", d.MAIN_CONTAINER)
        process_kill = kind == "process"
        zombie_since: float | None = None
        while time.monotonic() < deadline and targets:
            with self.lock:
                pod = self.pods.get(uid)
                gone = uid in self.gone_ns
            if pod is None or gone:
                break
            state["restart_count"] = d.restart_count(pod, container)
            state["last_state"] = d.container_status(pod, container).get("lastState")
            restarted = state["restart_count"] > count_before
            if not restarted and not self._all_accounted(state, targets):
                await self._poll_pids(name, container, targets, state)
            if restarted or self._all_accounted(state, targets):
                seen = [t for t in (after["gone_ns"], time.time_ns(), self._died_ns(uid, container, count_before, stamp))
                        if t]
                after["gone_ns"] = min(seen)
            if restarted:
                after["ready_ns"] = self._first_ready(uid, state["restart_count"])
                if after["ready_ns"]:
                    break
            elif after["gone_ns"] and not process_kill and state["pids_zombie"]:
                # a zombie is conclusive only once it outlives the moment a parent needs to reap it or exit
                zombie_since = zombie_since or time.monotonic()
                if time.monotonic() - zombie_since >= self.k8s.zombie_settle_s:
                    break  # a never-reaped engine child: the container will not restart on its own
                state["pids_gone"], state["pids_zombie"] = [], []  # look again
            await self._changed_or(min(self.k8s.poll_interval_s, max(0.0, deadline - time.monotonic())))
        signalled = {**before, "processes": stamp.get("processes") or before["before"].get("processes")}
        after["took_effect"], after["detail"] = d.judge_process_kill(signalled, after)
        return after

    @staticmethod
    def _all_accounted(state: dict, targets: dict) -> bool:
        return len(state["pids_gone"]) + len(state["pids_zombie"]) == len(targets)

    async def _poll_pids(self, name: str, container: str, targets: dict[int, int], state: dict) -> None:
        """Which signalled PIDs are gone (or reused by another process) and which are zombies."""
        with contextlib.suppress(PlatformError):
            procs = {p.pid: p for p in await self._dump(name, container)}
            state["pids_gone"] = [pid for pid, st in targets.items() if pid not in procs or procs[pid].start_time != st]
            state["pids_zombie"] = [pid for pid in targets if pid in procs and procs[pid].state == "Z"]

    def _first_ready(self, uid: str, min_restarts: int) -> int | None:
        with self.lock:
            return self._first_ready_locked(uid, min_restarts)

    def _first_ready_locked(self, uid: str, min_restarts: int = 0) -> int | None:
        return min((ns for (u, c), ns in self.ready_ns.items() if u == uid and c >= min_restarts), default=None)

    def _died_ns(self, uid: str, container: str, count_before: int, stamp: dict) -> int | None:
        """First watch sighting, after the signal, of the container down (not ready or restarted)."""
        since = stamp.get("injected_ns", 0)
        with self.lock:
            history = list(self.history.get(uid, []))
        for entry in history:
            cs = (entry.get("containers") or {}).get(container) or {}
            if entry["runner_ns"] >= since and (not cs.get("ready") or cs.get("restartCount", 0) > count_before):
                return entry["runner_ns"]
        return None

    # -------------------------------------------------------------- collect and teardown

    async def collect(self, tree: Path) -> None:
        with self.lock:
            pods = dict(self.pods)
            gone = dict(self.gone_ns)
        for uid, pod in pods.items():
            name, folder = d.pod_name(pod), self._dir(pod)
            folder.mkdir(parents=True, exist_ok=True)
            record = {"pod": pod, "gone_ns": gone.get(uid), "status_history": self.history.get(uid, [])}
            (folder / f"{name}.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
            if uid in gone:
                continue
            for container in d.container_names(pod):
                suffix = "" if container == d.main_container(pod) else f".{container}"
                log_path = folder / f"{name}{suffix}.log"
                if suffix or not log_path.exists():
                    with contextlib.suppress(PlatformError, UserError):
                        text = await asyncio.to_thread(self.api.read_log, name, container)
                        if text is not None:
                            log_path.write_text(text)
                prev = folder / f"{name}{suffix}.previous.log"
                if d.restart_count(pod, container) > 0 and not prev.exists():
                    with contextlib.suppress(PlatformError, UserError):
                        text = await asyncio.to_thread(self.api.read_log, name, container, True)
                        if text:
                            prev.write_text(text)
        dgd_dir = tree / "DynamoGraphDeployment"
        dgd_dir.mkdir(parents=True, exist_ok=True)
        record = {"applied": self.manifest, "last_seen": self.last_dgd, "status_history": self.dgd_history,
                  "errors": self.errors}
        (dgd_dir / f"{self.name}.yaml").write_text(yaml.safe_dump(record, sort_keys=False))

    async def teardown(self, timeout_s: float) -> None:
        """Delete the DGD and wait until it and every pod of it are gone (bounded)."""
        with contextlib.suppress(Exception):
            await self.stop_observing()
        deadline = time.monotonic() + timeout_s
        try:
            await asyncio.to_thread(self.api.delete_dgd, self.version, self.name)
            while time.monotonic() < deadline:
                dgd = await asyncio.to_thread(self.api.get_dgd, self.version, self.name)
                pods, _ = await asyncio.to_thread(self.api.list_pods, self.selector)
                if dgd is None and not pods:
                    self.events.write("TornDown", f"DynamoGraphDeployment/{self.name}", source="runner")
                    return
                await self._changed_or(min(self.k8s.poll_interval_s, max(0.0, deadline - time.monotonic())))
            holders = (dgd or {}).get("metadata", {}).get("finalizers") if dgd else None
            what = (f"DGD {self.name} still exists" + (f" (finalizers {', '.join(holders)} hold it)" if holders else "")
                    if dgd else f"{len(pods)} pod(s) still terminating: {', '.join(d.pod_name(p) for p in pods)}")
            raise PlatformError(f"teardown not finished after {timeout_s:g} s: {what}; "
                                f"check `kubectl -n {self.k8s.namespace} get dgd,pods -l {self.selector}`")
        finally:
            for watcher in self.watchers:
                watcher.stop()
            for follower in self.followers.values():
                follower.stop()
            if self.forwarder:
                self.forwarder.close()
            if self._session:
                await self._session.close()
                self._session = None
            self.events.close()


def make_platform(config: RunConfig) -> KubernetesPlatform:
    """The orchestrator's entry point for `--platform kubernetes` (the API client is created lazily)."""
    return KubernetesPlatform(config)
