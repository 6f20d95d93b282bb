"""The Kubernetes network cut's pure parts: the ephemeral container, its command (run for real with `sh`,
against stand-ins for iptables and ss that keep the chain's state), reading its log back, the probe."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.core.errors import UserError
from runner.platforms.kubernetes import netcut as n
from runner.platforms.kubernetes.api import NETWORK_FAULTS_HINT, forbidden_ephemeral

IPTABLES = r"""#!/bin/sh
# a stand-in for iptables: logs its arguments, keeps chains and jumps as files, fails when told to
echo "iptables $*" >> "$FT_LOG"
while [ "$1" = "-w" ]; do shift 2; done
case " $* " in *" $FT_FAIL_ON "*) echo "stand-in refused: $*" >&2; exit 1;; esac
case "$1" in
  -N) touch "$FT_STATE/chain-$2";;
  -X) rm -f "$FT_STATE/chain-$2";;
  -S) [ -e "$FT_STATE/chain-$2" ] || exit 1;;
  -I) touch "$FT_STATE/jump-$2";;
  -D) [ -e "$FT_STATE/jump-$2" ] || exit 1; rm -f "$FT_STATE/jump-$2";;
esac
exit 0
"""
SS = r"""#!/bin/sh
echo "ss $*" >> "$FT_LOG"
case " $* " in
  *" -K "*) printf 'Recv-Q Send-Q Local Address:Port Peer Address:Port\n0 0 10.0.0.9:8081 10.0.0.5:40000\n0 0 10.0.0.9:40100 10.0.0.5:8000\n';;
  *) printf 'LISTEN 0 128 0.0.0.0:8081 0.0.0.0:*\nLISTEN 0 5 127.0.0.1:9999 0.0.0.0:*\nLISTEN 0 5 *:9090 *:*\n';;
esac
"""
PEERS = ["10.0.0.5", "10.0.0.6"]


@pytest.fixture
def tools(tmp_path: Path):
    """PATH with the stand-ins first; their log and state directory."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("iptables", IPTABLES), ("ss", SS)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FT_LOG": str(tmp_path / "calls.log"),
           "FT_STATE": str(state), "FT_FAIL_ON": "no-such-argument"}
    return env, tmp_path / "calls.log", state


