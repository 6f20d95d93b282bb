"""etcd / NATS outages on Kubernetes: the user's own workload named in kubernetes.outage_targets is scaled to 0
through its scale subresource for fault.outage_s, then back to the replicas it had, until that many of its pods
are Ready again.

Why the scale subresource and not a signal through pods/exec (which the Role already grants): the servers'
official images carry no shell (etcd's is distroless, NATS's is built from scratch), so the runner's /proc
listing and kill script (sh, cat) cannot run in them; and the server is its container's PID 1, which a signal
sent from inside its own PID namespace cannot stop. Scaling needs only get and patch on `<kind>s/scale` (the
chart's opt-in rbac.planeOutages), never the workload's pod template. It is another outage than the local
SIGSTOP: the server's pods go (SIGTERM, then gone), so its clients see refused or failing connections rather
than a hang, and it comes back by a restart (with its data only if its volume keeps it).

The restore always runs: the fault step calls bring_back() in a finally, and take_down() scales back at once if
anything fails after its patch. A runner killed during an outage (SIGKILL, OOM) cannot: the workload then stays
at 0 until it is scaled back by hand; the events and the evidence record the replicas it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp

from runner.core.config import KubernetesConfig
from runner.core.errors import UserError
from runner.faults.outage import outage_roles
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes import decide as d

PLANE_ROLES = ("etcd", "nats")
# on the DGD while a workload is down: what to scale back, for the reaper sidecar if the runner dies meanwhile
RESTORE_ANNOTATION = "dynamo-ft-runner/plane-outage"
MECHANISM = "scale-subresource"
PATCH_TRIES = 3
HEALTH_TIMEOUT_S = 2.0  # one /health call of the registration watch: it must not stretch the outage


# ---------------------------------------------------------------- pure


def workload_of(role: str, k8s: KubernetesConfig) -> str | None:
    return getattr(k8s.outage_targets, role) if role in PLANE_ROLES else None


def restore_note(workload: str, replicas: int) -> str:
    return json.dumps({"workload": workload, "replicas": replicas}, sort_keys=True)


def restores_due(dgds: list[dict]) -> list[tuple[str, int]]:
    """(workload, replicas) of every outage the DGDs' annotations say is not over (the reaper scales them back)."""
    due = []
    for dgd in dgds:
        note = ((dgd.get("metadata") or {}).get("annotations") or {}).get(RESTORE_ANNOTATION)
        try:
            parsed = json.loads(note) if note else None
            if parsed:
                due.append((str(parsed["workload"]), int(parsed["replicas"])))
        except (ValueError, KeyError, TypeError):
            continue
    return due


def missing_target(scenario_name: str, role: str, namespace: str) -> str:
    return (f"{scenario_name} takes down your own {role} on Kubernetes: name its workload with "
            f"kubernetes.outage_targets.{role} (statefulset/NAME or deployment/NAME in namespace {namespace}; "
            "never defaulted)")


def _running(pod: dict) -> bool:
    """A container of the pod still runs (a terminating pod's server may still serve open connections: a
    ClusterIP Service drops it for new connections only)."""
    return any("running" in (cs.get("state") or {}) for cs in (pod.get("status") or {}).get("containerStatuses") or [])


def pods_state(pods: list[dict]) -> dict:
    """The workload's pods as the outage judges them: each one's name, UID, Ready, running, terminating."""
    listed = [{"name": d.pod_name(p), "uid": d.pod_uid(p), "ready": d.pod_ready(p), "running": _running(p),
               "terminating": d.is_terminating(p)} for p in pods]
    return {"pods": listed, "present": len(listed), "ready": sum(1 for p in listed if p["ready"]),
            "running": sum(1 for p in listed if p["running"])}


def scale_counts(scale: dict | None) -> tuple[int | None, int | None]:
    """(spec.replicas, status.replicas) of a Scale; None where the object or the field is missing."""
    if scale is None:
        return None, None
    spec, status = (scale.get("spec") or {}).get("replicas"), (scale.get("status") or {}).get("replicas")
    return (None if spec is None else int(spec)), (None if status is None else int(status))


def _since(ns: int | None, start: int) -> str:
    return "not seen" if ns is None else f"{(ns - start) / 1e9:.2f} s after the patch"


def judge_down(target: str, injected_ns: int, state: dict, down_ns: int | None, gone_ns: int | None,
               stopped_ns: int | None = None) -> dict:
    """Down = no pod of the workload Ready (no new connection reaches it); stopped = no server container runs
    (open connections end too); gone = no pod left at all."""
    took = state["ready"] == 0
    stopped_ns = stopped_ns or gone_ns
    detail = (f"{target} scaled to 0 ({MECHANISM}): no pod Ready {_since(down_ns, injected_ns)}, no server "
              f"running {_since(stopped_ns, injected_ns)}, every pod gone {_since(gone_ns, injected_ns)}")
    if not took:
        detail += f"; still {state['ready']} pod(s) Ready: the outage did not happen"
    return {"target": target, "down_ns": down_ns, "stopped_ns": stopped_ns, "gone_ns": gone_ns,
            "pods_after": state["pods"],
            "took_effect": took, "detail": detail}


