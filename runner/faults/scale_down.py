"""A scale-down under load: one replica of the role removed (graceful stop, not replaced), the role
left one short for `fault.scaled_down_s`, then the count restored with a new replica. What the removed
replica had in flight (drained or dropped) is summary.json's `in_flight`; the time back to full
capacity is the new replica's readiness.

Where a controller removes the pod (Kubernetes: one replica fewer in the DGD), the platform cannot choose
which one goes: its stop result names the pod observed to go (`removed_pod`), and that pod, not the named
target, is what the evidence and the in-flight count are about."""

from __future__ import annotations

import asyncio
import time

from runner.faults.base import Fault, Replicas

STOP_BOUND_S = 120.0  # a graceful stop is bounded by the grace period (SIGKILL after it) well before this


def judge_removed(before: dict, now: dict) -> dict:
    pid = before.get("pid")
    live = [p["pid"] for p in now.get("processes") or []]
    gone = bool(pid) and pid not in live
    seen = f"PID {pid} gone" if gone else f"PID {pid} still running"
    return {"target": before["target"], "took_effect": gone, "detail": f"{before['target']} removed: {seen}"}


def judge_controller_removal(stamp: dict) -> dict:
    """The platform's own observation of the pod the controller removed (gone, not replaced)."""
    return {"target": stamp["target"], "removed_pod": stamp.get("removed_pod"), "gone_ns": stamp.get("gone_ns"),
            "took_effect": bool(stamp.get("took_effect")), "detail": stamp.get("detail", "no detail recorded")}


class ScaleDown(Fault):
    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        """The stop (and the wait for the process to exit: its drain) happen here; injected_ns is the SIGTERM."""
        return await replicas.stop_replicas(names, STOP_BOUND_S)

    async def check(self, replicas: Replicas, before: list[dict], stamps: list[dict], settings) -> list[dict]:
        if any("removed_pod" in s for s in stamps):
            return [judge_controller_removal(s) for s in stamps]
        return await self.verify(replicas, before, settings.verify_timeout_s, settings)

    async def verify(self, replicas: Replicas, before: list[dict], timeout_s: float, settings=None) -> list[dict]:
        now = await replicas.process_states([b["target"] for b in before], None)
        return [judge_removed(b, n) for b, n in zip(before, now, strict=True)]

    async def restore(self, replicas: Replicas, evidence: list, settings, at_once: bool = False) -> list[dict] | None:
        injected = min((e.injected_ns for e in evidence if e.injected_ns), default=time.time_ns())
        if not at_once:
            await asyncio.sleep(max(0.0, injected / 1e9 + settings.scaled_down_s - time.time()))
        added = await replicas.start_replicas(self.role, len(evidence), settings.verify_timeout_s)
        return [{**a, "replacement": a["target"], "detail": f"scaled back up: {a['detail']}"} for a in added]


FAULTS = (
    ScaleDown(name="decode_worker_scale_down", role="decode", kind="scale", order=31, min_replicas=2,
              migration_variants=False),
)
