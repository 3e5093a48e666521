"""Recordings the dialplan starts after the IVR's hand-off (docs/recording.md, "Callers from the
IVR"): the IVR's last ``MSet`` carries ``CTI_REC_FILE`` and cti-inbound runs MixMonitor on the way
to the queue, so the recorder sends neither a Setvar nor a Redirect for the caller.

That needs the dialplan line that sends such a caller to cti-record-start. A managed Asterisk gets
it from config/asterisk/extensions.conf with the engine; an Asterisk configured by hand
(``pbx.mode: system``) may lack it, and its callers would then go unrecorded. So the hand-off is
*proven* once per engine run before it is trusted: until one handed-off recording is seen running
(``MIXMONITOR_FILENAME`` on the caller's channel), one call at a time is handed off (the probe)
and every other call takes the Setvar + Redirect path. If the probe's recording never shows, the
hand-off is off for the rest of the run, loudly (an error in the log).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from acd.recording import Decision

log = logging.getLogger(__name__)

# Handed off, QueueEntered not come (yet): the caller hung up on the hand-off. Bounded all the same.
HANDED_CAP = 4096
# How long the probe's MixMonitor may take to show on the channel (the dialplan runs it right after
# the AGI ends, usually within milliseconds).
PROBE_TRIES = 30
PROBE_STEP_S = 0.1


@dataclass(frozen=True, slots=True)
class Handed:
    path: str  # relative to the recordings' directory
    started: float
    decision: Decision


class HandoffStarts:
    """Which calls may be handed off, what was handed, and the probe (module docstring)."""

    def __init__(self) -> None:
        self.works: bool | None = None  # None: not proven yet either way
        self.probe: str | None = None  # the linkedid of the call proving it
        self._handed: OrderedDict[str, Handed] = OrderedDict()

    def may_hand_off(self, linkedid: str) -> bool:
        if self.works is not None:
            return self.works
        if self.probe is None or self.probe == linkedid:
            self.probe = linkedid
            return True
        return False  # another call is proving it: this one takes the Setvar + Redirect path

    def remember(self, linkedid: str, handed: Handed) -> None:
        self._handed[linkedid] = handed
        self._handed.move_to_end(linkedid)
        while len(self._handed) > HANDED_CAP:
            self._handed.popitem(last=False)

    def pending(self, linkedid: str) -> bool:
        """Handed off, not yet taken by its QueueEntered."""
        return linkedid in self._handed

    def take(self, linkedid: str) -> Handed | None:
        return self._handed.pop(linkedid, None)

    def forget(self, linkedid: str) -> None:
        """The call ended: nothing to adopt; a probe that never reached its queue proves nothing."""
        if self._handed:
            self._handed.pop(linkedid, None)
        if self.probe == linkedid and self.works is None:
            self.probe = None

    async def prove(self, linkedid: str, file: str, running: Callable[[], Awaitable[str | None]],
                    *, tries: int | None = None, step_s: float | None = None) -> bool:
        """Whether the probe's recording runs: ``running()`` reads ``MIXMONITOR_FILENAME`` on its
        channel. Settles ``works`` either way (unless the call ended meanwhile: None stays)."""
        tries = PROBE_TRIES if tries is None else tries
        step_s = PROBE_STEP_S if step_s is None else step_s
        for n in range(tries):
            if self.probe != linkedid:
                return False  # ended meanwhile (forget): the next call proves it
            try:
                name = await running()
            except Exception as err:  # the channel went away, AMI away: ask again, then give up
                log.debug("recorder: reading %s's MIXMONITOR_FILENAME failed: %s", linkedid, err)
                name = None
            if name and (name == file or name.endswith(file.rsplit("/", 1)[-1])):
                self.works = True
                log.info("recorder: the dialplan starts the recordings the IVR hands off")
                return True
            if n + 1 < tries:
                await asyncio.sleep(step_s)
        if self.probe != linkedid:
            return False
        self.works = False
        log.error("recorder: the dialplan did not start the recording the IVR handed off for call %s: "
                  "cti-inbound lacks the CTI_REC_FILE line of config/asterisk/extensions.conf? IVR callers "
                  "are recorded with Setvar + Redirect for the rest of this run", linkedid)
        return False
