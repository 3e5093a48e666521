"""``cti run``: the PBX, the database (with the demo company when the demo runs), the engine, the
console and the demo, in one process, with a live summary in the terminal until Ctrl-C (without a
terminal and the demo, under a service manager: a summary line when the counts change, at most
once a minute).

Demo users have published passwords: they are created only when the demo is asked for
(``cti run --demo``, which ``make run`` uses); without it the first administrator comes from
``cti users create-admin``."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
import time
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from acd.config import demo_agents
from cti.endpoints import FIRST_EXTENSION, has_endpoint, last_extension
from cti.errors import ConfigError
from cti.logs import configure_logging
from cti.settings import Settings, WebSettings
from cti.tasks import cancel_all_and_wait, cancel_and_wait

if TYPE_CHECKING:
    from callcenter.engine import Engine

log = logging.getLogger(__name__)

def demo_logins(roster: Sequence[tuple[str, str]], bots: Collection[str]) -> list[tuple[str, str]]:
    """The demo's logins to print: the roster's agents (username, agent id) that no bot plays (the
    first of them in full), the supervisor, the manager and the administrator."""
    people = [username for username, agent_id in roster if agent_id not in bots]
    if people:
        more = f"; {people[1]}..{people[-1]} likewise" if len(people) > 2 else (
            f"; {people[1]} likewise" if len(people) == 2 else "")
        agent = f"{people[0]} / {people[0]}-demo  (yours to take calls{more})"
    else:
        agent = "none: every agent of the roster is a bot (lower --bots)"
    return [("agent", agent), ("supervisor", "sup1 / sup1-demo-1"), ("manager", "mgr1 / mgr1-demo-1"),
            ("administrator", "admin / admin-demo-1")]


def phoneless_users(users: Iterable[tuple[str, str, str | None, str | None, bool]], *,
                    agent_endpoints: int) -> list[tuple[str, str]]:
    """(username, phone) of the active users (username, role, agent id, extension, active) who need a
    phone that Asterisk is not given: an agent's phone (extension, else agent id), or a staff
    member's extension, outside 1001..1000 + ``agent_endpoints`` (``pbx.agent_endpoints``), the desk
    and browser endpoints ``cti pbx up`` writes."""
    missing = []
    for username, role, agent_id, extension, active in users:
        phone = extension or (agent_id if role == "agent" else None)
        if active and phone is not None and not has_endpoint(phone, agent_endpoints):
            missing.append((username, phone))
    return missing


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_warnings(web: WebSettings) -> list[str]:
    """Proxy settings under which ``X-Forwarded-For`` is never believed: every client is then the
    proxy's one address for the login throttle and the callback-request limits, and nothing says so."""
    why = ("X-Forwarded-For from it is never believed, so every client counts as one address for the login "
           "throttle and the callback-request limits (docs/deployment.md, \"TLS in front of the console\")")
    warnings = []
    if _loopback(web.host) and (far := [p for p in web.trusted_proxies if not _loopback(p)]):
        warnings.append(
            f"web.trusted_proxies lists {', '.join(far)}, but web.host {web.host} takes connections from this "
            "machine only, which come from loopback: a proxy on this machine is listed as 127.0.0.1; one on "
            f"another machine needs web.host set to an address it reaches. As it is, {why}")
    if web.public_url is not None and web.public_url.startswith("https://") and not web.trusted_proxies:
        warnings.append(
            f"web.public_url is {web.public_url} but web.trusted_proxies is empty: the engine serves plain HTTP, "
            "so a TLS proxy is in front; list the address it connects from (127.0.0.1 when it runs on this "
            f"machine). As it is, {why}")
    return warnings


async def prepare_database(settings: Settings, *, seed: bool) -> int:
    """Migrate, seed the demo company if ``seed`` (else refuse published demo logins), warn of users
    with no phone endpoint; returns how many active administrators there are."""
    from crm_core.db import Database, connect_problem
    from crm_core.errors import DatabaseUnavailable
    from crm_core.seed import published_logins, seed_demo
    from crm_core.users import list_users

    db = Database.from_settings(settings)
    try:
        print("database: applying migrations", flush=True)
        try:
            await db.upgrade()
        except (ConfigError, DatabaseUnavailable) as err:  # refused or away: `cti config check`'s line
            raise type(err)(connect_problem(db.url, err)) from None
        if seed:
            await seed_demo(db, progress=lambda msg: print(f"database: {msg}", flush=True),
                            config_dir=settings.config_dir)
        elif logins := await published_logins(db, config_dir=settings.config_dir):
            problem = (f"users {', '.join(logins)} of the demo still log in with the passwords the project "
                       "publishes (README): anyone could log in as them")
            if not settings.dev_mode:
                raise ConfigError(
                    f"refusing to start: {problem} (a demo database taken into production?).\nfix: `cti users "
                    "deactivate-demo` deactivates them (then `cti users create-admin <you>` if no administrator "
                    "is left), or start on a fresh database; on a development machine only, dev_mode: true "
                    "(CTI_DEV_MODE=1) accepts them with a warning")
            log.warning("DEVELOPMENT MODE (dev_mode / CTI_DEV_MODE): accepting published logins: %s. Never run a "
                        "reachable engine like this.", problem)
        async with db.session() as s:
            users = await list_users(session=s)
        # A 30-seat centre on the default 20 endpoints: agents 1021... were created without a word and
        # had no phone at all (their console's softphone a 503, no desk phone credentials).
        if missing := phoneless_users(((u.username, u.role, u.agent_id, u.extension, u.active) for u in users),
                                      agent_endpoints=settings.pbx.agent_endpoints):
            log.warning("users %s have no phone: Asterisk gets the endpoints %d..%d only (pbx.agent_endpoints "
                        "is %d); raise pbx.agent_endpoints (CTI_PBX__AGENT_ENDPOINTS) to cover every "
                        "extension, then `cti pbx up` (pbx.mode system: render and load pjsip.conf again)",
                        ", ".join(f"{n} ({p})" for n, p in missing), FIRST_EXTENSION,
                        last_extension(settings.pbx.agent_endpoints), settings.pbx.agent_endpoints)
        return sum(1 for u in users if u.role == "admin" and u.active)
    finally:
        await db.dispose()