def judge_back(target: str, want: int, scaled_back_ns: int | None, state: dict, ready_ns: int | None,
               error: str | None = None) -> dict:
    """Back = as many pods Ready as it had before; continued_ns (the outage's end) is when that was seen."""
    took = error is None and ready_ns is not None and state["ready"] >= want
    if error:
        detail = f"{target} NOT scaled back to {want}: {error}; scale it back by hand (kubectl scale {target} " \
                 f"--replicas={want})"
    elif took:
        detail = f"{target} scaled back to {want}: {state['ready']} pod(s) Ready {_since(ready_ns, scaled_back_ns)}"
    else:
        detail = f"{target} scaled back to {want}, but only {state['ready']} pod(s) Ready in time"
    return {"target": target, "scaled_back_ns": scaled_back_ns, "ready_ns": ready_ns if took else None,
            "continued_ns": ready_ns if took else scaled_back_ns, "replicas": want, "pods_back": state["pods"],
            "took_effect": took, "detail": detail}


def judge_registration(new_ready: bool, instances: int | None, before: int, started_ns: int | None,
                       seen_ns: int | None, why_no_pod: str, health_error: str = "") -> dict:
    """A worker added during the outage registered once the frontend lists more generate instances than the
    workers it had; without a new Ready pod, why (the scale patch's diagnosis)."""
    if started_ns is None:
        return {"registered": False, "after_s": None, "detail": "no worker was started"}
    if instances is not None and instances > before and seen_ns is not None:
        return {"registered": True, "after_s": round((seen_ns - started_ns) / 1e9, 3), "instances": instances}
    pod = "a new decode pod is Ready" if new_ready else f"no new decode pod Ready ({why_no_pod})"
    listed = (f"the frontend's /health did not answer{f' ({health_error})' if health_error else ''}"
              if instances is None
              else f"the frontend listed {instances} generate instance(s) for {before} other worker(s)")
    return {"registered": False, "after_s": None, "instances": instances, "detail": f"{pod}; {listed}"}


# ---------------------------------------------------------------- the workload, through the API


