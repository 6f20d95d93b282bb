"""A rolling upgrade of every replica of a role under load, one replica at a time, as a Deployment's
rollout does: surge (a new replica first, the old one stopped once the new one is ready) or replace
(the old one stopped first). The evidence per replica: its replacement ready and the old one gone;
what the service saw (the longest window with no routable replica) is summary.json's `rollout`.

Where a controller rolls the replicas itself (Kubernetes: the operator, after one pod-template change of
the DGD), the platform provides `roll_role` and the fault asks once, then reads the same per-replica
steps off what the platform observed; the strategy is then a request to the controller, and each step
says which order was seen."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from runner.faults.base import Fault, Replicas


@runtime_checkable
class ControllerRollout(Protocol):
    async def roll_role(self, role: str, names: list[str], strategy: str, timeout_s: float) -> list[dict]:
        """Have the controller replace every replica of the role (names: the old ones, in order); per old
        replica a step as step_record() makes it (target, replacement, started_ns, ready_ns, stop_ns,
        gone_ns, exit, took_effect, detail), waiting at most timeout_s in all."""


def step_record(old: str, new: dict, gone: dict | None) -> dict:
    """One replica's step of the rollout, from the new replica's readiness and the old one's stop."""
    took = bool(new.get("took_effect")) and bool(gone and gone.get("took_effect"))
    parts = [new.get("detail", "no new replica"), gone.get("detail") if gone else f"{old} left running"]
    return {"target": old, "replacement": new.get("target"), "started_ns": new.get("started_ns"),
            "ready_ns": new.get("ready_ns"), "stop_ns": gone.get("injected_ns") if gone else None,
            "gone_ns": gone.get("gone_ns") if gone else None, "exit": gone.get("exit") if gone else None,
            "took_effect": took, "detail": "; ".join(parts)}


class RollingUpgrade(Fault):
    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        """The rollout begins; its steps run in verify() (each waits for the one before)."""
        now = time.time_ns()
        return [{"target": name, "injected_ns": now, "action": "rolling upgrade begun"} for name in names]

    async def verify(self, replicas: Replicas, before: list[dict], timeout_s: float, settings=None) -> list[dict]:
        strategy = settings.rollout_strategy if settings is not None else "surge"
        if isinstance(replicas, ControllerRollout):
            return await replicas.roll_role(self.role, [b["target"] for b in before], strategy,
                                            timeout_s * max(1, len(before)))
        steps = []
        for old in (b["target"] for b in before):
            step = await self._step(replicas, old, strategy, timeout_s)
            steps.append(step)
            if not step["took_effect"]:  # a rollout stops at a replica that did not come up
                break
        return steps + [step_record(b["target"], {"detail": "rollout stopped before this replica"}, None)
                        for b in before[len(steps):]]

    async def _step(self, replicas: Replicas, old: str, strategy: str, timeout_s: float) -> dict:
        if strategy == "replace":
            gone = (await replicas.stop_replicas([old], timeout_s))[0]
            new = (await replicas.start_replicas(self.role, 1, timeout_s))[0]
            return step_record(old, new, gone)
        new = (await replicas.start_replicas(self.role, 1, timeout_s))[0]
        if not new["took_effect"]:
            return step_record(old, new, None)
        return step_record(old, new, (await replicas.stop_replicas([old], timeout_s))[0])


FAULTS = (
    RollingUpgrade(name="frontend_rolling_upgrade", role="frontend", kind="rollout", order=14,
                   migration_variants=False, every_replica=True),
    RollingUpgrade(name="decode_worker_rolling_upgrade", role="decode", kind="rollout", order=30,
                   migration_variants=False, every_replica=True),
    RollingUpgrade(name="prefill_worker_rolling_upgrade", role="prefill", kind="rollout", order=59,
                   migration_variants=False, every_replica=True),
)