def start(env: dict, action: str, seconds: float, once: bool, heal_file: Path, **extra) -> subprocess.Popen:
    command = n.script("FT-1", PEERS, action, seconds, once, heal_file=str(heal_file))
    return subprocess.Popen(["sh", "-c", command], env={**env, **extra}, stdout=subprocess.PIPE, text=True)


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def read_until(proc: subprocess.Popen, word: str, timeout: float = 10) -> list[str]:
    """The container's lines up to the first `@@FT-NETCUT <word>` (the cut in place)."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, f"the command ended before saying {word}: {lines}"
        lines.append(line.rstrip("\n"))
        if line.startswith(f"{n.MARK} {word}"):
            return lines
    raise AssertionError(f"no {word} within {timeout} s: {lines}")


# ------------------------------------------------------------------ the command, run


def test_partition_sets_the_chain_cuts_connections_holds_then_removes_it(tools, tmp_path):
    env, log, state = tools
    proc = start(env, "partition", 0.3, False, tmp_path / "heal")
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    seen = n.parse_log(out)
    assert seen["ports"] == [8081, 9090]  # loopback-only listeners are not probed
    assert seen["cut"] == 2 and seen["healed_by"] == "timer" and seen["rules_ns"] <= seen["healed_ns"]
    assert seen["healing_ns"] - seen["rules_ns"] >= 0.3e9  # held for the fault's seconds
    assert seen["rules_ns"] < seen["healing_ns"] <= seen["healed_ns"]
    made = calls(log)
    order = [made.index(c) for c in ("iptables -w 5 -N FT-1", "iptables -w 5 -I INPUT 1 -j FT-1",
                                     "iptables -w 5 -I OUTPUT 1 -j FT-1")]
    kill = next(i for i, c in enumerate(made) if c.startswith("ss -K"))
    assert order == sorted(order) and order[-1] < kill  # every rule in place before connections are killed
    assert made[kill] == "ss -K -t -n state established ( dst 10.0.0.5 or dst 10.0.0.6 )"
    assert list(state.iterdir()) == []  # chain and both jumps gone


def test_partition_drops_both_ways_but_lets_the_killed_connections_resets_out():
    rules = n.rules("FT-1", ["10.0.0.5"], "partition")
    assert rules == [["-A", "FT-1", "-s", "10.0.0.5", "-j", "DROP"],
                     ["-A", "FT-1", "-d", "10.0.0.5", "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "ACCEPT"],
                     ["-A", "FT-1", "-d", "10.0.0.5", "-j", "DROP"]]


def test_reset_rejects_the_frontends_packets_and_the_workers_new_connections_with_tcp_resets():
    rules = n.rules("FT-1", ["10.0.0.5"], "reset")
    assert rules == [["-A", "FT-1", "-s", "10.0.0.5", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
                     ["-A", "FT-1", "-d", "10.0.0.5", "-p", "tcp", "--syn", "-j", "REJECT", "--reject-with",
                      "tcp-reset"]]


def test_the_runner_can_end_the_cut_early_through_the_heal_file(tools, tmp_path):
    env, _, state = tools
    heal = tmp_path / "heal"
    proc = start(env, "reset", 600, False, heal)
    read_until(proc, "cut")
    assert sorted(p.name for p in state.iterdir()) == ["chain-FT-1", "jump-INPUT", "jump-OUTPUT"]
    heal.touch()
    out, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0 and n.parse_log(out)["healed_by"] == "asked"
    assert list(state.iterdir()) == []


def test_sigterm_removes_the_rules_before_the_container_stops(tools, tmp_path):
    env, _, state = tools
    proc = start(env, "partition", 600, False, tmp_path / "heal")
    read_until(proc, "cut")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0 and n.parse_log(out)["healed_by"] == "signal"
    assert list(state.iterdir()) == []


def test_a_refused_rule_is_reported_and_what_was_set_is_removed(tools, tmp_path):
    env, _, state = tools
    proc = start(env, "partition", 600, False, tmp_path / "heal", FT_FAIL_ON="OUTPUT")
    out, _ = proc.communicate(timeout=10)
    seen = n.parse_log(out)
    assert proc.returncode == 1 and "rules_ns" not in seen and "cut" not in seen
    assert seen["error"].startswith("iptables -I OUTPUT: stand-in refused")
    assert list(state.iterdir()) == []  # the chain and the INPUT jump set before the failure are gone
    assert n.judge_heal(seen, {"terminated": {"exitCode": 1}}) == {"removed": True, "healed_by": "failed"}
    assert n.judge_started(seen, {"terminated": {"exitCode": 1}}, once=False).startswith(
        "the ephemeral container failed: iptables -I OUTPUT")


def test_reset_once_only_kills_the_established_connections(tools, tmp_path):
    env, log, state = tools
    proc = start(env, "reset", 0, True, tmp_path / "heal")
    out, _ = proc.communicate(timeout=10)
    seen = n.parse_log(out)
    assert proc.returncode == 0 and seen["cut"] == 2 and seen["healed_by"] == "once" and "rules_ns" not in seen
    assert not [c for c in calls(log) if " -N " in c or " -A " in c or " -I " in c]
    assert n.cut_done(seen, once=True) and not n.cut_done(seen, once=False)


# ------------------------------------------------------------------ the container and its status


def test_the_ephemeral_container_is_root_with_net_admin_only():
    spec = n.ephemeral_container("ft-netcut-1", "runner:1", "true")
    assert spec["command"] == ["sh", "-c", "true"]
    assert spec["securityContext"] == {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
                                       "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}
    assert set(spec) <= {"name", "image", "imagePullPolicy", "command", "terminationMessagePolicy", "securityContext"}


def test_chain_names_fit_iptables():
    assert n.chain_name("ft-netcut-1796148915") == "FT-1796148915"
    assert len(n.chain_name("ft-netcut-" + "x" * 60)) <= 28


def test_peers_are_the_frontends_ipv4_addresses_once_each():
    pods = [{"status": {"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]}},
            {"status": {"podIP": "10.0.0.6"}}, {"status": {}}]
    assert n.peer_ips(pods) == ["10.0.0.5", "10.0.0.6"]


def test_state_of_the_named_ephemeral_container():
    pod = {"status": {"ephemeralContainerStatuses": [
        {"name": "ft-netcut-1", "state": {"terminated": {"exitCode": 0}}},
        {"name": "ft-netcut-2", "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "not on the node"}}}]}}
    assert n.ephemeral_state(pod, "ft-netcut-1") == {"terminated": {"exitCode": 0}}
    assert n.ephemeral_state(pod, "ft-netcut-3") == {}
    assert n.waiting_problem(n.ephemeral_state(pod, "ft-netcut-2")) == "ErrImageNeverPull: not on the node"
    assert n.waiting_problem({"waiting": {"reason": "ContainerCreating"}}) is None


def test_listen_lines_name_only_ports_reachable_from_another_pod():
    assert n.listen_port("LISTEN 0 128 0.0.0.0:8081 0.0.0.0:*") == 8081
    assert n.listen_port("LISTEN 0 128 [::]:8000 [::]:*") == 8000
    assert n.listen_port("LISTEN 0 128 *:9090 *:*") == 9090
    assert n.listen_port("LISTEN 0 128 10.0.0.9%eth0:7000 0.0.0.0:*") == 7000
    assert n.listen_port("LISTEN 0 5 127.0.0.1:9999 0.0.0.0:*") is None
    assert n.listen_port("LISTEN 0 5 [::1]:9999 [::]:*") is None
    assert n.listen_port("garbage") is None


def test_started_and_healed_judgements():
    assert n.judge_started({"rules_ns": 1, "cut": 0}, {"running": {}}, once=False) is None
    assert n.judge_started({}, {"waiting": {"reason": "ContainerCreating"}}, once=False) == \
        "its rules were not reported in place yet"
    gone = {"terminated": {"exitCode": 127, "reason": "Error", "message": "sh: iptables: not found"}}
    ended = n.judge_started({}, gone, once=False)
    assert "exit 127" in ended and "iptables: not found" in ended
    assert n.judge_heal({"healed_ns": 5}, {"terminated": {"exitCode": 0}})["removed"] is True
    assert n.judge_heal({"healed_ns": 5, "healed_by": "asked"}, {"running": {}}) == {"removed": True,
                                                                                   "healed_by": "asked"}
    assert n.judge_heal({"healed_ns": 5}, {"terminated": {"exitCode": 137}})["removed"] is False
    assert n.judge_heal({"rules_ns": 1}, {"running": {}}) == {
        "removed": False, "detail": "the ephemeral container is still running (its rules in place)"}
    assert n.judge_heal({"error": "the chain FT-1 is still there"}, {"terminated": {"exitCode": 1}})["removed"] is False


# ------------------------------------------------------------------ the probe


def test_the_probe_tells_connected_from_refused_and_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    open_port = listener.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]  # bound, never listening: refused
    try:
        command = n.probe_command("127.0.0.1", [open_port, closed_port], 1.0)
        out = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, timeout=20).stdout
    finally:
        listener.close()
        closed.close()
    assert n.parse_probe(out, [open_port, closed_port]) == {open_port: "connected", closed_port: "refused"}


def test_a_probe_that_printed_nothing_fails_every_port_with_the_reason():
    assert n.parse_probe("exec: python3: not found", [80, 81]) == {
        80: "probe failed: exec: python3: not found", 81: "probe failed: exec: python3: not found"}


# ------------------------------------------------------------------ refusals


def test_a_forbidden_patch_names_the_values_switch_in_one_line():
    err = forbidden_ephemeral("forbidden: patch pods/ephemeralcontainers w in namespace ns (User cannot patch); the "
                              "chart's Role grants it", "patch pods/ephemeralcontainers w", "ns")
    assert isinstance(err, UserError) and NETWORK_FAULTS_HINT in str(err) and "rbac.networkFaults=true" in str(err)
    assert "\n" not in str(err)


def test_a_pod_security_refusal_says_so_instead():
    err = forbidden_ephemeral("forbidden: patch pods/ephemeralcontainers w in namespace ns (pods \"w\" is forbidden: "
                              "violates PodSecurity \"baseline:latest\": non-default capabilities); x",
                              "patch pods/ephemeralcontainers w", "ns")
    assert "PodSecurity" in str(err) and "privileged" in str(err) and "rbac.networkFaults" not in str(err)
    assert forbidden_ephemeral("the API server rejected ...", "w", "ns") is None


def test_the_image_is_the_configured_one_or_the_runners_own():
    assert n.image_for("mine:1", {"FT_RUNNER_IMAGE": "runner:2"}) == "mine:1"
    assert n.image_for(None, {"FT_RUNNER_IMAGE": "runner:2"}) == "runner:2"
    with pytest.raises(UserError, match="kubernetes.network_fault_image"):
        n.image_for(None, {})


# ------------------------------------------------------------------ PodNetCut on a stand-in API


class FakeApi:
    """Answers like the API server for one worker pod whose ephemeral container has printed `log`."""

    def __init__(self, log: str, end: dict | None = None):
        self.log, self.end, self.patched, self.execs, self.asked = log, end, [], [], False

    def add_ephemeral_container(self, pod, container):
        self.patched.append((pod, container))
        return {}

    def get_pod(self, name):
        if not self.patched:
            return {"status": {}}
        state = self.end if self.asked else {"running": {}}  # it runs until asked to heal (or has ended)
        return {"status": {"ephemeralContainerStatuses": [{"name": self.patched[-1][1]["name"], "state": state}]}}

    def read_log(self, pod, container, previous=False):
        return self.log

    def exec(self, pod, container, command, timeout_s=30):
        self.execs.append((pod, container, command))
        if command[0] == "touch":
            self.asked = True
            self.log += f"{n.MARK} healed 99 asked\n"
        return f'{n.PROBE_MARK} {{"8081": "timeout"}}\n', "", 0


WORKER = {"metadata": {"name": "w"}, "status": {"podIP": "10.0.0.9"}}


def test_podnetcut_stamps_the_mechanism_probes_from_the_frontend_and_heals_on_request():
    api = FakeApi(f"{n.MARK} listen LISTEN 0 5 0.0.0.0:8081 0.0.0.0:*\n{n.MARK} rules 10\n{n.MARK} cut 1\n",
                  end={"terminated": {"exitCode": 0}})
    cutter = n.PodNetCut(api, "runner:1")

    async def go():
        stamp = await cutter.cut(WORKER, ["10.0.0.5"], "partition", 30, False, 5)
        probe = await cutter.probe("w", ("fe", "main"), 1.0)
        healed = await cutter.heal("w")
        return stamp, probe, healed, await cutter.heal("w")

    stamp, probe, healed, again = asyncio.run(go())
    (pod, container), = api.patched
    assert pod == "w" and container["image"] == "runner:1" and "10.0.0.5" in container["command"][2]
    assert stamp["mechanism"] == n.MECHANISM and stamp["connections_cut"] == 1 and stamp["ports"] == [8081]
    assert stamp["chain"] == n.chain_name(container["name"]) and stamp["patch_to_rules_s"] >= 0
    assert probe["outcomes"] == {8081: "timeout"} and api.execs[0][:2] == ("fe", "main")
    assert api.execs[0][2][-3:] == ["10.0.0.9", "1", "8081"]  # the worker's IP, the timeout, its port
    assert healed["removed"] is True and healed["healed_by"] == "asked"
    assert api.execs[-1] == ("w", container["name"], ["touch", n.HEAL_FILE])
    assert again == {"removed": True, "detail": "no rule is set"}


def test_podnetcut_names_no_mechanism_when_the_container_failed():
    api = FakeApi(f"{n.MARK} error iptables -N FT-1: permission denied\n", end={"terminated": {"exitCode": 1}})
    api.asked = True  # the container has already ended
    stamp = asyncio.run(n.PodNetCut(api, "runner:1").cut(WORKER, ["10.0.0.5"], "reset", 5, False, 5))
    assert stamp["mechanism"].startswith("none (ephemeral-container ft-netcut-")
    assert "iptables -N FT-1: permission denied" in stamp["mechanism"] and stamp["connections_cut"] == 0


def test_scenarios_that_cut_the_network_are_found_by_any_of_their_fault_steps():
    from runner.core.config import RunConfig
    from runner.core.timeline import Timeline
    from runner.scenarios.plan import plan, plan_timeline

    config = RunConfig.model_validate({"platform": "kubernetes"})
    assert n.cuts_network(plan("mocker-agg-tp-1-dp-2-decode_worker_conn_reset", config))
    assert not n.cuts_network(plan("mocker-agg-tp-1-dp-2-decode_worker", config))
    timeline = Timeline.model_validate({"name": "kill-then-cut", "deployment": "mocker-agg-tp-1-dp-2", "steps": [
        {"load": "start"}, {"fault": "decode_worker"}, {"wait": 5}, {"fault": "decode_worker_partition"}]})
    assert n.cuts_network(plan_timeline(timeline, config))
