"""runner.faults.evidence: each step of a fault keeps its own section; restore joins the judgement."""

from __future__ import annotations

from runner.faults.evidence import assemble, with_restore


def test_before_and_after_values_of_the_same_name_stay_apart():
    before = {"target": "p", "uid": "u", "before": {"restart_count": 0, "ready": True}}
    stamp = {"target": "p", "injected_ns": 10, "signal": "SIGKILL", "pids": [7]}
    after = {"target": "p", "gone_ns": 12, "ready_ns": 30, "replacement": None, "after": {"restart_count": 1},
             "took_effect": True, "detail": "restarted"}
    e = assemble(before, stamp, after)
    assert e.before == {"uid": "u", "restart_count": 0, "ready": True}
    assert e.after["restart_count"] == 1 and "took_effect" not in e.after
    assert (e.injected_ns, e.gone_ns, e.ready_ns, e.took_effect, e.detail) == (10, 12, 30, True, "restarted")
    assert e.injected == {"injected_ns": 10, "signal": "SIGKILL", "pids": [7]}


def test_flat_local_dicts_assemble_too():
    e = assemble({"target": "w", "pid": 5, "restarts": 0}, {"target": "w", "injected_ns": 1},
                 {"target": "w", "took_effect": False, "detail": "PID 5 still alive"})
    assert e.before == {"pid": 5, "restarts": 0} and e.took_effect is False and e.ready_ns is None


def test_a_restore_that_worked_sets_ready_and_one_that_did_not_spoils_the_fault():
    stopped = assemble({"target": "w", "pid": 5}, {"target": "w", "injected_ns": 1},
                       {"target": "w", "took_effect": True, "detail": "PID 5 state T"})
    ok = with_restore(stopped, {"ready_ns": 9, "took_effect": True, "detail": "running again"})
    assert ok.ready_ns == 9 and ok.took_effect and ok.detail == "PID 5 state T; running again"
    assert ok.restored == {"ready_ns": 9}
    bad = with_restore(stopped, {"ready_ns": None, "took_effect": False, "detail": "still stopped"})
    assert bad.took_effect is False and bad.ready_ns is None
