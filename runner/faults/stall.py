"""A hung process: SIGSTOP for `fault.stall_s`, then SIGCONT. Its TCP connections stay open, so requests
routed to it wait; the evidence is the process in state T during the stall and running again, with the
same PID, after it."""

from __future__ import annotations

import asyncio
import time

from runner.faults.base import Fault, Replicas

STOPPED = "T"
STATE_POLL_S = 0.05


def _pids(before: dict) -> list[int]:
    """The target's processes before the fault: listed flat (local, Evidence.before) or in a Kubernetes
    snapshot's own `before` section."""
    processes = before.get("processes") or (before.get("before") or {}).get("processes") or []
    listed = [p["pid"] for p in processes]
    return listed or ([before["pid"]] if before.get("pid") else [])


def _states(now: dict) -> dict[int, str]:
    return {p["pid"]: p["state"] for p in now.get("processes") or []}


def _seen(pids: list[int], states: dict[int, str]) -> str:
    return ", ".join(f"PID {pid} state {states.get(pid, 'gone')}" for pid in pids) or "no process"


def judge_stopped(before: dict, now: dict) -> dict:
    pids, states = _pids(before), _states(now)
    stopped = bool(pids) and all(states.get(pid) == STOPPED for pid in pids)
    seen = _seen(pids, states)
    return {"target": before["target"], "states": states, "took_effect": stopped,
            "detail": f"{before['target']}: {seen} during the stall"}


def judge_continued(evidence, now: dict, continued_ns: int) -> dict:
    pids, states = _pids(evidence.before), _states(now)
    running = bool(pids) and all(states.get(pid) not in (None, STOPPED, "Z") for pid in pids)
    seen = _seen(pids, states)
    return {"states": states, "continued_ns": continued_ns, "ready_ns": continued_ns if running else None,
            "took_effect": running, "detail": f"after SIGCONT: {seen}" + ("" if running else " (not running again)")}


class Stall(Fault):
    def hold_s(self, settings) -> float:
        return settings.stall_s

    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        return await replicas.signal(names, "STOP", self.processes)

    async def verify(self, replicas: Replicas, before: list[dict], timeout_s: float, settings=None) -> list[dict]:
        """The stopped state shows once the kernel has delivered the signal: look until it does (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            now = await replicas.process_states([b["target"] for b in before], self.processes)
            judged = [judge_stopped(b, n) for b, n in zip(before, now, strict=True)]
            if all(j["took_effect"] for j in judged) or time.monotonic() >= deadline:
                return judged
            await asyncio.sleep(STATE_POLL_S)

    async def restore(self, replicas: Replicas, evidence: list, settings, at_once: bool = False) -> list[dict] | None:
        injected = min((e.injected_ns for e in evidence if e.injected_ns), default=time.time_ns())
        if not at_once:
            await asyncio.sleep(max(0.0, injected / 1e9 + self.hold_s(settings) - time.time()))
        names = [e.target for e in evidence]
        await replicas.signal(names, "CONT", self.processes)
        continued = time.time_ns()
        now = await replicas.process_states(names, self.processes)
        return [judge_continued(e, n, continued) for e, n in zip(evidence, now, strict=True)]


FAULTS = (
    Stall(name="frontend_stall", role="frontend", kind="stall", order=12, migration_variants=False),
    Stall(name="decode_worker_stall", role="decode", kind="stall", order=22),
    Stall(name="prefill_worker_stall", role="prefill", kind="stall", order=52),
)
