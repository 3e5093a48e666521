"""The IVR's hand-off carries the caller's queue entry: one variable action per IVR call, not two.

The IVR hands a call to the queue with one MSet of the dialplan's variables (``ivr.driver``). The
composition root asks the ACD for ``CTI_ACD`` at that moment (``AcdService.handoff_vars``), so
the entry a restarted engine reads (``acd.recovery``) rides in that MSet, and the enqueue that
follows the IVR's ``IvrFinished`` does not write it again with an AMI ``Setvar``. Calls that reach
the ACD any other way (transfers, outbound answers, callbacks) never pass here: their entry is
written at enqueue as before.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from acd.calls import LiveCall
from acd.recovery import ENTRY_VAR, QueueEntry, encode_entry
from cti.errors import UnsafeValue
from cti.safety import check_agi_argument

# Entries handed to the IVR whose enqueue has not come (yet): the caller hung up on the final
# set, or the call ended (CallEnded forgets it). Bounded all the same.
PENDING_CAP = 4096


class Handoffs:
    """The queue entries the IVR's last set wrote, until the enqueue that follows takes them."""

    def __init__(self, clock: Callable[[], float] = time.time, *, cap: int = PENDING_CAP) -> None:
        self.clock, self.cap = clock, cap
        self._pending: OrderedDict[str, QueueEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def vars(self, linkedid: str, queue: str, *, priority: int = 0, customer_id: int | None = None,
             skills: Mapping[str, int] | None = None, caller_number: str = "") -> dict[str, str]:
        """``{CTI_ACD: entry}`` as the enqueue would write it, entered now; ``{}`` when the value
        cannot ride in an AGI command (a double quote in the caller's number): the enqueue writes it."""
        # To the millisecond, as the entry is written: the ACD's queued_at is what the channel says.
        entry = QueueEntry(linkedid, queue, round(self.clock(), 3), priority, customer_id,
                           dict(skills) if skills else None, caller_number)
        value = encode_entry(entry)
        try:
            check_agi_argument(ENTRY_VAR, value)
        except UnsafeValue:
            self._pending.pop(linkedid, None)
            return {}
        self._pending[linkedid] = entry
        self._pending.move_to_end(linkedid)
        while len(self._pending) > self.cap:
            self._pending.popitem(last=False)
        return {ENTRY_VAR: value}

    def take(self, call: LiveCall) -> QueueEntry | None:
        """The entry handed off for ``call``, if it says what the enqueue would write (else None:
        the enqueue writes its own)."""
        entry = self._pending.pop(call.linkedid, None)
        if entry is None:
            return None
        same = (entry.queue, entry.priority, entry.customer_id, entry.skills, entry.caller_number) == (
            call.queue, call.priority, call.customer_id, dict(call.skills) if call.skills else None, call.caller_number)
        return entry if same else None

    def forget(self, linkedid: str) -> None:
        self._pending.pop(linkedid, None)
