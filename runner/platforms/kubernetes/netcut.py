"""Cutting one worker pod off from the frontend pods: an ephemeral container in the worker's own network
namespace (the pods/ephemeralcontainers subresource) with NET_ADMIN, running as root, whose command

  1. lists the pod's listening TCP ports (what the probe then tries),
  2. adds an iptables chain of its own, jumped to from the top of INPUT and OUTPUT, that matches only
     the frontend pods' IPs: a partition DROPs every packet both ways (the resets of the connections
     killed in step 3 are let out, so the frontend learns at once that its pooled connections are gone,
     as the local platform's `ss -K` of both ends does); a reset REJECTs the frontends' TCP packets with
     a TCP reset, and the worker's own new connections to them;
  3. kills the established connections to the frontends (`ss -K`),
  4. holds for the fault's seconds (its own timer: an ephemeral container cannot be stopped from
     outside, and the cut must end even when the runner dies) or until the runner asks it to heal early
     (a file it creates through pods/exec), or until SIGTERM (the pod is deleted),
  5. removes its chain (saying when it starts: the cut ends there), checks it is gone, and exits.

Each step prints one `@@FT-NETCUT` line, so the runner reads what happened from the container's log.
A reset with `fault.reset_s` 0 only kills the established connections (steps 1, 3, 5).

The probe that proves the cut runs in the frontend's main container (pods/exec): a fresh TCP connection
from the frontend's own address to each of the worker's ports, with Python (every Dynamo image has it).

The pure part (the container, its command, parsing its log and the probe's output) is tested alone;
PodNetCut is the I/O at the edge, on KubeApi's methods.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shlex
import time
from dataclasses import dataclass, field

from runner.core.errors import UserError
from runner.faults import get
from runner.platforms.base import PlatformError

MECHANISM = "ephemeral-container"
KINDS = ("partition", "reset")  # the fault kinds cut here
NAME_PREFIX = "ft-netcut-"
MARK = "@@FT-NETCUT"
PROBE_MARK = "@@FT-PROBE"
HEAL_FILE = "/tmp/ft-netcut-heal"
POLL_S = 0.2
HEAL_TIMEOUT_S = 30.0

# --------------------------------------------------------------------------- the container


def cuts_network(scenario) -> bool:
    """The scenario (any of its fault steps) is a partition or a connection reset."""
    names = [getattr(step, "fault", None) for step in scenario.steps]
    return scenario.entry.fault_kind in KINDS or any(get(n).kind in KINDS for n in names if n)


def image_for(configured: str | None, env: dict) -> str:
    """kubernetes.network_fault_image, else the runner's own image (the chart sets FT_RUNNER_IMAGE)."""
    image = configured or env.get("FT_RUNNER_IMAGE")
    if not image:
        raise UserError("partition and connection-reset faults need an image with sh, iptables and ss for their "
                        "ephemeral container: set kubernetes.network_fault_image (the runner image has them)")
    return image


def chain_name(container: str) -> str:
    """iptables chain names are at most 28 characters."""
    return "FT-" + container.removeprefix(NAME_PREFIX).upper()[:25]


def peer_ips(pods: list[dict]) -> list[str]:
    """The IPv4 addresses of the given (frontend) pods, as their status lists them."""
    ips: set[str] = set()
    for pod in pods:
        status = pod.get("status") or {}
        for ip in [p.get("ip") for p in status.get("podIPs") or []] + [status.get("podIP")]:
            if ip and ipaddress.ip_address(ip).version == 4:
                ips.add(ip)
    return sorted(ips)


