"""Journey events the bus has published that the call logger's handler has not taken yet.

The logger takes events in batches from its bus subscription and, between two journal flushes,
waits (``CallLogger.group_gap_s``): what the bus publishes meanwhile sits in the subscription's
inbox. A screen pop built then reads ``CallLogger.live``, which must show those events too (the
caller's IVR path, the queue). A bus observer (``cti.bus``: called as the event is published)
keeps them here until the handler takes them; ``live`` folds them with the call's own events.

Memory stays bounded by the bus: an event is held only between its publish and its hand-over,
and the subscription's bounded inbox makes publishers wait while the handler is behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cti.events import Event


class Unhanded:
    """linkedid -> events published, not yet handed to the logger (by identity: the very objects
    the bus hands over later, so taking one is a dict pop, with no key to compute at publish)."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[str, dict[int, Event]] = {}

    def __len__(self) -> int:
        return sum(len(events) for events in self._calls.values())

    def published(self, ev: Event) -> None:
        """The bus observer: ``ev`` was just published (quick, never raises on a journey event)."""
        linkedid = getattr(ev, "linkedid", None)
        if linkedid is not None:
            self._calls.setdefault(linkedid, {})[id(ev)] = ev

    def taken(self, events: Iterable[Event]) -> None:
        """The handler has these events now (remembered, or dropped as duplicates)."""
        calls = self._calls
        if not calls:
            return
        for ev in events:
            linkedid: str | None = getattr(ev, "linkedid", None)
            if linkedid is None:
                continue
            waiting = calls.get(linkedid)
            if waiting is not None and waiting.pop(id(ev), None) is not None and not waiting:
                del calls[linkedid]

    def of(self, linkedid: str) -> Iterator[Event]:
        """The events of call ``linkedid`` still waiting to be handed over, in publish order."""
        return iter(list(self._calls.get(linkedid, {}).values()))
