"""Deleting one replica (a pod; locally its process is killed and a new replica started in its place)."""

from __future__ import annotations

from runner.faults.base import Fault, Replicas


class PodDelete(Fault):
    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        return await replicas.delete(names)

    async def verify(self, replicas: Replicas, before: list[dict], timeout_s: float, settings=None) -> list[dict]:
        return await replicas.await_replacement("pod", self.role, before, timeout_s)


FAULTS = (
    PodDelete(name="frontend_pod", role="frontend", kind="pod", order=11),
    PodDelete(name="decode_worker_pod", role="decode", kind="pod", order=21),
    PodDelete(name="prefill_worker_pod", role="prefill", kind="pod", order=51),
)
