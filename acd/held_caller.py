"""A held caller whose agent's phone hung up: it waits in the queue again (``wait_again_after_hold``),
a step both the agent's actions (a plain hold) and the attended transfer (a consultation that still
rang) take."""

from __future__ import annotations

import contextlib
import dataclasses

from acd.calls import LiveCall, to_queue_music
from acd.parts import CallActionsHost
from cti.errors import CtiError
from cti.journey import HoldEnded


async def wait_again_after_hold(acd: CallActionsHost, call: LiveCall) -> None:
    """The agent's phone hung up with ``call``'s caller on hold (a plain hold, or a consultation that
    still rang, its ringing stopped): the hold ends, the agent wraps up, and the caller waits in the
    queue again at its place (its first entry: ahead of the callers who came after it), with fresh
    timers, on cti-queue's music. A call with no queue to wait in (an agent's own dial) ends."""
    assert call.agent_id is not None
    await acd.bus.publish(HoldEnded(ts=acd.clock(), linkedid=call.linkedid, agent_id=call.agent_id,
                                    queue=call.queue or None))
    await acd.release_agent(call)
    if not call.queue or not acd.router.has_queue(call.queue):
        with contextlib.suppress(CtiError):
            await acd.control.hangup(call.caller_channel, may_be_gone=True)
        return
    await to_queue_music(acd.control, call.caller_channel)
    again = dataclasses.replace(call, status="queued", agent_id=None, agent_channel=None, answered_at=None,
                                ring_task=None, consult=None, consult_channel=None, consult_target=None)
    await acd.restore_waiting(again, fresh_timers=True)
