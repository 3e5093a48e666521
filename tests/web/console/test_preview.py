"""The preview panel's routes on a real Engine (not started: no PBX) over a seeded SQLite CRM: a due
callback comes first, then the contacts of a running preview campaign of the agent's queues, each
held for the agent; Skip with each reason lands in the CRM; validation and the access policy.
(Dial is proven on the real PBX in tests/asterisk/engine/test_campaign.py and in Chromium in
tests/browser/console/test_preview_panel.py.)"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from crm_core.campaign_models import CampaignAttempt, CampaignContact, DoNotCall
from crm_core.fold import JOURNEY_EVENTS, fold
from cti.events import Event
from tests.helpers import until
from tests.web.console import test_callbacks
from tests.web.console.conftest import Console
from tests.web.console.test_callbacks import Site

site = test_callbacks.site  # the fixture: a real Engine (no PBX) over a seeded SQLite CRM

SPEC = {"name": "renewals", "queue": "support", "mode": "preview", "timezone": "Asia/Shanghai",
        "script": "Ask about the renewal", "max_attempts": 2,
        "windows": [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"}]}


async def _campaign(site: Site) -> int:
    # Started first (a lower id), but for agents with support 5 and en 5 only: nobody here.
    r = await site.as_("sup1", "POST", "/api/campaigns",
                       json={**SPEC, "name": "experts", "skills": {"support": 5, "en": 5}})
    expert = int(r.json()["id"])
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{expert}/contacts", json={"contacts": [
        {"number": "13911112222"}]})).status_code == 201
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{expert}/start")).json()["state"] == "running"
    r = await site.as_("sup1", "POST", "/api/campaigns", json=SPEC)
    assert r.status_code == 201, r.text
    cid = int(r.json()["id"])
    r = await site.as_("sup1", "POST", f"/api/campaigns/{cid}/contacts", json={"contacts": [
        {"number": "13912345678", "name": "Li Na", "data": {"plan": "gold"}},
        {"number": "+1 212 555 0100", "name": "Ann Lee"}, {"number": "13800138009", "name": "Wang Bo"}]})
    assert r.status_code == 201, r.text
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{cid}/start")).json()["state"] == "running"
    return cid


async def _contacts(site: Site) -> dict[str, tuple[str, datetime | None, str | None]]:
    async with site.engine.db.session() as s:
        return {c.number: (c.state, c.next_at, c.last_outcome) for c in await s.scalars(select(CampaignContact))}


async def test_callbacks_then_campaign_contacts_one_at_a_time(site: Site) -> None:
    cb = await site.add(number="13800138001")
    cid = await _campaign(site)
    joined = await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    assert joined.status_code == 200

    first = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert (first["source"], first["id"], first["number"], first["attempts"]) == ("callback", cb, "+8613800138001", 0)
    assert first["timezone"] == "Asia/Shanghai"
    row = await site.row(cb)
    assert (row.state, row.claimed_by) == ("claimed", "1001")  # held for the agent while shown
    # Asking again shows the same item: the agent answers it with Dial or Skip.
    assert (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]["id"] == cb
    r = await site.as_("agent1", "POST", f"/api/preview/callback/{cb}/skip", json={"reason": "not_now"})
    assert r.status_code == 200 and r.json() == {"skipped": True}
    row = await site.row(cb)
    assert (row.state, row.claimed_by, row.attempts) == ("pending", None, 0)
    assert row.due_at.replace(tzinfo=UTC) > datetime.now(UTC)  # due again later, not an attempt

    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert {k: item[k] for k in ("source", "number", "name", "campaign", "campaign_id", "script", "attempts",
                                 "max_attempts", "timezone", "data")} == {
        "source": "campaign", "number": "+8613912345678", "name": "Li Na", "campaign": "renewals",
        "campaign_id": cid, "script": "Ask about the renewal", "attempts": 0, "max_attempts": 2,
        "timezone": "Asia/Shanghai", "data": {"plan": "gold"}}
    # Held for agent1: agent2 in the same queue gets the next contact, and may not touch agent1's.
    await site.as_("agent2", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    other = (await site.as_("agent2", "POST", "/api/preview/next")).json()["item"]
    assert (other["source"], other["number"], other["timezone"]) == ("campaign", "+12125550100", "America/New_York")
    stolen = await site.as_("agent2", "POST", f"/api/preview/campaign/{item['id']}/skip", json={"reason": "not_now"})
    assert stolen.status_code == 422 and stolen.json()["detail"]["field"] == "contact_id"

    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/skip", json={"reason": "do_not_call"})
    assert r.status_code == 200, r.text
    r = await site.as_("agent2", "POST", f"/api/preview/campaign/{other['id']}/skip", json={"reason": "wrong_number"})
    assert r.status_code == 200, r.text
    third = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert third["number"] == "+8613800138009"
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{third['id']}/skip", json={"reason": "not_now"})
    assert r.status_code == 200
    assert (await site.as_("agent1", "POST", "/api/preview/next")).json() == {"item": None}  # nothing due now

    contacts = await _contacts(site)
    assert contacts.pop("+8613911112222") == ("pending", None, None)  # the experts' contact: never shown
    assert {n: (st, out) for n, (st, _, out) in contacts.items()} == {
        "+8613912345678": ("dnc", "skipped"), "+12125550100": ("failed", "skipped"),
        "+8613800138009": ("pending", "skipped")}
    later = contacts["+8613800138009"][1]
    assert later is not None and later.replace(tzinfo=UTC) > datetime.now(UTC)
    async with site.engine.db.session() as s:
        assert [(d.number, d.campaign_id) for d in await s.scalars(select(DoNotCall))] == [("+8613912345678", cid)]


async def test_bad_input_and_who_may_preview(site: Site) -> None:
    cb = await site.add()
    out = await site.as_("agent1", "POST", "/api/preview/next")  # logged out of every queue
    assert out.status_code == 409 and out.json()["detail"]["code"] == "illegal_agent_action"
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    assert (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]["id"] == cb
    for path, body, status, field in (
            (f"/api/preview/callback/{cb}/skip", {"reason": "bored"}, 422, "reason"),
            (f"/api/preview/callback/{cb}/skip", {}, 422, "reason"),
            (f"/api/preview/fax/{cb}/skip", {"reason": "not_now"}, 422, "source"),
            ("/api/preview/callback/0/dial", None, 422, "item_id"),
            ("/api/preview/campaign/999/dial", None, 422, "contact_id")):
        r = await site.as_("agent1", "POST", path, json=body)
        assert (r.status_code, r.json()["detail"]["field"]) == (status, field), (path, r.text)
    missing = await site.as_("agent1", "POST", "/api/preview/callback/999999/skip", json={"reason": "not_now"})
    assert missing.status_code == 404
    sup = await site.as_("sup1", "POST", "/api/preview/next")
    assert sup.status_code == 403  # takes no calls
    r = await site.as_("agent1", "POST", f"/api/preview/callback/{cb}/skip", json={"reason": "wrong_number"})
    assert r.status_code == 200 and (await site.row(cb)).state == "cancelled"
    site.http.cookies.clear()
    assert (await site.http.post("/api/preview/next")).status_code == 401


async def test_a_callback_is_dialled_from_the_panel_like_a_campaign_contact(console: Console) -> None:
    desk = console.demo.desk
    cb = desk.add_callback("+8613800138000", queue="support", customer_id=1, due_at=desk.clock() - 60)
    token = await console.login("alice")
    await desk.login_queues("a1001", ["support"])
    item = (await console.http.post("/api/preview/next", headers=console.auth(token))).json()["item"]
    assert (item["source"], item["id"]) == ("callback", cb)
    r = await console.http.post(f"/api/preview/callback/{cb}/dial", headers=console.auth(token))
    assert r.status_code == 200, r.text
    assert desk.callback_book[cb].calling and desk.callback_book[cb].last_call_id == r.json()["call_id"]
    assert ("dial", "a1001", {"number": "8613800138000", "customer_id": 1}) in desk.actions
    again = await console.http.post(f"/api/preview/callback/{cb}/dial", headers=console.auth(token))
    assert again.status_code == 409  # already being called



async def test_the_campaign_preview_route_keeps_to_the_agents_own_campaigns(site: Site) -> None:
    """``POST /api/campaigns/{id}/preview`` hands out the same contacts as the panel: not those of a
    campaign of a queue the agent is not logged in to, nor of one needing skills the agent lacks."""
    cid = await _campaign(site)
    experts = next(c["id"] for c in (await site.as_("sup1", "GET", "/api/campaigns")).json() if c["name"] == "experts")
    r = await site.as_("sup1", "POST", "/api/campaigns", json={**SPEC, "name": "billers", "queue": "billing"})
    billers = int(r.json()["id"])
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{billers}/contacts", json={"contacts": [
        {"number": "13933334444", "name": "Zhao Min", "data": {"debt": "4200"}}]})).status_code == 201
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{billers}/start")).json()["state"] == "running"
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})

    for other in (experts, billers):
        r = await site.as_("agent1", "POST", f"/api/campaigns/{other}/preview")
        assert r.status_code == 403 and r.json()["detail"]["code"] == "forbidden", r.text
    mine = await site.as_("agent1", "POST", f"/api/campaigns/{cid}/preview")
    assert mine.status_code == 200 and mine.json()["contact"]["number"] == "+8613912345678"
    contacts = await _contacts(site)
    assert contacts["+8613911112222"][0] == contacts["+8613933334444"][0] == "pending"  # never reserved nor shown


async def test_a_reserved_contact_is_dialled_only_under_its_own_campaign(site: Site) -> None:
    """Dialled under another campaign's id, the contact would be checked against that campaign's
    calling window and do-not-call list, presented with its caller ID and counted as its attempt."""
    cid = await _campaign(site)
    experts = next(c["id"] for c in (await site.as_("sup1", "GET", "/api/campaigns")).json() if c["name"] == "experts")
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    shown = (await site.as_("agent1", "POST", f"/api/campaigns/{cid}/preview")).json()["contact"]
    r = await site.as_("agent1", "POST", f"/api/campaigns/{experts}/preview/{shown['contact_id']}/dial")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "contact_id", r.text
    async with site.engine.db.session() as s:
        contact = await s.get(CampaignContact, shown["contact_id"])
        assert contact is not None and (contact.state, contact.attempts) == ("pending", 0)


async def test_dial_pressed_twice_at_once_dials_once_and_refuses_the_other(site: Site) -> None:
    """A double click on Dial: the second request was a 500 (KeyError on the reservation the first had
    just used); it is refused, a 409 naming contact_id (the first took the contact)."""
    import asyncio

    await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert item["source"] == "campaign"
    url = f"/api/preview/campaign/{item['id']}/dial"
    dial = site.engine.acd.actions.dial

    async def slow_dial(*args: Any, **kwargs: Any) -> str:
        await asyncio.sleep(0.3)  # the phone system takes its time: the contact is being dialled meanwhile
        return await dial(*args, **kwargs)

    site.engine.acd.actions.dial = slow_dial  # type: ignore[method-assign]
    answers = await asyncio.gather(site.as_("agent1", "POST", url), site.as_("agent1", "POST", url))
    # One dials (503 here: this engine has no PBX, nobody is called), the other is refused: a 409
    # when it came while the contact was being dialled, a 422 when the first had already released the
    # contact's reservation before the second began (a loaded test machine); both name contact_id.
    codes = sorted(r.status_code for r in answers)
    assert codes in ([409, 503], [422, 503]), [r.text for r in answers]
    refused = next(r for r in answers if r.status_code != 503)
    assert refused.json()["detail"]["field"] == "contact_id", refused.text
    assert refused.status_code == 422 or refused.json()["detail"]["code"] == "contact_taken", refused.text
    async with site.engine.db.session() as s:
        attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.contact_id == item["id"])))
    assert attempts == []  # the one Dial reached no phone system: no attempt spent (the dial is withdrawn)


async def test_skip_and_dial_of_one_contact_at_once_one_wins_the_other_is_a_409(site: Site) -> None:
    """Skip and Dial pressed on the same contact at once (two tabs, a double click across both
    buttons): on SQLite both read it pending and both wrote it, a dialled contact left ``failed`` or
    ``dnc`` (or due again later) by the skip with its call under way, both answered as done. Each now
    changes the contact only if it is still pending and due (compare-and-set): the other gets a 409."""
    import asyncio

    await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    calls = iter(range(100))

    async def dialled(*args: Any, **kwargs: Any) -> str:  # the customer's phone rings (no PBX here)
        return f"fake-call-{next(calls)}"

    site.engine.acd.actions.dial = dialled  # type: ignore[method-assign]
    for reason in ("not_now", "wrong_number", "do_not_call"):  # which one wins is the scheduler's choice
        item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
        assert item["source"] == "campaign", item
        base = f"/api/preview/campaign/{item['id']}"
        skip, dial = await asyncio.gather(site.as_("agent1", "POST", f"{base}/skip", json={"reason": reason}),
                                          site.as_("agent1", "POST", f"{base}/dial"))
        # The loser is a 409 when both ran at once; when one request was done before the other began
        # (a loaded test machine), the contact was no longer reserved for the agent: 422 naming contact_id.
        assert (skip.status_code == 200) != (dial.status_code == 200), (skip.text, dial.text)
        lost = dial if skip.status_code == 200 else skip
        assert lost.status_code in (409, 422), lost.text
        assert lost.json()["detail"]["code"] == "contact_taken" if lost.status_code == 409 else \
            lost.json()["detail"]["field"] == "contact_id", lost.text
        async with site.engine.db.session() as s:
            contact = await s.get(CampaignContact, item["id"])
            attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.contact_id == item["id"])))
            listed = list(await s.scalars(select(DoNotCall).where(DoNotCall.number == item["number"])))
        assert contact is not None
        if skip.status_code == 200:
            assert (attempts, contact.attempts, contact.last_outcome) == ([], 0, "skipped")
            assert contact.state == {"not_now": "pending", "wrong_number": "failed", "do_not_call": "dnc"}[reason]
        else:
            assert ([a.outcome for a in attempts], contact.attempts, contact.state) == ([None], 1, "dialing")
            assert contact.last_outcome is None and listed == []


async def test_a_dial_the_agents_phone_does_not_answer_is_a_409_not_a_500(site: Site, monkeypatch: Any) -> None:
    """The ACD refuses a click-to-dial whose agent phone did not answer with its own error, which
    only the desk turned into illegal_agent_action: a campaign contact's Dial (from the panel or
    the campaign's preview route) went around the desk and answered 500."""
    from cti.ami.control import OriginateResult

    async def unanswered(*args: Any, **kwargs: Any) -> OriginateResult:
        return OriginateResult(success=False, reason=3)  # Asterisk: no answer

    monkeypatch.setattr(site.engine.acd.control, "originate", unanswered)
    cid = await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 409, r.text
    assert r.json()["detail"]["code"] == "phone_no_answer" and "did not answer" in r.json()["detail"]["message"]
    contact = (await site.as_("agent1", "POST", f"/api/campaigns/{cid}/preview")).json()["contact"]
    r = await site.as_("agent1", "POST", f"/api/campaigns/{cid}/preview/{contact['contact_id']}/dial")
    assert r.status_code == 409, r.text
    assert r.json()["detail"]["code"] == "phone_no_answer", r.text
    # The customers were not called: no attempt is spent (one was, "failed", and after max_attempts
    # missed Dials the contact was failed without a call); each is pending and due again.
    async with site.engine.db.session() as s:
        for contact_id in (item["id"], contact["contact_id"]):
            row = await s.get(CampaignContact, contact_id)
            attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.contact_id == contact_id)))
            assert row is not None and (row.state, row.attempts, row.next_at, attempts) == ("pending", 0, None, [])


