"""The local platform: a real Dynamo deployment (frontend + mocker workers) as
processes on this machine, with file-based discovery (no etcd, no NATS).

It behaves like a small Kubernetes: every replica is a "pod" with a name, a
UID, a restart count and a log in the seed's service folders; a supervisor
restarts a killed process after a back-off (a container restart: same name,
`.previous.log` kept), and a "pod" fault replaces the process with a new one
under a new name. A local Service proxy spreads connections over the ready
frontends. Every child dies with the runner (parent-death signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from runner.core.errors import UserError
from runner.faults.overload import overload_args
from runner.results.evidence import judge_local_effect
from runner.results.observe import EventLog, frontend_requests_total
from runner.scenarios.plan import Scenario
from runner.platforms.base import PlatformError
from runner.platforms.local.env import check_dynamo, resolve_model_dir
from runner.platforms.local.netcut import NetCut, remove_stale_chains, require_root_tools
from runner.platforms.local import planes
from runner.platforms.local.network_faults import NetworkFaults
from runner.platforms.local.procs import free_port, now_ns, port_is_free, process_evidence
from runner.core.procs import die_with_parent
from runner.platforms.local.service import ServiceProxy

SERVICE_DIR = {"frontend": "Frontend", "decode": "decode", "prefill": "prefill", "etcd": "etcd", "nats": "nats"}
NETWORK_KINDS = ("partition", "reset")
HEALTH_POLL_S = 0.1
PLANES_READY_S = 30.0
READINESS_PROBE_S = 0.5


@dataclass
class Replica:
    role: str
    name: str
    uid: str
    index: int
    log_path: Path
    restarts: int = 0
    port: int = 0
    aux_port: int = 0  # etcd's peer port, NATS's monitoring port
    pid: int | None = None
    proc: asyncio.subprocess.Process | None = None
    started_ns: int | None = None
    ready_ns: int | None = None
    ready: bool = False
    deleted: bool = False
    removed: bool = False  # scaled away or rolled out: never restarted nor replaced
    replaced_by: str | None = None
    replaces: str | None = None
    exits: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    def note(self, phase: str, **detail) -> None:
        self.history.append({"time_ns": now_ns(), "phase": phase, **detail})


class LocalPlatform:
    name = "local"

    def __init__(self, config):
        self.config = config
        self._python: Path | None = None
        self._model_dir: Path | None = None
        self._service_port = config.local.frontend_port or free_port()
        self._plane_binaries: dict[str, str] = {}

    def preflight(self, scenarios: list[Scenario]) -> None:
        local = self.config.local
        self._model_dir = resolve_model_dir(local.model_dir)
        self._python = check_dynamo(local.python)
        if local.frontend_port and not port_is_free(local.frontend_port):
            raise UserError(
                f"port {local.frontend_port} is busy; choose another with local.frontend_port, or 0 for a free one"
            )
        if any(s.entry.fault_kind in NETWORK_KINDS for s in scenarios):
            require_root_tools()
        outages = [s.name for s in scenarios if s.entry.failure in planes.OUTAGE_ROLES]
        if outages and local.planes != "etcd-nats":
            raise UserError(f"{outages[0]} stops the deployment's etcd or NATS, which the local platform runs only "
                            "with --local.planes etcd-nats (default: file discovery, no etcd or NATS)")
        if local.planes == "etcd-nats":
            self._plane_binaries = planes.find_binaries(local.etcd, local.nats_server)

    async def deploy(self, scenario: Scenario, tree: Path) -> LocalDeployment:
        if self._python is None or self._model_dir is None:
            self.preflight([scenario])
        if scenario.entry.fault_kind in NETWORK_KINDS:
            await remove_stale_chains()
        deployment = LocalDeployment(scenario, tree, self._python, self._model_dir, self._service_port)
        deployment.plane_binaries = self._plane_binaries
        await deployment.start()
        return deployment

    def planned_endpoints(self, scenario: Scenario) -> tuple[list[str], str] | None:
        """Every deployment of the run answers on the same service address (one at a time), so a
        scenario's load generator can start before its deployment exists."""
        if self._model_dir is None:
            return None
        return [service_url(self._service_port)], str(self._model_dir)


