"""The heartbeat sends its time every beat and the dialplan's settings once per AMI connection."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from cti.errors import AmiUnavailable
from cti.heartbeat import CHECK_VAR, HEARTBEAT_VAR, LOST_QUEUE_VAR, TIMEOUT_VAR, Heartbeat
from cti.settings import ResilienceSettings

pytestmark = pytest.mark.unit


async def test_settings_go_once_per_connection_and_again_when_they_failed() -> None:
    sent: list[str] = []
    connection = [1]
    fail = [False]

    async def send(action: str, headers: Mapping[str, str]) -> None:
        if fail[0]:
            raise AmiUnavailable("AMI is not connected")
        sent.append(headers["Variable"])

    hb = Heartbeat(send, ResilienceSettings(), clock=lambda: 1000.0, connection=lambda: connection[0])
    await hb.beat()
    await hb.beat()
    assert sent == [HEARTBEAT_VAR, TIMEOUT_VAR, CHECK_VAR, LOST_QUEUE_VAR, HEARTBEAT_VAR]
    connection[0] = 2  # reconnected: perhaps to a restarted Asterisk without the globals
    await hb.beat()
    assert sent[5:] == [HEARTBEAT_VAR, TIMEOUT_VAR, CHECK_VAR, LOST_QUEUE_VAR]
    connection[0] = 3
    fail[0] = True  # the heartbeat fails first: nothing counts as sent on this connection
    with pytest.raises(AmiUnavailable):
        await hb.beat()
    fail[0] = False
    await hb.beat()
    assert sent[9:] == [HEARTBEAT_VAR, TIMEOUT_VAR, CHECK_VAR, LOST_QUEUE_VAR]
    assert hb.beats == 4 and hb.actions == 13
