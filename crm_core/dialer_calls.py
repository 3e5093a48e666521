"""The campaign dialer's calls: one attempt placed on the PBX (the Originate through the trunk its
number takes, the call published once the Originate is written) and a call whose Originate was
never answered (Asterisk's timeout, or AMI lost with it pending) followed until its end, or
``failed`` when no channel of it is seen within the grace. The tick side, which paces and picks
the contacts to dial, is ``crm_core.dialer.CampaignDialer``, built on this class; the results
side (``settle``, ``withdraw``) is ``crm_core.dialer_results.DialerResults``, which it extends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from acd.dial_readiness import GRACE_S, until_gone
from crm_core.campaign_runs import Attempt, LiveCampaign
from crm_core.dialer_results import FAR_END, DialerResults, arrived_event
from cti.ami.control import CallControl
from cti.errors import AmiNotSent, AmiUnavailable, CtiError
from cti.safety import check_value
from cti.trunks import EXTERNAL_CONTEXT, TrunksConfig, Unroutable

log = logging.getLogger("crm_core.dialer")  # one log for the dialer, every side (as crm_core.dialer_results)

CAMPAIGN_CONTEXT = "cti-campaign"
# Originate reason -> the attempt's outcome when nobody answered (FarEndResult's: FAR_END).
_REASON = {3: "no_answer", 5: "busy"}
ENDED_WAIT_S = 3.0
# An Originate Asterisk never answered (the engine's own timeout) may have placed its call: how long
# the dialer looks for a channel of it before the attempt is ``failed`` (as long as acd.dial_readiness).
UNCONFIRMED_GRACE_S = GRACE_S


class DialerCalls(DialerResults):
    """Places the attempts the tick dialled and follows the calls no Originate answer confirmed.
    ``CampaignDialer`` sets the state below."""

    control: Callable[[], CallControl]
    routing: TrunksConfig
    dial_timeout_s: int
    unconfirmed_grace_s: float | None  # None: UNCONFIRMED_GRACE_S

    async def _place(self, run: LiveCampaign, a: Attempt) -> None:
        try:
            target = self.routing.route("+" + a.digits, campaign=run.name, caller_id=run.caller_id)
        except Unroutable as err:
            log.warning("campaign %s: %s", run.id, err.message)
            await self.settle(a, "failed", closes=True)  # no call was made: one is logged, begun and ended
            return
        caller_id = target.caller_id  # the campaign's when its trunk lists it (cti.trunks), else the default
        variables = {"CTI_TRUNK": target.trunk, "CTI_CAMPAIGN": str(run.id),
                     **({"CTI_CALLER_ID": caller_id} if caller_id else {})}
        arrived = arrived_event(a)
        try:
            sent = self.control().originate(
                f"Local/{check_value('number', target.exten)}@{EXTERNAL_CONTEXT}/n", context=CAMPAIGN_CONTEXT,
                exten="s", caller_id=f"<{a.digits}>", variables=variables,
                timeout_ms=self.dial_timeout_s * 1000, channel_id=a.linkedid)
        except CtiError as err:  # a value refused before the call was asked for
            log.warning("campaign %s: dialling %s failed: %s", run.id, a.linkedid, err.message)
            await self.settle(a, "failed", closes=True)
            return
        originating = asyncio.ensure_future(sent)
        if originating is not sent:
            await asyncio.sleep(0)  # an ``async def`` originate (the protocol allows one) writes at its first step
        # The AMI adapter has the Originate on the wire when originate() returns, or its awaitable has
        # failed already with AmiNotSent (AMI not connected: nothing written). The call is published
        # once written, before any of its events can come back, and never for a call never asked for:
        # the call logger would write an interaction for it, the live figures and the feed show it.
        if not _never_sent(originating):
            a.arrived = True
            await self.bus.publish(arrived)
        try:
            result = await originating
        except AmiNotSent as err:
            # AMI dropped since the tick looked (pbx_up): nobody was called, so no attempt is spent and
            # the contact is due again (the next ticks dial nothing until AMI is back).
            log.warning("campaign %s: %s not dialled, the contact is due again: %s", run.id, a.linkedid, err.message)
            run.dials -= 1
            await self.withdraw(a)
            return
        except AmiUnavailable as err:  # written, then AMI dropped with it pending: the call may ring all the same
            log.warning("campaign %s: AMI lost with the Originate of %s pending (%s); following its call", run.id,
                        a.linkedid, err.message)
            await self._follow_placed(a, target.exten)
            return
        except CtiError as err:
            log.warning("campaign %s: dialling %s failed: %s", run.id, a.linkedid, err.message)
            await self.settle(a, "failed", closes=True)
            return
        if not result.success and not a.done and result.timed_out:
            # Written, and Asterisk never answered: the call may ring all the same, as the attempt's
            # linkedid (its ChannelId). Followed as a preview's unconfirmed Dial: a customer who
            # answers reaches ``answered`` (an agent), the call's end settles the attempt; no channel
            # of it seen within the grace: ``failed``, its call closed here.
            log.warning("campaign %s: Asterisk did not answer the Originate of %s; following its call",
                        run.id, a.linkedid)
            await self._follow_placed(a, target.exten)
            return
        if not result.success and not a.done and not result.refused:
            # The Dial's result (FarEndResult) may come after the Originate's failure: the call's
            # end (CallEnded) settles the attempt with it, not long after. An Originate Asterisk
            # refused outright made no call, nothing to wait for: one ``failed`` attempt, as in
            # preview (docs/outbound.md; a contact refused every time is used up by max_attempts).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(a.ended.wait(), ENDED_WAIT_S)
        if not result.success and not a.done:
            if result.refused:
                log.warning("campaign %s: Asterisk refused the Originate of %s (a failed attempt): %s", run.id,
                            a.linkedid, result.reason)
            else:
                log.info("campaign %s: attempt %s not answered (originate reason %s)", run.id, a.linkedid,
                         result.reason)
            reason = result.reason if isinstance(result.reason, int) else 0
            # No end of the call came (none was made, or it was not seen within ENDED_WAIT_S): closed here.
            await self.settle(a, FAR_END.get(a.far_end or "") or _REASON.get(reason, "failed"), closes=True)

    async def _follow_placed(self, a: Attempt, exten: str) -> None:
        """An Originate written whose answer never came: its call, if Asterisk placed it, has the
        dial's Local channel; followed until its end, ``failed`` if none is seen within the grace."""
        prefix = f"Local/{exten}@{EXTERNAL_CONTEXT}-"
        grace = UNCONFIRMED_GRACE_S if self.unconfirmed_grace_s is None else self.unconfirmed_grace_s
        await self.follow_unconfirmed(a, lambda: any(n.startswith(prefix) for n in self.acd.live_channels()), grace)

    async def follow_unconfirmed(self, a: Attempt, live: Callable[[], bool], grace_s: float,
                                 poll_s: float = 0.5) -> None:
        """A Dial whose Originate Asterisk never answered (or that was lost with AMI) may have placed
        its call, named by the attempt's linkedid: the call is published now (as an automatic dial's
        once written), and its end settles the attempt as any other (``_on_call_ended``: human if the
        customer answered). With no end while ``live()`` says no call is up, and ``grace_s`` passed:
        ``failed``, closed here."""
        self.track(a)
        if not a.arrived:
            a.arrived = True
            await self.bus.publish(arrived_event(a))
        self._spawn(self._follow_unconfirmed(a, live, grace_s, poll_s), f"dialer.unconfirmed.{a.linkedid}")

    async def _follow_unconfirmed(self, a: Attempt, live: Callable[[], bool], grace_s: float,
                                  poll_s: float) -> None:
        async def wait() -> bool:  # True: settled, or its end came (_on_call_ended settles it)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(a.ended.wait(), poll_s)
            return a.done or a.ended.is_set()

        if a.done or a.ended.is_set():
            return
        # Gone (ENDED_WAIT_S after its channels, for its end to come) or never seen, its end not seen: closed.
        if await until_gone(live, self.clock, grace_s=lambda: grace_s, gone_s=ENDED_WAIT_S, wait=wait):
            await self.settle(a, "failed", closes=True)


def _never_sent(originating: asyncio.Future[Any]) -> bool:
    return originating.done() and not originating.cancelled() and isinstance(originating.exception(), AmiNotSent)
