"""What every fault declares, and the platform primitives a fault is built from.

A fault module defines `FAULTS`, a tuple of Fault instances. The orchestrator owns the timeline:
it snapshots the targets, calls inject(), then verify(), and always restore() (even when the run is
interrupted), and keeps the evidence of each step apart (runner.faults.evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

class Replicas(Protocol):
    """The small set of platform primitives faults are written against (both platforms provide them)."""

    async def snapshot(self, role: str, names: list[str], processes: tuple[str, ...] | None) -> list[dict]:
        """Each target's state before the fault (pid, start time, uid, restarts, ready)."""

    async def signal(self, names: list[str], signal_name: str, processes: tuple[str, ...] | None) -> list[dict]:
        """Send SIG<signal_name> to each replica's main process (or to the processes whose title contains
        one of `processes`); returns per-target stamps (injected_ns, what was sent)."""

    async def delete(self, names: list[str]) -> list[dict]:
        """Delete each replica (its controller replaces it); returns per-target stamps."""

    async def await_replacement(self, kind: str, role: str, before: list[dict], timeout_s: float) -> list[dict]:
        """Until each target's process (kind "process"/"subprocess") or replica ("pod") is gone and its
        replacement is ready; per target: exit, gone_ns, replacement, ready_ns, took_effect, detail."""

    async def process_states(self, names: list[str], processes: tuple[str, ...] | None) -> list[dict]:
        """Each target's process now: target, pid, start_time, state (the /proc state letter)."""

    async def start_replicas(self, role: str, count: int, timeout_s: float) -> list[dict]:
        """`count` new replicas of the role, each until ready: target, started_ns, ready_ns, took_effect, detail."""

    async def stop_replicas(self, names: list[str], timeout_s: float) -> list[dict]:
        """Remove replicas for good (graceful stop, no replacement): per target the stop's stamps
        (injected_ns, pid) and exit, gone_ns, took_effect, detail."""
    async def cut(self, names: list[str], action: str) -> list[dict]:
        """Cut the network between the frontend and each replica (action "partition": drop both ways;
        "reset": answer with TCP resets), established connections included; per target: injected_ns,
        mechanism, ports, connections_cut."""

    async def heal(self, names: list[str]) -> list[dict]:
        """Remove what cut() set; per target: healed_ns, removed, detail."""

    async def probe(self, names: list[str], timeout_s: float) -> list[dict]:
        """A fresh TCP connection to each of the replica's listening ports; per target: ports, outcomes
        (port -> connected | timeout | refused | reset | error text)."""

    async def overload(self, names: list[str]) -> list[dict]:
        """Ramp the request rate at the frontend(s) until it sheds load, hold, drop back; per target: the
        ramp's steps (rate, sent, by outcome class), injected_ns, ended_ns."""

    async def cancel_storm(self, names: list[str]) -> list[dict]:
        """Open many streaming requests and cancel them all mid-stream at once; per target: opened,
        cancelled, inflight_before, injected_ns."""

    async def register_worker(self, timeout_s: float) -> dict:
        """Start one more decode worker and watch (up to timeout_s) for the frontend to list it: registered,
        after_s, detail."""

    async def await_registration(self, timeout_s: float) -> dict:
        """Keep watching the worker register_worker() started: registered, after_s (since it started), detail."""

    async def drained(self, names: list[str], timeout_s: float) -> list[dict]:
        """Until each frontend's in-flight count is 0 (or the timeout); then one fresh request; per target:
        inflight, drained_ns, fresh (the fresh request's outcome)."""


@dataclass(frozen=True)
class Fault:
    """One failure of the catalog: its name, the role it hits, how, where it can run, and how it is shown."""

    name: str
    role: str  # "" for faults that hit no replica
    kind: str  # none | process | pod | subprocess | stall | client
    order: int  # rank in the tables and in the catalog
    local: bool = True  # the local platform can run it (mocker only)
    kubernetes: bool = True  # the Kubernetes platform can run it
    backends: tuple[str, ...] | None = None  # None: every backend
    per_deployment: bool = True  # one scenario per deployment of the catalog (token overflow has its own)
    migration_variants: bool = True  # -migration-on / -migration-off variants exist
    known_limitation: str | None = None  # a documented, expected stage-2 shortfall
    processes: tuple[str, ...] | None = None  # process titles to hit; None: the replica's main process
    min_replicas: int = 1  # replicas of the role the deployment needs (a scale-down needs two)
    every_replica: bool = False  # hits every replica of the role (a rollout), not fault.targets of them

    def applies_to(self, backend: str, mode: str, replicas: int = 1) -> bool:
        if not self.per_deployment or (self.backends is not None and backend not in self.backends):
            return False
        return (self.role != "prefill" or mode == "disagg") and replicas >= self.min_replicas

    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        raise NotImplementedError(f"{self.name} injects nothing")

    async def verify(self, replicas: Replicas, before: list[dict], timeout_s: float, settings=None) -> list[dict]:
        raise NotImplementedError(f"{self.name} has nothing to verify")

    async def check(self, replicas: Replicas, before: list[dict], stamps: list[dict], settings) -> list[dict]:
        """What the fault step calls to verify: verify() by default; faults that need what inject() returned
        or their settings (a network cut's probe) override this instead."""
        return await self.verify(replicas, before, settings.verify_timeout_s, settings)

    async def restore(self, replicas: Replicas, evidence: list, settings, at_once: bool = False) -> list[dict] | None:
        """Undo the fault, given each target's Evidence and the fault settings (`at_once`: now, not when the
        fault's own duration is over: the run is being interrupted); per target what was done and seen
        (took_effect, detail, ready_ns). None: nothing to undo (controllers replace what was killed)."""
        return None
