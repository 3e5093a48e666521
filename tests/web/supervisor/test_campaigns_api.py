"""Outbound campaigns over REST on a real (unstarted) Engine: create, upload contacts (CSV errors name
the line and field, nothing half-written), the do-not-call list, the state machine's commands and
the progress; agents are refused; the page is served."""

from __future__ import annotations

import asyncio

from tests.web.supervisor.conftest import Site, login

SPEC = {"name": "spring", "queue": "sales", "mode": "predictive", "timezone": "Asia/Shanghai",
        "caller_id": "010 5888 0002", "script": "Offer the spring plan", "drop_cap": 0.02}


async def test_a_supervisor_runs_a_campaign_over_rest(site: Site) -> None:
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.post("/api/campaigns", json=SPEC)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert (r.json()["caller_id"], r.json()["state"], r.json()["mode"]) == ("+861058880002", "draft", "predictive")
        bad = await c.post("/api/campaigns", json={**SPEC, "name": "other", "timezone": "Mars/Base"})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "timezone"
        assert (await c.post("/api/campaigns", json=SPEC)).status_code == 409  # the name is taken

        csv_bad = "number,name,plan\n13912345678,Li,gold\nnot-a-number,Bad,\n13800138000,Wang,silver\n"
        r = await c.post(f"/api/campaigns/{cid}/contacts.csv", content=csv_bad, headers={"Content-Type": "text/csv"})
        assert r.status_code == 422
        assert r.json()["detail"]["errors"] == [
            {"row": 3, "field": "number", "message": "'not-a-number' is not a phone number (region CN)"}]
        csv_good = "number,name,plan\n13912345678,Li,gold\n+1 212 555 0100,Ann,\n13800138000,Wang,silver\n"
        r = await c.post(f"/api/campaigns/{cid}/contacts.csv", content=csv_good, headers={"Content-Type": "text/csv"})
        assert r.status_code == 201 and r.json() == {"added": 3, "duplicates": 0}, r.text
        r = await c.post(f"/api/campaigns/{cid}/contacts", json={"contacts": [{"number": "13900000001"},
                                                                              {"number": "139 1234 5678"}]})
        assert r.json() == {"added": 1, "duplicates": 1}
        r = await c.post(f"/api/campaigns/{cid}/contacts.csv", content="phone\n1\n",
                         headers={"Content-Type": "text/csv"})
        assert r.status_code == 422 and r.json()["detail"]["field"] == "contacts"
        assert (await c.post(f"/api/campaigns/{cid}/dnc", json={"number": "13800138000"})).json() == {
            "number": "+8613800138000", "campaign_id": cid}
        assert (await c.post("/api/campaigns/dnc", json={"number": "oops"})).status_code == 422

        assert (await c.post(f"/api/campaigns/{cid}/pause")).status_code == 409
        for command, state in (("start", "running"), ("pause", "paused"), ("resume", "running"), ("stop", "stopped")):
            r = await c.post(f"/api/campaigns/{cid}/{command}")
            assert r.status_code == 200 and r.json() == {"id": cid, "state": state}, r.text
        assert (await c.post(f"/api/campaigns/{cid}/resume")).json()["detail"]["code"] == "illegal_campaign_step"

        r = await c.get(f"/api/campaigns/{cid}")
        body = r.json()
        assert (body["total"], body["contacts"], body["attempts"], body["drop_cap"]) == (4, {"pending": 4}, 0, 0.02)
        assert [x["name"] for x in (await c.get("/api/campaigns")).json()] == ["spring"]
        page = await c.get("/campaigns")
        assert page.status_code == 200 and "campaigns.js" in page.text

    async with site.client() as a:
        await login(a, "agent1", "agent1-demo")
        assert (await a.get("/api/campaigns")).status_code == 403
        assert (await a.post("/api/campaigns", json={**SPEC, "name": "mine"})).status_code == 403


async def test_a_pause_and_a_stop_at_once_never_both_succeed(site: Site) -> None:
    """Two supervisors act on one running campaign at the same moment: one change wins and the other
    is refused (409), so an acknowledged stop is never undone by a pause read before it."""
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        for n in range(6):
            cid = (await c.post("/api/campaigns", json={**SPEC, "name": f"race-{n}"})).json()["id"]
            await c.post(f"/api/campaigns/{cid}/contacts", json={"contacts": [{"number": "13912345678"}]})
            assert (await c.post(f"/api/campaigns/{cid}/start")).json()["state"] == "running"
            stop, pause = await asyncio.gather(c.post(f"/api/campaigns/{cid}/stop"),
                                               c.post(f"/api/campaigns/{cid}/pause"))
            final = (await c.get(f"/api/campaigns/{cid}")).json()["state"]
            # Stop is allowed from running and from paused: whatever the order, it was answered 200
            # and the campaign stays stopped; the pause either came first or is refused.
            assert (stop.status_code, final) == (200, "stopped"), (stop.text, pause.text, final)
            assert pause.status_code in (200, 409), pause.text


