"""AmiClient against a scripted AMI server on loopback: login, correlation, Originate, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from panoramisk.actions import Action
from panoramisk.message import Message

from cti.ami.manager import AmiClient
from cti.events import Event
from cti.settings import AmiSettings
from tests.unit.cti.fake_ami import FakeAmi

RESYNC_TRACE = Path(__file__).resolve().parents[2] / "fixtures" / "ami" / "resync_lists.txt"


async def until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Harness:
    def __init__(self, server: FakeAmi, **ami: object) -> None:
        self.events: list[Event] = []
        settings = AmiSettings(port=server.port, secret="s3cret", reconnect_min_s=0.05, reconnect_max_s=0.2,
                               connect_timeout_s=1.0, **ami)  # type: ignore[arg-type]
        self.client = AmiClient(settings, self.events.extend)


@contextlib.asynccontextmanager
async def fake_server() -> AsyncIterator[FakeAmi]:
    srv = FakeAmi()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def test_panoramisk_originate_bug_that_we_work_around() -> None:
    """panoramisk 1.4 reads action['async'] on "successfully queued": KeyError inside data_received."""
    async def go() -> None:
        action = Action({"Action": "Originate", "Channel": "Local/1@c"})
        with pytest.raises(KeyError):
            action.add_message(Message({"Response": "Success", "ActionID": action.id,
                                        "Message": "Originate successfully queued"}))
    asyncio.run(go())