async def test_a_dial_that_never_reached_the_phone_system_spends_no_attempt(site: Site, monkeypatch: Any) -> None:
    """A Dial while AMI is not connected (this engine has no PBX): the Originate was never written and
    nobody was called. A 503 ami_unavailable, and the contact is pending and due again with its count
    as before (it was counted a ``failed`` attempt: two such Dials and this contact, max_attempts 2,
    was failed without ever being called). A Dial whose Originate was written before the connection
    dropped may have reached the customer: that one still counts, one attempt, followed as a Dial
    Asterisk never answered (tests/web/console/test_dial_unconfirmed.py), ``failed`` under the retry
    rule when no channel of it is seen (the grace is 0 here)."""
    from cti.errors import AmiUnavailable

    await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    for _ in range(2):
        item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
        r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
        assert r.status_code == 503 and r.json()["detail"]["code"] == "ami_unavailable", r.text
        async with site.engine.db.session() as s:
            row = await s.get(CampaignContact, item["id"])
            attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.contact_id == item["id"])))
        assert row is not None and (row.state, row.attempts, row.next_at, attempts) == ("pending", 0, None, [])
    again = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert (again["id"], again["attempts"]) == (item["id"], 0)  # the same contact, due at once

    async def lost(*args: Any, **kwargs: Any) -> Any:
        raise AmiUnavailable("AMI connection lost (closed by Asterisk)")  # after the Originate was written

    monkeypatch.setattr(site.engine.acd.control, "originate", lost)
    site.engine.acd.dial_readiness.grace_s = 0.0
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{again['id']}/dial")
    assert r.status_code == 503, r.text
    await until(lambda: not site.engine.dialer._tasks, what="the attempt settled")
    async with site.engine.db.session() as s:
        row = await s.get(CampaignContact, again["id"])
        attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.contact_id == again["id"])))
    assert row is not None and (row.attempts, row.last_outcome) == (1, "failed")
    assert [a.outcome for a in attempts] == ["failed"]


