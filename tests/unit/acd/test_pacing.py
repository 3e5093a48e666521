"""The pacing core: what each mode dials, what it learns, and the bounds that hold whatever it learnt."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.pacing import DialMode, Floor, Pacer, PacingConfig, expected_excess


def _pacer(mode: DialMode, **kw: float) -> Pacer:
    return Pacer(PacingConfig(mode=mode, **kw))  # type: ignore[arg-type]


def _learn(pacer: Pacer, *, answer_rate: float, handle_s: float, attempts: int = 400) -> None:
    answered_every = round(1 / answer_rate)
    for i in range(attempts):
        answered = i % answered_every == 0
        pacer.record_attempt(-1000.0 + i, answered=answered, ring_s=8.0 if answered else 25.0)  # results in
    for i in range(100):
        pacer.record_handle(handle_s * (0.5 + (i % 11) / 10))


@pytest.mark.parametrize(("floor", "expected"), [
    (Floor(idle=3), 3),
    (Floor(idle=3, ringing=(1.0,)), 2),
    (Floor(idle=1, ringing=(1.0,) * 4), 0),
    (Floor(idle=0, busy_elapsed=(10.0, 20.0)), 0),
    (Floor(idle=3, ringing=(1.0,), waiting=1), 1),  # a person waiting out the drop grace takes an agent
])
def test_progressive_dials_one_call_per_idle_agent_not_yet_covered(floor: Floor, expected: int) -> None:
    assert _pacer(DialMode.PROGRESSIVE).calls_to_dial(floor, 0.0) == expected


def test_preview_never_dials() -> None:
    assert _pacer(DialMode.PREVIEW).calls_to_dial(Floor(idle=10), 0.0) == 0


def test_a_new_predictive_campaign_starts_near_progressive() -> None:
    # The prior (half the calls answered) keeps a campaign with no results from over-dialling.
    pacer = _pacer(DialMode.PREDICTIVE)
    n = pacer.calls_to_dial(Floor(idle=10), 0.0)
    assert 10 <= n <= 20


def test_predictive_dials_more_when_it_learnt_that_few_answer() -> None:
    floor = Floor(idle=5, busy_elapsed=tuple(float(s) for s in range(0, 300, 20)))
    low, high = _pacer(DialMode.PREDICTIVE), _pacer(DialMode.PREDICTIVE)
    _learn(low, answer_rate=0.1, handle_s=120.0)
    _learn(high, answer_rate=0.5, handle_s=120.0)
    assert low.answer_rate() == pytest.approx(0.1, abs=0.03)
    n_low, n_high = low.calls_to_dial(floor, 0.0), high.calls_to_dial(floor, 0.0)
    assert n_low > n_high > 5


def test_agents_near_the_end_of_their_calls_count_as_almost_free() -> None:
    pacer = _pacer(DialMode.PREDICTIVE)
    _learn(pacer, answer_rate=0.2, handle_s=100.0)
    early = pacer.calls_to_dial(Floor(idle=0, busy_elapsed=(5.0,) * 10), 0.0)
    late = pacer.calls_to_dial(Floor(idle=0, busy_elapsed=(145.0,) * 10), 0.0)
    assert late > early
    assert pacer.free_within(145.0, 8.0) > pacer.free_within(5.0, 8.0)


def test_people_waiting_for_an_agent_are_certain_answers() -> None:
    pacer = _pacer(DialMode.PREDICTIVE)
    _learn(pacer, answer_rate=0.2, handle_s=60.0)
    floor = Floor(idle=0, busy_elapsed=(80.0,) * 10, ringing=(2.0,) * 3)  # agents near the end of their calls
    dials = [pacer.calls_to_dial(Floor(idle=0, busy_elapsed=floor.busy_elapsed, ringing=floor.ringing, waiting=w),
                                 0.0) for w in (0, 1, 2)]
    assert dials[0] > dials[1] > dials[2]


def test_a_rate_learnt_from_few_calls_is_dialled_on_more_carefully() -> None:
    # The same 25 % answers, learnt from 20 calls or from 400 (no prior): the pacer counts the
    # error of an estimate from 20 calls and dials fewer, and both dial ahead of progressive.
    floor = Floor(idle=6, busy_elapsed=(30.0,) * 2)
    few, many = _pacer(DialMode.PREDICTIVE, prior_weight=0.0), _pacer(DialMode.PREDICTIVE, prior_weight=0.0)
    _learn(few, answer_rate=0.25, handle_s=60.0, attempts=20)
    _learn(many, answer_rate=0.25, handle_s=60.0, attempts=400)
    assert few.answer_rate() == many.answer_rate() == 0.25
    assert few.answer_rate_bound() > many.answer_rate_bound() > 0.25
    assert 6 < few.calls_to_dial(floor, 0.0) < many.calls_to_dial(floor, 0.0)


def test_the_first_minute_on_a_handful_of_results_does_not_flood_the_idle_agents() -> None:
    # Real run 3's first minute: 3 people answered (after 3-6 s) of 11 results in (a busy, two
    # machines or quick failures, six no answers at the 15 s dial timeout): the answer rate with
    # its prior is 0.42 (the real one 0.25). Six agents idle, two just started calls. Deciding
    # every second while nobody answers, the pacer used to write off every line that had rung
    # longer than those three answers and kept dialling: 20 lines out for 6 idle agents (14 in
    # the run). The odds of a line still ringing now shrink toward the answer rate until ring
    # times are learnt from enough calls.
    pacer = _pacer(DialMode.PREDICTIVE, max_ring_s=15.0)
    for end, answered, ring_s in [(20.0, True, 3.0), (22.0, True, 5.0), (25.0, True, 6.0), (18.0, False, 0.5),
                                  (21.0, False, 4.0), (28.0, False, 1.0)] + [(30.0 + i, False, 15.0) for i in range(5)]:
        pacer.record_attempt(end, answered=answered, ring_s=ring_s)
    assert pacer.answer_rate(50.0) == pytest.approx(0.42, abs=0.01)
    dialled: list[float] = []
    for now in range(50, 65):
        floor = Floor(idle=6, busy_elapsed=(now - 40.0, now - 30.0), ringing=tuple(now - d for d in dialled))
        dialled += [float(now)] * pacer.calls_to_dial(floor, float(now))
    assert 6 < len(dialled) <= 10
    # The prior fades: with 400 results the odds of a line that rang past every answer are small.
    _learn(pacer, answer_rate=0.25, handle_s=60.0)
    assert pacer.answer_given_ringing(12.0, pacer.answer_rate()) < 0.02


def test_one_early_drop_does_not_stall_the_campaign_but_the_cap_still_binds() -> None:
    # 1 dropped of the first 10 answered is 10 % measured, but it is judged over at least
    # drop_min_answered (60) answers: 1.7 %, under the 3 % cap, so the campaign still dials
    # ahead (less than before the drop). Two drops in those 60 reach the cap: progressive.
    floor = Floor(idle=4, busy_elapsed=(60.0,) * 10)
    pacer = _pacer(DialMode.PREDICTIVE)
    _learn(pacer, answer_rate=0.1, handle_s=120.0)
    before = pacer.calls_to_dial(floor, 10.0)
    for i in range(10):
        pacer.record_connect(float(i), dropped=i == 9)
    assert pacer.drop_rate(10.0) == pytest.approx(0.1)
    assert pacer.drop_rate_judged(10.0) == pytest.approx(1 / 60)
    assert 4 < pacer.calls_to_dial(floor, 10.0) < before
    pacer.record_connect(10.0, dropped=True)
    assert pacer.calls_to_dial(floor, 11.0) == 4


def test_a_campaign_at_its_drop_cap_falls_back_to_progressive() -> None:
    pacer = _pacer(DialMode.PREDICTIVE)
    _learn(pacer, answer_rate=0.1, handle_s=120.0)
    for i in range(100):
        pacer.record_connect(float(i), dropped=i < 3)  # 3 % dropped within the hour
    assert pacer.drop_rate(100.0) == pytest.approx(0.03)
    assert pacer.calls_to_dial(Floor(idle=4, busy_elapsed=(60.0,) * 10), 100.0) == 4
    # An hour later the drops left the window and the campaign dials ahead again.
    assert pacer.drop_rate(3700.0) == 0.0
    assert pacer.calls_to_dial(Floor(idle=4, busy_elapsed=(60.0,) * 10), 3700.0) > 4


def test_the_lines_per_agent_bound_stands_above_the_model() -> None:
    pacer = _pacer(DialMode.PREDICTIVE, max_lines_per_agent=1.5)
    _learn(pacer, answer_rate=0.05, handle_s=30.0)
    assert pacer.calls_to_dial(Floor(idle=10), 0.0) == 15
    assert pacer.calls_to_dial(Floor(idle=10, ringing=(0.0,) * 15), 0.0) == 0


def test_a_call_that_rang_long_unanswered_is_unlikely_to_be_answered() -> None:
    pacer = _pacer(DialMode.PREDICTIVE)
    _learn(pacer, answer_rate=0.25, handle_s=100.0)  # humans answer at 8 s, the others ring 25 s
    p = pacer.answer_rate()
    assert pacer.answer_given_ringing(0.0, p) == p
    assert pacer.answer_given_ringing(5.0, p) == pytest.approx(0.25, abs=0.03)
    assert pacer.answer_given_ringing(12.0, p) < 0.02
    # So a floor whose lines have rung long dials more than one whose lines were just dialled.
    stale = pacer.calls_to_dial(Floor(idle=5, busy_elapsed=(50.0,) * 10, ringing=(15.0,) * 10), 0.0)
    fresh = pacer.calls_to_dial(Floor(idle=5, busy_elapsed=(50.0,) * 10, ringing=(1.0,) * 10), 0.0)
    assert stale > fresh


def test_the_answer_rate_waits_for_a_burst_of_dials_to_ring_out() -> None:
    # 100 calls dialled at t=0: the 20 answers come in within 10 s, the 80 others ring out at 30 s.
    pacer = _pacer(DialMode.PREDICTIVE, max_ring_s=30.0)
    for _ in range(20):
        pacer.record_attempt(10.0, answered=True, ring_s=10.0)
    assert pacer.answer_rate(12.0) == 0.5  # the prior alone: the burst's results are not all in
    for _ in range(80):
        pacer.record_attempt(30.0, answered=False, ring_s=30.0)
    assert pacer.answer_rate(31.0) == pytest.approx((20 + 10) / (100 + 20))


def test_configuration_out_of_range_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="drop_cap"):
        PacingConfig(mode=DialMode.PREDICTIVE, drop_cap=1.5)
    with pytest.raises(ValueError, match="max_lines_per_agent"):
        PacingConfig(mode=DialMode.PREDICTIVE, max_lines_per_agent=0.5)


def test_expected_excess_matches_the_closed_forms() -> None:
    assert expected_excess(2.0, 0.0) == 2.0
    assert expected_excess(-2.0, 0.0) == 0.0
    assert expected_excess(0.0, 1.0) == pytest.approx(0.3989, abs=1e-4)  # sd * phi(0)


floors = st.builds(Floor, idle=st.integers(0, 50),
                   busy_elapsed=st.lists(st.floats(0, 2000), max_size=60).map(tuple),
                   ringing=st.lists(st.floats(0, 60), max_size=60).map(tuple), waiting=st.integers(0, 5))
histories = st.lists(st.tuples(st.booleans(), st.floats(0, 60), st.floats(1, 900)), max_size=120)


@settings(max_examples=60, deadline=None)
@given(floor=floors, history=histories, mode=st.sampled_from(list(DialMode)),
       lines=st.floats(1.0, 5.0), drops=st.integers(0, 20))
def test_every_mode_stays_within_its_bounds(floor: Floor, history: list[tuple[bool, float, float]],
                                            mode: DialMode, lines: float, drops: int) -> None:
    pacer = Pacer(PacingConfig(mode=mode, max_lines_per_agent=lines))
    for answered, ring_s, handle_s in history:
        pacer.record_attempt(0.0, answered=answered, ring_s=ring_s)
        pacer.record_handle(handle_s)
    for i in range(100):
        pacer.record_connect(0.0, dropped=i < drops)
    n = pacer.calls_to_dial(floor, 1.0)
    agents = floor.idle + len(floor.busy_elapsed)
    ringing = len(floor.ringing) + floor.waiting  # lines in use
    progressive = max(0, floor.idle - ringing)
    assert n >= 0
    assert ringing + n <= max(ringing, lines * agents + 1e-9)  # the lines bound
    if mode is DialMode.PREVIEW:
        assert n == 0
    elif mode is DialMode.PROGRESSIVE or drops >= 3:  # at the 3 % cap: no dialling ahead
        assert n == min(progressive, max(0, int(lines * agents + 1e-9) - ringing))
    else:
        assert n >= min(progressive, max(0, int(lines * agents + 1e-9) - ringing))


@settings(max_examples=60, deadline=None)
@given(elapsed=st.floats(0, 1000), horizon=st.floats(0, 100), more=st.floats(0, 100),
       samples=st.lists(st.floats(1, 900), min_size=0, max_size=100))
def test_free_within_is_a_probability_growing_with_the_horizon(elapsed: float, horizon: float, more: float,
                                                              samples: list[float]) -> None:
    pacer = _pacer(DialMode.PREDICTIVE)
    for s in samples:
        pacer.record_handle(s)
    near, far = pacer.free_within(elapsed, horizon), pacer.free_within(elapsed, horizon + more)
    assert 0.0 <= near <= far <= 1.0
