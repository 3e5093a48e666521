"""A dial Asterisk never answered (the Originate written, its answer never came) may have placed its
call: the agent's phone rings, or they talk to the customer. The agent stays out of the queues
(not ready "outbound") while a channel of their phone is live, and is given back once it is gone,
or after a grace with none (Asterisk never made the call). Before, they were made ready at once and
offered queued calls on top of it. A preview Dial names its call before it exists (the Originate's
ChannelId is the attempt's linkedid), so a late call is the attempt's. And a preview Dial from
wrap-up ends the wrap-up as the console's does (its timer made the agent available mid-call).

On a real Engine (not started: no PBX) over a seeded SQLite CRM, the Originate's answers faked."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from acd.model import AgentState
from crm_core.campaign_models import CampaignAttempt
from crm_core.fold import JOURNEY_EVENTS
from crm_core.models import Callback
from cti.ami.control import OriginateResult
from cti.errors import AmiNotSent, AmiUnavailable
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, FarEndResult
from tests.helpers import until
from tests.web.console import test_callbacks
from tests.web.console.test_callbacks import Site
from tests.web.console.test_preview import SPEC

site = test_callbacks.site  # the fixture: a real Engine (no PBX) over a seeded SQLite CRM

TIMED_OUT = OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True)


class Pbx:
    """The Originate's answer and the channels the call model would show, as the test sets them."""

    def __init__(self, site: Site, monkeypatch: Any, result: OriginateResult) -> None:
        self.result = result
        self.live: list[str] = []
        self.originated: list[dict[str, Any]] = []
        acd = site.engine.acd
        monkeypatch.setattr(acd.control, "originate", self.originate)
        monkeypatch.setattr(acd, "live_channels", lambda: list(self.live))
        acd.dial_readiness.poll_s = 0.01

    async def originate(self, channel: str, **kwargs: Any) -> OriginateResult:
        self.originated.append({"channel": channel, **kwargs})
        return self.result


def _state(site: Site) -> tuple[AgentState, str | None]:
    acd = site.engine.acd
    return acd.agent_state("1001"), acd.agent("1001").reason


async def _ready(site: Site) -> None:
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    assert (await site.as_("agent1", "POST", "/api/agent/state", json={"state": "ready"})).status_code == 200


async def _campaign(site: Site, contacts: int = 2) -> int:
    cid = int((await site.as_("sup1", "POST", "/api/campaigns", json=SPEC)).json()["id"])
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{cid}/contacts", json={"contacts": [
        {"number": f"1391234567{i}"} for i in range(contacts)]})).status_code == 201
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{cid}/start")).json()["state"] == "running"
    return cid