async def test_asterisk_refusing_a_contacts_dial_gives_the_agent_our_words(site: Site, monkeypatch: Any,
                                                                           caplog: Any) -> None:
    """Asterisk refusing the Originate of a campaign contact's Dial reached the agent as its own
    Message text (502 ami_action_failed): the agent gets our 409 naming what was refused, the
    engine's log keeps Asterisk's words. The refusal is one ``failed`` attempt, as in the automatic
    dialer (docs/outbound.md): a contact Asterisk refuses every time is used up by max_attempts."""
    from cti.errors import AmiActionFailed

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise AmiActionFailed("Originate: Extension does not exist")

    monkeypatch.setattr(site.engine.acd.control, "originate", refused)
    await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    with caplog.at_level(logging.WARNING):
        r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "illegal_agent_action" and "Extension does not exist" not in detail["message"], detail
    assert "could not dial the contact: the phone system refused it" in detail["message"], detail
    assert "Originate: Extension does not exist" in caplog.text
    assert await _attempts_of(site, item["id"]) == (1, "failed", ["failed"])


async def _attempts_of(site: Site, contact_id: int) -> tuple[int, str | None, list[str | None]]:
    async with site.engine.db.session() as s:
        row = await s.get(CampaignContact, contact_id)
        attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.contact_id == contact_id)))
    assert row is not None
    return row.attempts, row.last_outcome, [a.outcome for a in attempts]


