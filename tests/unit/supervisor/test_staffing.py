"""Erlang C against the published vectors in docs/KPIS.md, and its invariants."""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd import staffing
from acd.errors import InvalidRequest


def test_vector_100_calls_30_min_aht_180_14_agents() -> None:
    r = staffing.staff(calls=100, interval_s=1800, aht_s=180, sl_target=0.8, sl_seconds=20, shrinkage=0.3,
                       agents=14)
    assert r.traffic_erlangs == pytest.approx(10.0, abs=1e-12)
    assert round(r.pw, 7) == 0.1741319
    assert round(r.service_level, 7) == 0.8883500
    assert round(r.asa_s, 3) == 7.836
    assert round(r.occupancy, 3) == 0.714
    assert r.positions == 20  # 14 / 0.7 is 20.000000000000004 in floating point: must not become 21
    assert r.meets_target


def test_vector_100_calls_14_agents_is_also_the_smallest_meeting_80_20() -> None:
    r = staffing.staff(calls=100, interval_s=1800, aht_s=180, sl_target=0.8, sl_seconds=20, shrinkage=0.3)
    assert (r.agents, r.positions) == (14, 20)
    assert staffing.service_level(10.0, 13, 180, 20) < 0.8 <= staffing.service_level(10.0, 14, 180, 20)


def test_vector_360_calls_30_min_aht_240_55_agents_t15() -> None:
    r = staffing.staff(calls=360, interval_s=1800, aht_s=240, sl_target=0.8, sl_seconds=15, agents=55)
    assert r.traffic_erlangs == pytest.approx(48.0, abs=1e-12)
    assert round(r.pw, 4) == 0.2387
    assert round(r.asa_s, 2) == 8.18
    assert round(r.service_level, 3) == 0.846


def test_vector_360_calls_80_20_needs_54_agents() -> None:
    # KPIS.md: "80/20 needs 54 agents". With T = 20 s: SL(53) = 0.7518, SL(54) = 0.8172 -> 54 holds.
    r = staffing.staff(calls=360, interval_s=1800, aht_s=240, sl_target=0.8, sl_seconds=20)
    assert r.agents == 54
    assert round(r.service_level, 4) == 0.8172
    assert round(staffing.service_level(48.0, 53, 240, 20), 4) == 0.7518
    # The same vector at its own T = 15 s would need 55 (SL(54) = 0.7929): the claim is about 80/20.
    assert staffing.staff(calls=360, interval_s=1800, aht_s=240, sl_target=0.8, sl_seconds=15).agents == 55
    assert round(staffing.service_level(48.0, 54, 240, 15), 4) == 0.7929


def _erlang_b_direct(a: float, n: int) -> float:
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


def _erlang_c_direct(a: float, n: int) -> float:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("a", "n"), [(0.5, 1), (2.0, 3), (10.0, 14), (7.3, 9), (20.0, 25)])
def test_iterative_erlang_b_and_c_match_the_closed_forms(a: float, n: int) -> None:
    assert staffing.erlang_b(a, n) == pytest.approx(_erlang_b_direct(a, n), rel=1e-12)
    assert staffing.erlang_c(a, n) == pytest.approx(_erlang_c_direct(a, n), rel=1e-12)


def test_overloaded_team_waits_forever() -> None:
    r = staffing.staff(calls=100, interval_s=1800, aht_s=180, agents=10)  # A = N = 10
    assert (r.pw, r.service_level, r.occupancy, r.meets_target) == (1.0, 0.0, 1.0, False)
    assert math.isinf(r.asa_s)
    assert r.to_dict()["asa_s"] is None


def test_no_calls_needs_no_agents() -> None:
    r = staffing.staff(calls=0, interval_s=1800, aht_s=180)
    assert (r.agents, r.positions, r.service_level, r.asa_s, r.occupancy) == (0, 0, 1.0, 0.0, 0.0)


def test_max_occupancy_adds_agents() -> None:
    free = staffing.staff(calls=360, interval_s=1800, aht_s=240)
    capped = staffing.staff(calls=360, interval_s=1800, aht_s=240, max_occupancy=0.85)
    assert free.agents == 54 and free.occupancy > 0.85
    assert capped.agents == math.ceil(48 / 0.85) == 57
    assert capped.occupancy <= 0.85 and capped.meets_target


