import pytest

from runner.results.evidence import judge_local_effect, select_targets

NAMES = ["w-a", "w-b", "w-c"]


def test_targets_are_seeded_and_exact():
    assert select_targets(NAMES, 1, seed=3) == select_targets(NAMES, 1, seed=3)
    picks = {tuple(select_targets(NAMES, 1, seed=s)) for s in range(20)}
    assert len(picks) > 1, "different seeds should reach different replicas"
    assert len(select_targets(NAMES, 2, seed=0)) == 2
    with pytest.raises(ValueError, match="only 3 exist"):
        select_targets(NAMES, 4, seed=0)


BEFORE = {"target": "w-a", "pid": 100, "alive": True, "start_time_s": 5.0, "cmdline": "python -m dynamo.mocker"}


def test_kill_took_effect_and_restart_recorded():
    after = {"exit": {"pid": 100, "exit_code": -9, "signal": "SIGKILL"}, "pid_after": {"pid": 100, "alive": False},
             "replacement": "w-a", "replacement_pid": 101, "restarts_after": 1, "ready_ns": 10}
    ok, detail = judge_local_effect("process", BEFORE, after)
    assert ok and "SIGKILL" in detail and "restarted as PID 101" in detail and "ready" in detail


def test_process_still_running_is_not_an_effect():
    ok, detail = judge_local_effect("process", BEFORE, {"exit": None, "pid_after": {"alive": True}})
    assert not ok and "did not exit" in detail


def test_no_live_process_before():
    ok, detail = judge_local_effect("pod", {**BEFORE, "alive": False}, {"exit": None})
    assert not ok and "no live process" in detail


def test_effect_without_recovery_is_still_an_effect():
    after = {"exit": {"pid": 100, "exit_code": 0, "signal": None}, "pid_after": {"alive": False}, "replacement": None}
    ok, detail = judge_local_effect("pod", BEFORE, after)
    assert ok and "no replacement" in detail
