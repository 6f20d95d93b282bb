"""runner.faults.partition: the cut is judged from the probe, the heal from the probe after it; and the fault's
inject -> check -> restore on a real listening socket cut by the local platform's iptables chain (root)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

import pytest

from runner.core.config import FaultConfig
from runner.faults import get
from runner.faults.evidence import assemble
from runner.faults.partition import judge_cut, judge_healed
from runner.platforms.local.netcut import CHAIN_PREFIX, NetCut, probe_port

STAMP = {"target": "w", "mechanism": "iptables chain X", "connections_cut": 2}


def test_a_partition_counts_only_when_every_port_times_out():
    cut = judge_cut("partition", STAMP, {"target": "w", "outcomes": {1: "timeout", 2: "timeout"}}, once=False)
    assert cut["took_effect"] and "2 established connection(s) cut" in cut["detail"]
    leaky = judge_cut("partition", STAMP, {"target": "w", "outcomes": {1: "timeout", 2: "connected"}}, once=False)
    assert not leaky["took_effect"] and "port 2 connected" in leaky["detail"]
    assert not judge_cut("partition", STAMP, {"target": "w", "outcomes": {}}, once=False)["took_effect"]


def test_a_reset_needs_refused_connections_and_a_reset_once_needs_reset_connections():
    assert judge_cut("reset", STAMP, {"target": "w", "outcomes": {1: "refused"}}, once=False)["took_effect"]
    assert not judge_cut("reset", STAMP, {"target": "w", "outcomes": {1: "timeout"}}, once=False)["took_effect"]
    assert judge_cut("reset", STAMP, {"target": "w", "outcomes": {1: "connected"}}, once=True)["took_effect"]
    none_cut = {**STAMP, "connections_cut": 0}
    assert not judge_cut("reset", none_cut, {"target": "w", "outcomes": {1: "connected"}}, once=True)["took_effect"]


def test_healed_only_when_the_rules_are_gone_and_every_port_connects():
    ok = judge_healed({"removed": True}, {"outcomes": {1: "connected"}}, 10, 12)
    assert ok["took_effect"] and ok["ready_ns"] == 12 and ok["healed_ns"] == 10
    still = judge_healed({"removed": True}, {"outcomes": {1: "timeout"}}, 10, None)
    assert not still["took_effect"] and still["ready_ns"] is None
    stuck = judge_healed({"removed": False, "detail": "iptables: busy"}, {"outcomes": {1: "connected"}}, 10, 12)
    assert not stuck["took_effect"] and "iptables: busy" in stuck["detail"]


class OneListener:
    """The primitives a network cut uses, on one listening socket of this test (LocalDeployment uses the
    worker's listening ports read from /proc)."""

    def __init__(self, port: int):
        self.port, self.netcut = port, NetCut()

    async def cut(self, names, action):
        return [{"target": n, "injected_ns": 1, **await self.netcut.cut(n, [self.port], action)} for n in names]

    async def heal(self, names):
        return [await self.netcut.heal(n) for n in names]

    async def probe(self, names, timeout_s):
        return [{"target": n, "outcomes": {self.port: await probe_port(self.port, timeout_s)}} for n in names]


def _chains() -> str:
    return subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="iptables needs root")
@pytest.mark.parametrize(("name", "blocked"), [("decode_worker_partition", "timeout"),
                                               ("decode_worker_conn_reset", "refused")])
def test_the_cut_blocks_new_and_kills_pooled_connections_then_heals(name, blocked):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    pooled = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    fault, replicas = get(name), OneListener(port)
    settings = FaultConfig(partition_s=0.2, reset_s=0.2, probe_timeout_s=0.5)
    try:
        async def go():
            stamps = await fault.inject(replicas, ["w"])
            after = await fault.check(replicas, [{"target": "w"}], stamps, settings)
            evidence = [assemble({"target": "w"}, stamps[0], after[0])]
            return stamps, after, await fault.restore(replicas, evidence, settings)

        stamps, after, restored = asyncio.run(go())
        assert after[0]["took_effect"] and after[0]["probe_during"] == {str(port): blocked}, after
        assert stamps[0]["connections_cut"] >= 1, stamps
        with pytest.raises(OSError):  # the pooled connection is gone, not just idle behind a rule
            accepted.settimeout(1)
            accepted.send(b"x")
            assert accepted.recv(1) != b""
        assert restored[0]["took_effect"] and restored[0]["probe_after"] == {str(port): "connected"}, restored
        assert f"{CHAIN_PREFIX}{os.getpid()}-" not in _chains()
    finally:
        asyncio.run(replicas.netcut.heal_all())
        for s in (pooled, accepted, server):
            s.close()
