"""Each step of a timeline on its own: its window, its fault's recovery, its expect checks, stage 1."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.core.timeline import StepExpect
from runner.results.records import Record
from runner.results.steps import step_happened, step_summaries
from runner.results.summary import FaultRecord

S = 1_000_000_000
T0 = 500 * S


@dataclass
class Step:
    index: int
    kind: str
    text: str
    started_ns: int
    ended_ns: int | None = None
    fault: FaultRecord | None = None
    evidence: list = field(default_factory=list)
    met: bool | None = None
    detail: str = ""


def at(seconds: float, ok: bool = True) -> Record:
    return Record(start_ns=T0 + int((seconds - 0.2) * S), end_ns=T0 + int(seconds * S), ok=ok)


def fault(seconds: float, took: bool = True) -> FaultRecord:
    return FaultRecord(name="decode_worker", kind="process", role="decode", seed=0, targets=["w"],
                       injected_ns=T0 + int(seconds * S), took_effect=took, detail="w killed")


def test_windows_run_to_the_next_step_a_fault_s_over_the_waits_after_it_and_recovery_is_per_fault():
    steps = [Step(0, "load", "load start", T0), Step(1, "fault", "fault a", T0 + 10 * S, T0 + 11 * S, fault(10)),
             Step(2, "wait", "wait recovered", T0 + 11 * S, T0 + 12 * S, met=True, detail="5 of 5"),
             Step(3, "fault", "fault b", T0 + 20 * S, T0 + 21 * S, fault(20))]
    # ok until 10 s, two failures after the first fault, successes from 13 s on, one failure after the second
    records = [at(t) for t in range(1, 10)] + [at(10.5, False), at(11.5, False)] + \
        [at(t) for t in range(13, 20)] + [at(20.5, False)] + [at(t) for t in range(21, 30)]
    out = step_summaries(steps, [None, StepExpect(max_recovery_s=2), None, StepExpect(min_success_rate=0.95)],
                         records, k=5)
    # the first fault's window runs over the wait after it, to the second fault: its two failures and the
    # successes of its recovery; the wait's own window from 11 s
    assert [s.window.requests for s in out] == [9, 9, 8, 10]
    assert [s.started_s for s in out] == [0, 10, 11, 20]
    assert out[1].service_recovery_s == 3.0  # the fault at 10 s -> the first of 5 in a row, ended at 13 s
    assert [c.status for c in out[1].checks] == ["FAIL"] and "bound 2 s" in out[1].checks[0].detail
    assert out[3].checks[0].status == "FAIL" and "90.00 % of 10" in out[3].checks[0].detail
    assert out[0].checks == [] and out[0].index == 1


def test_a_step_whose_fault_did_not_take_effect_or_whose_wait_timed_out_is_a_stage1_error():
    steps = [Step(0, "fault", "fault a", T0, T0 + S, fault(0, took=False), detail="PID still alive"),
             Step(1, "wait", "wait ready (decode)", T0 + S, T0 + 2 * S, met=False, detail="not within 5 s"),
             Step(2, "load", "load stop", T0 + 2 * S, T0 + 2 * S)]
    results = step_happened(step_summaries(steps, [None] * 3, [at(0.5)], k=5))
    assert [(r.name, r.status) for r in results] == [("step 1: fault a", "ERROR"),
                                                     ("step 2: wait ready (decode)", "ERROR")]
    assert results[1].detail == "not within 5 s"


def test_a_success_rate_check_with_no_attempt_in_its_window_is_an_error():
    steps = [Step(0, "fault", "fault a", T0 + 50 * S, T0 + 51 * S, fault(50))]
    (out,) = step_summaries(steps, [StepExpect(min_success_rate=0.5)], [at(1)], k=5)
    assert out.checks[0].status == "ERROR"


def test_a_stall_step_s_window_holds_the_requests_it_held_until_it_was_undone():
    # the stall is verified (undone) at 3 s and a wait follows at once: the three requests it held end
    # after that, in the wait's window, and still count for the stall step
    steps = [Step(0, "fault", "fault stall", T0, T0 + 3 * S, fault(0)),
             Step(1, "wait", "wait ready (decode)", T0 + 3 * S, T0 + 3 * S, met=True)]
    held = [Record(start_ns=T0 + int(0.5 * S), end_ns=T0 + int(3.1 * S), ok=True) for _ in range(3)]
    (stall, wait) = step_summaries(steps, [StepExpect(min_success_rate=0.9), None], held, k=5)
    assert stall.window.requests == 3 and stall.checks[0].status == "PASS"
    assert wait.window.requests == 3