class PlaneOutage:
    """Scales the named workload down and back and watches its pods (KubeApi calls run in threads)."""

    def __init__(self, api, k8s: KubernetesConfig, on_event: Callable[..., None],
                 note: Callable[[str | None], Awaitable[None]] | None = None):
        self.api, self.k8s, self.on_event, self.note = api, k8s, on_event, note
        self.poll_s = min(k8s.poll_interval_s, 0.5)

    def replicas(self, role: str) -> list[str]:
        workload = workload_of(role, self.k8s)
        return [workload] if workload else []

    async def _scale(self, workload: str) -> dict:
        scale = await asyncio.to_thread(self.api.get_scale, workload)
        if scale is None:
            raise PlatformError(f"{workload} does not exist in namespace {self.api.namespace}")
        return scale

    async def _pods(self, scale: dict) -> dict:
        selector = (scale.get("status") or {}).get("selector") or ""
        if not selector:
            return pods_state([])
        pods, _ = await asyncio.to_thread(self.api.list_pods, selector)
        return pods_state(pods)

    async def snapshot(self, role: str, names: list[str]) -> list[dict]:
        out = []
        for name in names:
            scale = await self._scale(name)
            spec, status = scale_counts(scale)
            state = await self._pods(scale)
            out.append({"target": name, "before": {"snapshot_ns": time.time_ns(), "role": role, "replicas": spec,
                                                    "status_replicas": status, "selector": scale["status"].get(
                                                        "selector"), **state}})
        return out

    async def take_down(self, names: list[str]) -> list[dict]:
        return [await self._take_down(name) for name in names]

    async def _take_down(self, name: str) -> dict:
        want, _ = scale_counts(await self._scale(name))
        if not want:
            raise PlatformError(f"{name} runs 0 replicas: there is no server to take down")
        if self.note:  # first: a runner that dies after the patch leaves the way back on its DGD
            await self.note(restore_note(name, want))
        stamp = time.time_ns()
        try:  # a patch whose answer was lost may have applied: scale back before giving up
            await asyncio.to_thread(self.api.patch_scale, name, 0)
            self.on_event("PlaneScaledDown", name, mechanism=MECHANISM, replicas_before=want)
        except Exception:
            with contextlib.suppress(PlatformError, UserError):
                await self._patch_back(name, want)
            raise
        return {"target": name, "injected_ns": stamp, "mechanism": MECHANISM, "replicas_before": want,
                "action": f"scale {name} {want} -> 0"}

    async def await_down(self, before: list[dict], stamps: list[dict], timeout_s: float) -> list[dict]:
        return [await self._await_down(b["target"], s["injected_ns"], timeout_s) for b, s in zip(before, stamps,
                                                                                                   strict=True)]

    async def _await_down(self, name: str, injected_ns: int, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        down_ns = stopped_ns = gone_ns = None
        while True:
            scale = await self._scale(name)
            state, now = await self._pods(scale), time.time_ns()
            down_ns = down_ns or (now if state["ready"] == 0 else None)
            stopped_ns = stopped_ns or (now if state["running"] == 0 else None)
            gone_ns = gone_ns or (now if state["present"] == 0 and scale_counts(scale)[1] == 0 else None)
            if gone_ns or time.monotonic() >= deadline:
                return judge_down(name, injected_ns, state, down_ns, gone_ns, stopped_ns)
            await asyncio.sleep(self.poll_s)

    async def bring_back(self, evidence: list, timeout_s: float) -> list[dict]:
        return [await self._bring_back(e, timeout_s) for e in evidence]

    async def _bring_back(self, evidence, timeout_s: float) -> dict:
        name = evidence.target
        want = evidence.injected.get("replicas_before") or evidence.before.get("replicas") or 1
        try:
            scaled_back_ns = await self._patch_back(name, want)
        except (PlatformError, UserError) as exc:
            return judge_back(name, want, None, pods_state([]), None, error=str(exc))
        self.on_event("PlaneScaledBack", name, mechanism=MECHANISM, replicas=want)
        if self.note:
            with contextlib.suppress(PlatformError, UserError):
                await self.note(None)
        deadline, ready_ns = time.monotonic() + timeout_s, None
        while True:
            scale = await self._scale(name)
            state = await self._pods(scale)
            if state["ready"] >= want and scale_counts(scale)[1] == want:
                ready_ns = time.time_ns()
            if ready_ns or time.monotonic() >= deadline:
                return judge_back(name, want, scaled_back_ns, state, ready_ns)
            await asyncio.sleep(self.poll_s)

    async def _patch_back(self, name: str, want: int) -> int:
        """Scale back, retried: the restore must not give up on one failed call."""
        for attempt in range(PATCH_TRIES):
            try:
                stamp = time.time_ns()
                await asyncio.to_thread(self.api.patch_scale, name, want)
                return stamp
            except (PlatformError, UserError):
                if attempt == PATCH_TRIES - 1:
                    raise
                await asyncio.sleep(1.0)
        raise AssertionError("unreachable")


def preflight(api, k8s: KubernetesConfig, scenarios: list) -> None:
    """Before any graph: each outage's workload is named, exists, and its scale can be read and patched."""
    for scenario in scenarios:
        for role in outage_roles(scenario):
            workload = workload_of(role, k8s)
            if workload is None:
                raise UserError(missing_target(scenario.name, role, k8s.namespace))
            api.check_scale(workload, f"kubernetes.outage_targets.{role}")


# ---------------------------------------------------------------- a worker added during the outage


class WorkerRegistration:
    """One more decode replica asked for during the outage (a DGD patch: the operator starts the pod), watched
    until the frontend lists one more generate instance. What this can observe: the patch, the new pod and its
    readiness (pod watch), the frontend's /health."""

    def __init__(self, scale_up: Callable[[str, int, float], Awaitable[list[dict]]],
                 decode_pods: Callable[[], list[dict]], frontend: Callable[[], str], session: Callable):
        self.scale_up, self.decode_pods, self.frontend, self.session = scale_up, decode_pods, frontend, session
        self.started_ns: int | None = None
        self.before_uids: set[str] = set()
        self.why_no_pod = "not asked"
        self.health_error = ""

    def _new_ready(self) -> bool:
        return any(d.pod_uid(p) not in self.before_uids and d.pod_ready(p) for p in self.decode_pods())

    async def _instances(self, timeout_s: float) -> int | None:
        """Generate instances the frontend's /health lists; None (and why) when it does not answer in time."""
        try:
            timeout = aiohttp.ClientTimeout(total=max(0.2, min(HEALTH_TIMEOUT_S, timeout_s)))
            async with (await self.session()).get(f"{self.frontend()}/health", timeout=timeout) as resp:
                body = await resp.json(content_type=None)
                return sum(1 for i in body.get("instances") or [] if i.get("endpoint") == "generate")
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError, PlatformError) as exc:
            self.health_error = f"{type(exc).__name__} {exc}".strip()[:160]
            return None

    async def start(self, timeout_s: float) -> dict:
        self.before_uids = {d.pod_uid(p) for p in self.decode_pods()}
        self.started_ns = time.time_ns()
        deadline = time.monotonic() + timeout_s
        try:
            results = await self.scale_up("decode", 1, timeout_s)
            self.why_no_pod = "; ".join(r.get("detail", "") for r in results if not r.get("took_effect")) or "none"
        except (PlatformError, UserError) as exc:
            self.why_no_pod = f"the scale-up patch failed: {exc}"
        return await self.watch(max(0.0, deadline - time.monotonic()))

    async def watch(self, timeout_s: float) -> dict:
        before = len(self.before_uids)
        deadline, instances = time.monotonic() + timeout_s, None
        while self.started_ns is not None:
            instances = await self._instances(deadline - time.monotonic())
            if instances is not None and instances > before:
                return judge_registration(True, instances, before, self.started_ns, time.time_ns(), "")
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.2)
        return judge_registration(self._new_ready(), instances, before, self.started_ns, None, self.why_no_pod,
                                  "" if instances is not None else self.health_error)
