"""The console demo on fakes answers what its page asks on every call: the softphone's kind (its
calls are simulated: ``sim``) and the live call's recording state (it records nothing: ``off``).
It served neither, and each 404 landed in the browser's console (found by the browser tier's watch
on failed loads, tests/browser/watch.py)."""

from __future__ import annotations

from tests.web.console.conftest import Console


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
