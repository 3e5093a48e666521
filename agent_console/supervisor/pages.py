"""The supervisor pages: one shared head and top bar, each page's own part in ``static/<page>.html``.

A page file holds what is its own: its scripts in ``<head>`` after ``<!-- supervisor:head -->`` (where
the shared meta, style sheets and common scripts go), ``<body data-title="<i18n key>">`` (the bar's
title), and ``<!-- supervisor:bar -->`` where the top bar goes. Items the page adds to the bar (the
wallboard's phone and connection status) sit between ``<!-- supervisor:bar -->`` and
``<!-- /supervisor:bar -->``, before the user's name. The bar links every page and marks the one
shown (``aria-current="page"``); the browser takes out the administrators' pages for other roles.
Pages are rendered once, when the app is built: a page file without
its markers stops the start-up instead of serving a page without a bar.
"""

from __future__ import annotations

import re
from html import escape

# (route, i18n key, English label): the order of the links in every page's bar.
NAV: tuple[tuple[str, str, str], ...] = (
    ("/", "nav.console", "Console"),
    ("/wallboard", "nav.wallboard", "Wallboard"),
    ("/callbacks", "nav.callbacks", "Callbacks"),
    ("/campaigns", "nav.campaigns", "Campaigns"),
    ("/reports", "nav.reports", "Reports"),
    ("/staffing", "nav.staffing", "Staffing"),
    ("/users", "nav.users", "Users"),
    ("/integrations", "nav.integrations", "Integrations"),
)

HEAD = """<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CTI</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/console.css">
<link rel="stylesheet" href="/static/supervisor.css">
<script src="/static/supervisor-i18n.js" defer></script>
<script src="/static/session.js" defer></script>
<script src="/static/supervisor-common.js" defer></script>"""

_HEAD_MARK = "<!-- supervisor:head -->"
_BAR = re.compile(r"<!-- supervisor:bar -->(?:(.*?)<!-- /supervisor:bar -->)?", re.S)
_TITLE = re.compile(r'<body data-title="([A-Za-z0-9_.]+)"')


def _bar(route: str, title_key: str, extras: str) -> str:
    current = ' aria-current="page"'
    links = "\n".join(f'    <a href="{href}"{current if href == route else ""} data-i18n="{key}">{escape(label)}</a>'
                      for href, key, label in NAV)
    extra = f"\n  {extras.strip()}" if extras.strip() else ""
    return f"""<header class="sbar">
  <div class="brand"><span class="logo" aria-hidden="true">☎</span> <span data-i18n="{title_key}"></span></div>
  <nav class="snav">
{links}
  </nav>
  <span class="grow"></span>{extra}
  <span id="tz-note" class="swho muted small"></span>
  <span id="who-name" class="swho"></span>
  <button type="button" class="btn ghost lang-toggle" data-i18n="lang.other">中文</button>
  <button type="button" id="btn-logout" class="btn ghost" data-i18n="nav.logout">Log out</button>
</header>"""


def render_page(source: str, route: str, *, name: str = "page") -> str:
    """The served HTML of one supervisor page; ``ValueError`` naming the page when a marker is missing."""
    title = _TITLE.search(source)
    if source.count(_HEAD_MARK) != 1 or title is None:
        raise ValueError(f"supervisor page {name}: needs one {_HEAD_MARK} in <head> and <body data-title=...>")
    bars = list(_BAR.finditer(source))
    if len(bars) != 1:
        raise ValueError(f"supervisor page {name}: needs one <!-- supervisor:bar --> where the top bar goes")
    bar = bars[0]
    html = source[:bar.start()] + _bar(route, title.group(1), bar.group(1) or "") + source[bar.end():]
    return html.replace(_HEAD_MARK, HEAD)
