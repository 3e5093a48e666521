"""The console demo on fakes answers what its page asks on every call: the softphone's kind (its
calls are simulated: ``sim``) and the live call's recording state (it records nothing: ``off``).
It served neither, and each 404 landed in the browser's console (found by the browser tier's watch
on failed loads, tests/browser/watch.py)."""

from __future__ import annotations

from tests.web.console.conftest import Console, recv


async def test_an_agent_of_the_demo_has_a_simulated_phone_and_staff_none(console: Console) -> None:
    alice = console.auth(await console.login("alice"))
    me = (await console.http.get("/api/me", headers=alice)).json()
    assert me["phone"] is True
    r = await console.http.get("/api/phone/credentials", headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "sim" and r.json()["password"] == ""  # nothing to register
    sue = console.auth(await console.login("sue"))
    assert (await console.http.get("/api/me", headers=sue)).json()["phone"] is False  # the page asks nothing
    console.http.cookies.clear()  # from here on, each request authenticates with its header only
    assert (await console.http.get("/api/phone/credentials", headers=sue)).status_code == 403
    assert (await console.http.get("/api/phone/credentials")).status_code == 401


async def test_a_demo_call_is_not_recorded_and_says_so(console: Console) -> None:
    alice = console.auth(await console.login("alice"))
    console.http.cookies.clear()
    desk = console.demo.desk
    await desk.login_queues("a1001", ["support"])
    await desk.set_ready("a1001")
    call_id = await desk.offer_call("a1001", caller_number="+8613800138000")
    r = await console.http.get(f"/api/calls/{call_id}/recording", headers=alice)
    assert r.status_code == 200, r.text
    assert r.json() == {"linkedid": call_id, "state": "off"}
    assert (await console.http.get(f"/api/calls/{call_id}/recording")).status_code == 401
    # Nothing to pause or start: the demo has no recorder.
    assert (await console.http.post(f"/api/calls/{call_id}/recording/pause", headers=alice)).status_code == 404


async def test_an_agent_edits_a_customer_of_the_demo(console: Console) -> None:
    """The console's Edit on the customer card reads and patches /api/crm/customers/{id}: the demo
    served no such route (a 404 on every Edit), it serves the fake book's now, validated as the CRM's."""
    alice = console.auth(await console.login("alice"))
    console.http.cookies.clear()
    got = await console.http.get("/api/crm/customers/2", headers=alice)
    assert got.status_code == 200, got.text
    assert (got.json()["name"], got.json()["emails"], got.json()["phones"]) == (
        "Emma Clarke", ["emma@clarke.example"], [{"number": "+441632960123", "label": "mobile"}])
    bad = await console.http.patch("/api/crm/customers/2", headers=alice, json={"emails": ["emma-at-clarke"]})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "emails", bad.text
    refused = await console.http.patch("/api/crm/customers/2", headers=alice, json={"phones": []})
    assert refused.status_code == 403, refused.text  # the caller's identity: supervisors only
    ok = await console.http.patch("/api/crm/customers/2", headers=alice,
                                  json={"name": "Emma Clarke-Hill", "emails": ["e@ch.example"], "notes": "Moved."})
    assert ok.status_code == 200 and ok.json()["notes"] == "Moved.", ok.text
    card = (await console.http.get("/api/customers/2", headers=alice)).json()["customer"]
    assert (card["name"], card["email"]) == ("Emma Clarke-Hill", "e@ch.example")
    assert (await console.http.get("/api/crm/customers/99", headers=alice)).status_code == 404


async def test_a_customer_edited_mid_call_is_what_a_reload_and_other_consoles_show(console: Console) -> None:
    """The hub kept each call's pop as built at the offer: after an agent's Edit, a reload of the page
    mid-call (the hello) showed the card from before the edit, and so did another agent's console
    ringing with that customer. The CRM's change now reaches the stored pops of live calls with that
    customer, and each console showing one gets a ``pop`` frame with the new card."""
    alice_token, bob_token = await console.login("alice"), await console.login("bob")
    alice = console.auth(alice_token)
    console.http.cookies.clear()
    desk = console.demo.desk
    for agent in ("a1001", "a1002"):
        await desk.login_queues(agent, ["support"])
        await desk.set_ready(agent)
    ws_a, ws_b = await console.ws(alice_token), await console.ws(bob_token)
    await recv(ws_a, "hello")
    await recv(ws_b, "hello")
    talking = await desk.offer_call("a1001", caller_number="+441632960123", customer_id=2)
    assert (await recv(ws_a, "offer"))["offer"]["pop"]["customer"]["name"] == "Emma Clarke"
    await desk.answer(talking)
    while (frame := await recv(ws_a, "call"))["call"]["status"] != "talking":
        pass
    assert frame["call"]["pop"]["customer"]["name"] == "Emma Clarke"
    ringing = await desk.offer_call("a1002", caller_number="+441632960123", customer_id=2)
    assert (await recv(ws_b, "offer"))["offer"]["pop"]["customer"]["name"] == "Emma Clarke"

    ok = await console.http.patch("/api/crm/customers/2", headers=alice,
                                  json={"name": "Emma Clarke-Hill", "emails": ["e@ch.example"], "tags": ["vip"]})
    assert ok.status_code == 200, ok.text
    for ws, call_id in ((ws_a, talking), (ws_b, ringing)):
        pop = await recv(ws, "pop")
        assert pop["call_id"] == call_id
        card = pop["pop"]["customer"]
        assert (card["name"], card["email"], card["tags"]) == ("Emma Clarke-Hill", "e@ch.example", ["vip"])
        assert pop["pop"]["interactions"], pop  # the rest of the pop as it was
    # A reload mid-call: the new page's hello.
    hello = await recv(await console.ws(alice_token), "hello")
    assert [c["pop"]["customer"]["name"] for c in hello["calls"]] == ["Emma Clarke-Hill"]
    hello = await recv(await console.ws(bob_token), "hello")
    assert hello["offer"]["pop"]["customer"]["name"] == "Emma Clarke-Hill"
