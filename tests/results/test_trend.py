"""The trend judgement on synthetic histories with known regressions: a step, noise alone, a late scenario."""

from __future__ import annotations

import math
import random

import pytest

from report.history import Night, noisy, run_id, scenario_summary
from runner.results.trend import (
    LEARNING,
    METRIC_BY_KEY,
    NA,
    OK,
    REGRESSED,
    Settings,
    band,
    describe,
    judge_metric,
    point_of,
    trend,
)


def points(nights: dict[int, Night], scenario: str = "mocker-agg-tp-1-dp-2-decode_worker", failure: str = "decode_worker"):
    return [point_of(scenario_summary(i, scenario, n, failure)) for i, n in nights.items()]


def test_a_step_in_recovery_is_a_regression_that_began_at_the_step_and_stays_one():
    rng = random.Random(1)
    nights = {i: noisy(rng, recovery=8.0 if i < 30 else 20.0) for i in range(45)}
    [st] = trend(points(nights))
    [reg] = st.regressions
    assert reg.metric == "service_recovery_s"
    assert reg.onset_run == run_id(30) and reg.runs == 15  # 15 nights after the step: still the step's regression
    assert 7.0 < reg.baseline_median < 9.0 and reg.latest > 15
    statuses = [j.status for j in st.judged["service_recovery_s"]]
    assert statuses[:3] == [LEARNING] * 3 and set(statuses[3:30]) == {OK} and set(statuses[30:]) == {REGRESSED}
    assert run_id(30) in describe(reg) and "service recovery" in describe(reg)


def test_the_step_heals_when_the_metric_comes_back():
    rng = random.Random(2)
    nights = {i: noisy(rng, recovery=20.0 if 20 <= i < 25 else 8.0) for i in range(40)}
    [st] = trend(points(nights))
    assert st.regressions == []
    statuses = [j.status for j in st.judged["service_recovery_s"]]
    assert statuses[20:25] == [REGRESSED] * 5 and set(statuses[25:]) == {OK}


@pytest.mark.parametrize("seed", range(8))
def test_noise_alone_is_never_a_regression(seed):
    rng = random.Random(seed)
    nights = {i: noisy(rng, ttft=40.0) for i in range(120)}
    [st] = trend(points(nights))
    assert st.regressions == []
    flagged = [(k, j.point.run_id) for k, js in st.judged.items() for j in js if j.status == REGRESSED]
    assert flagged == [], flagged


def test_a_scenario_that_appears_late_learns_first_and_then_is_judged():
    rng = random.Random(3)
    old = points({i: noisy(rng) for i in range(40)}, "a-old")
    late = points({i: noisy(rng) for i in range(34, 40)}, "b-late")
    trends = {st.scenario: st for st in trend(old + late)}
    b = trends["b-late"]
    assert [p.run_id for p in b.points] == [run_id(i) for i in range(34, 40)]
    statuses = [j.status for j in b.judged["service_recovery_s"]]
    assert statuses == [LEARNING] * 3 + [OK] * 3
    assert b.regressions == [] and trends["a-old"].regressions == []
    # ... and a regression in its 6th run is seen against its own short baseline
    late_bad = points({**{i: noisy(rng) for i in range(34, 39)}, 39: noisy(rng, p99=900.0)}, "b-late")
    [b2] = [st for st in trend(old + late_bad) if st.scenario == "b-late"]
    assert [(r.metric, r.onset_run) for r in b2.regressions] == [("latency_p99_ms", run_id(39))]


def test_a_failed_verdict_and_a_recovery_that_never_came_are_regressions():
    rng = random.Random(4)
    nights = {i: noisy(rng) for i in range(12)}
    nights[12] = Night(recovery_s=None, success_rate=0.6, verdict="FAIL")
    [st] = trend(points(nights))
    found = {r.metric: r for r in st.regressions}
    assert set(found) == {"verdict", "success_rate", "service_recovery_s"}
    assert all(r.onset_run == run_id(12) for r in found.values())
    assert math.isinf(found["service_recovery_s"].latest) and "never" in describe(found["service_recovery_s"])


def test_ttft_is_judged_only_where_the_load_streamed_and_baselines_have_no_fault_values():
    rng = random.Random(5)
    p = points({i: noisy(rng) for i in range(6)}, "x-none", failure="none")
    [st] = trend(p)
    assert {j.status for j in st.judged["ttft_p99_ms"]} == {NA}
    assert {j.status for j in st.judged["service_recovery_s"]} == {NA}  # no fault: nothing to recover from
    assert st.regressions == []


def test_the_band_has_a_floor_when_every_baseline_value_is_equal():
    m = METRIC_BY_KEY["success_rate"]
    b = band([1.0, 1.0, 1.0, 1.0], m, 4.0)
    assert b.low == pytest.approx(0.99)  # 1 pp, not 0: a single failed request of 400 is not a regression
    judged = judge_metric(points({i: Night(success_rate=1.0) for i in range(5)} | {5: Night(success_rate=0.9975)}),
                          m, Settings(min_baseline=3))
    assert judged[-1].status == OK


def test_baseline_runs_bounds_the_window():
    rng = random.Random(6)
    nights = {i: noisy(rng, p99=200.0 if i < 10 else 300.0) for i in range(10)} | {
        i: Night(p99_ms=300.0) for i in range(10, 13)}
    st = trend(points(nights), Settings(baseline_runs=3))[0]
    j = st.judged["latency_p99_ms"][12]
    assert j.band.size == 3
