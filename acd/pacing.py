"""Outbound dialling pace: how many customers a campaign dials now, learnt from its own results.

Pure and synchronous: the floor (idle agents, how long each busy agent has been busy, calls still
ringing) and the clock go in, a number of calls to dial comes out. The adapter
(``crm_core.dialer``) places them and reports what happened back.

    pacer = Pacer(PacingConfig(mode=DialMode.PREDICTIVE))
    n = pacer.calls_to_dial(Floor(idle=3, busy_elapsed=(40.0, 95.0), ringing=(2.0, 11.0)), now)
    pacer.record_attempt(now, answered=True, ring_s=7.5)     # a human answered after 7.5 s
    pacer.record_attempt(now, answered=False, ring_s=30.0)   # no answer (or busy, a machine...)
    pacer.record_connect(now, dropped=False)                 # ... and found an agent
    pacer.record_handle(112.0)                               # the agent was busy 112 s with it

Modes:
* ``preview``: the engine never dials; the agent sees the contact and dials it.
* ``progressive``: one call per idle agent not already covered by a ringing call (or a person
  already waiting for an agent). An answered call
  always has its agent, so nothing is dropped, but the agent waits through every unanswered ring.
* ``predictive``: dials ahead. Over the next ``horizon`` (the learnt mean time a call takes to be
  answered) the agents available are the idle ones plus each busy agent with the probability its
  call ends within the horizon (the learnt handle-time distribution, given how long it has already
  lasted); each ringing call is answered by a human with the learnt probability for a call that
  has rung that long without an answer (a call ringing for 20 s is less likely to be answered than
  a new one), each new call with the learnt answer rate; a person who answered and waits for an
  agent (``Floor.waiting``: the dialer's drop grace) is an answer for sure. Both sums are approximated by normal
  distributions, and n is the largest count whose expected share of
  answers that find no agent stays under a target. The target is the configured cap (3 % by
  default) scaled by the headroom the rolling drop rate leaves (judged over at least
  ``drop_min_answered`` answers, so one early drop does not read as 10 %): a campaign close to its
  cap dials like progressive until the rate falls. Never fewer calls than progressive, never more lines than
  ``max_lines_per_agent`` times the agents on the floor.

Learning: the last ``sample_size`` attempts give the answer rate (with a prior of
``prior_weight`` pseudo-attempts at ``prior_answer_rate`` so a new campaign starts carefully), the
time to answer and how long unanswered calls ring (the odds of a line still ringing with a prior of
as many pseudo-attempts still ringing at the answer rate); the last ``sample_size`` handled calls give
the handle-time distribution (until ``min_handle_samples`` are known, only idle agents count as available; the calls in
progress correct the bias of the first samples toward short calls).

Errors: ``ValueError`` for a configuration out of range (the campaign service validates first).
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import math
from collections import deque
from collections.abc import Sequence


class DialMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PacingConfig:
    mode: DialMode
    drop_cap: float = 0.03  # share of answered calls that may find no agent
    drop_window_s: float = 3600.0  # the rolling window the drop rate is measured over
    max_lines_per_agent: float = 3.0  # ringing calls per agent on the floor, whatever the model says
    prior_answer_rate: float = 0.5  # a new campaign assumes many answers: it starts slow
    prior_weight: float = 20.0  # pseudo-attempts the prior counts for
    prior_handle_s: float = 180.0
    prior_ring_s: float = 10.0
    max_ring_s: float = 30.0  # the dial timeout: every attempt's result is in by then
    sample_size: int = 500
    min_handle_samples: int = 20
    # The rolling drop rate is judged as if the window held at least this many answered calls: one
    # early drop (1 of 10 answered) is not read as a 10 % rate that stalls the campaign, while the
    # drops allowed until then stay within the cap of these calls (see ``calls_to_dial``).
    drop_min_answered: int = 60
    # The model's target is this share of the cap: the normal approximation and the learnt rates
    # are estimates, and the cap is a legal limit, so the pace aims well inside it.
    target_share: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 < self.drop_cap < 1.0:
            raise ValueError(f"drop_cap: {self.drop_cap} is not between 0 and 1")
        if self.max_lines_per_agent < 1.0:
            raise ValueError(f"max_lines_per_agent: {self.max_lines_per_agent} is below 1")
        if not 0.0 < self.prior_answer_rate <= 1.0:
            raise ValueError(f"prior_answer_rate: {self.prior_answer_rate} is not in (0, 1]")
        if min(self.drop_window_s, self.prior_handle_s, self.prior_ring_s, self.max_ring_s) <= 0:
            raise ValueError("drop_window_s, prior_handle_s, prior_ring_s and max_ring_s must be positive")
        if self.sample_size < 1 or self.min_handle_samples < 1 or not 0.0 < self.target_share <= 1.0:
            raise ValueError("sample_size and min_handle_samples must be >= 1, target_share in (0, 1]")
        if self.drop_min_answered < 1:
            raise ValueError(f"drop_min_answered: {self.drop_min_answered} is below 1")


@dataclasses.dataclass(frozen=True, slots=True)
class Floor:
    """The campaign's agents and lines right now."""

    idle: int  # ready agents with no call
    busy_elapsed: Sequence[float] = ()  # per agent on a campaign call or its wrap-up: seconds so far
    ringing: Sequence[float] = ()  # per call dialled and not yet answered or failed: seconds ringing
    # People who answered and wait (at most the drop grace) for an agent: each takes the next one free.
    waiting: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PacingStats:
    answer_rate: float
    mean_handle_s: float
    mean_ring_s: float
    drop_rate: float  # over the rolling window
    answered_in_window: int
    dial_level: float  # ringing lines per agent on the floor


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def expected_excess(mean: float, var: float) -> float:
    """E[max(D, 0)] for D normal with ``mean`` and variance ``var``."""
    if var <= 1e-12:
        return max(mean, 0.0)
    sd = math.sqrt(var)
    z = mean / sd
    return sd * _phi(z) + mean * _cdf(z)


