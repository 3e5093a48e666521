"""The /callbacks page is served like the other supervisor pages: the HTML for anyone (it asks
/api/me and shows "supervisors only" to agents), its data only to supervisors and administrators."""

from __future__ import annotations

from tests.web.supervisor.conftest import Site, login


async def test_the_callback_page_is_served_and_its_data_needs_a_supervisor(site: Site) -> None:
    async with site.client() as anon:
        r = await anon.get("/callbacks")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert '<script src="/static/callbacks.js" defer></script>' in r.text
        assert (await anon.get("/static/callbacks.js")).status_code == 200
        assert (await anon.get("/api/supervisor/callbacks")).status_code == 401
    async with site.client() as agent:
        await login(agent, "agent1", "agent1-demo")
        r = await agent.get("/api/supervisor/callbacks", params={"state": "open", "format": "csv"})
        assert r.status_code == 403 and r.json()["detail"]["code"] == "forbidden"
    async with site.client() as sup:
        await login(sup, "sup1", "sup1-demo-1")
        assert (await sup.get("/api/supervisor/callbacks", params={"state": "open"})).status_code == 200
        for page in ("/wallboard", "/callbacks", "/reports", "/staffing"):  # every page links the others
            html = (await sup.get(page)).text
            assert all(f'href="{p}"' in html for p in ("/wallboard", "/callbacks", "/reports", "/staffing")), page
