"""Overload: a request-rate ramp at the frontend on top of the load until the frontend sheds (529 busy, or
503), the shedding rate held, then back to the load alone. The fault took effect when load was shed; the
results must show shedding rather than timeouts or crashes, and full success again after the ramp."""

from __future__ import annotations

from runner.faults.base import Fault, Replicas

SHED_CLASSES = ("overloaded_529", "unavailable_503")
HARD_CLASSES = ("timeout", "connection")


def totals(steps: list[dict]) -> dict[str, int]:
    """Counts over the ramp's steps, by outcome class."""
    out: dict[str, int] = {}
    for step in steps:
        for key, value in step.items():
            if key not in ("rate_per_s", "held"):
                out[key] = out.get(key, 0) + int(value)
    return out


def judge_shed(stamp: dict) -> dict:
    steps = stamp.get("steps") or []
    counts = totals(steps)
    shed = sum(counts.get(c, 0) for c in SHED_CLASSES)
    top = max((s["rate_per_s"] for s in steps), default=0)
    first = stamp.get("first_shed_rate_per_s")
    seen = (f"{shed} of {counts.get('sent', 0)} ramp requests shed ({', '.join(f'{c} {counts.get(c, 0)}' for c in SHED_CLASSES)})"
            + (f", first at {first:g} req/s" if first else f", none up to {top:g} req/s (is the busy threshold set?)"))
    return {"target": stamp["target"], "took_effect": shed > 0, "ready_ns": stamp.get("ended_ns"),
            "detail": f"{stamp['target']}: {seen}"}


def overload_args(scenario, part: str) -> list[str]:
    """What an overload scenario's deployment is started with, on either platform: its frontend sheds load above
    its busy threshold (HTTP 529); its mocker workers get a KV cache small enough to fill at the ramp's rates. A
    GPU engine's KV cache is its own: only the threshold."""
    if scenario.entry.fault_kind != "overload":
        return []
    cfg = scenario.config.fault.overload
    if part == "frontend":
        return ["--active-decode-blocks-threshold", str(cfg.busy_threshold)]
    if scenario.entry.backend == "mocker":
        return ["--num-gpu-blocks-override", str(cfg.kv_blocks), "--block-size", str(cfg.block_size)]
    return []


class Overload(Fault):
    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        return await replicas.overload(names)

    async def check(self, replicas: Replicas, before: list[dict], stamps: list[dict], settings) -> list[dict]:
        return [judge_shed(s) for s in stamps]


FAULTS = (Overload(name="overload", role="frontend", kind="overload", order=60, migration_variants=False),)
