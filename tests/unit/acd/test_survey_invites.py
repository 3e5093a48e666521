"""Survey invitations: a caller entering a surveyed queue has its channel marked; the invitations
follow the queue entries as a bus observer (no worker task woken for every call)."""

from __future__ import annotations

import logging

import pytest

from acd.recording import SurveyPolicy
from acd.survey import SurveyInvites
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.errors import CtiError
from cti.journey import QueueEntered
from tests.helpers import until


async def test_a_surveyed_queues_callers_are_marked_without_a_bus_worker() -> None:
    bus, control = InProcessBus(), FakeCallControl()
    invites = SurveyInvites(bus, lambda: control, {"billing": SurveyPolicy()})
    invites.subscribe()
    await bus.start()
    assert "survey.queue_entered" not in bus.queue_depths()  # an observer: no inbox, no task
    await bus.publish(QueueEntered(ts=0.0, linkedid="L1", queue="support", channel="PJSIP/trunk-1"))
    await bus.publish(QueueEntered(ts=0.0, linkedid="L2", queue="billing", channel="PJSIP/trunk-2"))
    await bus.publish(QueueEntered(ts=0.0, linkedid="L3", queue="billing", channel=""))  # no channel to mark
    await until(lambda: len(control.called("set_var")) == 2, what="the two marks")
    await invites.stop()
    await bus.stop()
    assert [(kw["channel"], kw["name"], kw["value"]) for kw in control.called("set_var")] == [
        ("PJSIP/trunk-2", "CTI_SURVEY", "1"), ("PJSIP/trunk-2", "CTI_SURVEY_QUEUE", "billing")]


async def test_a_mark_that_fails_is_logged_and_stop_waits_for_the_marks_under_way(
        caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(FakeCallControl):
        async def set_var(self, channel: str, name: str, value: str) -> None:  # type: ignore[override]
            raise CtiError("channel gone")

    bus = InProcessBus()
    invites = SurveyInvites(bus, Refusing, {"billing": SurveyPolicy()})
    invites.subscribe()
    with caplog.at_level(logging.WARNING):
        await bus.publish(QueueEntered(ts=0.0, linkedid="L2", queue="billing", channel="PJSIP/trunk-2"))
        await invites.stop()
    assert "could not mark caller PJSIP/trunk-2" in caplog.text