async def test_a_csv_not_in_utf8_or_empty_is_a_422_naming_contacts(site: Site) -> None:
    """Excel's plain "CSV" is saved in the machine's code page (GBK on a Chinese Windows)."""
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        cid = (await c.post("/api/campaigns", json=SPEC)).json()["id"]
        url, csv_type = f"/api/campaigns/{cid}/contacts.csv", {"Content-Type": "text/csv"}
        r = await c.post(url, content="number,name\n13912345678,李伟\n".encode("gbk"), headers=csv_type)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "contacts", r.text
        assert "UTF-8" in r.json()["detail"]["message"] and "line 2" in r.json()["detail"]["message"]
        r = await c.post(url, content=b"", headers=csv_type)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "contacts", r.text
        r = await c.post(url, content="\ufeffnumber,name\n13912345678,李伟\n".encode(), headers=csv_type)
        assert r.status_code == 201 and r.json()["added"] == 1, r.text


async def test_the_same_list_uploaded_twice_at_once_is_added_once(site: Site) -> None:
    """A double click on Upload: both uploads are answered 201; the second finds the first's numbers
    duplicates (it was a 500 when both read the campaign's numbers before either wrote)."""
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        cid = (await c.post("/api/campaigns", json=SPEC)).json()["id"]
        body = "number\n" + "".join(f"1391{n:07d}\n" for n in range(2000))
        for _ in range(3):
            answers = await asyncio.gather(*[c.post(f"/api/campaigns/{cid}/contacts.csv", content=body,
                                                    headers={"Content-Type": "text/csv"}) for _ in range(2)])
            assert [r.status_code for r in answers] == [201, 201], [r.text[:200] for r in answers]
            assert all(r.json()["added"] + r.json()["duplicates"] == 2000 for r in answers)
        assert sum(r.json()["added"] for r in answers) == 0
        assert (await c.get(f"/api/campaigns/{cid}")).json()["contacts"] == {"pending": 2000}


async def test_a_campaign_that_could_never_dial_is_refused_naming_the_field(site: Site) -> None:
    """A queue name with a typo, or no calling window: such a campaign started, ran, and never dialled."""
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        for body, field in (({**SPEC, "queue": "salse"}, "queue"), ({**SPEC, "windows": []}, "windows")):
            r = await c.post("/api/campaigns", json=body)
            assert r.status_code == 422 and r.json()["detail"]["field"] == field, r.text
        assert (await c.get("/api/campaigns")).json() == []


async def test_a_campaign_presents_only_a_caller_id_the_trunks_own(site: Site) -> None:
    """Any caller ID was accepted and presented to the called party (caller-ID spoofing): now it must be
    one of trunks[].caller_ids in config/trunks.yaml (the demo's sim trunk lists the demo numbers),
    or empty for the default; the form's options list exactly those, for supervisors only."""
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        for n, spoofed in enumerate(["+8613912345678", "110", "+861058880002\r\nAction: Originate"]):
            r = await c.post("/api/campaigns", json={**SPEC, "name": f"spoof-{n}", "caller_id": spoofed})
            assert r.status_code == 422, r.text
            assert r.json()["detail"]["field"] == "caller_id", r.text
        r = await c.post("/api/campaigns", json={**SPEC, "name": "spoof-0", "caller_id": "+8613912345678"})
        message = r.json()["detail"]["message"]
        assert "trunks[].caller_ids in config/trunks.yaml" in message and "+861058880002" in message, message
        assert [x["name"] for x in (await c.get("/api/campaigns")).json()] == []  # nothing half-created
        r = await c.post("/api/campaigns", json={**SPEC, "name": "plain", "caller_id": None})
        assert r.status_code == 201 and r.json()["caller_id"] is None, r.text
        r = await c.post("/api/campaigns", json={**SPEC, "name": "owned", "caller_id": "010-5888-0001"})
        assert r.status_code == 201 and r.json()["caller_id"] == "+861058880001", r.text
        options = (await c.get("/api/campaigns/options")).json()
        assert options["caller_ids"] == ["+861058880000", "+861058880001", "+861058880002"]
        assert "sales" in options["queues"] and options["modes"] == ["preview", "progressive", "predictive"]
    async with site.client() as m:
        await login(m, "mgr1", "mgr1-demo-1")
        assert (await m.get("/api/campaigns/options")).status_code == 403
        assert (await m.post("/api/campaigns", json={**SPEC, "name": "mgr"})).status_code == 403


async def test_the_csv_uploads_schema_documents_its_columns(site: Site) -> None:
    """The contacts.csv request body was a bare text/csv string in the OpenAPI: an integrator had
    to find the columns in outbound.md. Its description names them, and an example shows a file."""
    async with site.client() as c:
        spec = (await c.get("/openapi.json")).json()
    op = spec["paths"]["/api/campaigns/{campaign_id}/contacts.csv"]["post"]
    body = op["requestBody"]
    media = body["content"]["text/csv"]
    text = body.get("description", "") + media["schema"].get("description", "")
    for column in ("`number`", "`name`", "`timezone`", "`customer_id`"):
        assert column in text, (column, text)
    assert "required" in text and "UTF-8" in text and "line 1" in text, text
    example = media.get("example") or media["schema"].get("example")
    assert isinstance(example, str) and example.splitlines()[0].startswith("number,"), example
    from crm_core.campaign_rules import parse_csv

    assert [row["number"] for _, row in parse_csv(example)] == ["+8613912345678", "13800138000"]  # a file it takes
