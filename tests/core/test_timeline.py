"""Scenario files: each step named by its one key, options that fit their wait, clear errors otherwise."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runner.core.timeline import FaultStep, LoadStep, Timeline, WaitStep


def timeline(*steps) -> Timeline:
    return Timeline.model_validate({"name": "t", "deployment": "mocker-agg-tp-1-dp-2", "steps": list(steps)})


def test_each_step_kind_is_read_from_its_key():
    t = timeline({"load": "start"}, {"wait": "first_success", "delay_s": 2}, {"fault": "decode_worker", "target": 1},
                 {"wait": 1.5}, {"wait": "ready", "role": "decode"}, {"fault": "frontend", "target": "all"},
                 {"load": "stop"})
    kinds = [type(s) for s in t.steps]
    assert kinds == [LoadStep, WaitStep, FaultStep, WaitStep, WaitStep, FaultStep, LoadStep]
    assert t.faults() == ["decode_worker", "frontend"] and t.steps[3].wait == 1.5


@pytest.mark.parametrize("step,message", [
    ({"load": "start", "wait": 2}, "exactly one of the keys load, fault, wait"),
    ({"sleep": 2}, "exactly one of the keys load, fault, wait"),
    ({"wait": "ready"}, "`role` goes with `wait: ready`"),
    ({"wait": 3, "successes": 2}, "`successes` goes with `wait: recovered`"),
    ({"wait": "recovered", "delay_s": 2}, "`delay_s` goes with `wait: first_success`"),
    ({"fault": "decode_worker", "target": "some"}, "target"),
    ({"load": "pause"}, "load"),
])
def test_a_step_that_does_not_fit_names_what_is_wrong(step, message):
    with pytest.raises(ValidationError, match=message):
        timeline(step)


def test_a_timeline_needs_a_step_and_a_plain_name():
    with pytest.raises(ValidationError, match="at least 1"):
        timeline()
    with pytest.raises(ValidationError, match="name"):
        Timeline.model_validate({"name": "Has Spaces", "deployment": "d", "steps": [{"load": "start"}]})
