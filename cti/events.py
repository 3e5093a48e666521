"""Typed, immutable events that travel on the bus.

Every event is a frozen dataclass registered under a stable name with ``@event``, so the Redis
backend can serialize it (``to_wire``/``from_wire``) and subscribers receive the same class back.
Publishers define their own events with this decorator (``cti.journey``, ``cti.ami.events``,
``acd.events``, ``acd.alerts``).
Field types must be JSON-friendly: str, int, float, bool, None, tuples/lists and dicts of those,
or nested registered events are not supported (keep events flat).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, TypeVar, dataclass_transform

E = TypeVar("E", bound="Event")

_REGISTRY: dict[str, type[Event]] = {}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every bus event. ``ts`` is the event time in seconds since the epoch."""

    name: ClassVar[str] = "event"
    ts: float

    @property
    def call_id(self) -> str | None:
        """The call this event concerns, when there is one (used in handler error logs)."""
        return getattr(self, "linkedid", None) or getattr(self, "call", None)


@dataclass_transform(frozen_default=True, kw_only_default=True)
def event(name: str) -> Any:
    """Class decorator: make a frozen, slotted, keyword-only dataclass and register it."""

    def wrap(cls: type[E]) -> type[E]:
        if name in _REGISTRY:
            raise ValueError(f"event name {name!r} registered twice")
        cls.name = name
        dc = dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls)
        _REGISTRY[name] = dc
        return dc

    return wrap


def to_wire(ev: Event) -> bytes:
    body = {f.name: getattr(ev, f.name) for f in dataclasses.fields(ev)}
    return json.dumps({"type": ev.name, "data": body}, separators=(",", ":")).encode()


def from_wire(raw: bytes | str) -> Event:
    msg = json.loads(raw)
    cls = _REGISTRY.get(msg.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {msg.get('type')!r}")
    data = msg["data"]
    for f in dataclasses.fields(cls):
        if isinstance(data.get(f.name), list):
            data[f.name] = tuple(data[f.name])
    return cls(**data)


def registered() -> dict[str, type[Event]]:
    return dict(_REGISTRY)
