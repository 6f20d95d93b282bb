"""An etcd or NATS outage (local platform, planes etcd-nats, never by default): the server is stopped (SIGSTOP:
its clients' requests hang, as when it is unreachable) for `fault.outage_s`, then continued. What keeps
working is measured: the load's requests, and whether a worker started during the outage registers with the
frontend (during it, and after it)."""

from __future__ import annotations

from runner.faults.base import Replicas
from runner.faults.stall import Stall


def judge_registration(during: dict, after: dict | None) -> str:
    def seen(r: dict | None) -> str:
        if not r:
            return "not watched"
        return f"registered after {r['after_s']:.2f} s" if r.get("registered") else f"not registered ({r.get('detail', '')})"
    return f"a worker started during the outage: {seen(during)} during it; {seen(after)} after it"


class Outage(Stall):
    def hold_s(self, settings) -> float:
        return settings.outage_s

    async def check(self, replicas: Replicas, before: list[dict], stamps: list[dict], settings) -> list[dict]:
        judged = await self.verify(replicas, before, settings.verify_timeout_s)
        during = await replicas.register_worker(settings.registration_timeout_s)
        return [{**j, "registration_during": during} for j in judged]

    async def restore(self, replicas: Replicas, evidence: list, settings, at_once: bool = False) -> list[dict] | None:
        restored = await super().restore(replicas, evidence, settings, at_once)
        after = await replicas.await_registration(settings.registration_timeout_s)
        line = judge_registration(evidence[0].after.get("registration_during") if evidence else None, after)
        return [{**r, "registration_after": after, "detail": f"{r['detail']}; {line}"} for r in restored]


FAULTS = (
    Outage(name="etcd_outage", role="etcd", kind="outage", order=70, backends=("mocker",), migration_variants=False,
           kubernetes=False),
    Outage(name="nats_outage", role="nats", kind="outage", order=71, backends=("mocker",), migration_variants=False,
           kubernetes=False),
)