def rules(chain: str, peers: list[str], action: str) -> list[list[str]]:
    """The chain's rules (iptables arguments after `-A CHAIN`)."""
    out: list[list[str]] = []
    for ip in peers:
        if action == "partition":
            out += [["-s", ip, "-j", "DROP"],
                    ["-d", ip, "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "ACCEPT"],
                    ["-d", ip, "-j", "DROP"]]
        else:
            out += [["-s", ip, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
                    ["-d", ip, "-p", "tcp", "--syn", "-j", "REJECT", "--reject-with", "tcp-reset"]]
    return [["-A", chain, *rule] for rule in out]


def ss_filter(peers: list[str]) -> str:
    terms = " or ".join(f"dst {ip}" for ip in peers)
    return f"state established '(' {terms} ')'"


def script(chain: str, peers: list[str], action: str, seconds: float, once: bool, heal_file: str = HEAL_FILE) -> str:
    """The ephemeral container's command (POSIX sh; iptables, ss, date, sleep, sed)."""
    ipt = "iptables -w 5"
    add = "\n".join(f"out=$({ipt} {' '.join(shlex.quote(a) for a in rule)} 2>&1) || fail \"adding a rule: $out\""
                     for rule in rules(chain, peers, action))
    hold_ns = int(seconds * 1e9)
    lines = [
        "set -u",
        f"say() {{ echo \"{MARK} $*\"; }}",
        f"cleanup() {{ while {ipt} -D INPUT -j {chain} 2>/dev/null; do :; done; "
        f"while {ipt} -D OUTPUT -j {chain} 2>/dev/null; do :; done; "
        f"{ipt} -F {chain} 2>/dev/null; {ipt} -X {chain} 2>/dev/null; "
        f"if {ipt} -S {chain} >/dev/null 2>&1; then say error the chain {chain} is still there; exit 1; fi; }}",
        "fail() { say error \"$(printf '%s' \"$1\" | tr '\\n' ' ')\"; cleanup; "
        "say healed $(date +%s%N) failed; exit 1; }",
        "trap 'cleanup; say healed $(date +%s%N) signal; exit 0' TERM INT HUP",
        "ss -ltnH | sed \"s/^/" + MARK + " listen /\"",
    ]
    if not once:
        lines += [f"out=$({ipt} -N {chain} 2>&1) || fail \"iptables -N {chain}: $out\"", add,
                  f"out=$({ipt} -I INPUT 1 -j {chain} 2>&1) || fail \"iptables -I INPUT: $out\"",
                  f"out=$({ipt} -I OUTPUT 1 -j {chain} 2>&1) || fail \"iptables -I OUTPUT: $out\"",
                  "say rules $(date +%s%N)"]
    lines += [f"killed=$(ss -K -t -n {ss_filter(peers)} 2>&1) || fail \"ss -K: $killed\"",
              "say cut $(printf '%s\\n' \"$killed\" | sed 1d | grep -c .)"]
    if not once:
        lines += [f"end=$(( $(date +%s%N) + {hold_ns} ))",
                  f"while [ ! -e {heal_file} ] && [ \"$(date +%s%N)\" -lt \"$end\" ]; do sleep {POLL_S}; done",
                  f"how=timer; [ -e {heal_file} ] && how=asked"]
    else:
        lines.append("how=once")
    lines += ["say healing $(date +%s%N)", "cleanup", "say healed $(date +%s%N) $how"]
    return "\n".join(lines) + "\n"


def ephemeral_container(name: str, image: str, command: str, pull_policy: str = "IfNotPresent") -> dict:
    """Root with NET_ADMIN only: iptables and `ss -K` need it, in the pod's network namespace alone."""
    return {
        "name": name, "image": image, "imagePullPolicy": pull_policy,
        "command": ["sh", "-c", command],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}},
    }


# --------------------------------------------------------------------------- reading it back


def ephemeral_state(pod: dict, name: str) -> dict:
    """The container's state: {} (not reported yet), {"waiting": ...}, {"running": ...} or {"terminated": ...}."""
    for cs in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
        if cs.get("name") == name:
            return cs.get("state") or {}
    return {}


def waiting_problem(state: dict) -> str | None:
    """A waiting reason that will not pass on its own (a missing image, a bad command)."""
    reason = (state.get("waiting") or {}).get("reason") or ""
    if reason in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
                  "CreateContainerConfigError", "CreateContainerError", "RunContainerError"):
        return f"{reason}: {(state.get('waiting') or {}).get('message', '')}".strip(": ")
    return None


def parse_log(text: str) -> dict:
    """What the container said: listen ports, rules_ns, cut (connections killed), healed_ns and how, error."""
    seen: dict = {"ports": []}
    for line in text.splitlines():
        _, marker, rest = line.partition(MARK + " ")
        if not marker:
            continue
        word, _, arg = rest.partition(" ")
        if word == "listen":
            port = listen_port(arg)
            if port is not None and port not in seen["ports"]:
                seen["ports"].append(port)
        elif word == "rules":
            seen["rules_ns"] = _int(arg)
        elif word == "cut":
            seen["cut"] = _int(arg)
        elif word == "healing":
            seen["healing_ns"] = _int(arg)
        elif word == "healed":
            ns, _, how = arg.partition(" ")
            seen["healed_ns"], seen["healed_by"] = _int(ns), how or None
        elif word == "error":
            seen["error"] = arg
    seen["ports"].sort()
    return seen


