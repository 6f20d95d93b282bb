"""runner.faults.stall on a real stopped and continued process (the platform primitives read /proc)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from runner.core.config import FaultConfig
from runner.faults import get
from runner.faults.evidence import assemble
from runner.faults.stall import judge_continued, judge_stopped
from runner.platforms.local.procs import process_evidence


class OneProcess:
    """The primitives a stall uses, on one child process of this test (what LocalDeployment does per replica)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc

    async def signal(self, names, signal_name, processes):
        os.kill(self.proc.pid, signal.Signals[f"SIG{signal_name}"])
        return [{"target": n, "injected_ns": time.time_ns(), "signal": f"SIG{signal_name}"} for n in names]

    async def process_states(self, names, processes):
        found = process_evidence(self.proc.pid)
        return [{"target": n, "processes": [{"pid": self.proc.pid, "state": found.get("state")}]} for n in names]


def test_a_stall_stops_the_process_and_restore_continues_the_same_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"])
    try:
        stall, replicas = get("decode_worker_stall"), OneProcess(proc)
        before = [{"target": "w", "pid": proc.pid}]

        async def go():
            stamps = await stall.inject(replicas, ["w"])
            after = await stall.verify(replicas, before, 5)
            evidence = [assemble(before[0], stamps[0], after[0])]
            restored = await stall.restore(replicas, evidence, FaultConfig(stall_s=0.2))
            return after, restored

        after, restored = asyncio.run(go())
        assert after[0]["took_effect"] and after[0]["states"] == {proc.pid: "T"}, after
        assert restored[0]["took_effect"] and restored[0]["ready_ns"] == restored[0]["continued_ns"], restored
        assert process_evidence(proc.pid)["state"] != "T"
    finally:
        proc.kill()
        proc.wait()


def test_judgements_name_what_was_seen():
    before = {"target": "w", "processes": [{"pid": 3}]}
    assert judge_stopped(before, {"processes": [{"pid": 3, "state": "T"}]})["took_effect"]
    running = judge_stopped(before, {"processes": [{"pid": 3, "state": "S"}]})
    assert not running["took_effect"] and "PID 3 state S" in running["detail"]
    gone = judge_stopped(before, {"processes": []})
    assert not gone["took_effect"] and "state gone" in gone["detail"]
    evidence = assemble({"target": "w", "pid": 3}, {"target": "w", "injected_ns": 1},
                        {"target": "w", "took_effect": True, "detail": ""})
    still = judge_continued(evidence, {"processes": [{"pid": 3, "state": "T"}]}, 5)
    assert not still["took_effect"] and still["ready_ns"] is None and "not running again" in still["detail"]


def test_an_interrupted_run_continues_the_stalled_process_at_once():
    proc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"])
    try:
        stall, replicas = get("decode_worker_stall"), OneProcess(proc)
        before = [{"target": "w", "pid": proc.pid}]

        async def go():
            stamps = await stall.inject(replicas, ["w"])
            after = await stall.verify(replicas, before, 5)
            evidence = [assemble(before[0], stamps[0], after[0])]
            # a 600 s stall: without at_once the restore would sleep past the test's own timeout
            return await asyncio.wait_for(stall.restore(replicas, evidence, FaultConfig(stall_s=600), at_once=True), 10)

        restored = asyncio.run(go())
        assert restored[0]["took_effect"] and process_evidence(proc.pid)["state"] != "T", restored
    finally:
        proc.kill()
        proc.wait()