async def test_an_originate_refused_or_never_answered_is_one_failed_attempt(site: Site, monkeypatch: Any) -> None:
    """What the AMI adapter hands back (cti.ami.control): Asterisk's Response: Error (no channel made)
    and the engine's own timeout on an Originate it wrote (Asterisk said nothing within the ring time
    and 15 s: the agent's phone, then the customer's, may have rung) both came back as an unsuccessful
    result with a message, which the ACD called "the phone did not answer": no attempt, the contact
    due again at once. Each is now one ``failed`` attempt under the retry rule (the timed-out one once
    no call of it was seen: tests/web/console/test_dial_unconfirmed.py); a phone that rang out
    (reason 3) is still no attempt."""
    from cti.ami.control import OriginateResult

    results = {"refused": OriginateResult(False, "Originate: Extension does not exist."),
               "timed out": OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True),
               "rang out": OriginateResult(False, 3)}
    result = results["refused"]

    async def originate(*args: Any, **kwargs: Any) -> OriginateResult:
        return result

    monkeypatch.setattr(site.engine.acd.control, "originate", originate)
    site.engine.acd.dial_readiness.grace_s = 0.0  # no late call comes of the timed-out one (no PBX here)
    await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    answers = {}
    for name in results:
        result = results[name]
        item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
        r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
        await until(lambda: not site.engine.dialer._tasks, what="the attempt settled")
        answers[name] = (r.status_code, r.json()["detail"]["code"], await _attempts_of(site, item["id"]))
        if name == "timed out":  # not "refused": Asterisk said nothing
            assert "the phone system did not answer in time" in r.json()["detail"]["message"], r.text
    assert answers == {"refused": (409, "illegal_agent_action", (1, "failed", ["failed"])),
                       "timed out": (409, "illegal_agent_action", (1, "failed", ["failed"])),
                       "rang out": (409, "phone_no_answer", (0, None, []))}, answers  # no fault: its own code