@pytest.mark.parametrize("how", ["console", "preview"])
async def test_an_agent_stays_out_of_the_queues_while_an_unconfirmed_dial_may_ring(
        site: Site, monkeypatch: Any, caplog: pytest.LogCaptureFixture, how: str) -> None:
    pbx = Pbx(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0  # no channel seen: the grace is what gives them back (below)
    await _ready(site)
    if how == "preview":
        await _campaign(site, contacts=3)

    async def dial() -> None:
        if how == "console":
            r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
        else:
            item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
            r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
        assert r.status_code == 409 and "did not answer in time" in r.json()["detail"]["message"], r.text

    # The call was placed after all: the agent's phone has a channel. Not ready while it lives.
    await dial()
    assert _state(site) == (AgentState.NOT_READY, "outbound")
    phone = site.engine.acd.phones["1001"]
    with caplog.at_level(logging.WARNING, logger="acd.dial_readiness"):
        pbx.live.append(phone.channel_prefix + "00000001;1")
        await until(lambda: "was placed" in caplog.text)
    assert _state(site) == (AgentState.NOT_READY, "outbound")
    # Ready pressed meanwhile: not on top of that call (ready once it is over, as after any call).
    assert (await site.as_("agent1", "POST", "/api/agent/state", json={"state": "ready"})).status_code == 200
    assert _state(site) == (AgentState.NOT_READY, "outbound")
    pbx.live.clear()  # the call ended: ready again, as before the dial
    await until(lambda: _state(site) == (AgentState.AVAILABLE, None))
    await until(lambda: not readiness.watching, what="the watch over")

    # No channel ever: ready again once the grace passed.
    await dial()
    assert _state(site) == (AgentState.NOT_READY, "outbound")
    assert readiness.watching.get("1001")
    readiness.grace_s = 0.0
    await until(lambda: _state(site) == (AgentState.AVAILABLE, None))

    # An agent who chose a break meanwhile stays on it.
    readiness.grace_s = 3600.0
    await dial()
    assert (await site.as_("agent1", "POST", "/api/agent/state",
                           json={"state": "not_ready", "reason": "break"})).status_code == 200
    readiness.grace_s = 0.0
    await until(lambda: not readiness.watching)
    assert _state(site) == (AgentState.NOT_READY, "break")
    # Every dial named its call before it existed (the agent's leg's ChannelId).
    assert all(o["channel_id"] for o in pbx.originated) and len({o["channel_id"] for o in pbx.originated}) == 3


async def test_a_preview_dial_names_its_call_by_the_attempts_linkedid(site: Site, monkeypatch: Any) -> None:
    """The Originate's ChannelId is the attempt's linkedid: a call Asterisk places after an Originate it
    never answered, and one it answered, are the attempt's (its interaction, its end)."""
    pbx = Pbx(site, monkeypatch, TIMED_OUT)
    site.engine.acd.dial_readiness.grace_s = 0.0
    await _ready(site)
    await _campaign(site)
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 409, r.text
    await until(lambda: site.engine.acd.agent_state("1001") is AgentState.AVAILABLE)
    await until(lambda: not site.engine.dialer._tasks, what="the attempt settled: no call was seen")
    (timed_out,) = pbx.originated
    async with site.engine.db.session() as s:
        (attempt,) = await s.scalars(select(CampaignAttempt))
    assert attempt.outcome == "failed" and timed_out["channel_id"] == attempt.linkedid
    assert attempt.linkedid.startswith("pv")

    # Answered: the call is the attempt's under the same name (Asterisk took the ChannelId).
    pbx.result = OriginateResult(True, 4)  # no uniqueid in the answer: the ChannelId stands
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    assert call_id == pbx.originated[1]["channel_id"] and call_id.startswith("pv")
    async with site.engine.db.session() as s:
        linked = await s.scalar(select(CampaignAttempt).where(CampaignAttempt.contact_id == item["id"]))
    assert linked is not None and linked.linkedid == call_id
    assert call_id in site.engine.acd.calls


async def test_a_preview_dial_from_wrap_up_ends_the_wrap_up(site: Site, monkeypatch: Any) -> None:
    """The console's Dial from wrap-up ends it (not ready "outbound", or for the reason chosen for after
    the call): its timer would make the agent available, and offered queued calls, during the call. The
    preview's Dial left the agent in wrap-up. Failed, it leaves them where the wrap-up would have."""
    pbx = Pbx(site, monkeypatch, OriginateResult(True, 4))
    acd = site.engine.acd
    await _ready(site)
    await _campaign(site, contacts=3)

    async def wrapping_up(call_id: str) -> None:
        # A call answered and ended, straight through the router (the engine is not started: no PBX).
        acd.router.enqueue(call_id, "support", acd.clock())
        acd.router.offer_answered(call_id, "1001", acd.clock())
        acd.router.call_ended(call_id, acd.clock())
        assert acd.agent_state("1001") is AgentState.WRAP_UP

    async def preview_dial() -> int:
        item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
        return (await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")).status_code

    await wrapping_up("wrap.1")
    assert await preview_dial() == 200
    assert _state(site) == (AgentState.NOT_READY, "outbound")

    # Failed from wrap-up: ready, as the wrap-up would have left them...
    pbx.result = OriginateResult(False, "Originate: Extension does not exist.")
    acd.calls.clear()
    assert (await site.as_("agent1", "POST", "/api/agent/state", json={"state": "ready"})).status_code == 200
    await wrapping_up("wrap.2")
    assert await preview_dial() == 409
    assert _state(site) == (AgentState.AVAILABLE, None)
    # ...or not ready for the reason chosen for after the call.
    await wrapping_up("wrap.3")
    acd.router.not_ready_after_call("1001", acd.clock(), "break")
    assert await preview_dial() == 409
    assert _state(site) == (AgentState.NOT_READY, "break")


class LostAfterWriting(Pbx):
    """The Originate written, then the AMI connection dropped before Asterisk's answer."""

    async def originate(self, channel: str, **kwargs: Any) -> OriginateResult:
        self.originated.append({"channel": channel, **kwargs})
        raise AmiUnavailable("AMI connection lost (closed by Asterisk)")


async def test_a_preview_dial_lost_with_ami_is_followed_as_one_never_answered(
        site: Site, monkeypatch: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A preview Dial whose Originate was written, then lost with the AMI connection, may have placed
    its call (under the attempt's linkedid): followed as an automatic dial's is (the agent kept out
    of the queues while it rings, its end settling the attempt: ``human`` when the customer answered);
    ``failed`` only when no channel of it is seen within the grace. Before, it was ``failed`` at once
    and the agent ready at once, whatever became of the call."""
    pbx = LostAfterWriting(site, monkeypatch, TIMED_OUT)
    dialer, readiness = site.engine.dialer, site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    await _ready(site)
    await _campaign(site)
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 503 and r.json()["detail"]["code"] == "ami_unavailable", r.text
    (dial,) = pbx.originated
    linkedid = dial["channel_id"]
    # The call was placed all the same: the agent's phone, then the customer's, ring.
    assert readiness.watching.get("1001") == linkedid
    with caplog.at_level(logging.WARNING, logger="acd.dial_readiness"):
        pbx.live.append(site.engine.acd.phones["1001"].channel_prefix + "00000001;1")
        await until(lambda: "was placed" in caplog.text, what="the call seen")
    async with site.engine.db.session() as s:
        (attempt,) = await s.scalars(select(CampaignAttempt))
    assert (attempt.linkedid, attempt.outcome) == (linkedid, None)  # followed, not settled
    assert _state(site) == (AgentState.NOT_READY, "outbound")
    dialer._on_far_end(FarEndResult(ts=time.time(), linkedid=linkedid, channel="", dest_channel="",
                                    result="answered"))
    pbx.live.clear()
    await dialer._on_call_ended(CallEnded(ts=time.time(), linkedid=linkedid, cause=16, cause_text="Normal Clearing"))
    async with site.engine.db.session() as s:
        (attempt,) = await s.scalars(select(CampaignAttempt))
    assert attempt.outcome == "human"
    await until(lambda: _state(site) == (AgentState.AVAILABLE, None), what="the agent ready again")

    # No channel of it ever seen: ``failed`` once the grace has passed.
    readiness.grace_s = 0.0
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 503, r.text
    await until(lambda: not dialer._tasks, what="the attempt settled")
    async with site.engine.db.session() as s:
        outcomes = {a.linkedid: a.outcome for a in await s.scalars(select(CampaignAttempt))}
    assert outcomes == {linkedid: "human", pbx.originated[1]["channel_id"]: "failed"}


@pytest.mark.parametrize("how", ["console", "callback"])
async def test_an_unconfirmed_dial_whose_call_appears_is_published_once(site: Site, monkeypatch: Any,
                                                                       how: str) -> None:
    """A dial Asterisk never answered whose call turns out to have been placed (a channel of its
    ChannelId appears while it is watched) publishes its call as a confirmed dial does, once
    (CallArrived: outbound, the agent's, the number dialled). Before, nothing did: the call's
    interaction was built from its later events alone (no direction, no agent, no number). Seen only
    on the agent's phone (no customer's leg: the phone never answered), it is not adopted (no
    CallConnected; ``test_a_late_call_is_the_agents_in_the_console_and_wrapped_up`` below adopts one);
    gone, the agent is given back. (A preview Dial's call is the attempt's: the dialer publishes it.)"""
    pbx = Pbx(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    calls: dict[str, list[str]] = {}
    looked: list[str] = []

    def call_channels(linkedid: str) -> list[str]:
        looked.append(linkedid)
        return calls.get(linkedid, [])

    monkeypatch.setattr(site.engine.acd, "call_channels", call_channels)
    seen: list[Event] = []
    site.engine.bus.observe(JOURNEY_EVENTS, seen.append, name="test.journey")  # type: ignore[attr-defined]
    await _ready(site)
    if how == "console":
        r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678", "customer_id": 1})
    else:
        cb = await site.add(number="13912345678")
        item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
        assert item["id"] == cb
        r = await site.as_("agent1", "POST", f"/api/preview/callback/{cb}/dial")
    assert r.status_code == 409, r.text
    linkedid = pbx.originated[-1]["channel_id"]

    def mine() -> list[Event]:
        return [e for e in seen if e.call_id == linkedid]

    assert mine() == []
    calls[linkedid] = ["Local/1001@cti-sim-phone-00000001;1"]  # Asterisk placed the call after all
    await until(mine, what="the call published")
    polls = len(looked)
    await until(lambda: len(looked) >= polls + 5, what="more looks at the live call")
    calls.clear()
    await until(lambda: not readiness.watching, what="the watch over")
    (arrived,) = mine()
    assert isinstance(arrived, CallArrived)
    assert (arrived.direction, arrived.agent_id, arrived.dnis) == ("outbound", "1001", "8613912345678")
    assert _state(site) == (AgentState.AVAILABLE, None)


async def test_a_dial_from_a_break_is_watched_and_ready_asked_meanwhile_comes_after_it(
        site: Site, monkeypatch: Any) -> None:
    """An agent not ready for their own reason (a break) dials; Asterisk never answers. Their dial is
    watched all the same: its call, once seen, is published; meanwhile they are not ready "outbound"
    (handling time, docs/kpis.md) with the break pending, and back on their break after it. Ready
    pressed while the call is up comes once it is gone (not on top of it)."""
    pbx = Pbx(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    calls: dict[str, list[str]] = {}
    monkeypatch.setattr(site.engine.acd, "call_channels", lambda linkedid: calls.get(linkedid, []))
    seen: list[Event] = []
    site.engine.bus.observe(JOURNEY_EVENTS, seen.append, name="test.journey")  # type: ignore[attr-defined]
    await _ready(site)
    for press_ready in (False, True):
        assert (await site.as_("agent1", "POST", "/api/agent/state",
                               json={"state": "not_ready", "reason": "break"})).status_code == 200
        r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
        assert r.status_code == 409, r.text
        linkedid = pbx.originated[-1]["channel_id"]
        assert readiness.watching.get("1001") == linkedid
        calls[linkedid] = ["Local/1001@cti-sim-phone-00000001;1"]
        await until(lambda lid=linkedid: any(isinstance(e, CallArrived) and e.call_id == lid for e in seen),
                    what="the call published")
        assert _state(site) == (AgentState.NOT_READY, "outbound")
        assert site.engine.acd.agent("1001").not_ready_after_call == "break"
        if press_ready:
            assert (await site.as_("agent1", "POST", "/api/agent/state", json={"state": "ready"})).status_code == 200
            assert _state(site) == (AgentState.NOT_READY, "outbound")  # not on top of the call
        calls.clear()
        await until(lambda: not readiness.watching, what="the watch over")
        assert _state(site) == ((AgentState.AVAILABLE, None) if press_ready else (AgentState.NOT_READY, "break"))


async def test_a_second_dial_while_the_last_one_may_still_ring_is_refused(site: Site, monkeypatch: Any) -> None:
    """While the agent's dial Asterisk never answered is still watched (its call may ring yet), a
    second dial (the console's, a callback's, a preview contact's) would ring their phone on top of
    it: refused with a 409 saying why and for how long, nothing dialled, no attempt spent, the
    contact still held for the agent. Before, it was dialled."""
    pbx = Pbx(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    await _ready(site)
    await _campaign(site)
    r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
    assert r.status_code == 409 and "did not answer in time" in r.json()["detail"]["message"], r.text
    assert readiness.watching.get("1001")
    cb = await site.add(number="13800138001")
    callback = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert callback["id"] == cb
    for path, body in (("/api/calls/dial", {"number": "13912345679"}),
                       (f"/api/preview/callback/{cb}/dial", None)):
        r = await site.as_("agent1", "POST", path, json=body)
        assert r.status_code == 409, (path, r.text)
        detail = r.json()["detail"]
        assert detail["code"] == "illegal_agent_action", detail
        assert "your last dial may still be ringing: wait up to 3600 s" in detail["message"], detail
    await site.as_("agent1", "POST", f"/api/preview/callback/{cb}/skip", json={"reason": "not_now"})
    contact = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert contact["source"] == "campaign"
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{contact['id']}/dial")
    assert r.status_code == 409 and "your last dial may still be ringing" in r.json()["detail"]["message"], r.text
    assert len(pbx.originated) == 1  # nothing more was dialled
    async with site.engine.db.session() as s:
        assert list(await s.scalars(select(CampaignAttempt))) == []  # no attempt spent
    assert (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]["id"] == contact["id"]  # held

    readiness.grace_s = 0.0  # the watch over (no call seen): dialling again is allowed
    await until(lambda: not readiness.watching, what="the watch over")
    pbx.result = OriginateResult(True, 4)
    r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345679"})
    assert r.status_code == 200, r.text
    assert len(pbx.originated) == 2


@pytest.mark.parametrize("how", ["console", "callback"])
async def test_a_dial_lost_with_ami_after_writing_is_watched_as_one_never_answered(
        site: Site, monkeypatch: Any, how: str) -> None:
    """A console or callback Dial whose Originate was written, then lost with the AMI connection, may
    have placed its call (as one Asterisk never answered): the agent stays not ready "outbound" while
    it may ring, and its call, once seen, is published as a confirmed dial's. One never written (AMI
    not connected) called nobody: the agent is given back at once, nothing watched. Before, both
    gave the agent back at once, unwatched."""
    pbx = LostAfterWriting(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    calls: dict[str, list[str]] = {}
    monkeypatch.setattr(site.engine.acd, "call_channels", lambda linkedid: calls.get(linkedid, []))
    seen: list[Event] = []
    site.engine.bus.observe(JOURNEY_EVENTS, seen.append, name="test.journey")  # type: ignore[attr-defined]
    await _ready(site)

    async def dial() -> None:
        if how == "console":
            r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
        else:
            cb = await site.add(number="13912345678")
            item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
            assert item["id"] == cb
            r = await site.as_("agent1", "POST", f"/api/preview/callback/{cb}/dial")
        assert r.status_code == 409 and "not reachable" in r.json()["detail"]["message"], r.text

    await dial()
    linkedid = pbx.originated[-1]["channel_id"]
    assert readiness.watching.get("1001") == linkedid
    assert _state(site) == (AgentState.NOT_READY, "outbound")
    calls[linkedid] = ["Local/1001@cti-sim-phone-00000001;1"]  # Asterisk placed the call after all
    await until(lambda: any(isinstance(e, CallArrived) and e.call_id == linkedid for e in seen),
                what="the call published")
    calls.clear()
    await until(lambda: not readiness.watching, what="the watch over")
    assert next(e for e in seen if e.call_id == linkedid and isinstance(e, CallArrived)).agent_id == "1001"
    assert _state(site) == (AgentState.AVAILABLE, None)

    # Never written: nobody was called, nothing to watch.
    async def not_sent(channel: str, **kwargs: Any) -> OriginateResult:
        pbx.originated.append({"channel": channel, **kwargs})
        raise AmiNotSent("AMI is not connected (Originate not sent)")

    monkeypatch.setattr(site.engine.acd.control, "originate", not_sent)
    await dial()
    assert not readiness.watching
    assert _state(site) == (AgentState.AVAILABLE, None)


@pytest.mark.parametrize("lost", [False, True], ids=["never_answered", "lost_with_ami"])
async def test_a_callback_dial_whose_call_appears_is_recorded_as_placed(site: Site, monkeypatch: Any,
                                                                        lost: bool) -> None:
    """A callback's Dial whose Originate was written and never answered (or lost with AMI) may have
    placed its call: the callback stays being called while it is watched; its call seen, it is
    recorded as a confirmed dial's is (its last call named, once); none seen within the grace, the
    dial placed nothing (the claim stands, not being called). Before, it was recorded not placed at
    once and its last call never named the call Asterisk did place."""
    pbx = (LostAfterWriting if lost else Pbx)(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    calls: dict[str, list[str]] = {}
    monkeypatch.setattr(site.engine.acd, "call_channels", lambda linkedid: calls.get(linkedid, []))
    await _ready(site)

    async def call(cb: int) -> str:
        assert (await site.as_("agent1", "POST", f"/api/callbacks/{cb}/claim")).status_code == 200
        r = await site.as_("agent1", "POST", f"/api/callbacks/{cb}/call")
        assert r.status_code == 409, r.text
        return str(pbx.originated[-1]["channel_id"])

    placed = await site.add(number="13912345678")
    linkedid = await call(placed)
    row = await site.row(placed)
    assert (row.state, row.claimed_by, row.last_linkedid) == ("claimed", "1001", None)
    assert row.called_at is not None  # being called while its call may ring
    calls[linkedid] = ["Local/1001@cti-sim-phone-00000001;1"]  # Asterisk placed the call after all
    row = await _row_once(site, placed, lambda r: r.last_linkedid is not None)  # while the call is up
    assert (row.state, row.claimed_by, row.last_linkedid) == ("claimed", "1001", linkedid)
    assert row.called_at is not None
    calls.clear()
    await until(lambda: not readiness.watching, what="the watch over")
    row = await site.row(placed)  # still so: the watch's end records nothing more
    assert (row.state, row.claimed_by, row.last_linkedid) == ("claimed", "1001", linkedid)
    assert row.called_at is not None

    # No call seen within the grace: nothing was placed; the claim stands, not being called.
    other = await site.add(number="13912345679")
    await call(other)
    readiness.grace_s = 0.0
    await until(lambda: not readiness.watching, what="the watch over")
    row = await _row_once(site, other, lambda r: r.called_at is None)
    assert (row.state, row.claimed_by, row.last_linkedid, row.called_at) == ("claimed", "1001", None, None)


async def _row_once(site: Site, cb_id: int, ok: Callable[[Callback], bool], timeout_s: float = 20.0) -> Callback:
    """The callback's row once ``ok`` holds (``tests.helpers.until`` for a database read)."""
    deadline = time.monotonic() + timeout_s
    while not ok(row := await site.row(cb_id)):
        assert time.monotonic() < deadline, f"callback {cb_id} not as awaited within {timeout_s} s"
        await asyncio.sleep(0.05)
    return row


@pytest.mark.parametrize("how", ["console", "callback"])
async def test_a_late_call_is_the_agents_in_the_console_and_wrapped_up(site: Site, monkeypatch: Any,
                                                                     how: str) -> None:
    """A dial Asterisk never answered whose call appears with its customer's leg (the agent's phone
    answered) is adopted as the agent's call: in the console's snapshot (/api/agent/snapshot) with
    its card, hung up and wrapped up over the console's API, which makes the agent ready again; a
    callback's claim is settled by that wrap-up (done), as a confirmed Dial's. Before, the snapshot
    had no call and the wrap-up was refused (no call), so the claim waited to expire."""
    pbx = Pbx(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    calls: dict[str, list[str]] = {}
    monkeypatch.setattr(site.engine.acd, "call_channels", lambda linkedid: calls.get(linkedid, []))
    seen: list[Event] = []
    site.engine.bus.observe(JOURNEY_EVENTS, seen.append, name="test.journey")  # type: ignore[attr-defined]
    await _ready(site)
    cb = None
    if how == "console":
        r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678", "customer_id": 1})
    else:
        cb = await site.add(number="13912345678")
        assert (await site.as_("agent1", "POST", f"/api/callbacks/{cb}/claim")).status_code == 200
        r = await site.as_("agent1", "POST", f"/api/callbacks/{cb}/call")
    assert r.status_code == 409, r.text
    linkedid = pbx.originated[-1]["channel_id"]
    calls[linkedid] = ["Local/1001@cti-sim-phone-00000001;1", "Local/1001@cti-sim-phone-00000001;2",
                       "Local/8613912345678@cti-sim-customer-00000002;1"]  # placed after all, the phone answered
    await until(lambda: linkedid in site.engine.acd.calls, what="the late call adopted")
    await until(lambda: not readiness.watching, what="the watch over")
    snap = (await site.as_("agent1", "GET", "/api/agent/snapshot")).json()
    (card,) = [c for c in snap["calls"] if c["call_id"] == linkedid]
    assert (card["status"], card["direction"], card["peer_number"]) == ("talking", "outbound", "8613912345678")
    assert (card["detail"] or {}).get("callback", False) is (how == "callback")
    assert _state(site) == (AgentState.NOT_READY, "outbound")
    # A second dial meanwhile: refused, the agent is on that call.
    r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345679"})
    assert r.status_code == 409 and "finish your current call" in r.json()["detail"]["message"], r.text

    hung_up: list[str] = []

    async def hangup(channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        hung_up.append(channel)

    monkeypatch.setattr(site.engine.acd.control, "hangup", hangup)
    assert (await site.as_("agent1", "POST", f"/api/calls/{linkedid}/hangup")).status_code == 200
    assert hung_up == ["Local/1001@cti-sim-phone-00000001;1"]  # the customer not answered yet: the agent's leg
    calls.clear()  # the call's channels gone: its end, as the call model reports it (the engine not started)
    await site.engine.acd.follower.on_call_ended(CallEnded(ts=time.time(), linkedid=linkedid, cause=16,
                                                           cause_text="Normal Clearing"))
    ended = site.engine.acd.agent_call("1001", linkedid)
    assert ended is not None and ended.status == "ended"
    wrapped = await site.as_("agent1", "POST", f"/api/calls/{linkedid}/wrap-up", json={"disposition": "resolved"})
    assert wrapped.status_code == 200, wrapped.text
    assert _state(site) == (AgentState.AVAILABLE, None)
    connected = [e for e in seen if isinstance(e, CallConnected) and e.call_id == linkedid]
    assert len(connected) == 1
    if cb is not None:
        assert wrapped.json()["result"]["settled_callback"] == {"id": cb, "state": "done", "attempts": 1}
        row = await site.row(cb)
        assert (row.state, row.last_linkedid) == ("done", linkedid)


async def test_a_break_chosen_while_the_late_call_was_watched_stands_after_its_wrap_up(
        site: Site, monkeypatch: Any) -> None:
    """The agent, ready before the dial, goes on a break while the dial is watched; its call is then
    adopted (their phone answered) and wrapped up: the break stands after it, as after any outbound
    call during which a break was chosen."""
    pbx = Pbx(site, monkeypatch, TIMED_OUT)
    readiness = site.engine.acd.dial_readiness
    readiness.grace_s = 3600.0
    calls: dict[str, list[str]] = {}
    monkeypatch.setattr(site.engine.acd, "call_channels", lambda linkedid: calls.get(linkedid, []))
    await _ready(site)
    r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
    assert r.status_code == 409, r.text
    linkedid = pbx.originated[-1]["channel_id"]
    assert (await site.as_("agent1", "POST", "/api/agent/state",
                           json={"state": "not_ready", "reason": "break"})).status_code == 200
    calls[linkedid] = ["Local/1001@cti-sim-phone-00000001;1", "Local/8613912345678@cti-sim-customer-00000002;1"]
    await until(lambda: linkedid in site.engine.acd.calls, what="the late call adopted")
    assert _state(site) == (AgentState.NOT_READY, "break")
    calls.clear()
    await site.engine.acd.follower.on_call_ended(CallEnded(ts=time.time(), linkedid=linkedid))
    wrapped = await site.as_("agent1", "POST", f"/api/calls/{linkedid}/wrap-up", json={"disposition": "resolved"})
    assert wrapped.status_code == 200, wrapped.text
    assert _state(site) == (AgentState.NOT_READY, "break")
    assert not readiness.watching
