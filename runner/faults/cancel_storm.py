"""Cancel storm: many streaming requests cancelled mid-stream at once (their clients close the connection).
The frontend must drain its in-flight requests to 0, no worker may restart, and a fresh request must succeed."""

from __future__ import annotations

from runner.faults.base import Fault, Replicas


def judge_storm(stamp: dict, drain: dict) -> dict:
    """Took effect when every requested stream was open mid-stream when it was cancelled, and, where the platform
    counted them (`disconnected_clients`, the frontend's own count), the frontend saw that many clients go."""
    opened, mid = stamp.get("opened", 0), stamp.get("mid_stream", 0)
    seen = drain.get("disconnected_clients")
    took = opened == stamp.get("requested") and mid == opened and opened > 0 and (seen is None or seen >= mid)
    drained = drain.get("drained_ns")
    after = (f"in flight drained to 0 after {(drained - stamp['injected_ns']) / 1e9:.3f} s" if drained
             else f"in flight still {drain.get('inflight_last')} at the drain timeout")
    fresh = "a fresh request succeeded" if drain.get("fresh_ok") else f"a fresh request failed: {drain.get('fresh_error')}"
    counted = "" if seen is None else f"; the frontend counted {seen} client(s) disconnected"
    if seen is not None and seen < mid:  # a stream the server had sent in full before its cancel came
        counted += (f" (fewer: opening every stream took {stamp.get('opening_s')} s; raise "
                    f"fault.cancel_storm.output_tokens so none ends on the server first)")
    return {"target": stamp["target"], **drain, "took_effect": took, "ready_ns": drained,
            "detail": f"{stamp['target']}: {mid} of {stamp.get('requested')} streams cancelled mid-stream "
                      f"({stamp.get('inflight_before')} in flight before){counted}; {after}; {fresh}"}


class CancelStorm(Fault):
    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        return await replicas.cancel_storm(names)

    async def check(self, replicas: Replicas, before: list[dict], stamps: list[dict], settings) -> list[dict]:
        drains = await replicas.drained([s["target"] for s in stamps], settings.cancel_storm.drain_timeout_s)
        return [judge_storm(s, d) for s, d in zip(stamps, drains, strict=True)]


FAULTS = (CancelStorm(name="cancel_storm", role="frontend", kind="cancel_storm", order=61, migration_variants=False),)
