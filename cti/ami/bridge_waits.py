"""Waiting for two channels to be bridged together, or both out of their bridge, as the call model
sees it.

The call model (pure, synchronous) calls ``BridgeWaits.changed`` after every event that moved a
channel into or out of a bridge; each waiter's condition is checked right then, on the model as
that event left it, and a waiter whose condition holds is woken. Nothing polls, and a state that
lasts a single event (two channels together for one BridgeEnter) is not missed.

    waits = BridgeWaits(bridge_of)            # bridge_of: channel name -> its bridge id, or None
    model.on_bridges_changed = waits.changed
    ok = await waits.wait(channel, peer, together=True, timeout_s=10.0)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class _Waiter:
    channel: str
    peer: str
    together: bool
    woken: asyncio.Future[None]


class BridgeWaits:
    """The tasks waiting on bridges; ``changed`` wakes those whose condition now holds."""

    def __init__(self, bridge_of: Callable[[str], str | None]) -> None:
        """``bridge_of``: the bridge a live channel (by name) is in now; None when it is in none
        or gone."""
        self._bridge_of = bridge_of
        self._waiters: list[_Waiter] = []

    def holds(self, channel: str, peer: str, *, together: bool) -> bool:
        """Are ``channel`` and ``peer`` in one bridge (``together``), or is each in none
        (``together=False``)?

        Apart means both out: Asterisk answers a Redirect of bridged channels before they act on
        it, and each leaves its bridge on its own. Once the first has left the two are no longer
        together, while the other, still in the bridge, carries its Redirect pending (a soft
        hang-up flag): a Bridge() pulling it then moves it, Redirect and all, into the new bridge,
        which it leaves again, and a Redirect sent to it is refused ("Redirect failed, channel not
        up.")."""
        mine = self._bridge_of(channel)
        if together:
            return mine is not None and mine == self._bridge_of(peer)
        return mine is None and self._bridge_of(peer) is None

    def changed(self) -> None:
        """The model's bridges changed: wake every waiter whose condition holds now."""
        if not self._waiters:
            return
        still: list[_Waiter] = []
        for w in self._waiters:
            if w.woken.done():
                continue  # its task gave up (timed out or cancelled) and has yet to take it out
            if self.holds(w.channel, w.peer, together=w.together):
                w.woken.set_result(None)
            else:
                still.append(w)
        self._waiters = still

    async def wait(self, channel: str, peer: str, *, together: bool, timeout_s: float) -> bool:
        """True once the condition holds (at once if it does already); False after ``timeout_s``."""
        if self.holds(channel, peer, together=together):
            return True
        waiter = _Waiter(channel, peer, together, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter.woken, timeout_s)
            return True
        except TimeoutError:
            log.warning("%s and %s: not %s after %.0f s", channel, peer,
                        "bridged together" if together else "apart", timeout_s)
            return False
        finally:
            if waiter in self._waiters:  # timed out or cancelled: changed() did not take it out
                self._waiters.remove(waiter)