def listen_port(ss_line: str) -> int | None:
    """The port of one `ss -ltnH` line when it listens beyond loopback (`0.0.0.0:9090`, `*:8000`, `[::]:80`)."""
    parts = ss_line.split()
    if len(parts) < 4:
        return None
    host, _, port = parts[3].rpartition(":")
    host = host.strip("[]").split("%")[0]
    if not port.isdigit() or host in ("127.0.0.1", "::1") or host.startswith("127."):
        return None
    return int(port)


def _int(text: str) -> int | None:
    head = text.split(" ", 1)[0]
    return int(head) if head.lstrip("-").isdigit() else None


def cut_done(seen: dict, once: bool) -> bool:
    """The cut is in place (the rules are set and the connections killed) or, reset-once, done."""
    return "cut" in seen and (once or "rules_ns" in seen)


def judge_started(seen: dict, state: dict, once: bool) -> str | None:
    """None when the cut is in place; else why not (the container failed or ended before it)."""
    if seen.get("error"):
        return f"the ephemeral container failed: {seen['error']}"
    if cut_done(seen, once):
        return None
    terminated = state.get("terminated")
    if terminated:
        return (f"the ephemeral container ended (exit {terminated.get('exitCode')}, "
                f"{terminated.get('reason') or 'no reason'}) before its rules were in place: "
                f"{(terminated.get('message') or '').strip()[-300:] or 'no output'}")
    return waiting_problem(state) or "its rules were not reported in place yet"


def judge_heal(seen: dict, state: dict) -> dict:
    """Healed when the container said so: it says `healed` only after its cleanup checked the chain is gone
    (exiting is all that is left; the kubelet reports that a second or two later). A non-zero exit after a
    cut that had succeeded means the cleanup did not finish."""
    terminated = state.get("terminated") or {}
    code, how = terminated.get("exitCode"), seen.get("healed_by")
    if seen.get("healed_ns") and not seen.get("error") or how == "failed":
        if not terminated or code == 0 or how == "failed":
            return {"removed": True, "healed_by": how}  # healed_by: asked | timer | signal | once | failed
    if seen.get("error"):
        return {"removed": False, "detail": seen["error"]}
    if not terminated:
        return {"removed": False, "detail": "the ephemeral container is still running (its rules in place)"}
    return {"removed": False, "detail": f"the ephemeral container exited {code} before its cleanup was seen to finish"}


# --------------------------------------------------------------------------- the probe

PROBE_CODE = r"""
import errno, json, socket, sys, threading
ip, timeout, ports = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
out = {}
def one(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((ip, int(port)))
        out[port] = "connected"
    except socket.timeout:
        out[port] = "timeout"
    except ConnectionRefusedError:
        out[port] = "refused"
    except ConnectionResetError:
        out[port] = "reset"
    except OSError as exc:
        out[port] = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    finally:
        s.close()
threads = [threading.Thread(target=one, args=(p,)) for p in ports]
[t.start() for t in threads]
[t.join() for t in threads]
print("@@FT-PROBE " + json.dumps(out))
"""


def probe_command(ip: str, ports: list[int], timeout_s: float) -> list[str]:
    return ["python3", "-c", PROBE_CODE, ip, f"{timeout_s:g}", *(str(p) for p in ports)]


def parse_probe(out: str, ports: list[int]) -> dict[int, str]:
    """port -> outcome; a probe that printed nothing parsable gives each port the reason."""
    for line in out.splitlines():
        if line.startswith(PROBE_MARK + " "):
            found = json.loads(line[len(PROBE_MARK) + 1:])
            return {p: found.get(str(p), "not probed") for p in ports}
    return {p: "probe failed: " + (out.strip()[-120:] or "no output") for p in ports}


# --------------------------------------------------------------------------- I/O at the edge


@dataclass
class Cut:
    pod: str
    container: str
    once: bool
    ports: list[int] = field(default_factory=list)
    worker_ip: str = ""
    healed: bool = False
    log: str = ""  # the container's log as last read


