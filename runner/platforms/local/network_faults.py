"""The local platform's primitives for network and load-shaped faults (a mixin of LocalDeployment):
cut/heal/probe a worker's loopback ports, the overload ramp / cancel storm at one frontend, and the registration
of a worker started during an etcd/NATS outage."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from runner.platforms import frontend_load
from runner.platforms.local import planes
from runner.platforms.base import PlatformError
from runner.platforms.local.netcut import NetCut, NetCutError, probe_port, worker_ports
from runner.platforms.local.procs import now_ns


REGISTRATION_POLL_S = 0.2


class NetworkFaults:
    """Needs from its host: _running(name) -> Replica, _by_name(name), events, scenario, tree."""

    netcut: NetCut
    _instances_before: int = 0

    async def cut(self, names: list[str], action: str) -> list[dict]:
        once = action == "reset" and self.scenario.config.fault.reset_s == 0
        stamps = []
        for name in names:
            r = self._running(name)
            stamp = now_ns()
            try:
                ports = worker_ports(r.pid)
                done = await (self.netcut.cut_once(ports) if once else self.netcut.cut(name, ports, action))
            except NetCutError as exc:
                await self.netcut.heal_all()
                raise PlatformError(f"cannot cut {name}: {exc}") from exc
            self.events.write("NetworkCut", name, pid=r.pid, action=action, **done)
            stamps.append({"target": name, "injected_ns": stamp, "pid": r.pid, "action": action, **done})
        return stamps

    async def heal(self, names: list[str]) -> list[dict]:
        out = []
        for name in names:
            healed = await self.netcut.heal(name)
            self.events.write("NetworkHealed", name, **healed)
            out.append({"target": name, "healed_ns": now_ns(), **healed})
        return out

    async def probe(self, names: list[str], timeout_s: float) -> list[dict]:
        out = []
        for name in names:
            r = self._by_name(name)
            try:
                ports = worker_ports(r.pid) if r.pid else []
            except NetCutError:
                ports = []  # the process is gone: nothing answers, the judgement says "no port probed"
            outcomes = await asyncio.gather(*(probe_port(p, timeout_s) for p in ports))
            out.append({"target": name, "ports": ports, "outcomes": dict(zip(ports, outcomes, strict=True))})
        return out

    def _frontend(self, name: str) -> tuple[str, str]:
        r = self._running(name)
        base = f"http://127.0.0.1:{r.port}"
        return base, f"{base}/metrics"

    async def overload(self, names: list[str]) -> list[dict]:
        cfg = self.scenario.config.fault.overload
        async def one(name: str) -> dict:
            base, _ = self._frontend(name)
            self.events.write("OverloadRamp", name, start_rate_per_s=cfg.start_rate_per_s)
            done = await frontend_load.ramp(base, self.scenario.model, cfg, self.tree / "overload" / f"{name}.jsonl")
            return {"target": name, **done}
        return list(await asyncio.gather(*(one(n) for n in names)))

    async def cancel_storm(self, names: list[str]) -> list[dict]:
        cfg = self.scenario.config.fault.cancel_storm
        async def one(name: str) -> dict:
            base, metrics = self._frontend(name)
            done = await frontend_load.cancel_storm(base, metrics, self.scenario.model, cfg)
            self.events.write("CancelStorm", name, **done)
            return {"target": name, **done}
        return list(await asyncio.gather(*(one(n) for n in names)))

    async def drained(self, names: list[str], timeout_s: float) -> list[dict]:
        async def one(name: str) -> dict:
            base, metrics = self._frontend(name)
            return {"target": name, **await frontend_load.drained(base, metrics, self.scenario.model, timeout_s)}
        return list(await asyncio.gather(*(one(n) for n in names)))

    # --- registration during an etcd/NATS outage ----------------------------------

    async def _generate_instances(self) -> int | None:
        ports = self._ready_frontend_ports()
        if not ports:
            return None
        try:
            async with self._session.get(f"http://127.0.0.1:{ports[0]}/health") as resp:
                return planes.generate_instances(await resp.json(content_type=None))
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def register_worker(self, timeout_s: float) -> dict:
        """One more decode worker, started now; registered once the frontend lists one more instance."""
        decode = [r for r in self.replica_list if r.role == "decode" and not r.deleted]
        self._instances_before = len(decode)  # the frontend may not answer now: the workers it knew before
        self.extra_worker = self._new_replica("decode", max(r.index for r in self.replica_list) + 1)
        self.extra_worker.note("ExtraWorker", reason="registration probe during an outage", peers=len(decode))
        await self._spawn(self.extra_worker)
        return await self.await_registration(timeout_s)

    async def await_registration(self, timeout_s: float) -> dict:
        worker = self.extra_worker
        if worker is None or worker.started_ns is None:
            return {"registered": False, "after_s": None, "detail": "no worker was started"}
        deadline, seen = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            seen = await self._generate_instances()
            if seen is not None and seen > self._instances_before:
                return {"registered": True, "after_s": round((now_ns() - worker.started_ns) / 1e9, 3),
                        "instances": seen}
            await asyncio.sleep(REGISTRATION_POLL_S)
        alive = worker.proc is not None and worker.proc.returncode is None
        return {"registered": False, "after_s": None, "instances": seen,
                "detail": (f"the frontend listed {seen} generate instance(s) for {self._instances_before} other "
                           "worker(s)" if seen is not None else "the frontend's /health did not answer")
                          + f"; the worker {'runs' if alive else 'exited'}"}