class SummaryLine:
    """The live summary's text: on a terminal one line redrawn in place at every tick; elsewhere (a
    service manager's journal, a file) a line of its own, only when the counts changed and at most
    once every ``every_s``."""

    def __init__(self, *, tty: bool, every_s: float = 60.0) -> None:
        self.tty, self.every_s = tty, every_s
        self._last: str | None = None
        self._at = float("-inf")

    def render(self, now: float, counts: str) -> str | None:
        """What to print for ``counts`` at monotonic time ``now`` (None: nothing)."""
        if self.tty:
            return f"\r{time.strftime('%H:%M:%S')}  {counts}"
        if counts == self._last or now - self._at < self.every_s:
            return None
        self._last, self._at = counts, now
        return f"{time.strftime('%H:%M:%S')}  {counts}\n"


async def until_either(first: asyncio.Event, second: asyncio.Event, timeout_s: float) -> None:
    """Return when either event is set, or after ``timeout_s``."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_all_and_wait(waits)


async def _started(engine: Engine, stop: asyncio.Event) -> bool:
    """Start ``engine``; False when ``stop`` is set first (the start is then cancelled: a standby
    waiting for the routing lease, an Asterisk not reachable yet). A failed start raises."""
    starting = asyncio.create_task(engine.start(), name="engine-start")
    stopped = asyncio.create_task(stop.wait(), name="engine-start-stop")
    try:
        await asyncio.wait((starting, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(stopped)
    if not starting.done():
        await cancel_all_and_wait((starting,), failures="log")
        return False
    starting.result()
    return True


async def run(settings: Settings, *, demo: bool = True, callers_per_minute: float = 6.0,
              bot_agents: int = 6, summary_every_s: float = 2.0, duration_s: float | None = None) -> None:
    from callcenter.demo import Demo
    from callcenter.engine import Engine

    # Before anything logs: engine lines (AMI connected, resync, outbox replay, database back) on
    # stderr with timestamps, or JSON lines, at the configured levels (docs/observability.md).
    configure_logging(settings)
    for warning in proxy_warnings(settings.web) + settings.checkout_data_warnings():
        log.warning("%s", warning)
    admins = await prepare_database(settings, seed=demo)
    engine = Engine(settings, phone_kind="webrtc")  # people answer in the console's softphone
    # Ours before the engine starts: SIGTERM or Ctrl-C stops everything cleanly, a standby still
    # waiting for the routing lease included (Python's defaults would kill it, or cancel the run
    # and exit with 130).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        started = await _started(engine, stop)
    except BaseException:
        # A failed start (AMI not reachable, a port taken): what did start is closed again (the
        # bus, the call log's journal, the AMI client's reconnect loop, the database) before the
        # error is told.
        try:
            await engine.stop()
        except Exception:  # the start's own error is the one to tell; this one is logged beside it
            log.exception("engine: stopping after a failed start failed too")
        raise
    if not started:
        print("\nstopping...", flush=True)
        await engine.stop()
        print("stopped.", flush=True)
        return
    demo_run = Demo(engine, callers_per_minute=callers_per_minute, bot_agents=bot_agents) if demo else None
    if demo_run is not None:
        await demo_run.start()
    print(f"\nconsole:   {engine.url}/", flush=True)
    print(f"wallboard: {engine.url}/wallboard", flush=True)
    print(f"API docs:  {engine.url}/docs", flush=True)
    if demo_run is not None:
        roster = [(a.username, a.agent_id) for a in demo_agents(settings.config_dir)]
        for role, login in demo_logins(roster, demo_run.bots):
            print(f"  {role:<14} {login}", flush=True)
    elif not admins:
        print("  no administrator yet: create one with `cti users create-admin <username>`", flush=True)
    if demo_run is not None:
        print(f"demo: callers arrive at about {callers_per_minute:g}/min; agents 1001..{1000 + bot_agents} "
              f"are bots, log in as agent{bot_agents + 1} or higher to take calls yourself", flush=True)
    print("Ctrl-C stops everything.\n", flush=True)

    began = time.monotonic()
    # The demo's summary is its show (and what its test reads from a pipe): every change there.
    summary = SummaryLine(tty=sys.stdout.isatty(), every_s=0.0 if demo_run is not None else 60.0)
    try:
        while not stop.is_set():
            await until_either(stop, engine.fenced, summary_every_s)  # a fence stops at once
            counts = engine.summary()
            if demo_run is not None:
                counts.update(demo_run.summary())
            text = summary.render(time.monotonic(), "  ".join(f"{k}={v}" for k, v in counts.items()))
            if text is not None:
                print(text, end="", flush=True)
            if duration_s is not None and time.monotonic() - began >= duration_s:
                break
            if engine.fenced.is_set():
                print("\nanother node took over routing (this one stalled past its lease): stopping", flush=True)
                break
    finally:
        print("\nstopping...", flush=True)
        if demo_run is not None:
            await demo_run.stop()
        await engine.stop()
        print("stopped.", flush=True)