async def test_no_contact_is_dialled_while_the_agent_has_a_call(site: Site) -> None:
    """A campaign contact's Dial goes around the desk, whose Dial refuses an agent with a call: it
    rang the agent's phone during the call. Refused now (409), the contact still held for the agent
    and no attempt spent on it."""
    from acd.calls import LiveCall

    await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    site.engine.acd.calls["busy-1"] = LiveCall(linkedid="busy-1", caller_channel="PJSIP/trunk-1", caller_number="138",
                                               queue="support", status="talking", agent_id="1001",
                                               agent_channel="PJSIP/1001-1")
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 409, r.text
    assert "finish your current call" in r.json()["detail"]["message"]
    async with site.engine.db.session() as s:
        assert list(await s.scalars(select(CampaignAttempt))) == []
    again = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert again["id"] == item["id"]  # still held for this agent


async def test_an_agent_made_not_ready_for_a_dial_that_failed_is_ready_again(site: Site, monkeypatch: Any) -> None:
    """The Dial makes a ready agent not ready ("outbound": no queued call offered while their phone
    rings); a Dial that failed (their phone did not answer, Asterisk refused it, AMI lost or not
    connected) left them not ready, offered no call, until they noticed. They are ready
    again, as before the Dial; an agent not ready for their own reason before the Dial stays so."""
    from acd.model import AgentState
    from cti.ami.control import OriginateResult
    from cti.errors import AmiNotSent, AmiUnavailable

    # (One Asterisk never answered may have placed its call: tests/web/console/test_dial_unconfirmed.py.)
    outcomes: list[Any] = [OriginateResult(False, 3), OriginateResult(False, "Originate: Extension does not exist."),
                           AmiUnavailable("AMI connection lost (closed by Asterisk)"),
                           AmiNotSent("AMI is not connected (Originate not sent)")]
    current: list[Any] = [None]  # what the next Originate gives

    async def originate(*args: Any, **kwargs: Any) -> OriginateResult:
        if isinstance(current[0], Exception):
            raise current[0]
        return current[0]  # type: ignore[no-any-return]

    monkeypatch.setattr(site.engine.acd.control, "originate", originate)
    site.engine.acd.dial_readiness.grace_s = 0.0  # AMI lost with the Originate: no channel of it is seen
    r = await site.as_("sup1", "POST", "/api/campaigns", json=SPEC)
    cid = int(r.json()["id"])
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{cid}/contacts", json={"contacts": [
        {"number": f"1391234567{i}"} for i in range(len(outcomes) + 1)]})).status_code == 201
    assert (await site.as_("sup1", "POST", f"/api/campaigns/{cid}/start")).json()["state"] == "running"
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    acd = site.engine.acd
    states = []
    for outcome in outcomes:
        current[0] = outcome
        assert (await site.as_("agent1", "POST", "/api/agent/state", json={"state": "ready"})).status_code == 200
        item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
        assert item is not None
        r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
        assert r.status_code in (409, 503), r.text
        await until(lambda: not acd.dial_readiness.watching, what="the watch over the lost one")
        states.append(acd.agent_state("1001"))
    assert states == [AgentState.AVAILABLE] * len(outcomes)
    # Not ready for a break before the Dial: still on that break after it failed.
    assert (await site.as_("agent1", "POST", "/api/agent/state",
                           json={"state": "not_ready", "reason": "break"})).status_code == 200
    current[0] = OriginateResult(False, "Originate: Extension does not exist.")
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 409, r.text
    assert (acd.agent_state("1001"), acd.agent("1001").reason) == (AgentState.NOT_READY, "break")


