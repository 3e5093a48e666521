"""Every supervisor page is served with the one shared head and top bar (agent_console.supervisor.pages):
each links all seven pages, marks its own, and keeps its own scripts and bar items."""

from __future__ import annotations

import re

import pytest

from agent_console.supervisor.install import PAGES
from agent_console.supervisor.pages import NAV, render_page
from tests.web.supervisor.conftest import Site


async def test_every_page_has_the_shared_head_and_a_bar_linking_all_pages(site: Site) -> None:
    async with site.client() as anon:
        for route, file in PAGES.items():
            r = await anon.get(route)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), route
            html = r.text
            assert "supervisor:" not in html, route  # every marker replaced
            assert html.count('<link rel="stylesheet" href="/static/supervisor.css">') == 1, route
            assert html.count('<header class="sbar">') == 1, route
            header = re.search(r'<header class="sbar">.*?</header>', html, re.S)
            assert header is not None
            assert [h for h, _, _ in NAV] == re.findall(r'<a href="([^"]+)"', header.group(0)), route
            assert re.findall(r'<a href="([^"]+)" aria-current="page"', html) == [route], route
            own_script = f'<script src="/static/{file.removesuffix(".html")}.js" defer></script>'
            assert own_script in html, route
        wallboard = (await anon.get("/wallboard")).text
        bar = re.search(r'<header class="sbar">.*?</header>', wallboard, re.S)
        assert bar is not None and 'id="conn"' in bar.group(0) and 'id="phone-status"' in bar.group(0)


def test_a_page_without_its_markers_is_refused_at_start_up() -> None:
    page = '<html><head><!-- supervisor:head --></head><body data-title="x.title"><!-- supervisor:bar --></body></html>'
    assert 'aria-current="page"' in render_page(page, "/users")
    with pytest.raises(ValueError, match=r"broken\.html.*supervisor:head"):
        render_page(page.replace("<!-- supervisor:head -->", ""), "/users", name="broken.html")
    with pytest.raises(ValueError, match="supervisor:bar"):
        render_page(page.replace("<!-- supervisor:bar -->", ""), "/users", name="broken.html")