def test_large_traffic_is_stable() -> None:
    r = staffing.staff(calls=100_000, interval_s=3600, aht_s=300)  # A = 8333 erlangs
    assert r.meets_target and r.agents > 8333
    assert staffing.service_level(r.traffic_erlangs, r.agents - 1, 300, 20) < 0.8


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"calls": -1}, "calls"),
    ({"interval_s": 0}, "interval_s"),
    ({"aht_s": -3}, "aht_s"),
    ({"sl_target": 0}, "sl_target"),
    ({"sl_target": 1.2}, "sl_target"),
    ({"sl_seconds": -1}, "sl_seconds"),
    ({"shrinkage": 1.0}, "shrinkage"),
    ({"shrinkage": -0.1}, "shrinkage"),
    ({"agents": -2}, "agents"),
    ({"max_occupancy": 0}, "max_occupancy"),
    ({"calls": float("nan")}, "calls"),
])
def test_bad_input_names_the_field(kwargs: dict[str, float], field: str) -> None:
    args: dict[str, float] = {"calls": 100, "interval_s": 1800, "aht_s": 180, **kwargs}
    with pytest.raises(InvalidRequest) as info:
        staffing.staff(**args)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(("agents", "shrinkage", "positions"),
                         [(14, 0.3, 20), (7, 0.3, 10), (10, 0.0, 10), (10, 0.25, 14), (1, 0.5, 2), (3, 0.1, 4)])
def test_positions(agents: int, shrinkage: float, positions: int) -> None:
    assert staffing.positions(agents, shrinkage) == positions


@given(calls=st.floats(1, 2000), aht=st.floats(10, 900), target=st.floats(0.05, 0.99), t=st.floats(0, 120))
def test_agents_required_is_the_smallest_meeting_the_target(calls: float, aht: float, target: float,
                                                            t: float) -> None:
    r = staffing.staff(calls=calls, interval_s=1800, aht_s=aht, sl_target=target, sl_seconds=t)
    a = r.traffic_erlangs
    assert r.agents > a and r.service_level >= target
    assert r.agents - 1 <= a or staffing.service_level(a, r.agents - 1, aht, t) < target
    # More agents never lower the service level nor raise the wait.
    assert staffing.service_level(a, r.agents + 1, aht, t) >= r.service_level
    assert staffing.asa(a, r.agents + 1, aht) <= r.asa_s


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the run) when the body takes longer than ``seconds``."""
    def _expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Each ran forever (1e300) or for tens of seconds (1e8) before the bounds existed.
@pytest.mark.parametrize(("kwargs", "field", "says"), [
    ({"calls": 1e300}, "calls", "at most"),
    ({"calls": 1e8}, "calls", "at most"),
    ({"calls": 50_000, "interval_s": 60}, "calls", "erlangs"),  # few enough calls, too much traffic
    ({"interval_s": 1e-300}, "calls", "erlangs"),
    ({"interval_s": 1e300}, "interval_s", "at most"),
    ({"aht_s": 1e300}, "aht_s", "at most"),
    ({"sl_seconds": 1e300}, "sl_seconds", "at most"),
    ({"agents": 10**12}, "agents", "at most"),
    ({"calls": math.inf}, "calls", "finite"),
    ({"aht_s": -math.inf}, "aht_s", "finite"),
    ({"max_occupancy": math.nan}, "max_occupancy", "finite"),
])
def test_out_of_range_input_is_refused_at_once_naming_the_field(kwargs: dict[str, float], field: str,
                                                                says: str) -> None:
    args: dict[str, float] = {"calls": 100, "interval_s": 1800, "aht_s": 180, **kwargs}
    with _deadline(2.0), pytest.raises(InvalidRequest) as info:
        staffing.staff(**args)  # type: ignore[arg-type]
    assert info.value.field == field and says in info.value.message


@pytest.mark.parametrize("kwargs", [
    {"calls": staffing.MAX_TRAFFIC_ERLANGS * 1800 / 180, "interval_s": 1800, "aht_s": 180},  # the largest load
    {"calls": 100, "interval_s": 1800, "aht_s": 180, "agents": staffing.MAX_AGENTS},  # the most agents
])
def test_the_largest_accepted_input_is_answered_quickly(kwargs: dict[str, float]) -> None:
    with _deadline(3.0):
        r = staffing.staff(**kwargs)  # type: ignore[arg-type]
    assert r.agents >= 1


def test_the_longest_search_at_the_largest_load_ends_quickly() -> None:
    calls = staffing.MAX_TRAFFIC_ERLANGS * 1800 / 180
    with _deadline(3.0):  # SL = 1.0 with T = 0 is met only once 1 - Pw rounds to 1.0, past the load
        r = staffing.staff(calls=calls, interval_s=1800, aht_s=180, sl_target=1.0, sl_seconds=0)
    assert r.service_level == 1.0 and r.agents > staffing.MAX_TRAFFIC_ERLANGS
