"""The local platform's primitives for network and load-shaped faults (a mixin of LocalDeployment):
cut/heal/probe a worker's loopback ports, and the overload ramp / cancel storm at one frontend."""

from __future__ import annotations

import asyncio

from runner.platforms import frontend_load
from runner.platforms.base import PlatformError
from runner.platforms.local.netcut import NetCut, NetCutError, probe_port, worker_ports
from runner.platforms.local.procs import now_ns


class NetworkFaults:
    """Needs from its host: _running(name) -> Replica, _by_name(name), events, scenario, tree."""

    netcut: NetCut

    async def cut(self, names: list[str], action: str) -> list[dict]:
        once = action == "reset" and self.scenario.config.fault.reset_s == 0
        stamps = []
        for name in names:
            r = self._running(name)
            ports = worker_ports(r.pid)
            stamp = now_ns()
            try:
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
            ports = worker_ports(r.pid) if r.pid else []
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
