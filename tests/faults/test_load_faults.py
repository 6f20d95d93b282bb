"""runner.faults.overload and runner.faults.cancel_storm: what makes each take effect, and what it says."""

from __future__ import annotations

from runner.faults.cancel_storm import judge_storm
from runner.faults.overload import judge_shed, totals

S = 1_000_000_000
STEPS = [{"rate_per_s": 2.0, "sent": 6, "ok": 6, "held": False},
         {"rate_per_s": 4.0, "sent": 12, "ok": 9, "overloaded_529": 2, "unavailable_503": 1, "held": False},
         {"rate_per_s": 4.0, "sent": 20, "ok": 10, "overloaded_529": 10, "held": True}]


def test_the_ramp_steps_are_totalled_by_class():
    assert totals(STEPS) == {"sent": 38, "ok": 25, "overloaded_529": 12, "unavailable_503": 1}


def test_an_overload_takes_effect_when_load_was_shed():
    shed = judge_shed({"target": "f", "steps": STEPS, "first_shed_rate_per_s": 4.0, "ended_ns": 7})
    assert shed["took_effect"] and shed["ready_ns"] == 7
    assert "13 of 38 ramp requests shed (overloaded_529 12, unavailable_503 1), first at 4 req/s" in shed["detail"]


def test_a_ramp_that_never_shed_names_the_top_rate_and_the_likely_cause():
    quiet = judge_shed({"target": "f", "steps": [{"rate_per_s": 64.0, "sent": 300, "ok": 290, "timeout": 10}],
                        "first_shed_rate_per_s": None})
    assert not quiet["took_effect"] and "none up to 64 req/s (is the busy threshold set?)" in quiet["detail"]


def test_a_storm_takes_effect_when_every_stream_was_cut_mid_stream():
    stamp = {"target": "f", "requested": 8, "opened": 8, "mid_stream": 8, "inflight_before": 9, "injected_ns": 10 * S}
    drain = {"drained_ns": 10 * S + S // 4, "fresh_ok": True, "inflight_last": 0}
    judged = judge_storm(stamp, drain)
    assert judged["took_effect"] and judged["ready_ns"] == drain["drained_ns"]
    assert "8 of 8 streams cancelled mid-stream" in judged["detail"] and "after 0.250 s" in judged["detail"]
    short = judge_storm({**stamp, "opened": 6, "mid_stream": 6}, drain)
    assert not short["took_effect"]
    finished_early = judge_storm({**stamp, "mid_stream": 7}, drain)
    assert not finished_early["took_effect"]


def test_a_storm_that_never_drained_says_what_was_left():
    stamp = {"target": "f", "requested": 2, "opened": 2, "mid_stream": 2, "inflight_before": 2, "injected_ns": 0}
    judged = judge_storm(stamp, {"drained_ns": None, "inflight_last": 2.0, "fresh_ok": False, "fresh_error": "HTTP 503"})
    assert judged["ready_ns"] is None
    assert "in flight still 2.0 at the drain timeout" in judged["detail"] and "HTTP 503" in judged["detail"]


def test_an_outage_is_a_stall_of_the_server_held_for_outage_s():
    from runner.core.config import FaultConfig
    from runner.faults import get
    from runner.faults.outage import judge_registration

    outage = get("etcd_outage")
    assert outage.role == "etcd" and outage.hold_s(FaultConfig(outage_s=7, stall_s=30)) == 7
    assert get("nats_outage").role == "nats" and outage.kubernetes and outage.backends == ("mocker",)
    assert judge_registration(None, {"registered": True, "after_s": 2}) == (
        "a worker started during the outage: not watched during it; registered after 2.00 s after it")
