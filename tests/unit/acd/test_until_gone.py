"""acd.dial_readiness.until_gone, the one follow of a call that may or may not have been placed
(the readiness watch and the campaign dialer's follow_unconfirmed): on a simulated clock, each
wait one second."""

from __future__ import annotations

import pytest

from acd.dial_readiness import until_gone


class Sim:
    """Time moves one second per wait; ``live`` is read from a table of seconds."""

    def __init__(self, live_at: set[int], stop_at: int | None = None) -> None:
        self.now, self.live_at, self.stop_at = 0, live_at, stop_at
        self.seen_at: list[int] = []

    def clock(self) -> float:
        return float(self.now)

    def live(self) -> bool:
        return self.now in self.live_at

    async def wait(self) -> bool:
        self.now += 1
        return self.stop_at is not None and self.now >= self.stop_at

    async def on_seen(self) -> None:
        self.seen_at.append(self.now)


@pytest.mark.parametrize(("live_at", "gone_s", "stop_at", "result", "ends_at", "seen_at"), [
    (set(), 0.0, None, True, 5, []),               # never seen: over at the grace
    ({2, 3, 4}, 0.0, None, True, 5, [2]),           # seen, gone: over at once
    ({2, 3, 4}, 3.0, None, True, 7, [2]),           # seen, gone: over gone_s after it was last live
    ({1, 3, 6, 9}, 3.0, None, True, 12, [1]),       # back live within gone_s: still followed
    ({2, 3, 4}, 0.0, 3, False, 3, [2]),             # its end came another way: stop, not gone
    (set(range(100)), 0.0, 40, False, 40, [0]),     # live all along: past the grace, followed to its end
])
async def test_until_gone(live_at: set[int], gone_s: float, stop_at: int | None, result: bool,
                          ends_at: int, seen_at: list[int]) -> None:
    sim = Sim(live_at, stop_at)
    got = await until_gone(sim.live, sim.clock, grace_s=lambda: 5.0, gone_s=gone_s, wait=sim.wait, on_seen=sim.on_seen)
    assert (got, sim.now, sim.seen_at) == (result, ends_at, seen_at)
