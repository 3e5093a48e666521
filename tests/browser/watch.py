"""What the browser tier watches on every page it opens: script errors and console errors, and among
these every resource the browser failed to load (Chromium logs each one, HTTP status or network
error, as "Failed to load resource"), from the test's start to the end of its body (not while the
fixtures come down: a server stopped before the browser refuses its last requests). Any of them
fails the test, except:

- a failed load the test provokes on purpose, named on the test with
  ``@pytest.mark.expected_failed_load(status, path)`` (one marker per kind of load: the HTTP status,
  or Chromium's network error such as ``"net::ERR_CONNECTION_REFUSED"``, and the URL's exact path).
  An allowance the page never used fails the test too, as it would otherwise outlive the reason for
  it; ``always=False`` says the test may end before the page makes that request (one it makes on
  its own, not one the test provokes);
- other console errors a test expects, matched as substrings (the ``expected_page_errors``
  fixture); these never cover a failed load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage

FAILED_LOAD = "Failed to load resource"
MARKER = "expected_failed_load"
# "Failed to load resource: the server responded with a status of 404 (Not Found)" or
# "Failed to load resource: net::ERR_CONNECTION_REFUSED"
_STATUS = re.compile(r"status of (\d{3})|(net::ERR_[A-Z_]+)")


@dataclass(frozen=True)
class FailedLoad:
    status: int | str  # the HTTP status, or Chromium's net::ERR_... name
    path: str
    always: bool = field(default=True, compare=False)  # for an expected one: must it be seen

    def __str__(self) -> str:
        return f"{self.status} {self.path}"


def expected_failed_loads(node: pytest.Item) -> list[FailedLoad]:
    """The loads a test names with ``@pytest.mark.expected_failed_load(status, path)``."""
    out = []
    for mark in node.iter_markers(MARKER):
        status, path = mark.args
        if not isinstance(status, int | str) or not isinstance(path, str) or not path.startswith("/") \
                or set(mark.kwargs) - {"always"}:
            raise pytest.UsageError(f"{node.nodeid}: {MARKER}(status, '/path', always=True) takes a status "
                                    f"and a URL path")
        out.append(FailedLoad(status, path, bool(mark.kwargs.get("always", True))))
    return out


@dataclass
class PageWatch:
    """Collects the errors of every page of one browser context (pages the test opens later too)."""

    expected_errors: tuple[str, ...] = ()
    expected_loads: list[FailedLoad] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    loads: list[FailedLoad] = field(default_factory=list)
    closed: bool = False  # the test's body ended: what comes after is the fixtures' teardown

    def attach(self, ctx: BrowserContext) -> None:
        ctx.on("console", self._console)
        ctx.on("weberror", lambda e: None if self.closed else self.errors.append(f"script error: {e.error}"))

    def _console(self, m: ConsoleMessage) -> None:
        if m.type != "error" or self.closed:
            return
        if not m.text.startswith(FAILED_LOAD):
            if not any(x in m.text for x in self.expected_errors):
                self.errors.append(m.text)
            return
        found = _STATUS.search(m.text)
        status: int | str = m.text if found is None else int(found[1]) if found[1] else found[2]
        self.loads.append(FailedLoad(status, urlsplit(m.location.get("url", "")).path))

    def check(self) -> None:
        """Fails the test on any error or failed load it did not name, and on any named one unseen."""
        unexpected = [str(x) for x in self.loads if x not in self.expected_loads]
        unused = [str(x) for x in self.expected_loads if x.always and x not in self.loads]
        problems = []
        if self.errors:
            problems.append(f"errors in the page: {self.errors}")
        if unexpected:
            problems.append(f"failed loads the test did not expect (@pytest.mark.{MARKER}): {unexpected}")
        if unused:
            problems.append(f"expected failed loads that never happened (stale {MARKER}): {unused}")
        assert not problems, "; ".join(problems)


def watch(ctx: BrowserContext, request: pytest.FixtureRequest, expected_errors: tuple[str, ...] = ()) -> PageWatch:
    """A watch on ``ctx`` for the test of ``request``, with the failed loads its markers name."""
    w = PageWatch(expected_errors, expected_failed_loads(request.node))
    w.attach(ctx)
    request.node.stash.setdefault(_WATCHES, []).append(w)
    return w


_WATCHES = pytest.StashKey[list[PageWatch]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Closes the test's watches when its body ends (a conftest that uses them imports this hook)."""
    try:
        return (yield)
    finally:
        for w in item.stash.get(_WATCHES, []):
            w.closed = True