async def test_a_ready_agent_whose_own_click_to_dial_failed_is_ready_again(site: Site, monkeypatch: Any) -> None:
    """The console's click-to-dial (also the panel's Dial of a callback) makes a ready agent not ready
    "outbound" the same way, and left them so when the dial failed."""
    from acd.model import AgentState
    from cti.ami.control import OriginateResult

    async def refused(*args: Any, **kwargs: Any) -> OriginateResult:
        return OriginateResult(False, "Originate: Extension does not exist.")

    monkeypatch.setattr(site.engine.acd.control, "originate", refused)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    assert (await site.as_("agent1", "POST", "/api/agent/state", json={"state": "ready"})).status_code == 200
    r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
    assert r.status_code == 409, r.text
    assert site.engine.acd.agent_state("1001") is AgentState.AVAILABLE
    cb = await site.add(number="13800138001")
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    assert item["id"] == cb
    r = await site.as_("agent1", "POST", f"/api/preview/callback/{cb}/dial")
    assert r.status_code == 409, r.text
    assert site.engine.acd.agent_state("1001") is AgentState.AVAILABLE


async def test_a_failed_dial_that_counts_is_one_ended_outbound_interaction(site: Site, monkeypatch: Any) -> None:
    """A contact's Dial Asterisk refused is one attempt, and every attempt is one interaction
    (docs/outbound.md, CRM). The ACD publishes a click-to-dial's call only once the agent's phone
    answered, so the call log knew this attempt only by its CampaignAttemptEnded: an inbound
    interaction, with no number, never ended. It is the outbound call to the contact, placed by the
    agent, ended, ``failed``."""
    from cti.ami.control import OriginateResult

    async def refused(*args: Any, **kwargs: Any) -> OriginateResult:
        return OriginateResult(False, "Originate: Extension does not exist.")

    monkeypatch.setattr(site.engine.acd.control, "originate", refused)
    seen: list[Event] = []  # the engine is not started here: what the call log would fold, as published
    site.engine.bus.observe(JOURNEY_EVENTS, seen.append, name="test.journey")  # type: ignore[attr-defined]
    await _campaign(site)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    item = (await site.as_("agent1", "POST", "/api/preview/next")).json()["item"]
    r = await site.as_("agent1", "POST", f"/api/preview/campaign/{item['id']}/dial")
    assert r.status_code == 409, r.text
    calls = {e.call_id for e in seen}
    assert len(calls) == 1, seen
    f = fold(calls.pop() or "", seen).fields
    assert (f["direction"], f["dialled_number"], f["agent_id"], f["outcome"], f["status"], f["campaign_contact_id"]) \
        == ("outbound", "8613912345678", "1001", "failed", "complete", item["id"])
    assert f["ended_at"] is not None