class PodNetCut:
    """The ephemeral containers this runner added, by target pod. `api` is a KubeApi."""

    def __init__(self, api, image: str, pull_policy: str = "IfNotPresent"):
        self.api = api
        self.image = image
        self.pull_policy = pull_policy
        self.cuts: dict[str, Cut] = {}

    async def cut(self, pod: dict, peers: list[str], action: str, seconds: float, once: bool,
                  timeout_s: float) -> dict:
        """Add the container; return once its rules are in place (the stamp) or it failed (mechanism 'none')."""
        name = pod["metadata"]["name"]
        if not peers:
            raise PlatformError(f"cannot cut {name}: no frontend pod has an IPv4 address")
        container = f"{NAME_PREFIX}{time.time_ns() // 1_000_000 % 10**10:010d}"
        command = script(chain_name(container), peers, action, seconds, once)
        self.cuts[name] = Cut(name, container, once, worker_ip=(pod.get("status") or {}).get("podIP") or "")
        patch_ns = time.time_ns()
        await asyncio.to_thread(self.api.add_ephemeral_container, name,
                                ephemeral_container(container, self.image, command, self.pull_policy))
        seen, problem = await self._until(name, lambda s, st: judge_started(s, st, once) is None
                                          or bool(s.get("error") or st.get("terminated")
                                                  or waiting_problem(st)), timeout_s)
        self.cuts[name].ports = seen.get("ports", [])
        base = {"injected_ns": patch_ns, "container": container, "peers": peers, "ports": seen.get("ports", []),
                "chain": None if once else chain_name(container)}
        if problem:
            return {**base, "mechanism": f"none ({MECHANISM} {container}: {problem})", "connections_cut": 0}
        ready = time.time_ns()
        return {**base, "mechanism": MECHANISM, "connections_cut": seen.get("cut", 0), "rules_seen_ns": ready,
                "rules_ns_pod_clock": seen.get("rules_ns"), "patch_to_rules_s": round((ready - patch_ns) / 1e9, 3)}

    async def heal(self, name: str) -> dict:
        """Ask the container to heal now (it may have already), then wait until it exited, its chain gone."""
        cut = self.cuts.get(name)
        if cut is None or cut.healed:
            return {"removed": True, "detail": "no rule is set"}
        if await asyncio.to_thread(self.api.get_pod, name) is None:
            cut.healed = True
            return {"removed": True, "container": cut.container,
                    "detail": "the pod is gone, and its network namespace with the rules"}
        state = await self._state(name, cut.container)
        if "running" in state:
            try:
                await asyncio.to_thread(self.api.exec, name, cut.container, ["touch", HEAL_FILE], 10)
            except PlatformError:
                pass  # it may have exited meanwhile; its log says how it ended
        seen, _ = await self._until(name, lambda s, st: "healed_ns" in s or "terminated" in st, HEAL_TIMEOUT_S)
        state = await self._state(name, cut.container)
        healed = judge_heal(seen, state)
        cut.healed = healed["removed"]  # the record stays: the probe after healing uses its ports
        return {**healed, "container": cut.container, "healing_ns_pod_clock": seen.get("healing_ns"),
                "healed_ns_pod_clock": seen.get("healed_ns")}

    async def probe(self, name: str, frontend: tuple[str, str] | None, timeout_s: float) -> dict:
        """A fresh connection from the frontend container (pod, container) to each of the worker's ports."""
        cut = self.cuts.get(name)
        ports = cut.ports if cut else []
        if not ports or frontend is None or not cut.worker_ip:
            why = "no frontend pod" if frontend is None else "no port to probe"
            return {"target": name, "ports": ports, "outcomes": {}, "detail": why}
        try:
            out, err, _ = await asyncio.to_thread(self.api.exec, frontend[0], frontend[1],
                                                  probe_command(cut.worker_ip, ports, timeout_s), timeout_s + 20)
        except PlatformError as exc:
            out, err = "", str(exc)
        return {"target": name, "ports": ports, "from": frontend[0], "outcomes": parse_probe(out or err, ports)}

    async def _state(self, name: str, container: str) -> dict:
        pod = await asyncio.to_thread(self.api.get_pod, name)
        return ephemeral_state(pod or {}, container)

    async def _until(self, name: str, done, timeout_s: float) -> tuple[dict, str | None]:
        """Poll the container's state and log until done(seen, state); (what it said, a problem or None)."""
        container = self.cuts[name].container
        deadline = time.monotonic() + timeout_s
        seen: dict = {"ports": []}
        while True:
            state = await self._state(name, container)
            if "running" in state or "terminated" in state:
                self.cuts[name].log = await asyncio.to_thread(self.api.read_log, name, container) or ""
                seen = parse_log(self.cuts[name].log)
            if done(seen, state):
                break
            if time.monotonic() >= deadline:
                return seen, f"not in place after {timeout_s:g} s: {judge_started(seen, state, self.cuts[name].once)}"
            await asyncio.sleep(POLL_S)
        return seen, judge_started(seen, state, self.cuts[name].once)
