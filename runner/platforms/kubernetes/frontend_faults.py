"""The Kubernetes platform's load-shaped faults at one frontend pod (a mixin of KubernetesDeployment): the
overload ramp, the cancel storm and the in-flight drain check, run by runner.platforms.frontend_load
against the pod itself, never its Service (the fault names one replica; the Service spreads connections).

How the pod is reached follows the platform's access mode, as the load and the metrics scrapes do:
in the cluster (`service`, or `auto` inside a runner pod) the runner connects to the pod's IP on the
operator's frontend port (8000, which also serves /metrics); from a workstation (`port-forward`) through a
port-forward pinned to that pod, one API-server stream per TCP connection, which the ramp's rates also
measure (the stamp's `access` says which)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from runner.platforms import frontend_load
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes import decide as d
from runner.platforms.kubernetes.observe import PortForwarder
from runner.render.dgd import FRONTEND_PORT

POD_IP, PORT_FORWARD = "pod-ip", "port-forward"
DISCONNECTED = "dynamo_frontend_disconnected_clients"  # the frontend's count of clients gone mid-request


def metric_sum(text: str, name: str) -> float | None:
    """Sum of one metric's samples over its label sets (Prometheus text); None when absent."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if (line.startswith(name + "{") or line.startswith(name + " ")) and " " in line]
    return sum(values) if values else None


async def disconnected_clients(metrics_url: str) -> float | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(metrics_url) as resp:
                return metric_sum(await resp.text(), DISCONNECTED) if resp.status == 200 else None
    except (aiohttp.ClientError, TimeoutError):
        return None


@dataclass(frozen=True)
class FrontendAddress:
    base: str  # http://host:port of the one frontend pod
    access: str  # pod-ip | port-forward

    @property
    def metrics(self) -> str:
        return f"{self.base}/metrics"


def pod_ip_url(pod: dict, port: int = FRONTEND_PORT) -> str:
    """The pod's own address on the port; a pod with no IP yet cannot be hit."""
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        raise PlatformError(f"{d.pod_name(pod)} has no pod IP (phase {(pod.get('status') or {}).get('phase')})")
    return f"http://[{ip}]:{port}" if ":" in ip else f"http://{ip}:{port}"


def frontend_role_check(pod: dict | None, name: str, component_roles: dict[str, str], graph: str) -> dict:
    """The live pod of that name, which must be a frontend of the graph."""
    if pod is None:
        raise PlatformError(f"{name} is not a live pod of {graph}")
    if d.role_of_pod(pod, component_roles) != "frontend":
        raise PlatformError(f"{name} is not a frontend pod of {graph}: overload and cancel storms hit a frontend")
    return pod


def disconnects(before: float | None, after: float | None) -> dict:
    """The clients the frontend saw go mid-request between the storm's start and the drain (the fresh request
    completes, so it is not one): evidence that the cancels reached the frontend, not streams that ended."""
    if before is None or after is None:
        return {"disconnected_clients": None}
    return {"disconnected_clients": int(after - before)}


class FrontendFaults:
    """Needs from its host: _pod(name), component_roles, name (the DGD), api, k8s (access), scenario, tree,
    events; use_pod_ip() says whether the pod IPs are reachable (the platform's access mode)."""

    _disconnected_before: dict[str, float | None]

    def use_pod_ip(self) -> bool:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def _frontend_at(self, name: str) -> AsyncIterator[FrontendAddress]:
        pod = frontend_role_check(self._pod(name), name, self.component_roles, self.name)
        if self.use_pod_ip():
            yield FrontendAddress(pod_ip_url(pod), POD_IP)
            return
        forwarder = PortForwarder(self.api, lambda: name, FRONTEND_PORT)
        try:
            yield FrontendAddress(forwarder.url, PORT_FORWARD)
        finally:
            forwarder.close()

    async def overload(self, names: list[str]) -> list[dict]:
        cfg = self.scenario.config.fault.overload

        async def one(name: str) -> dict:
            async with self._frontend_at(name) as at:
                self.events.write("OverloadRamp", f"Pod/{name}", source="runner", access=at.access,
                                  start_rate_per_s=cfg.start_rate_per_s)
                done = await frontend_load.ramp(at.base, self.scenario.model, cfg,
                                                self.tree / "overload" / f"{name}.jsonl")
            self.events.write("OverloadEnded", f"Pod/{name}", source="runner",
                              first_shed_rate_per_s=done["first_shed_rate_per_s"])
            return {"target": name, "access": at.access, **done}
        return list(await asyncio.gather(*(one(n) for n in names)))

    async def cancel_storm(self, names: list[str]) -> list[dict]:
        cfg = self.scenario.config.fault.cancel_storm

        async def one(name: str) -> dict:
            async with self._frontend_at(name) as at:
                before = await disconnected_clients(at.metrics)
                done = await frontend_load.cancel_storm(at.base, at.metrics, self.scenario.model, cfg)
            self._disconnected_before[name] = before
            self.events.write("CancelStorm", f"Pod/{name}", source="runner", access=at.access, **done)
            return {"target": name, "access": at.access, **done}
        return list(await asyncio.gather(*(one(n) for n in names)))

    async def drained(self, names: list[str], timeout_s: float) -> list[dict]:
        async def one(name: str) -> dict:
            async with self._frontend_at(name) as at:
                done = await frontend_load.drained(at.base, at.metrics, self.scenario.model, timeout_s)
                now = await disconnected_clients(at.metrics)
            return {"target": name, **done, **disconnects(self._disconnected_before.get(name), now)}
        return list(await asyncio.gather(*(one(n) for n in names)))
