"""A rollout seen from the service: routable windows with known answers, and the stage-2 bar."""

from __future__ import annotations

from runner.faults.evidence import Evidence
from runner.results.records import Record
from runner.results.rollout import longest_gap, rollout_view

S = 1_000_000_000
T0 = 1_000 * S


def step(old: str, new: str, ready: float, stop: float, gone: float) -> Evidence:
    return Evidence(target=old, replacement=new, ready_ns=T0 + int(ready * S), gone_ns=T0 + int(gone * S),
                    after={"stop_ns": T0 + int(stop * S)}, took_effect=True, detail="")


def served(replica: str, start: float, ok: bool = True) -> Record:
    return Record(start_ns=T0 + int(start * S), end_ns=T0 + int((start + 0.2) * S), ok=ok, replica=replica)


def test_longest_gap_finds_the_widest_uncovered_stretch():
    spans = [(0, 10), (12, 15), (20, 30)]
    assert longest_gap(spans, 0, 30) == (5, 15)
    assert longest_gap([(0, 30)], 0, 30) == (0, None)
    assert longest_gap([(float("-inf"), 4)], 0, 10) == (6, 4)  # nothing after 4: uncovered to the end


def test_surge_with_traffic_on_each_new_replica_is_always_routable():
    evidence = [step("a", "a2", ready=1, stop=1, gone=1.5), step("b", "b2", ready=3, stop=3, gone=3.4)]
    records = [served("a", 0.5), served("a2", 1.2), served("b", 2.0), served("b2", 3.3), served("a2", 4.0)]
    view = rollout_view(evidence, records, "decode", "surge", T0)
    assert view.longest_unroutable_s == 0 and view.unroutable_from_s is None
    assert view.duration_s == 3.4 and [s.first_served_s for s in view.steps] == [1.2, 3.3]
    assert view.requests == 3 and view.failures == 0  # the attempts that ended in [0, 3.4] s


def test_a_new_replica_the_frontend_never_used_leaves_a_window_once_the_last_old_one_stops():
    # a2 came up but got no request: after b stops at 3 s only b2 serves, from 3.8 s
    evidence = [step("a", "a2", ready=1, stop=1, gone=1.5), step("b", "b2", ready=3, stop=3, gone=3.4)]
    records = [served("a", 0.5), served("b", 1.5), served("b", 2.5), served("b2", 3.8, ok=True)]
    view = rollout_view(evidence, records, "decode", "surge", T0)
    assert view.longest_unroutable_s == 0.8 and view.unroutable_from_s == 3.0


def test_replace_on_one_replica_is_unroutable_from_the_stop_to_the_new_replicas_first_success():
    evidence = [step("a", "a2", ready=1.2, stop=0, gone=0.4)]
    records = [served("a", -1), served("a", 0.3, ok=False), served("a2", 1.5)]
    view = rollout_view(evidence, records, "decode", "replace", T0)
    assert view.longest_unroutable_s == 1.5 and view.failures == 1


def test_roles_without_named_replicas_use_readiness():
    evidence = [step("f", "f2", ready=2, stop=0.5, gone=0.6)]
    view = rollout_view(evidence, [Record(start_ns=T0, end_ns=T0 + 5 * S, ok=True)], "frontend", "replace", T0)
    assert view.longest_unroutable_s == 1.5 and view.steps[0].first_served_s is None


def test_the_stage2_bar_fails_a_redundant_rollout_with_a_window_and_passes_one_without():
    from runner.results.checks import _always_routable

    evidence = [step("a", "a2", ready=1, stop=1, gone=1.5), step("b", "b2", ready=3, stop=3, gone=3.4)]
    gap = rollout_view(evidence, [served("b2", 3.8)], "decode", "surge", T0)
    assert _always_routable(gap).status == "FAIL" and "no routable decode replica" in _always_routable(gap).detail
    fine = rollout_view(evidence, [served("a2", 1.2), served("b2", 3.1)], "decode", "surge", T0)
    assert _always_routable(fine).status == "PASS"
