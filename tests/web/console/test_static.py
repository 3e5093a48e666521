"""The SPA as served: pages, security headers, and complete translations."""

from __future__ import annotations

import json
import re
from typing import get_args

from acd.calls import CallStatus
from agent_console.errors import ConsoleError
from crm_core.seed import DISPOSITIONS
from tests.web.console.conftest import Console


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


async def _dicts(console: Console) -> dict[str, dict[str, str]]:
    js = (await console.http.get("/static/i18n.js")).text
    body = js[js.index("{"): js.rindex("}") + 1]
    return dict(json.loads(body))


async def test_index_and_assets_are_served_with_a_strict_csp(console: Console) -> None:
    r = await console.http.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
        assert (await console.http.get(ref)).status_code == 200, ref
    assert "http://" not in r.text and "https://" not in r.text  # nothing fetched from outside
    assert "<script>" not in r.text and "style=" not in r.text  # nothing inline (CSP)


async def test_the_pages_have_an_icon_and_favicon_ico_is_served(console: Console) -> None:
    """A browser asks for /favicon.ico where a page names no icon (a JSON answer, the API docs)."""
    html = (await console.http.get("/")).text
    assert '<link rel="icon" href="/static/favicon.svg"' in html
    for path in ("/favicon.ico", "/static/favicon.svg"):
        r = await console.http.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml"), path
        assert r.text.startswith("<svg")


async def test_every_label_is_translated_into_chinese(console: Console) -> None:
    dicts = await _dicts(console)
    en, zh = dicts["en"], dicts["zh-CN"]
    assert set(en) == set(zh), set(en) ^ set(zh)
    html = (await console.http.get("/")).text
    used = set(re.findall(r'data-i18n(?:-placeholder)?="([^"]+)"', html))
    js = (await console.http.get("/static/console.js")).text + (await console.http.get("/static/preview.js")).text
    # console.js is the entry of its modules (static/console/*.js): their strings are the console's too.
    modules = sorted(set(re.findall(r'from "\./console/([a-z_]+\.js)"', js)))
    assert "call_panel.js" in modules and "wrap_up.js" in modules, modules
    for name in modules:
        r = await console.http.get(f"/static/console/{name}")
        assert r.status_code == 200, name
        js += r.text
    used |= set(re.findall(r'\bt\("([a-z_.]+)"', js))
    assert used - set(en) == set()
    # Codes the server sends are translated too (reasons, dispositions, states, call statuses).
    for prefix, codes in (("reason", ["break", "lunch", "meeting", "training", "after_call_work", "no_microphone"]),
                          ("disp", [code for code, *_ in DISPOSITIONS] + ["sale", "complaint"]),  # seed, demo
                          ("state", ["logged_out", "available", "reserved", "on_call", "wrap_up", "not_ready"]),
                          # every status an agent's call can show (queued and gone never reach a console)
                          ("status", sorted(set(get_args(CallStatus)) - {"queued", "gone"}))):
        for code in codes:
            assert f"{prefix}.{code}" in zh, f"{prefix}.{code}"
    # Every refusal the console's server sends by code has its string (console.js shows it in the
    # page's language; an unknown code would show the server's English).
    refusals = {cls.code for cls in _subclasses(ConsoleError)} | {"invalid_field", "rate_limited", "internal",
                                                                   "ami_unavailable", "ami_action_failed"}
    assert {f"err.code.{c}" for c in refusals} - set(zh) == set()
    for code, label, label_zh, *_ in DISPOSITIONS:  # the seeded catalog's own words
        assert (en[f"disp.{code}"], zh[f"disp.{code}"]) == (label, label_zh)
