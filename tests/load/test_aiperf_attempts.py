"""When the aiperf driver starts the next attempt and lets it go (pure decisions over attempt state)."""

from __future__ import annotations

import time
from pathlib import Path

from runner.load.aiperf import PREWARM_LEAD_S, _Attempt, _ExportTail, _let_go, _next_is_due
from runner.load.base import Progress

S = 1_000_000_000


def attempt(count: int, first_start_ns: int | None, trailing: int = 0, done: bool = False,
            missing: int = 0, rate: float = 4.0) -> _Attempt:
    """An attempt whose export holds a record of every request sent up to now, the last `trailing` of them
    successes and the others failures, but for `missing` records of the requests just before those."""
    tail = _ExportTail(Path("/nonexistent"), Progress())
    tail.first_start_ns = first_start_ns
    if first_start_ns is not None:
        sent = int((time.time_ns() - first_start_ns) / S * rate)
        outcomes = [(first_start_ns + int(i / rate * S), i >= sent - trailing) for i in range(sent)]
        gap = slice(sent - trailing - missing, sent - trailing)
        tail.outcomes = [o for i, o in enumerate(outcomes) if not (gap.start <= i < gap.stop)]
    return _Attempt(count=count, tail=tail, artifact_dir=Path("/nonexistent"), done=done)


def test_no_running_attempt_means_start_now():
    assert _next_is_due([], rate=4.0)


def test_the_next_attempt_starts_once_the_service_answers_again():
    now = time.time_ns()
    still_failing = attempt(120, first_start_ns=now - 5 * S, trailing=0)  # last send ~25 s away
    recovered = attempt(120, first_start_ns=now - 5 * S, trailing=5)
    assert not _next_is_due([still_failing], rate=4.0)
    assert _next_is_due([recovered], rate=4.0)
    assert not _next_is_due([attempt(120, first_start_ns=None, trailing=9)], rate=4.0)  # nothing sent yet


def test_a_record_still_on_its_way_from_before_the_streak_holds_the_next_attempt_back():
    """aiperf writes records late and out of order under load: a request sent before the five successes
    may still fail, and the owed count would then be one short (a whole extra aiperf run for one request)."""
    now = time.time_ns()
    late_record = attempt(120, first_start_ns=now - 5 * S, trailing=5, missing=1)
    assert late_record.tail.settled_successes(4.0) == 0
    assert not _next_is_due([late_record], rate=4.0)
    assert attempt(120, first_start_ns=now - 5 * S, trailing=5).tail.settled_successes(4.0) == 5


def test_at_the_latest_the_next_attempt_starts_a_lead_before_the_last_request():
    now = time.time_ns()
    lead_ns = int(PREWARM_LEAD_S * S)
    # 120 requests at 4/s: the last one leaves 29.75 s after the first
    close = attempt(120, first_start_ns=now - int(29.75 * S) + lead_ns - S)
    far = attempt(120, first_start_ns=now - int(29.75 * S) + lead_ns + S)
    assert _next_is_due([close], rate=4.0) and not _next_is_due([far], rate=4.0)


def test_a_held_attempt_is_let_go_when_the_one_before_sends_its_last_request():
    now = time.time_ns()
    sending = attempt(120, first_start_ns=now - 10 * S)
    held = attempt(6, first_start_ns=None)
    _let_go([sending, held], rate=4.0)
    assert not held.gate.is_open
    finished_sending = attempt(120, first_start_ns=now - 30 * S)
    _let_go([finished_sending, held], rate=4.0)
    assert held.gate.is_open
    after_a_crash = attempt(6, first_start_ns=None)
    _let_go([attempt(120, first_start_ns=None, done=True), after_a_crash], rate=4.0)
    assert after_a_crash.gate.is_open


def test_the_latest_start_follows_the_measured_start_up():
    now = time.time_ns()
    # last send in 10 s; the first attempt took 9 s to start: 1.2 x 9 = 10.8 s of lead, so due now
    sending = attempt(41, first_start_ns=now)
    assert _next_is_due([sending], rate=4.0, startup_ns=9 * S)
    assert not _next_is_due([sending], rate=4.0, startup_ns=5 * S)


def test_progress_counts_successes_in_a_row_in_sending_order_since_a_time():
    from runner.load.base import Progress
    from runner.results.records import Record

    progress = Progress()
    # records arrive out of order; by start time: ok ok FAIL ok ok ok (from 10 on)
    for start, ok in [(10, True), (14, True), (11, True), (12, False), (13, True), (15, True), (5, False)]:
        progress.add(Record(start_ns=start, end_ns=start + 1, ok=ok))
    assert progress.successes_in_a_row(10) == 3
    assert progress.successes_in_a_row(13) == 3 and progress.successes_in_a_row(0) == 3
    assert progress.successes_in_a_row(100) == 0
