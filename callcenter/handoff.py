"""The IVR's hand-off of a caller to a queue, as the engine wires it: the last variables the IVR sets
carry the ACD's queue entry (acd/handoff.py) and, when the queue records, the recording's file
(crm_core/recorder.py); and the IVR's session stays open until the ACD has enqueued the call, so
that an agent free then is rung from the caller's own line (acd/ringing.py).

    handoff = IvrHandoff(acd, recorder, dialplan)
    make_ivr_route(..., handoff_vars=handoff.vars, hold=handoff.hold_line)
"""

from __future__ import annotations

from collections.abc import Awaitable

from acd.delivery import AcdService
from acd.ringing import DIALLED_CONTEXT, PREDIAL_CONTEXT
from crm_core.recorder import RECORD_PREDIAL_CONTEXT, Recorder
from cti.agi.session import AgiSession
from cti.ami.dialplan import DialplanWatch
from ivr.driver import IvrOutcome

# How long the IVR's session of a caller handed to a queue waits, at most, for the ACD to say
# whether it rings an agent from it (it says as soon as it has enqueued the call: microseconds
# to milliseconds; this only bounds the caller's silence should the ACD be stuck).
HANDOFF_HOLD_S = 1.0
# The dialplan contexts that ring needs. An Asterisk without them (pbx.mode system with an older
# extensions.conf) has every agent rung by an Originate instead.
LINE_CONTEXTS = (DIALLED_CONTEXT, PREDIAL_CONTEXT, RECORD_PREDIAL_CONTEXT)


class IvrHandoff:
    """What the IVR's hand-off to a queue asks of the ACD and the recorder."""

    def __init__(self, acd: AcdService, recorder: Recorder, dialplan: DialplanWatch) -> None:
        self.acd, self.recorder, self.dialplan = acd, recorder, dialplan

    def vars(self, outcome: IvrOutcome) -> dict[str, str]:
        """The IVR's last set to a queue also carries the ACD's entry (acd/handoff.py) and, when the
        queue records the call, the recording's file: the dialplan starts it (crm_core/recorder.py)."""
        queue = outcome.queue or ""
        found = self.acd.handoff_vars(outcome.linkedid, queue, priority=outcome.priority,
                                      customer_id=outcome.customer_id, skills=outcome.skills,
                                      caller_number=outcome.caller_number)
        return {**found, **self.recorder.handoff_vars(outcome.linkedid, queue)}

    def hold_line(self, session: AgiSession, outcome: IvrOutcome) -> Awaitable[bool] | None:
        """The IVR's session of a caller handed to a queue stays open until the ACD has enqueued
        the call: an agent free then is rung from it (acd/ringing.py), its last command a Dial(),
        which starts the call's recording first when its queue records."""
        if not outcome.channel or self.dialplan.lacks_any(LINE_CONTEXTS):
            return None
        before = self.recorder.dial_option(outcome.linkedid, outcome.queue or "")
        if before is None:
            return None

        def dial(device: str, ring_s: str, options: str) -> bool:
            return session.exec_last_now("Dial", device, ring_s, before + options)

        return self.acd.rings.hold_line(outcome.channel, dial, HANDOFF_HOLD_S)
