"""Erlang C staffing, exactly as docs/KPIS.md defines it.

Traffic A = calls / interval * AHT (erlangs). With N agents, Erlang B is computed iteratively
(B(0) = 1; B(k) = A*B(k-1) / (k + A*B(k-1))), then Pw = N*B / (N - A*(1 - B)) for N > A and
Pw = 1 for N <= A. ASA = Pw * AHT / (N - A); SL(T) = 1 - Pw * exp(-(N - A) * T / AHT);
occupancy = A / N. Agents required: the smallest N meeting the SL target (and an optional
maximum occupancy); positions = ceil(N / (1 - shrinkage)).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from acd.errors import InvalidRequest

# Beyond A + this many agents the search stops: an SL target that close to 1.0 is not reachable
# in floating point (1 - tiny rounds to 1 only after Pw*exp(...) drops below ~1e-16).
_SEARCH_LIMIT = 100_000

# Input bounds. The Erlang recursions are O(agents) Python steps, so the offered load and the agent
# count are what bound the work: 20,000 erlangs (past any single queue's forecast; the largest
# contact centres staff a few thousand agents per skill) keeps the worst case, an unreachable
# target searched _SEARCH_LIMIT agents past the load, around a tenth of a second.
MAX_TRAFFIC_ERLANGS = 20_000.0
MAX_AGENTS = 100_000
MAX_CALLS = 1_000_000.0  # per interval
MAX_INTERVAL_S = 7 * 86_400.0
MAX_AHT_S = 86_400.0
MAX_SL_SECONDS = 86_400.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StaffingResult:
    """Predicted figures for ``agents`` agents on one interval's forecast."""

    calls: float
    interval_s: float
    aht_s: float
    sl_target: float
    sl_seconds: float
    shrinkage: float
    max_occupancy: float | None
    traffic_erlangs: float
    agents: int
    pw: float  # probability that a call waits (Erlang C)
    service_level: float  # fraction answered within sl_seconds
    asa_s: float  # math.inf when agents <= traffic (the queue grows without bound)
    occupancy: float
    positions: int  # agents / (1 - shrinkage), rounded up
    meets_target: bool  # service level >= target (and occupancy <= max_occupancy when set)
    agents_given: bool  # True when the agent count was imposed, not searched

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (an infinite ASA becomes None)."""
        out = dataclasses.asdict(self)
        if math.isinf(self.asa_s):
            out["asa_s"] = None
        return out


def traffic(calls: float, interval_s: float, aht_s: float) -> float:
    """Offered load in erlangs: arrival rate x AHT."""
    return calls / interval_s * aht_s


def erlang_b(a: float, n: int) -> float:
    """Blocking probability of Erlang B, by the numerically stable recursion."""
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def _pw_from_b(a: float, n: int, b: float) -> float:
    if n <= a:
        return 1.0
    return n * b / (n - a * (1.0 - b))


def erlang_c(a: float, n: int) -> float:
    """Probability of waiting, Pw (1.0 when n <= a)."""
    return _pw_from_b(a, n, erlang_b(a, n))


def asa(a: float, n: int, aht_s: float) -> float:
    """Average speed of answer in seconds (inf when n <= a)."""
    if n <= a:
        return math.inf
    return erlang_c(a, n) * aht_s / (n - a)


def service_level(a: float, n: int, aht_s: float, t_s: float) -> float:
    """Fraction of calls answered within t_s seconds (0.0 when n <= a)."""
    if n <= a:
        return 0.0
    return _sl(a, n, erlang_c(a, n), aht_s, t_s)


def _sl(a: float, n: int, pw: float, aht_s: float, t_s: float) -> float:
    if n <= a:
        return 0.0
    return 1.0 - pw * math.exp(-(n - a) * t_s / aht_s)


def occupancy(a: float, n: int) -> float:
    """A / N, capped at 1.0 (an overloaded team is fully occupied); 0.0 with no agents."""
    if n <= 0:
        return 0.0
    return min(1.0, a / n)


def positions(agents: int, shrinkage: float) -> int:
    """Scheduled positions: agents / (1 - shrinkage), rounded up."""
    # Round first: 14 / (1 - 0.3) is 20.000000000000004 in binary floating point.
    return math.ceil(round(agents / (1.0 - shrinkage), 9))


def agents_required(a: float, aht_s: float, sl_target: float, sl_seconds: float,
                    max_occupancy: float | None = None) -> int:
    """Smallest N with SL(N) >= sl_target (and A/N <= max_occupancy when given)."""
    if a <= 0:
        return 0
    # Erlang B is carried upward one agent at a time: O(N) in total instead of O(N^2).
    b = 1.0
    n = 0
    while n < a + _SEARCH_LIMIT:
        n += 1
        b = a * b / (n + a * b)
        if n <= a:
            continue
        if max_occupancy is not None and a / n > max_occupancy:
            continue
        if _sl(a, n, _pw_from_b(a, n, b), aht_s, sl_seconds) >= sl_target:
            return n
    raise InvalidRequest("sl_target", f"{sl_target} is not reachable (tried up to {n} agents)")


def _check(calls: float, interval_s: float, aht_s: float, sl_target: float, sl_seconds: float,
           shrinkage: float, agents: int | None, max_occupancy: float | None) -> None:
    def finite(field: str, value: float) -> None:
        if not math.isfinite(value):
            raise InvalidRequest(field, f"must be a finite number (got {value})")

    for field, value in (("calls", calls), ("interval_s", interval_s), ("aht_s", aht_s),
                         ("sl_target", sl_target), ("sl_seconds", sl_seconds), ("shrinkage", shrinkage)):
        finite(field, value)
    if calls < 0:
        raise InvalidRequest("calls", f"must be >= 0 (got {calls})")
    if calls > MAX_CALLS:
        raise InvalidRequest("calls", f"must be at most {MAX_CALLS:.0f} per interval (got {calls:g})")
    if interval_s <= 0:
        raise InvalidRequest("interval_s", f"must be > 0 seconds (got {interval_s})")
    if interval_s > MAX_INTERVAL_S:
        raise InvalidRequest("interval_s", f"must be at most {MAX_INTERVAL_S:.0f} seconds (got {interval_s:g})")
    if aht_s <= 0:
        raise InvalidRequest("aht_s", f"must be > 0 seconds (got {aht_s})")
    if aht_s > MAX_AHT_S:
        raise InvalidRequest("aht_s", f"must be at most {MAX_AHT_S:.0f} seconds (got {aht_s:g})")
    if not 0 < sl_target <= 1:
        raise InvalidRequest("sl_target", f"must be in (0, 1], a fraction such as 0.8 (got {sl_target})")
    if sl_seconds < 0:
        raise InvalidRequest("sl_seconds", f"must be >= 0 seconds (got {sl_seconds})")
    if sl_seconds > MAX_SL_SECONDS:
        raise InvalidRequest("sl_seconds", f"must be at most {MAX_SL_SECONDS:.0f} seconds (got {sl_seconds:g})")
    if not 0 <= shrinkage < 1:
        raise InvalidRequest("shrinkage", f"must be in [0, 1), a fraction such as 0.3 (got {shrinkage})")
    if agents is not None and agents < 0:
        raise InvalidRequest("agents", f"must be >= 0 (got {agents})")
    if agents is not None and agents > MAX_AGENTS:
        raise InvalidRequest("agents", f"must be at most {MAX_AGENTS} (got {agents})")
    a = traffic(calls, interval_s, aht_s)
    if a > MAX_TRAFFIC_ERLANGS:
        # Named after calls: the forecast is the figure that is usually off (a unit slip, an
        # interval in minutes); the message gives all three.
        raise InvalidRequest("calls", f"{calls:g} calls in {interval_s:g} s at {aht_s:g} s AHT is {a:.4g} erlangs; "
                             f"at most {MAX_TRAFFIC_ERLANGS:.0f} erlangs are supported")
    if max_occupancy is not None:
        finite("max_occupancy", max_occupancy)
        if not 0 < max_occupancy <= 1:
            raise InvalidRequest("max_occupancy", f"must be in (0, 1] (got {max_occupancy})")


def staff(*, calls: float, interval_s: float, aht_s: float, sl_target: float = 0.8, sl_seconds: float = 20.0,
          shrinkage: float = 0.0, agents: int | None = None, max_occupancy: float | None = None) -> StaffingResult:
    """Agents needed for the forecast (or, with ``agents``, the predicted figures for that many)."""
    _check(calls, interval_s, aht_s, sl_target, sl_seconds, shrinkage, agents, max_occupancy)
    a = traffic(calls, interval_s, aht_s)
    n = agents if agents is not None else agents_required(a, aht_s, sl_target, sl_seconds, max_occupancy)
    if a <= 0:
        pw, sl, wait = 0.0, 1.0, 0.0  # no calls: nobody waits
    else:
        pw = erlang_c(a, n)
        sl = _sl(a, n, pw, aht_s, sl_seconds)
        wait = math.inf if n <= a else pw * aht_s / (n - a)
    occ = occupancy(a, n)
    meets = sl >= sl_target and (max_occupancy is None or occ <= max_occupancy)
    return StaffingResult(
        calls=calls, interval_s=interval_s, aht_s=aht_s, sl_target=sl_target, sl_seconds=sl_seconds,
        shrinkage=shrinkage, max_occupancy=max_occupancy, traffic_erlangs=a, agents=n, pw=pw,
        service_level=sl, asa_s=wait, occupancy=occ, positions=positions(n, shrinkage),
        meets_target=meets, agents_given=agents is not None,
    )