class LocalDeployment(NetworkFaults):
    def __init__(self, scenario: Scenario, tree: Path, python: Path, model_dir: Path, service_port: int):
        self.scenario = scenario
        self.tree = tree
        self.python = python
        self.model_dir = model_dir
        self.local = scenario.config.local
        self.workdir = Path(tempfile.mkdtemp(prefix="ft-runner-"))
        self.replica_list: list[Replica] = []
        self.events = EventLog(tree / "events.jsonl")
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        self._observing: asyncio.Task | None = None
        self._frontend_counts: dict[tuple[str, int], float] = {}
        self._session: aiohttp.ClientSession | None = None
        self.service = ServiceProxy(self._ready_frontend_ports, port=service_port)
        self.netcut = NetCut()
        self.plane_binaries: dict[str, str] = {}
        self.extra_worker: Replica | None = None

    # --- protocol ---------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        return [service_url(self.service.port)]

    @property
    def tokenizer(self) -> str:
        return str(self.model_dir)

    def replicas(self, role: str) -> list[str]:
        live = [r for r in self.replica_list if r.role == role and not r.deleted]
        return [r.name for r in sorted(live, key=lambda r: r.index)]

    async def start(self) -> None:
        (self.workdir / "kv").mkdir()
        (self.workdir / "home").mkdir()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        await self.service.start()
        entry = self.scenario.entry
        index = 0
        if self.local.planes == "etcd-nats":
            index = await self._start_planes()
        for role in ("frontend", "prefill", "decode"):
            for _ in range(entry.replicas(role)):
                replica = self._new_replica(role, index)
                index += 1
                await self._spawn(replica)

    async def _start_planes(self) -> int:
        """etcd and NATS first, ready before any Dynamo process (which would exit without them)."""
        started = []
        for index, role in enumerate(planes.PLANES):
            replica = self._new_replica(role, index)
            await self._spawn(replica)
            started.append(replica)
        if not await self._until(lambda: all(r.ready for r in started) or self._crashed(), PLANES_READY_S):
            raise PlatformError(f"etcd/NATS not ready after {PLANES_READY_S:g} s: {self._status_line()}")
        if self._crashed():
            raise PlatformError(f"etcd or NATS exited at startup: {self._status_line()} (see {self.tree})")
        return len(started)

    async def wait_ready(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._wait_ready(), timeout_s)
        except TimeoutError:
            raise PlatformError(
                f"deployment not ready after {timeout_s:.0f} s: " + self._status_line()
            ) from None

    async def start_observing(self, tree: Path) -> None:
        self._observing = asyncio.create_task(self._scrape_loop())

    async def stop_observing(self) -> None:
        if self._observing:
            self._observing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._observing
            self._observing = None
        await self._scrape_all()

    async def snapshot(self, role: str, names: list[str], processes: tuple[str, ...] | None = None) -> list[dict]:
        out = []
        for name in names:
            r = self._by_name(name)
            ev = process_evidence(r.pid) if r.pid else {"alive": False}
            out.append({"target": name, "uid": r.uid, "restarts": r.restarts, "ready": r.ready, **ev})
        return out

    async def signal(self, names: list[str], signal_name: str, processes: tuple[str, ...] | None = None) -> list[dict]:
        """Each replica is one process here, so `processes` (engine titles) has nothing to match."""
        if processes:
            raise PlatformError(f"the local platform has no engine subprocesses ({', '.join(processes)})")
        sig = signal.Signals[f"SIG{signal_name}"]
        return [self._send(self._running(name), sig, "signal process") for name in names]

    async def delete(self, names: list[str]) -> list[dict]:
        graceful = self.scenario.config.fault.pod_delete_grace_period_s > 0
        stamps = []
        for name in names:
            r = self._running(name)
            r.deleted = True
            stamps.append(self._send(r, signal.SIGTERM if graceful else signal.SIGKILL,
                                     "delete replica (process killed, replaced by a new one)"))
            if graceful:
                self._track(asyncio.create_task(self._kill_after_grace(r)))
        return stamps

    def _running(self, name: str) -> Replica:
        r = self._by_name(name)
        if r.pid is None or r.proc is None or r.proc.returncode is not None:
            raise PlatformError(f"{name} has no running process to fault")
        return r

    def _send(self, r: Replica, sig: signal.Signals, action: str) -> dict:
        stamp = now_ns()
        os.kill(r.pid, sig)
        self.events.write("FaultInjected", r.name, pid=r.pid, signal=sig.name, action=action)
        r.note("FaultInjected", signal=sig.name, pid=r.pid)
        return {"target": r.name, "injected_ns": stamp, "signal": sig.name, "pid": r.pid, "action": action}

    async def start_replicas(self, role: str, count: int, timeout_s: float) -> list[dict]:
        """`count` new replicas of the role (a scale-up, or a rollout's new pod), each until Ready."""
        index = max((r.index for r in self.replica_list), default=-1) + 1
        new = [self._new_replica(role, index + i) for i in range(count)]
        for replica in new:
            await self._spawn(replica)
            self.events.write("ScaledUp", replica.name, role=role)
        return list(await asyncio.gather(*(self._await_ready(r, timeout_s) for r in new)))

    async def stop_replicas(self, names: list[str], timeout_s: float) -> list[dict]:
        """Remove replicas for good (a scale-down, or a rollout's old pod): SIGTERM, SIGKILL once the
        grace period (fault.stop_grace_period_s) is over, and no restart nor replacement."""
        stamps = []
        for name in names:
            r = self._running(name)
            r.deleted = r.removed = True
            stamps.append(self._send(r, signal.SIGTERM, "remove replica (graceful stop, not replaced)"))
            self._track(asyncio.create_task(self._kill_after_grace(r, self.scenario.config.fault.stop_grace_period_s)))
        return list(await asyncio.gather(*(self._await_gone(s, timeout_s) for s in stamps)))

    async def _await_ready(self, replica: Replica, timeout_s: float) -> dict:
        await self._until(lambda: replica.ready_ns is not None or bool(replica.exits), timeout_s)
        ready = replica.ready_ns is not None
        detail = f"{replica.name} ready" if ready else f"{replica.name} not ready within {timeout_s:.0f} s"
        return {"target": replica.name, "started_ns": replica.started_ns, "ready_ns": replica.ready_ns,
                "pid": replica.pid, "took_effect": ready, "detail": detail}

    async def _await_gone(self, stamp: dict, timeout_s: float) -> dict:
        replica = self._by_name(stamp["target"])
        await self._until(lambda: bool(replica.exits), timeout_s)
        exit_info = replica.exits[-1] if replica.exits else None
        gone = exit_info is not None and not process_evidence(stamp["pid"]).get("alive", False)
        how = (exit_info["signal"] or f"exit code {exit_info['exit_code']}") if exit_info else ""
        detail = (f"{replica.name}: PID {stamp['pid']} exited ({how})"
                  if gone else f"{replica.name}: PID {stamp['pid']} still running after {timeout_s:.0f} s")
        return {**stamp, "exit": exit_info, "gone_ns": exit_info["gone_ns"] if exit_info else None,
                "took_effect": gone, "detail": detail}

    async def await_replacement(self, kind: str, role: str, before: list[dict], timeout_s: float) -> list[dict]:
        return list(await asyncio.gather(*(self._await_one(kind, b, timeout_s) for b in before)))

    async def process_states(self, names: list[str], processes: tuple[str, ...] | None = None) -> list[dict]:
        out = []
        for name in names:
            r = self._by_name(name)
            found = process_evidence(r.pid) if r.pid else {"alive": False}
            listed = [{"pid": r.pid, "state": found.get("state")}] if found.get("alive") else []
            out.append({"target": name, "processes": listed})
        return out

    async def frontend_request_count(self) -> int | None:
        if not self._frontend_counts:
            return None
        return int(sum(self._frontend_counts.values()))

    def role_dirs(self) -> dict[str, str]:
        return {directory: role for role, directory in SERVICE_DIR.items()}

    def restarts_observed(self) -> int:
        return sum(r.restarts for r in self.replica_list) + sum(1 for r in self.replica_list if r.replaces)

    async def collect(self, tree: Path) -> None:
        for r in self.replica_list:
            spec = {
                "kind": "LocalReplica",
                "metadata": {"name": r.name, "uid": r.uid, "role": r.role, "replaces": r.replaces,
                             "replacedBy": r.replaced_by},
                "spec": {"command": r.cmd, "port": r.port},
                "status": {
                    "phase": "Deleted" if r.deleted else ("Running" if r.ready else "NotReady"),
                    "restartCount": r.restarts,
                    "pid": r.pid,
                    "exits": r.exits,
                    "transitions": r.history,
                },
            }
            path = tree / SERVICE_DIR[r.role] / f"{r.name}.yaml"
            path.write_text(yaml.safe_dump(spec, sort_keys=False))

    async def teardown(self, timeout_s: float) -> None:
        self._closing = True
        await self.netcut.heal_all()
        await self.stop_observing()
        dynamo = [r for r in self.replica_list if r.role not in planes.PLANES]
        await self._stop([r for r in dynamo if r.proc and r.proc.returncode is None], timeout_s)
        await self._stop([r for r in self.replica_list if r.role in planes.PLANES and r.proc
                          and r.proc.returncode is None], timeout_s)  # etcd/NATS last: Dynamo exits cleanly
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.service.stop()
        if self._session:
            await self._session.close()
        self.events.write("TornDown", "deployment", replicas=len(self.replica_list))
        self.events.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _stop(self, live: list[Replica], timeout_s: float) -> None:
        for r in live:
            with contextlib.suppress(ProcessLookupError):
                r.proc.send_signal(signal.SIGCONT)  # a stopped (stalled) process cannot act on SIGTERM
                r.proc.send_signal(signal.SIGTERM)
        waits = [r.proc.wait() for r in live]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), min(timeout_s, 15))
        except TimeoutError:
            for r in live:
                if r.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        r.proc.kill()
            await asyncio.wait_for(asyncio.gather(*(r.proc.wait() for r in live)), 10)

    # --- processes --------------------------------------------------------

    def _new_replica(self, role: str, index: int, replaces: str | None = None) -> Replica:
        service = SERVICE_DIR[role]
        name = f"{self.scenario.entry.deployment_name}-{service.lower()}-{secrets.token_hex(3)}"
        (self.tree / service).mkdir(parents=True, exist_ok=True)
        replica = Replica(role=role, name=name, uid=secrets.token_hex(8), index=index,
                          log_path=self.tree / service / f"{name}.log", replaces=replaces)
        self.replica_list.append(replica)
        return replica

    def _command(self, replica: Replica) -> list[str]:
        py = str(self.python)
        if replica.role in planes.PLANES:
            return planes.command(replica.role, self.plane_binaries[replica.role], replica.port, replica.aux_port,
                                  self.workdir)
        if replica.role == "frontend":
            return [py, "-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", str(replica.port),
                    "--migration-limit", str(self.scenario.migration_limit), *overload_args(self.scenario, "frontend")]
        cmd = [py, "-m", "dynamo.mocker", "--model-path", str(self.model_dir), "--model-name", self.scenario.model,
               "--speedup-ratio", str(self.local.speedup_ratio), *overload_args(self.scenario, "worker")]
        if self.scenario.max_model_len:
            cmd += ["--max-model-len", str(self.scenario.max_model_len)]
        if self.scenario.entry.mode == "disagg":
            cmd += ["--disaggregation-mode", replica.role]
        return cmd

    def _env(self, replica: Replica) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DYN_")}
        env.update(
            DYN_DISCOVERY_BACKEND="file",
            DYN_FILE_KV=str(self.workdir / "kv"),
            DYN_REQUEST_PLANE="tcp",
            DYN_EVENT_PLANE="zmq",
            DYN_TCP_RPC_HOST="127.0.0.1",
            DYN_TCP_RESPONSE_STREAM_HOST="127.0.0.1",
            DYN_EVENT_PLANE_HOST="127.0.0.1",
            DYN_SYSTEM_HOST="127.0.0.1",
            DYN_LOG="info",
            DYN_LOGGING_JSONL="1",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HOME=str(self.workdir / "home"),
            XDG_CACHE_HOME=str(self.workdir / "home" / ".cache"),
            PYTHONUNBUFFERED="1",
        )
        if self.local.planes == "etcd-nats" and replica.role not in planes.PLANES:
            env.update(planes.dynamo_env({r.role: r.port for r in self.replica_list if r.role in planes.PLANES}))
        if replica.role != "frontend":
            env["DYN_SYSTEM_PORT"] = str(replica.port)
            env["DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS"] = '["generate"]'
        return env

    async def _spawn(self, replica: Replica) -> None:
        replica.port = replica.port if replica.role in planes.PLANES and replica.port else free_port()
        if replica.role in planes.PLANES and not replica.aux_port:
            replica.aux_port = free_port()  # a restarted etcd/NATS keeps its ports: clients know only those
        replica.cmd = self._command(replica)
        with replica.log_path.open("ab") as log:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *replica.cmd, stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                    env=self._env(replica), cwd=str(self.workdir), preexec_fn=die_with_parent,
                )
            except OSError as exc:
                raise PlatformError(f"cannot start {replica.name}: {exc}") from exc
        replica.proc, replica.pid = proc, proc.pid
        replica.started_ns, replica.ready_ns, replica.ready = now_ns(), None, False
        replica.note("Started", pid=proc.pid, port=replica.port)
        self.events.write("Started", replica.name, pid=proc.pid, port=replica.port, restarts=replica.restarts)
        self._track(asyncio.create_task(self._supervise(replica, proc)))
        self._track(asyncio.create_task(self._probe(replica, proc)))

    def _track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _until(self, predicate, timeout_s: float) -> bool:
        """Wait until `predicate()` holds, checked at each replica change; False once `timeout_s` passed."""
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _supervise(self, replica: Replica, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        gone = now_ns()
        replica.ready = False
        exit_info = {"pid": proc.pid, "exit_code": code, "signal": signal.Signals(-code).name if code < 0 else None,
                     "gone_ns": gone}
        replica.exits.append(exit_info)
        replica.note("Terminated", **exit_info)
        self.events.write("Terminated", replica.name, **exit_info)
        await self._notify()
        if self._closing or replica.removed:
            return
        await asyncio.sleep(self.local.restart_delay_s)  # the kubelet's / ReplicaSet's back-off
        if self._closing:
            return
        if replica.deleted:
            new = self._new_replica(replica.role, replica.index, replaces=replica.name)
            replica.replaced_by = new.name
            self.events.write("Replaced", replica.name, replacement=new.name)
            await self._spawn(new)
        else:
            previous = replica.log_path.with_suffix(".previous.log")
            if replica.log_path.exists():
                replica.log_path.replace(previous)
            replica.restarts += 1
            self.events.write("Restarting", replica.name, restarts=replica.restarts)
            await self._spawn(replica)
        await self._notify()

    def _health_url(self, replica: Replica) -> str:
        if replica.role in planes.PLANES:
            return planes.health_url(replica.role, replica.port, replica.aux_port)
        path = "/live" if replica.role == "frontend" else "/health"
        return f"http://127.0.0.1:{replica.port}{path}"

    async def _healthy(self, url: str) -> bool:
        try:
            async with self._session.get(url) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _probe(self, replica: Replica, proc: asyncio.subprocess.Process) -> None:
        """Readiness probe: fast until first Ready, then a slower period (frontends only) like a kubelet."""
        url = self._health_url(replica)
        while proc.returncode is None and not self._closing:
            healthy = await self._healthy(url)
            if healthy != replica.ready and proc.returncode is None:
                replica.ready = healthy
                if healthy and replica.ready_ns is None:
                    replica.ready_ns = now_ns()
                replica.note("Ready" if healthy else "NotReady")
                self.events.write("Ready" if healthy else "NotReady", replica.name, pid=proc.pid)
                await self._notify()
            if replica.ready and replica.role != "frontend":
                return  # workers: readiness matters only until first Ready (kubelet probes are slow anyway)
            await asyncio.sleep(HEALTH_POLL_S if not replica.ready else READINESS_PROBE_S)

    async def _kill_after_grace(self, replica: Replica, grace_s: float | None = None) -> None:
        await asyncio.sleep(self.scenario.config.fault.pod_delete_grace_period_s if grace_s is None else grace_s)
        if replica.proc and replica.proc.returncode is None:
            replica.proc.kill()

    def _ready_frontend_ports(self) -> list[int]:
        return [r.port for r in self.replica_list if r.role == "frontend" and r.ready and not r.deleted]

    def _by_name(self, name: str) -> Replica:
        for r in self.replica_list:
            if r.name == name:
                return r
        raise PlatformError(f"no replica named {name}")

    def _status_line(self) -> str:
        return ", ".join(
            f"{r.name}: {'ready' if r.ready else 'not ready'}"
            + (f" (exited {r.exits[-1]['exit_code']})" if r.exits else "")
            for r in self.replica_list if not r.deleted
        )

    # --- readiness of the whole deployment ----------------------------------

    async def _wait_ready(self) -> None:
        async with self._changed:
            await self._changed.wait_for(
                lambda: all(r.ready for r in self.replica_list if not r.deleted) or self._crashed()
            )
        if self._crashed():
            raise PlatformError("a Dynamo process exited during startup: " + self._status_line()
                                + f" (see its log under {self.tree})")
        base = self.endpoints[0]
        model = self.scenario.model
        while True:
            ready = await self._healthy(f"{base}/v1/models/{model}/ready")
            if ready and await self._probe_request(base, model):
                return
            await asyncio.sleep(HEALTH_POLL_S)

    def _crashed(self) -> bool:
        return any(r.exits for r in self.replica_list) and not self._closing

    async def _probe_request(self, base: str, model: str) -> bool:
        body = {"model": model, "messages": [{"role": "user", "content": "probe"}], "max_tokens": 2}
        try:
            async with self._session.post(f"{base}/v1/chat/completions", json=body) as resp:
                return resp.status == 200 and bool((await resp.json()).get("choices"))
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, aiohttp.ContentTypeError):
            return False

    # --- fault effect ---------------------------------------------------------

    async def _await_one(self, kind: str, before: dict, timeout_s: float) -> dict:
        replica = self._by_name(before["target"])

        def exited() -> dict | None:
            return next((e for e in replica.exits if e["pid"] == before.get("pid")), None)

        def back() -> Replica | None:
            if kind == "pod":
                return self._by_name(replica.replaced_by) if replica.replaced_by else None
            return replica if replica.restarts > before["restarts"] else None

        def done() -> bool:
            new = back()
            return new is not None and new.ready_ns is not None

        await self._until(done, timeout_s)
        exit_info = exited()
        new = back()
        after = {
            "target": before["target"],
            "pid_after": process_evidence(before["pid"]) if before.get("pid") else None,
            "exit": exit_info,
            "gone_ns": exit_info["gone_ns"] if exit_info else None,
            "replacement": new.name if new else None,
            "replacement_pid": new.pid if new else None,
            "replacement_uid": new.uid if new else None,
            "restarts_after": replica.restarts,
            "ready_ns": new.ready_ns if new else None,
        }
        took_effect, detail = judge_local_effect(kind, before, after)
        return {**after, "took_effect": took_effect, "detail": detail}

    # --- metrics --------------------------------------------------------------

    async def _scrape_loop(self) -> None:
        while True:
            await self._scrape_all()
            await asyncio.sleep(1.0)

    async def scrape_now(self) -> None:
        await self._scrape_all()

    async def _scrape_all(self) -> None:
        live = [r for r in self.replica_list if r.proc and r.proc.returncode is None and r.ready_ns]
        await asyncio.gather(*(self._scrape(r) for r in live), return_exceptions=True)

    async def _scrape(self, replica: Replica) -> None:
        try:
            async with self._session.get(f"http://127.0.0.1:{replica.port}/metrics") as resp:
                if resp.status != 200:
                    return
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            return
        stamp = now_ns()
        path = replica.log_path.with_name(f"{replica.name}.metrics.log")
        with path.open("a") as fh:
            fh.write(f"# scrape time_ns={stamp} pid={replica.pid}\n{text}\n")
        if replica.role == "frontend":
            total = frontend_requests_total(text)
            if total is not None:
                self._frontend_counts[(replica.name, replica.pid)] = total


def service_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def make_platform(config) -> LocalPlatform:
    return LocalPlatform(config)


