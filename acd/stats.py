"""Live per-queue statistics for the wallboard, kept up to date as calls flow (KPIS.md definitions).

Counted exactly as the reports count (``acd.kpis``): an abandon whose wait is <= ``short_abandon_s``
is a short abandon (``abandoned_short``) and leaves every offered-based figure, service level and
abandon rate alike; the snapshot says so with ``short_abandons_excluded``. Live figures count the
calls that have left the queue (answered, abandoned, overflowed, sent elsewhere by a limit, or hung
up to be called back: virtual hold); calls still waiting join the denominator when they leave. A
caller a supervisor moved to another queue is no overflow (docs/kpis.md, moved between queues): the
queue it left counts it ``moved`` and in no rate; the queue it went to counts its answer or abandon
with the waits of both stays.

Estimated wait (EWT): position x average handle time (talk + hold + wrap-up, KPIS.md's AHT, as the
queue's agents really took it) / the agents serving the queue (each agent counts 1 / the number of
queues it serves, so an agent shared by two queues is half a server to each; agents not ready or
logged out count 0). Each call's first estimate is compared with the wait it then had until an agent
answered: ``ewt_error_s`` (mean absolute error) and ``ewt_bias_s`` (mean of actual - estimate) say how
good the estimates are, and the error sizes the range announced to callers.

A call cut by a PBX crash (``system_failures``) is neither answered nor abandoned: it leaves every
figure and is counted apart.

Virtual hold (docs/kpis.md): a caller who pressed the key left the queue offered and not answered
(``callbacks_requested``, in the denominators, no abandon); its callback's answer is no answer of the
queue, only the agent's handled call, and a web callback request is no offered call at all, as the
reports count them (the router keeps such calls out: ``QueuedCall.settled``).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_AHT_S = 180.0  # handle time assumed before a queue handled any call
MIN_EWT_SAMPLES = 5  # checked estimates needed before their error sizes the announced range


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    queue: str
    waiting: int
    ringing: int
    connected: int
    longest_wait_s: float
    offered: int
    answered: int
    abandoned: int
    abandoned_short: int
    answered_within_sl: int
    overflowed: int
    limit_exits: int
    agents_logged_in: int
    agents_available: int  # available with a reachable phone: those the router would offer a call
    service_level_s: float
    service_level: float | None  # answered within T / (calls that left the queue - short abandons)
    asa_s: float | None
    abandon_rate: float | None
    avg_talk_s: float | None
    short_abandons_excluded: bool = True
    avg_handle_s: float | None = None  # talk + wrap-up per handled call, what estimates use
    ewt_samples: int = 0  # answered calls whose first estimated wait was checked against their wait
    ewt_error_s: float | None = None  # mean absolute error of those estimates
    ewt_bias_s: float | None = None  # mean (actual wait - estimate): > 0, callers waited longer than told
    system_failures: int = 0
    virtual_waiting: int = 0  # virtual-hold entries: callers to call back at their turn, not on the line
    answered_wait_s: float = 0.0  # total queue wait of the answered calls (ASA's numerator)
    moved: int = 0  # entries a supervisor moved to another queue: counted there, in no figure here
    callbacks_requested: int = 0  # callers who hung up to be called back at their turn: left, not answered
    handled: int = 0  # calls of the queue an agent finished, wrap-up included (``avg_handle_s``'s)


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """A caller waiting in a queue now, as the wallboard lists it (``Router.waiting_calls``).

    ``position``: 1 is the next the queue serves, among its callers (virtual-hold entries, which keep
    their place, included; consultations between agents not); ``since``: when the caller's wait
    started, the call's first queue entry (or when it was put back after its agent's softphone was
    lost), as ``longest_wait_s`` counts it; ``waited_s``: from then to the snapshot; ``virtual``: to
    be called back at its turn, not on the line; ``caller_number``: the router knows none,
    ``AcdService.waiting_calls`` fills it in."""

    call_id: str
    queue: str
    position: int
    priority: int
    since: float
    waited_s: float
    virtual: bool = False
    caller_number: str = ""


@dataclass(slots=True)
class QueueStats:
    service_level_s: float = 20.0
    short_abandon_s: float = 5.0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    answered_within_sl: int = 0
    overflowed: int = 0
    limit_exits: int = 0
    moved: int = 0
    callbacks_requested: int = 0
    wait_answered_s: float = 0.0
    wait_abandoned_s: float = 0.0
    talk_s: float = 0.0
    talks: int = 0
    handle_s: float = 0.0
    handles: int = 0
    ewt_samples: int = 0
    ewt_abs_err_s: float = 0.0
    ewt_err_s: float = 0.0
    system_failures: int = 0

    def entered(self) -> None:
        self.offered += 1

    def answered_after(self, wait_s: float) -> None:
        self.answered += 1
        self.wait_answered_s += wait_s
        if wait_s <= self.service_level_s:
            self.answered_within_sl += 1

    def waited_again(self, wait_s: float) -> None:
        """An answered call put back in queue (its agent lost) was answered again after ``wait_s``:
        one answered call still, whose wait is the sum of its stays (docs/kpis.md)."""
        self.wait_answered_s += wait_s

    def callback_requested(self) -> None:
        """The caller hung up to be called back at its turn (virtual hold): it left the queue, offered
        and not answered, no abandon (docs/kpis.md); its callback's answer is no answer of the queue."""
        self.callbacks_requested += 1

    def abandoned_after(self, wait_s: float) -> None:
        self.abandoned += 1
        self.wait_abandoned_s += wait_s
        if wait_s <= self.short_abandon_s:
            self.abandoned_short += 1

    def cut_by_system(self) -> None:
        """The PBX crashed under a waiting or ringing call: not an abandon."""
        self.system_failures += 1

    def talked(self, talk_s: float) -> None:
        self.talks += 1
        self.talk_s += talk_s

    def left_by_limit(self) -> None:
        self.limit_exits += 1

    def overflowed_out(self) -> None:
        self.overflowed += 1

    def moved_away(self) -> None:
        """A supervisor moved the waiting caller to another queue: that queue counts it (its answer or
        abandon, with the waits of both stays), this one in no service level or abandon rate."""
        self.moved += 1

    def handled(self, handle_s: float) -> None:
        """An agent finished a call of this queue, wrap-up included."""
        self.handles += 1
        self.handle_s += handle_s

    def aht(self) -> float:
        """Average handle time; before any call was handled, the talk time so far, else 180 s."""
        if self.handles:
            return self.handle_s / self.handles
        return self.talk_s / self.talks if self.talks else DEFAULT_AHT_S

    def estimated_wait(self, position: int, servers: float) -> float:
        """Position x AHT / servers (the agents serving the queue; with none, as if one came)."""
        return round(position * self.aht() / (servers if servers > 0 else 1.0), 1)

    def ewt_range(self, ewt_s: float) -> tuple[float, float]:
        """The range to announce around an estimate: +- the estimates' mean error once there are
        enough of them, +- half the estimate before."""
        if self.ewt_samples >= MIN_EWT_SAMPLES:
            spread = self.ewt_abs_err_s / self.ewt_samples
        else:
            spread = ewt_s / 2
        return round(max(0.0, ewt_s - spread), 1), round(ewt_s + spread, 1)

    def ewt_observed(self, estimate_s: float, waited_s: float) -> None:
        """A call estimated to wait ``estimate_s`` was answered after ``waited_s``."""
        self.ewt_samples += 1
        self.ewt_abs_err_s += abs(waited_s - estimate_s)
        self.ewt_err_s += waited_s - estimate_s

    def snapshot(
        self, queue: str, *, waiting: int, ringing: int, connected: int, longest_wait_s: float,
        agents_logged_in: int, agents_available: int, virtual: int = 0,
    ) -> QueueSnapshot:
        closed = (self.answered + self.abandoned + self.overflowed + self.limit_exits + self.callbacks_requested
                  - self.abandoned_short)
        return QueueSnapshot(
            queue=queue,
            waiting=waiting,
            ringing=ringing,
            connected=connected,
            longest_wait_s=longest_wait_s,
            offered=self.offered,
            answered=self.answered,
            abandoned=self.abandoned,
            abandoned_short=self.abandoned_short,
            answered_within_sl=self.answered_within_sl,
            overflowed=self.overflowed,
            limit_exits=self.limit_exits,
            agents_logged_in=agents_logged_in,
            agents_available=agents_available,
            service_level_s=self.service_level_s,
            service_level=self.answered_within_sl / closed if closed else None,
            asa_s=self.wait_answered_s / self.answered if self.answered else None,
            abandon_rate=(self.abandoned - self.abandoned_short) / closed if closed else None,
            avg_talk_s=self.talk_s / self.talks if self.talks else None,
            avg_handle_s=self.handle_s / self.handles if self.handles else None,
            ewt_samples=self.ewt_samples,
            ewt_error_s=self.ewt_abs_err_s / self.ewt_samples if self.ewt_samples else None,
            ewt_bias_s=self.ewt_err_s / self.ewt_samples if self.ewt_samples else None,
            system_failures=self.system_failures,
            virtual_waiting=virtual,
            answered_wait_s=self.wait_answered_s,
            moved=self.moved,
            callbacks_requested=self.callbacks_requested,
            handled=self.handles,
        )