class Pacer:
    """One campaign's pace: its learnt model, its rolling drop rate and its dialling decisions."""

    def __init__(self, config: PacingConfig) -> None:
        self.config = config
        # (dialled at, rang for, answered), sorted by the time of the dial; the oldest dials leave first.
        self._attempts: list[tuple[float, float, bool]] = []
        self._max_ring = 0.0
        self._ring: deque[float] = deque(maxlen=config.sample_size)  # time to a human answer
        self._cohort_key: tuple[int, int] | None = None
        self._cohort: tuple[int, int, list[float], list[float]] = (0, 0, [], [])
        self._version = 0
        self._handle: deque[float] = deque(maxlen=config.sample_size)
        self._handle_sorted: list[float] = []
        self._handle_dirty = False
        self._connects: deque[tuple[float, bool]] = deque()  # (time, dropped) within the window
        self._dropped_in_window = 0

    # -- learning -------------------------------------------------------------------------------
    def record_attempt(self, now: float, *, answered: bool, ring_s: float) -> None:
        """An attempt stopped ringing after ``ring_s``: a human answered, or not (no answer,
        busy, failed, a machine)."""
        ring_s = max(0.0, ring_s)
        bisect.insort(self._attempts, (now - ring_s, ring_s, answered))
        if len(self._attempts) > 4 * self.config.sample_size:
            del self._attempts[0]
        self._max_ring = max(self._max_ring, ring_s)
        self._version += 1
        if answered:
            self._ring.append(ring_s)

    def record_connect(self, now: float, *, dropped: bool) -> None:
        """A human answered: it reached an agent, or found none (a drop)."""
        self._connects.append((now, dropped))
        self._dropped_in_window += dropped
        self._expire(now)

    def record_handle(self, handle_s: float) -> None:
        """An agent finished a campaign call (talk and wrap-up) after ``handle_s``."""
        if handle_s >= 0:
            self._handle.append(handle_s)
            self._handle_dirty = True

    def _expire(self, now: float) -> None:
        edge = now - self.config.drop_window_s
        while self._connects and self._connects[0][0] < edge:
            _, dropped = self._connects.popleft()
            self._dropped_in_window -= dropped

    # -- the model ------------------------------------------------------------------------------
    def _cohorts(self, now: float | None) -> tuple[int, int, list[float], list[float]]:
        """The last ``sample_size`` attempts *dialled* long enough ago that all their results are
        in (``now`` given; None: every attempt): answered, total, and their ring times sorted (all,
        answered). Results arrive in the order calls stop ringing, answers first: learning from a
        burst of dials before its unanswered calls have rung out would overstate answers, and a
        window of the latest results (late no-answers without the answers that came before them)
        would understate them."""
        c = self.config
        cutoff = math.inf if now is None else now - max(c.max_ring_s, self._max_ring)
        end = bisect.bisect_right(self._attempts, (cutoff, math.inf, True))
        key = (end, self._version)
        if key != self._cohort_key:
            recent = self._attempts[max(0, end - c.sample_size):end]
            self._cohort = (sum(hit for _, _, hit in recent), len(recent), sorted(r for _, r, _ in recent),
                            sorted(r for _, r, hit in recent if hit))
            self._cohort_key = key
        return self._cohort

    def answer_rate(self, now: float | None = None) -> float:
        """The share of attempts a person answers (``_cohorts``), with the prior."""
        c = self.config
        answered, total, _, _ = self._cohorts(now)
        return (answered + c.prior_answer_rate * c.prior_weight) / (total + c.prior_weight)

    def answer_rate_bound(self, now: float | None = None) -> float:
        """One standard error above ``answer_rate``: how far its estimate may be off (the decision
        counts that error in the variance of the answers)."""
        p = self.answer_rate(now)
        return min(1.0, p + math.sqrt(p * (1.0 - p) / (self._cohorts(now)[1] + self.config.prior_weight)))

    @property
    def handle_samples(self) -> int:
        return len(self._handle)

    def answer_given_ringing(self, ringing_s: float, overall: float, now: float | None = None) -> float:
        """Probability that a call still ringing after ``ringing_s`` is answered by a human."""
        if ringing_s <= 0.0:
            return overall
        _, _, all_sorted, answered_sorted = self._cohorts(now)
        later = len(all_sorted) - bisect.bisect_right(all_sorted, ringing_s)
        answered_later = len(answered_sorted) - bisect.bisect_right(answered_sorted, ringing_s)
        # The prior: ``prior_weight`` pseudo-attempts (at least two) that are still ringing and
        # answer at the overall rate, i.e. ringing does not lower the odds. That is the careful
        # side (it counts more answers), it weighs as much as the answer rate's prior, and it
        # fades as ring times are learnt: from a handful of ring times, calls that rang longer
        # than the few answers seen must not be written off. Nor is a call ringing longer than
        # any seen (the adapter ends it at the dial timeout anyway).
        weight = max(2.0, self.config.prior_weight)
        return (answered_later + weight * overall) / (later + weight)

    def mean_ring_s(self) -> float:
        return sum(self._ring) / len(self._ring) if self._ring else self.config.prior_ring_s

    def mean_handle_s(self) -> float:
        if len(self._handle) < self.config.min_handle_samples:
            return self.config.prior_handle_s
        return sum(self._handle) / len(self._handle)

    def drop_rate(self, now: float) -> float:
        self._expire(now)
        return self._dropped_in_window / len(self._connects) if self._connects else 0.0

    def drop_rate_judged(self, now: float) -> float:
        """The rolling drop rate the pace is judged by: drops over the answered calls in the
        window, but over no fewer than ``drop_min_answered``."""
        self._expire(now)
        return self._dropped_in_window / max(len(self._connects), self.config.drop_min_answered)

    def free_within(self, elapsed: float, horizon: float, still_busy: Sequence[float] = ()) -> float:
        """Probability that an agent busy for ``elapsed`` seconds is free within ``horizon``.

        ``still_busy`` (sorted) are the calls in progress: right-censored samples, counted at risk
        as the actuarial life table does (those past the interval in full, those inside it for
        half). Without them the first samples of a campaign, its short calls (the long ones have
        not ended yet), would promise agents that do not come free."""
        if len(self._handle) < self.config.min_handle_samples:
            # No distribution yet: count on idle agents only. (A memoryless prior would promise a
            # few agents free every few seconds from calls that have only just started.)
            return 0.0
        if self._handle_dirty:
            self._handle_sorted = sorted(self._handle)
            self._handle_dirty = False
        data = self._handle_sorted
        end = elapsed + horizon
        past_start = len(still_busy) - bisect.bisect_right(still_busy, elapsed)
        past_end = len(still_busy) - bisect.bisect_right(still_busy, end)
        beyond = len(data) - bisect.bisect_right(data, elapsed) + past_end + 0.5 * (past_start - past_end)
        if beyond == 0:  # longer than any call seen: assume it ends like an exponential tail
            return 1.0 - math.exp(-horizon / self.mean_handle_s())
        ending = bisect.bisect_right(data, end) - bisect.bisect_right(data, elapsed)
        return ending / beyond

    def stats(self, now: float, floor: Floor) -> PacingStats:
        agents = floor.idle + len(floor.busy_elapsed)
        return PacingStats(answer_rate=self.answer_rate(now), mean_handle_s=self.mean_handle_s(),
                           mean_ring_s=self.mean_ring_s(), drop_rate=self.drop_rate(now),
                           answered_in_window=len(self._connects),
                           dial_level=len(floor.ringing) / agents if agents else 0.0)

    # -- the decision ---------------------------------------------------------------------------
    def calls_to_dial(self, floor: Floor, now: float) -> int:
        """How many more calls to place now."""
        c = self.config
        if c.mode is DialMode.PREVIEW:
            return 0
        agents = floor.idle + len(floor.busy_elapsed)
        ringing = len(floor.ringing)
        ceiling = max(0, math.floor(c.max_lines_per_agent * agents + 1e-9) - ringing - floor.waiting)
        progressive = max(0, floor.idle - ringing - floor.waiting)
        if c.mode is DialMode.PROGRESSIVE or agents == 0:
            return min(progressive, ceiling)
        # Headroom: with d drops judged over M >= drop_min_answered answers and each further answer
        # dropped with expected share target = cap * share * (1 - d / (M cap)), the drops over
        # those M answers stay within d + M target <= M cap (d / M (1 - share) + cap share <= cap
        # while d / M <= cap); at d / M >= cap nothing more is dialled ahead.
        measured = self.drop_rate_judged(now)
        target = c.drop_cap * c.target_share * max(0.0, 1.0 - measured / c.drop_cap)
        if target <= 0.0:
            return min(progressive, ceiling)
        p = self.answer_rate(now)
        # The learnt rate is itself an estimate from ``seen`` attempts (with the prior's): the
        # answers of k calls vary by k p (1 - p) from chance, and by k^2 p (1 - p) / seen from the
        # error of p itself. Early in a campaign the second term dominates and keeps the pace
        # near progressive (a run of lucky no-answers must not be read as a low rate); with
        # hundreds of results it fades.
        seen = max(1.0, self._cohorts(now)[1] + c.prior_weight)
        horizon = self.mean_ring_s()
        still_busy = sorted(floor.busy_elapsed)
        frees = [self.free_within(e, horizon, still_busy) for e in floor.busy_elapsed]
        avail_mean = floor.idle + sum(frees)
        avail_var = sum(q * (1.0 - q) for q in frees)
        odds = [self.answer_given_ringing(r, p, now) for r in floor.ringing]
        ringing_mean = sum(odds)
        ringing_var = sum(q * (1.0 - q) for q in odds)
        best = progressive
        n = progressive + 1
        while n <= ceiling:
            answers = floor.waiting + ringing_mean + n * p  # the waiting people are answers already
            lines = (ringing_mean / p if p > 0 else 0.0) + n  # calls whose answers scale with p
            var = ringing_var + n * p * (1.0 - p) + avail_var + lines * lines * p * (1.0 - p) / seen
            excess = expected_excess(answers - avail_mean, var)
            if excess > target * answers:
                break
            best = n
            n += 1
        return min(best, ceiling)
