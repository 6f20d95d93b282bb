"""runner.faults.cancel_storm: where the platform counts the frontend's disconnected clients (Kubernetes), a storm
takes effect only if the frontend saw its cancels."""

from __future__ import annotations

from runner.faults.cancel_storm import judge_storm

S = 1_000_000_000
STAMP = {"target": "f", "requested": 8, "opened": 8, "mid_stream": 8, "inflight_before": 8, "injected_ns": 10 * S}
DRAIN = {"drained_ns": 11 * S, "fresh_ok": True, "inflight_last": 0}


def test_the_frontends_count_of_every_cancel_is_named_and_takes_effect():
    judged = judge_storm(STAMP, {**DRAIN, "disconnected_clients": 8})
    assert judged["took_effect"] and "the frontend counted 8 client(s) disconnected" in judged["detail"]


def test_streams_the_frontend_did_not_see_go_did_not_take_effect():
    """Streams that ran to their end (a cancel lost on the way) drain too: only the frontend's count tells."""
    judged = judge_storm({**STAMP, "opening_s": 3.2}, {**DRAIN, "disconnected_clients": 5})
    assert not judged["took_effect"] and "counted 5 client(s)" in judged["detail"]
    assert "opening every stream took 3.2 s" in judged["detail"] and "fault.cancel_storm.output_tokens" in judged["detail"]


def test_without_a_count_the_judgement_is_the_streams_alone():
    assert judge_storm(STAMP, DRAIN)["took_effect"]
    assert "counted" not in judge_storm(STAMP, DRAIN)["detail"]
    assert judge_storm(STAMP, {**DRAIN, "disconnected_clients": None})["took_effect"]
