"""Pure decisions of the Kubernetes platform, over plain API objects (dicts as the API server sends them).

Nothing here talks to a cluster: readiness of a DGD and of pods, which pod plays which role, how to
find a process from `/proc` in a container, and whether a fault took effect given the evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GRAPH_LABEL = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT_LABEL = "nvidia.com/dynamo-component"
COMPONENT_TYPE_LABEL = "nvidia.com/dynamo-component-type"
MAIN_CONTAINER = "main"



# ---------------------------------------------------------------- DGD and pod readiness


def condition(obj: dict, ctype: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def dgd_ready(dgd: dict) -> tuple[bool, str]:
    """Ready = condition Ready True, state successful, and the status is about the current generation."""
    status = dgd.get("status") or {}
    ready = condition(dgd, "Ready")
    state = status.get("state")
    gen = (dgd.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if gen is not None and observed is not None and observed < gen:
        return False, f"status is for generation {observed}, spec is at {gen}"
    if not ready or ready.get("status") != "True":
        why = f"{ready.get('reason', '')}: {ready.get('message', '')}".strip(": ") if ready else "no Ready condition yet"
        return False, f"Ready is not True ({why}), state {state or 'unset'}"
    if state != "successful":
        return False, f"Ready is True but state is {state or 'unset'}"
    return True, "Ready True, state successful"


def dgd_failure(dgd: dict) -> str | None:
    """The operator's reason when it marked the current generation `failed` (final: no point waiting on)."""
    status = dgd.get("status") or {}
    gen = (dgd.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if status.get("state") != "failed" or (gen is not None and observed is not None and observed < gen):
        return None
    ready = condition(dgd, "Ready") or {}
    if ready.get("status") == "True":
        return None
    return ": ".join(t for t in (ready.get("reason"), ready.get("message")) if t) or "no reason given"


def pod_name(pod: dict) -> str:
    return pod["metadata"]["name"]


def pod_uid(pod: dict) -> str:
    return pod["metadata"].get("uid", "")


def is_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def pod_ready(pod: dict) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True") and not is_terminating(pod)


def container_status(pod: dict, name: str = MAIN_CONTAINER) -> dict:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == name:
            return cs
    return {}


def container_names(pod: dict) -> list[str]:
    spec = pod.get("spec") or {}
    return [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]


def main_container(pod: dict) -> str:
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    return MAIN_CONTAINER if MAIN_CONTAINER in names or not names else names[0]


def restart_count(pod: dict, container: str = MAIN_CONTAINER) -> int:
    return int(container_status(pod, container).get("restartCount", 0))


def role_of_pod(pod: dict, component_roles: dict[str, str]) -> str | None:
    """Role of a pod from the operator's component label, mapped through the DGD's component types."""
    labels = pod["metadata"].get("labels") or {}
    return component_roles.get(labels.get(COMPONENT_LABEL, ""))


def component_of_pod(pod: dict) -> str:
    return (pod["metadata"].get("labels") or {}).get(COMPONENT_LABEL, "unknown")


def live_pods(pods: list[dict]) -> list[dict]:
    return [p for p in pods if not is_terminating(p) and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def pods_by_role(pods: list[dict], component_roles: dict[str, str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for pod in live_pods(pods):
        role = role_of_pod(pod, component_roles)
        if role:
            out.setdefault(role, []).append(pod)
    for role in out:
        out[role].sort(key=pod_name)
    return out


def pods_ready(pods: list[dict], component_roles: dict[str, str], expected: dict[str, int]) -> tuple[bool, str]:
    """Every role has exactly its expected number of live pods, all Ready."""
    by_role = pods_by_role(pods, component_roles)
    problems = []
    for role, want in expected.items():
        have = by_role.get(role, [])
        ready = [p for p in have if pod_ready(p)]
        if len(have) != want or len(ready) != want:
            problems.append(f"{role} {len(ready)}/{want} ready ({len(have)} pods)")
    return (not problems), ("; ".join(problems) or "all pods ready")


def pod_problem(pod: dict) -> str | None:
    """A reason that will not fix itself (image pull, crash loop, unschedulable), else None."""
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"):
            return f"{pod_name(pod)}/{cs.get('name')}: {waiting['reason']}: {waiting.get('message', '')}".strip()
    sched = condition(pod, "PodScheduled")
    if sched and sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
        return f"{pod_name(pod)}: unschedulable: {sched.get('message', '')}"
    return None


def container_summary(pod: dict) -> dict:
    """What the pod history records per transition."""
    status = pod.get("status") or {}
    return {
        "phase": status.get("phase"),
        "ready": pod_ready(pod),
        "terminating": is_terminating(pod),
        "podIP": status.get("podIP"),
        "containers": {
            cs.get("name"): {
                "ready": cs.get("ready"),
                "restartCount": cs.get("restartCount", 0),
                "state": cs.get("state"),
                "lastState": cs.get("lastState"),
            }
            for cs in status.get("containerStatuses") or []
        },
    }


# ---------------------------------------------------------------- processes from /proc


DUMP_SCRIPT = r"""echo "@@SELF $$"
for d in /proc/[0-9]*; do
  [ -r "$d/stat" ] || continue
  printf '@@PROC %s\n' "${d#/proc/}"
  cat "$d/stat" 2>/dev/null
  printf '\n@@CMD\n'
  cat "$d/cmdline" 2>/dev/null
  printf '\n@@END\n'
done
"""

KILL_SCRIPT = r"""pid=$1; want=$2; sig=$3
stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo "@@GONE"; exit 0; }
set -- ${stat##*) }
shift 19
if [ "$1" != "$want" ]; then echo "@@REUSED $1"; exit 0; fi
if kill -s "$sig" "$pid"; then echo "@@SENT"; else echo "@@FAILED $?"; fi
"""


def dump_command() -> list[str]:
    """Lists every process of the pod (shared PID namespace) with stat and raw cmdline; needs only sh and cat."""
    return ["sh", "-c", DUMP_SCRIPT]


def kill_command(pid: int, start_time: int, signal_name: str) -> list[str]:
    """Signals `pid` only if it is still the process that started at `start_time` (no PID-reuse accidents)."""
    return ["sh", "-c", KILL_SCRIPT, "sh", str(pid), str(start_time), signal_name]


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    start_time: int  # clock ticks after boot (/proc/<pid>/stat field 22)
    comm: str
    cmdline: str  # argv joined by spaces

    def as_dict(self) -> dict:
        return {"pid": self.pid, "ppid": self.ppid, "state": self.state, "start_time": self.start_time,
                "comm": self.comm, "cmdline": self.cmdline}


def parse_stat(text: str) -> tuple[str, str, int, int] | None:
    """(comm, state, ppid, starttime) from a /proc/<pid>/stat line; comm may hold spaces and parentheses."""
    open_, close = text.find("("), text.rfind(")")
    if open_ < 0 or close < open_:
        return None
    fields = text[close + 1:].split()
    if len(fields) < 20:
        return None
    return text[open_ + 1:close], fields[0], int(fields[1]), int(fields[19])


def parse_dump(output: str) -> list[Proc]:
    """Processes from DUMP_SCRIPT's output, without the dumping shell itself and its children."""
    self_pid = None
    procs: list[Proc] = []
    for block in output.split("@@PROC ")[1:]:
        head, _, rest = block.partition("\n")
        stat, _, rest = rest.partition("\n@@CMD\n")
        cmd, _, _ = rest.partition("\n@@END")
        parsed = parse_stat(stat.strip())
        if not head.strip().isdigit() or not parsed:
            continue  # the process vanished while being read
        comm, state, ppid, start = parsed
        argv = [a for a in cmd.split("\x00") if a]
        procs.append(Proc(int(head.strip()), ppid, state, start, comm, " ".join(argv)))
    match = re.search(r"@@SELF (\d+)", output)
    if match:
        self_pid = int(match.group(1))
    return [p for p in procs if p.pid != self_pid and p.ppid != self_pid]


def match_processes(procs: list[Proc], patterns: tuple[str, ...]) -> list[Proc]:
    """Processes whose cmdline contains a pattern; the first pattern that matches anything wins.

    Among matches, a process whose parent also matches is dropped (a launcher's children repeat
    its argv), so the main process of a worker is found once.
    """
    for pattern in patterns:
        found = [p for p in procs if pattern in p.cmdline and p.state != "Z"]
        if found:
            pids = {p.pid for p in found}
            return sorted((p for p in found if p.ppid not in pids), key=lambda p: p.pid)
    return []


def main_process_patterns(pod: dict) -> tuple[str, ...]:
    """The Dynamo module the main container runs (`dynamo.frontend`, `dynamo.vllm`, ...), from its spec."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") != main_container(pod):
            continue
        words = list(container.get("command") or []) + list(container.get("args") or [])
        for word in words:
            found = re.search(r"\bdynamo\.[a-z_]+", str(word))
            if found:
                return (found.group(0),)
    return ("dynamo.",)


def parse_kill(output: str) -> str:
    for token in ("@@SENT", "@@GONE", "@@REUSED", "@@FAILED"):
        if token in output:
            return token[2:].lower()
    return "unknown"


# ---------------------------------------------------------------- evidence judgement


def judge_pod_delete(before: dict, after: dict) -> tuple[bool, str]:
    """A pod delete took effect when the pod with the old UID is gone and its container was stopped.

    With grace 0 (a force delete) the API object goes at once and the kubelet stops the container
    later, so the DELETED watch event alone proves nothing about the process: the kubelet's Killing
    event for the pod, or the container seen terminated, must be recorded too. With a grace period
    the object only goes once the kubelet has reported its containers stopped.
    """
    target, uid = before["target"], before.get("uid")
    state = after.get("after") or {}
    if not uid:
        return False, f"{target}: no pod UID recorded before the fault"
    if not after.get("gone_ns"):
        if state.get("terminating"):
            return False, f"{target}: pod {uid} is still terminating (finalizers or grace period hold it)"
        return False, f"{target}: pod {uid} still exists"
    if not state.get("container_stopped_ns") and state.get("grace_period_s") == 0:
        return False, (f"{target}: pod {uid} was force-deleted (grace 0) but its container was not seen stopping "
                       "(no kubelet Killing event for the pod, container never seen terminated)")
    return True, f"{target}: pod UID {uid} gone" + _stop_part(state) + _replacement_part(after)


def _stop_part(state: dict) -> str:
    if state.get("killing_event"):
        return f"; kubelet stopped the container ({state['killing_event'].get('message') or 'Killing'})"
    if state.get("container_terminated_ns"):
        return "; container seen terminated"
    return ""


def _replacement_part(after: dict) -> str:
    if not after.get("replacement"):
        return "; no replacement pod appeared"
    ready = " Ready" if after.get("ready_ns") else " never became Ready"
    return f"; replacement {after['replacement']} (UID {after.get('replacement_uid')}){ready}"


def container_terminated_ns(history: list[dict], container: str, since_ns: int) -> int | None:
    """First status transition at or after `since_ns` (runner clock) showing `container` terminated."""
    for entry in history:
        state = (((entry.get("containers") or {}).get(container) or {}).get("state")) or {}
        if entry.get("runner_ns", 0) >= since_ns and "terminated" in state:
            return entry["runner_ns"]
    return None


def first_after(records: list[dict], since_ns: int) -> dict | None:
    return next((r for r in records if r.get("runner_ns", 0) >= since_ns), None)


def judge_process_kill(before: dict, after: dict) -> tuple[bool, str]:
    """A process/subprocess kill took effect when every targeted PID is gone or a zombie.

    `before` holds the signalled `processes` and the pod's state under `before`; `after` the signal
    results and the pod's state under `after`. A container restart (restartCount up,
    lastState.terminated) is evidence too: the container's processes died with it, even if the
    exec poll came too late to see the PID vanish.
    """
    target = before["target"]
    pids = [p["pid"] for p in before.get("processes") or []]
    if not pids:
        return False, f"{target}: no process matching {before.get('patterns')} was running before the fault"
    sent = after.get("signal_results") or {}
    if not any(r == "sent" for r in sent.values()):
        return False, f"{target}: the signal was not delivered ({sent or 'no result'})"
    was, now = before.get("before") or {}, after.get("after") or {}
    restarted = now.get("restart_count", 0) > was.get("restart_count", 0)
    gone, zombies = set(now.get("pids_gone") or []), set(now.get("pids_zombie") or [])
    missing = [pid for pid in pids if pid not in gone and pid not in zombies]
    if missing and not restarted:
        return False, f"{target}: PID(s) {', '.join(map(str, missing))} still running after the signal"
    parts = [f"{target}: {after.get('signal', 'signal')} to PID(s) {', '.join(map(str, pids))}"]
    if zombies:
        parts.append(f"zombie: {', '.join(map(str, sorted(zombies)))} (parent did not reap)")
    if gone:
        parts.append(f"gone: {', '.join(map(str, sorted(gone)))}")
    parts += _restart_parts(was, now, after.get("ready_ns")) if restarted else ["container did not restart"]
    return True, "; ".join(parts)


def _restart_parts(was: dict, now: dict, ready_ns: int | None) -> list[str]:
    term = (now.get("last_state") or {}).get("terminated") or {}
    counts = f"restartCount {was.get('restart_count', 0)} -> {now['restart_count']}"
    last_exit = f"last exit {term.get('exitCode')} {term.get('reason', '')}".rstrip()
    return [f"container restarted ({counts}, {last_exit})", "Ready again" if ready_ns else "not Ready again"]


# ---------------------------------------------------------------- events


def event_concerns(event: dict, dgd_name: str, pod_names: set[str]) -> bool:
    """Events about the DGD, its pods, or any object the operator named after it."""
    involved = event.get("involvedObject") or event.get("regarding") or {}
    name = involved.get("name", "")
    return name == dgd_name or name in pod_names or name.startswith(dgd_name + "-")


def killed_pod(event: dict) -> str | None:
    """The pod (UID, else name) a kubelet `Killing` event is about ("Stopping container ..."), else None."""
    involved = event.get("involvedObject") or event.get("regarding") or {}
    if event.get("reason") != "Killing" or involved.get("kind") != "Pod":
        return None
    return involved.get("uid") or involved.get("name")


def event_record(event: dict, watch_type: str, received_ns: int) -> dict:
    involved = event.get("involvedObject") or {}
    return {
        "runner_ns": received_ns,
        "watch": watch_type,
        "server_time": event.get("eventTime") or event.get("lastTimestamp") or event.get("firstTimestamp"),
        "first_timestamp": event.get("firstTimestamp"),
        "last_timestamp": event.get("lastTimestamp"),
        "count": event.get("count"),
        "type": event.get("type"),
        "reason": event.get("reason"),
        "message": event.get("message"),
        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
        "reporter": (event.get("source") or {}).get("component") or event.get("reportingComponent"),
        "uid": (event.get("metadata") or {}).get("uid"),
    }
