"""A signal to the main process of one replica: the frontend gets SIGINT (upstream's graceful
frontend fault), a worker SIGKILL. The container (or local supervisor) restarts it."""

from __future__ import annotations

from dataclasses import dataclass

from runner.faults.base import Fault, Replicas


@dataclass(frozen=True)
class ProcessSignal(Fault):
    signal_name: str = "KILL"

    async def inject(self, replicas: Replicas, names: list[str]) -> list[dict]:
        return await replicas.signal(names, self.signal_name, self.processes)

    async def verify(self, replicas: Replicas, before: list[dict], timeout_s: float, settings=None) -> list[dict]:
        return await replicas.await_replacement(self.kind, self.role, before, timeout_s)


FAULTS = (
    ProcessSignal(name="frontend", role="frontend", kind="process", order=10, signal_name="INT"),
    ProcessSignal(name="decode_worker", role="decode", kind="process", order=20),
    ProcessSignal(name="prefill_worker", role="prefill", kind="process", order=50),
)
