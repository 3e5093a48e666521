"""A raw AMI event collector for tests and benches (tests/browser, bench/softphone.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from cti.settings import Settings


class AmiEvents:
    """A second, raw AMI connection that only collects events (DTMF, music on hold, channel states):
    an observer of Asterisk that does not go through the engine's own AMI client. It logs in as the
    read-only observer user (``ami.observer_username``; the settings must set ``ami.observer_secret``):
    the engine's own user is not sent DTMFEnd, MusicOnHoldStart/Stop, DialBegin or BridgeCreate/Destroy.
    ``mask`` is the login's ``Events:`` value (``on``: every class)."""

    def __init__(self, settings: Settings, mask: str = "on") -> None:
        self.settings, self.mask, self._task = settings, mask, None
        self.events: list[dict[str, str]] = []

    async def __aenter__(self) -> AmiEvents:
        ami = self.settings.ami
        secret = ami.observer_secret.get_secret_value()
        assert secret, "AmiEvents needs ami.observer_secret (the PBX renders the observer user only then)"
        self._reader, self._writer = await asyncio.open_connection(ami.host, ami.port)
        self._writer.write(f"Action: Login\r\nUsername: {ami.observer_username}\r\nSecret: {secret}"
                           f"\r\nEvents: {self.mask}\r\n\r\n".encode())
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        block: dict[str, str] = {}
        while line := await self._reader.readline():
            text = line.decode(errors="replace").rstrip("\r\n")
            if not text:
                if "Event" in block:
                    self.got(block)
                block = {}
                continue
            key, _, value = text.partition(": ")
            block[key] = value

    def got(self, event: dict[str, str]) -> None:
        """Keep one event (a subclass may keep less, or something else)."""
        self.events.append(event)

    def named(self, name: str, **match: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == name
                and all(re.match(v, e.get(k, "")) for k, v in match.items())]

    async def __aexit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._writer.close()
