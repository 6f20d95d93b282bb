"""An etcd or NATS outage (never by default). Locally (planes etcd-nats) the server is stopped (SIGSTOP: its
clients' requests hang, as when it is unreachable) for `fault.outage_s`, then continued. On Kubernetes the
user's own workload named in kubernetes.outage_targets is scaled to 0 for `fault.outage_s`, then back until
Ready (runner.platforms.kubernetes.plane_outage): a platform that provides take_down() takes that path. What
keeps working is measured: the load's requests, and whether a worker started during the outage registers with
the frontend (during it, and after it)."""

from __future__ import annotations

import asyncio
import time

from runner.faults.base import Replicas
from runner.faults.stall import Stall


def judge_registration(during: dict, after: dict | None) -> str:
    def seen(r: dict | None) -> str:
        if not r:
            return "not watched"
        return f"registered after {r['after_s']:.2f} s" if r.get("registered") else f"not registered ({r.get('detail', '')})"
    return f"a worker started during the outage: {seen(during)} during it; {seen(after)} after it"


def outage_start_ns(evidence: list) -> int:
    """When the server stopped: on Kubernetes the server's last container seen stopped (a terminating etcd keeps
    serving its open connections until it exits), else when the fault was sent."""
    seen = [e.after.get("stopped_ns") or e.injected_ns for e in evidence if e.injected_ns]
    return min(seen, default=time.time_ns())


def scales_workload(replicas) -> bool:
    """The platform takes the server's workload down (Kubernetes) rather than stopping its process (local)."""
    return callable(getattr(replicas, "take_down", None))


def outage_roles(scenario) -> list[str]:
    """The planes (etcd, nats) a scenario takes down: its fault's, and those of its timeline's fault steps."""
    from runner import faults
    from runner.core.timeline import FaultStep

    named = [scenario.entry.failure] + [s.fault for s in scenario.steps if isinstance(s, FaultStep)]
    return sorted({faults.get(n).role for n in named if faults.get(n).kind == "outage"})


class Outage(Stall):
    def hold_s(self, settings) -> float:
        return settings.outage_s

    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        if scales_workload(replicas):
            return await replicas.take_down(names)
        return await super().inject(replicas, names)

    async def check(self, replicas: Replicas, before: list[dict], stamps: list[dict], settings) -> list[dict]:
        if scales_workload(replicas):
            judged = await replicas.await_down(before, stamps, settings.verify_timeout_s)
        else:
            judged = await self.verify(replicas, before, settings.verify_timeout_s)
        during = await replicas.register_worker(self._watch_s(stamps, settings))
        return [{**j, "registration_during": during} for j in judged]

    def _watch_s(self, stamps: list[dict], settings) -> float:
        """The watch of the worker started during the outage ends with the outage: it must not stretch it."""
        injected = min((s["injected_ns"] for s in stamps if s.get("injected_ns")), default=time.time_ns())
        left = injected / 1e9 + self.hold_s(settings) - time.time()
        return round(max(0.5, min(settings.registration_timeout_s, left)), 1)

    async def _bring_back(self, replicas: Replicas, evidence: list, settings, at_once: bool) -> list[dict]:
        if not scales_workload(replicas):
            return await super().restore(replicas, evidence, settings, at_once)
        if not at_once:
            await asyncio.sleep(max(0.0, outage_start_ns(evidence) / 1e9 + self.hold_s(settings) - time.time()))
        return await replicas.bring_back(evidence, settings.verify_timeout_s)

    async def restore(self, replicas: Replicas, evidence: list, settings, at_once: bool = False) -> list[dict] | None:
        restored = await self._bring_back(replicas, evidence, settings, at_once)
        after = await replicas.await_registration(settings.registration_timeout_s)
        line = judge_registration(evidence[0].after.get("registration_during") if evidence else None, after)
        return [{**r, "registration_after": after, "detail": f"{r['detail']}; {line}"} for r in restored]


FAULTS = (
    Outage(name="etcd_outage", role="etcd", kind="outage", order=70, backends=("mocker",),
           migration_variants=False),
    Outage(name="nats_outage", role="nats", kind="outage", order=71, backends=("mocker",),
           migration_variants=False),
)
