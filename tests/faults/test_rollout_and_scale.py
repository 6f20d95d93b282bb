"""Rolling upgrades and scale-downs on the platform primitives: the order of a rollout's steps (surge starts
the new replica before stopping the old one, replace the other way), a rollout stopping at a replica that
did not come up, and a scale-down restoring the count after its hold."""

from __future__ import annotations

import asyncio
import time

from runner.core.config import FaultConfig
from runner.faults import get
from runner.faults.evidence import assemble, with_restore
from runner.scenarios.catalog import catalog


class Recorder:
    """start_replicas/stop_replicas/process_states that record their calls; `unready` names never come up."""

    def __init__(self, unready: int = 0):
        self.calls: list[tuple[str, str]] = []
        self.made = 0
        self.unready = unready

    async def start_replicas(self, role, count, timeout_s):
        out = []
        for _ in range(count):
            self.made += 1
            name = f"new-{self.made}"
            self.calls.append(("start", name))
            ok = self.made > self.unready
            out.append({"target": name, "started_ns": time.time_ns(), "ready_ns": time.time_ns() if ok else None,
                        "took_effect": ok, "detail": f"{name} {'ready' if ok else 'not ready'}"})
        return out

    async def stop_replicas(self, names, timeout_s):
        self.calls += [("stop", n) for n in names]
        return [{"target": n, "injected_ns": time.time_ns(), "pid": 7, "gone_ns": time.time_ns(),
                 "took_effect": True, "detail": f"{n} exited"} for n in names]

    async def process_states(self, names, processes):
        return [{"target": n, "processes": []} for n in names]


def _roll(strategy: str, recorder: Recorder, olds=("old-a", "old-b")) -> list[dict]:
    fault = get("decode_worker_rolling_upgrade")
    before = [{"target": o} for o in olds]
    return asyncio.run(fault.verify(recorder, before, 5, FaultConfig(rollout_strategy=strategy)))


def test_surge_starts_each_new_replica_before_stopping_the_old_one():
    recorder = Recorder()
    steps = _roll("surge", recorder)
    assert recorder.calls == [("start", "new-1"), ("stop", "old-a"), ("start", "new-2"), ("stop", "old-b")]
    assert [s["replacement"] for s in steps] == ["new-1", "new-2"] and all(s["took_effect"] for s in steps)
    assert all(s["stop_ns"] >= s["ready_ns"] for s in steps)


def test_replace_stops_each_old_replica_first():
    recorder = Recorder()
    _roll("replace", recorder)
    assert recorder.calls == [("stop", "old-a"), ("start", "new-1"), ("stop", "old-b"), ("start", "new-2")]


def test_a_surge_rollout_stops_at_a_replica_that_does_not_come_up_and_keeps_the_old_one():
    recorder = Recorder(unready=1)
    steps = _roll("surge", recorder)
    assert recorder.calls == [("start", "new-1")]
    assert [s["took_effect"] for s in steps] == [False, False]
    assert "old-a left running" in steps[0]["detail"] and "stopped before this replica" in steps[1]["detail"]


def test_a_scale_down_removes_then_restores_the_count_after_its_hold():
    fault, recorder = get("decode_worker_scale_down"), Recorder()
    settings = FaultConfig(scaled_down_s=0.3)

    async def go():
        stamps = await fault.inject(recorder, ["w-1"])
        after = await fault.verify(recorder, [{"target": "w-1", "pid": 7}], 5)
        evidence = [assemble({"target": "w-1", "pid": 7}, stamps[0], after[0])]
        started = time.monotonic()
        restored = await fault.restore(recorder, evidence, settings)
        return evidence, restored, time.monotonic() - started, stamps

    evidence, restored, held, stamps = asyncio.run(go())
    assert recorder.calls == [("stop", "w-1"), ("start", "new-1")]
    assert evidence[0].took_effect and evidence[0].gone_ns == stamps[0]["gone_ns"]
    assert held >= 0.3 - (time.time_ns() - stamps[0]["injected_ns"]) / 1e9 - 0.05
    done = with_restore(evidence[0], restored[0])
    assert done.replacement == "new-1" and done.ready_ns is not None and done.took_effect


def test_the_catalog_has_scale_downs_only_with_two_replicas_and_these_faults_on_both_platforms():
    entries = catalog()
    scale = [e for e in entries.values() if e.failure == "decode_worker_scale_down"]
    assert scale and all(e.dp >= 2 for e in scale)
    rolled = [e for e in entries.values() if e.failure.endswith("_rolling_upgrade")]
    assert rolled and all(e.platforms == (("local", "kubernetes") if e.backend == "mocker" else ("kubernetes",))
                          for e in rolled + scale)
    assert rolled[0].unsupported_reason("kubernetes") is None


class Controller(Recorder):
    """A platform whose controller rolls a role itself (roll_role), as the Kubernetes operator does."""

    async def roll_role(self, role, names, strategy, timeout_s):
        self.calls.append(("roll", role, tuple(names), strategy, timeout_s))
        return [{"target": n, "replacement": f"new-{n}", "ready_ns": 2, "stop_ns": 3, "gone_ns": 4,
                 "took_effect": True, "detail": f"{n} rolled"} for n in names]


def test_a_controller_rollout_is_one_call_for_the_role_bounded_by_the_steps_timeouts():
    recorder = Controller()
    steps = _roll("replace", recorder)
    assert recorder.calls == [("roll", "decode", ("old-a", "old-b"), "replace", 10)]  # 2 replicas x 5 s
    assert [s["replacement"] for s in steps] == ["new-old-a", "new-old-b"]


def test_a_controller_scale_down_is_judged_on_the_pod_the_controller_removed():
    fault = get("decode_worker_scale_down")
    stamps = [{"target": "w-1", "removed_pod": "w-2", "injected_ns": 1, "gone_ns": 5, "took_effect": True,
               "detail": "the controller removed w-2"}]
    after = asyncio.run(fault.check(Recorder(), [{"target": "w-1", "pid": 7}], stamps, FaultConfig()))
    evidence = assemble({"target": "w-1", "pid": 7}, stamps[0], after[0])
    assert evidence.took_effect and evidence.after["removed_pod"] == "w-2" and evidence.gone_ns == 5
    refused = {**stamps[0], "took_effect": False, "detail": "no pod went away"}
    (judged,) = asyncio.run(fault.check(Recorder(), [{"target": "w-1", "pid": 7}], [refused], FaultConfig()))
    assert not judged["took_effect"] and judged["detail"] == "no pod went away"


def test_a_fault_step_targets_an_index_all_or_seeded_random_replicas():
    from runner.platforms.base import PlatformError
    from runner.run.fault_step import choose_targets

    fault, replicas, settings = get("decode_worker"), ["w0", "w1", "w2"], FaultConfig(seed=3)
    assert choose_targets(fault, replicas, 1, settings) == ["w1"]
    assert choose_targets(fault, replicas, "all", settings) == replicas
    first = choose_targets(fault, replicas, "random", settings)
    assert first == choose_targets(fault, replicas, "random", settings) and len(first) == 1
    assert choose_targets(get("decode_worker_rolling_upgrade"), replicas, 0, settings) == replicas
    import pytest

    with pytest.raises(PlatformError, match="no decode replica 3 \\(3 exist, from 0\\)"):
        choose_targets(fault, replicas, 3, settings)
