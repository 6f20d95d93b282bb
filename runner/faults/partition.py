"""The network between the frontend and one worker cut (a partition: packets dropped both ways) or answered
with TCP resets (a connection reset), for a set time, then healed.

A new firewall rule does not touch a pooled connection that is already open, so the platform cuts the
established connections too. The cut counts only when a probe proves it: a fresh connection to the
worker's ports fails while the cut is in place and succeeds after it is healed. A reset fault with
`fault.reset_s` 0 resets the established connections once and leaves new ones alone.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from runner.faults.base import Fault, Replicas

CONNECTED = "connected"
# What a probe sees through each cut: dropped packets time out; a reset rule refuses the connection.
BLOCKED = {"partition": ("timeout",), "reset": ("refused", "reset")}
HEAL_PROBE_S = 0.1
HEAL_PROBE_LIMIT_S = 10.0


def _outcomes(probe: dict) -> dict[str, str]:
    return {str(port): outcome for port, outcome in (probe.get("outcomes") or {}).items()}


def _listed(outcomes: dict[str, str]) -> str:
    return ", ".join(f"port {port} {outcome}" for port, outcome in outcomes.items()) or "no port probed"


def judge_cut(action: str, stamp: dict, probe: dict, once: bool) -> dict:
    """The cut holds when every probed port is blocked the way the action blocks it (a reset-once fault:
    when established connections were reset and new ones still connect)."""
    outcomes, cut = _outcomes(probe), int(stamp.get("connections_cut") or 0)
    if once:
        took = cut > 0 and bool(outcomes) and all(o == CONNECTED for o in outcomes.values())
        seen = f"{cut} established connection(s) reset; probe: {_listed(outcomes)}"
    else:
        took = bool(outcomes) and all(o in BLOCKED[action] for o in outcomes.values())
        seen = f"probe during the cut: {_listed(outcomes)}; {cut} established connection(s) cut"
    return {"target": probe["target"], "probe_during": outcomes, "took_effect": took,
            "detail": f"{probe['target']} ({stamp.get('mechanism', 'no mechanism')}): {seen}"}


def judge_healed(heal: dict, probe: dict, healed_ns: int, reachable_ns: int | None) -> dict:
    """Healed when the rules are gone and a fresh connection to every port succeeds again."""
    outcomes = _outcomes(probe)
    took = bool(heal.get("removed")) and bool(outcomes) and all(o == CONNECTED for o in outcomes.values())
    return {"probe_after": outcomes, "healed_ns": healed_ns, "ready_ns": reachable_ns if took else None,
            "took_effect": took, "detail": f"after healing: {_listed(outcomes)}"
            + ("" if heal.get("removed") else f" (rules not removed: {heal.get('detail', 'no detail')})")}


@dataclass(frozen=True)
class NetworkCut(Fault):
    action: str = "partition"  # partition | reset

    def _seconds(self, settings) -> float:
        return settings.partition_s if self.action == "partition" else settings.reset_s

    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        return await replicas.cut(names, self.action)

    async def check(self, replicas: Replicas, before: list[dict], stamps: list[dict], settings) -> list[dict]:
        probes = await replicas.probe([s["target"] for s in stamps], settings.probe_timeout_s)
        once = self.action == "reset" and settings.reset_s == 0
        return [judge_cut(self.action, s, p, once) for s, p in zip(stamps, probes, strict=True)]

    async def restore(self, replicas: Replicas, evidence: list, settings, at_once: bool = False) -> list[dict] | None:
        injected = min((e.injected_ns for e in evidence if e.injected_ns), default=time.time_ns())
        if not at_once:
            await asyncio.sleep(max(0.0, injected / 1e9 + self._seconds(settings) - time.time()))
        names = [e.target for e in evidence]
        heals = await replicas.heal(names)
        healed = time.time_ns()
        probes, reachable = await _probe_until_reachable(replicas, names, settings.probe_timeout_s)
        return [judge_healed(h, p, healed, reachable) for h, p in zip(heals, probes, strict=True)]


async def _probe_until_reachable(replicas: Replicas, names: list[str], timeout_s: float) -> tuple[list[dict], int | None]:
    """Probe until every port of every target connects (or HEAL_PROBE_LIMIT_S); when it first did."""
    deadline = time.monotonic() + HEAL_PROBE_LIMIT_S
    while True:
        probes = await replicas.probe(names, timeout_s)
        if all(o == CONNECTED for p in probes for o in _outcomes(p).values()):
            return probes, time.time_ns()
        if time.monotonic() >= deadline:
            return probes, None
        await asyncio.sleep(HEAL_PROBE_S)


FAULTS = (
    NetworkCut(name="decode_worker_partition", role="decode", kind="partition", order=24),
    NetworkCut(name="prefill_worker_partition", role="prefill", kind="partition", order=54),
    NetworkCut(name="decode_worker_conn_reset", role="decode", kind="reset", order=29, action="reset"),
)