async def test_an_agent_whose_dial_from_wrap_up_failed_is_where_the_wrap_up_would_have_left_them(
        site: Site, monkeypatch: Any) -> None:
    """A Dial from wrap-up ends the wrap-up: not ready "outbound" (no queued call offered while the
    phone rings), or not ready for the reason the agent chose for after the call. A Dial that failed
    left them not ready "outbound", offered no call, until they noticed. No call came of it, so they
    are where the wrap-up would have left them: ready, or not ready for the reason they chose."""
    from acd.model import AgentState
    from cti.ami.control import OriginateResult

    async def refused(*args: Any, **kwargs: Any) -> OriginateResult:
        return OriginateResult(False, "Originate: Extension does not exist.")

    monkeypatch.setattr(site.engine.acd.control, "originate", refused)
    acd = site.engine.acd
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})

    async def wrapping_up(call_id: str) -> None:
        # A call answered and ended, straight through the router (the engine is not started: no PBX).
        assert (await site.as_("agent1", "POST", "/api/agent/state", json={"state": "ready"})).status_code == 200
        acd.router.enqueue(call_id, "support", acd.clock())
        acd.router.offer_answered(call_id, "1001", acd.clock())
        acd.router.call_ended(call_id, acd.clock())
        assert acd.agent_state("1001") is AgentState.WRAP_UP

    await wrapping_up("wrap.1")
    r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
    assert r.status_code == 409, r.text
    assert acd.agent_state("1001") is AgentState.AVAILABLE
    # Not ready "break" asked for after the call: the Dial made them so, and they stay so.
    await wrapping_up("wrap.2")
    acd.router.not_ready_after_call("1001", acd.clock(), "break")
    r = await site.as_("agent1", "POST", "/api/calls/dial", json={"number": "13912345678"})
    assert r.status_code == 409, r.text
    assert (acd.agent_state("1001"), acd.agent("1001").reason) == (AgentState.NOT_READY, "break")
