"""Live per-queue statistics for the wallboard, kept up to date as calls flow (KPIS.md definitions).

Counted exactly as the reports count (``acd.kpis``): an abandon whose wait is <= ``short_abandon_s``
is a short abandon (``abandoned_short``) and leaves every offered-based figure, service level and
abandon rate alike; the snapshot says so with ``short_abandons_excluded``. Live figures count the
calls that have left the queue (answered, abandoned, overflowed or sent elsewhere by a limit);
calls still waiting join the denominator when they leave. A call cut by a PBX crash
(``system_failures``) is neither answered nor abandoned: it leaves every figure and is counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    agents_available: int
    service_level_s: float
    service_level: float | None  # answered within T / (calls that left the queue - short abandons)
    asa_s: float | None
    abandon_rate: float | None
    avg_talk_s: float | None
    short_abandons_excluded: bool = True
    system_failures: int = 0


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
    wait_answered_s: float = 0.0
    wait_abandoned_s: float = 0.0
    talk_s: float = 0.0
    talks: int = 0
    system_failures: int = 0

    def entered(self) -> None:
        self.offered += 1

    def answered_after(self, wait_s: float) -> None:
        self.answered += 1
        self.wait_answered_s += wait_s
        if wait_s <= self.service_level_s:
            self.answered_within_sl += 1

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

    def estimated_wait(self, position: int, staffed: int) -> float:
        """Position x average handle time / staffed agents; 180 s handle time until calls were talked."""
        aht = self.talk_s / self.talks if self.talks else 180.0
        return round(position * aht / max(staffed, 1), 1)

    def snapshot(
        self, queue: str, *, waiting: int, ringing: int, connected: int, longest_wait_s: float,
        agents_logged_in: int, agents_available: int,
    ) -> QueueSnapshot:
        closed = self.answered + self.abandoned + self.overflowed + self.limit_exits - self.abandoned_short
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
            system_failures=self.system_failures,
        )
