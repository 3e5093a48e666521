"""Helpers shared by the tiers that run the real engine: polling, and an engine on a seeded database."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from callcenter.engine import Engine
from crm_core.db import Database, sqlite_file
from crm_core.seed import seed_demo
from cti.ami.callmodel import CallModel
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.servers import _pg_bin


async def until(predicate: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Channel:
    """One line of Asterisk's own channel list (``core show channels concise``)."""

    name: str
    context: str
    state: str
    application: str


def channels(pbx: ManagedPbx) -> list[Channel]:
    """Every channel Asterisk has now, as Asterisk sees it (not the engine's call model)."""
    out: list[Channel] = []
    for line in pbx.cli("core show channels concise").splitlines():
        f = line.split("!")  # name!context!exten!priority!state!application!data!...
        if len(f) > 5:
            out.append(Channel(name=f[0], context=f[1], state=f[4], application=f[5]))
    return out


@contextmanager
def busy_context(pbx: ManagedPbx, name: str, busy_s: int) -> Iterator[None]:
    """A dialplan context of the test's own on the running Asterisk, removed afterwards: a channel in
    it answers, then its thread sits in System(sleep) for ``busy_s`` seconds, never reading the
    channel. When Bridge() pulls such a channel, the stand-in Asterisk keeps of it
    ("Surrogate/<channel>") stays listed that long, as a stale one does for good now and then."""
    for step in ("s,1,Answer()", f'"s,2,System(sleep {busy_s})"', "s,3,Hangup()"):
        pbx.cli(f"dialplan add extension {step} into {name}")
    try:
        yield
    finally:
        pbx.cli(f"dialplan remove context {name}")


def playing_music(pbx: ManagedPbx, channel: str) -> bool:
    """Asterisk's own view: ``channel`` runs MusicOnHold now, or cti-hold's slice of music (WaitExten
    with its m option) (the engine models no music events)."""
    return any(c.name == channel and (c.application == "MusicOnHold"
                                      or (c.application == "WaitExten" and c.context == "cti-hold"))
               for c in channels(pbx))


def engine_settings(pbx_settings: Settings, tmp_path: Path) -> Settings:
    """The test PBX's settings with a private database, state and recordings directory."""
    return pbx_settings.model_copy(update={
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}", "state_dir": tmp_path / "state",
        "recordings": pbx_settings.recordings.model_copy(update={"dir": tmp_path / "recordings"})})


# Keyed by the digest of the config directory's files, not by its path: a test's own copy of the
# configuration (tests/asterisk/engine/test_recording.py makes one per test) seeds what an equal one did.
_SEEDED: dict[str, bytes] = {}  # config digest -> a seeded SQLite file
_SEEDED_PG: dict[str, bytes] = {}  # config digest -> pg_dump of a seeded PostgreSQL database


def _config_digest(config_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in config_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(config_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _pg_args(database_url: str) -> list[str] | None:
    """psql / pg_dump connection options for a PostgreSQL URL (None for any other database)."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        return None
    return ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres",
            "-d", url.database or "postgres"]


def _pg(tool: str, args: list[str], *more: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run([str(_pg_bin() / tool), *args, *more], input=stdin, check=True,
                          capture_output=True).stdout


async def seed(settings: Settings) -> None:
    """Migrate and seed the demo company into the settings' database. A fresh database is seeded
    once per configuration (the config directory's content) and then copied (a SQLite file; a PostgreSQL database
    through pg_dump and psql): migrations and argon2 hashes cost seconds (about 7 s on PostgreSQL)."""
    path = sqlite_file(settings.database_url)
    pg = _pg_args(settings.database_url)
    key = await asyncio.to_thread(_config_digest, settings.config_dir)
    if path is not None and key in _SEEDED and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)  # as the engine's own first open would
        await asyncio.to_thread(path.write_bytes, _SEEDED[key])
        return
    fresh = pg is not None and (await asyncio.to_thread(
        _pg, "psql", pg, "-tAc", "select count(*) from pg_tables where schemaname = 'public'")).strip() == b"0"
    if pg is not None and fresh and key in _SEEDED_PG:
        await asyncio.to_thread(_pg, "psql", pg, "-q", "-v", "ON_ERROR_STOP=1", "-f", "-", stdin=_SEEDED_PG[key])
        return
    db = Database.from_settings(settings)
    try:
        await db.upgrade()
        await seed_demo(db, progress=lambda *_: None, config_dir=settings.config_dir)
    finally:
        await db.dispose()
    if path is not None and key not in _SEEDED:
        _SEEDED[key] = await asyncio.to_thread(path.read_bytes)
    if pg is not None and fresh and key not in _SEEDED_PG:
        _SEEDED_PG[key] = await asyncio.to_thread(_pg, "pg_dump", pg, "--no-owner", "--no-privileges")


async def hang_up_all(pbx: ManagedPbx, model: CallModel) -> None:
    """Every channel on ``pbx`` hung up, and seen gone by ``model`` (an AMI call model), before a test
    stops what it ran: the teardowns slept a fixed 0.3 or 0.5 s instead. Bounded and never failing:
    a test that left AMI down still stops its parts."""
    pbx.cli("channel request hangup all")
    with contextlib.suppress(AssertionError):
        await until(lambda: not model.calls(), timeout_s=2.0, what="every call hung up")


@asynccontextmanager
async def running_engine(pbx: ManagedPbx, settings: Settings, *,
                         before_start: Callable[[Engine], None] | None = None, **options: Any) -> AsyncIterator[Engine]:
    """The whole engine on the real Asterisk, over the demo company; every call hung up afterwards.
    ``before_start`` may subscribe test recorders to the bus before anything is published."""
    await seed(settings)
    engine = Engine(settings, **options)
    if before_start is not None:
        before_start(engine)
    await engine.start()
    try:
        yield engine
    finally:
        await hang_up_all(pbx, engine.ami.model)
        await engine.stop()


@asynccontextmanager
async def recorded_engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path, kind: type[Event] = Event,
                          **options: Any) -> AsyncIterator[tuple[Engine, list[Event]]]:
    """``running_engine`` on a private copy of the test PBX's settings, with every bus event of
    ``kind`` recorded from before the start (what the engine fixtures of several test files yield)."""
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    subscribe = lambda eng: eng.bus.subscribe(kind, record, name="test.recorder")  # noqa: E731
    async with running_engine(pbx, engine_settings(pbx_settings, tmp_path), before_start=subscribe,
                              **options) as eng:
        yield eng, seen


async def customer_number(engine: Engine, account: str = "100001") -> tuple[int, str, str]:
    """A seeded customer's (id, name, E.164 number), by account number."""
    from sqlalchemy import select

    from crm_core.models import Customer

    async with engine.db.session() as s:
        customer = (await s.scalars(select(Customer).where(Customer.account_number == account))).one()
        return customer.id, customer.name, customer.phones[0].e164


async def english_customer_number(engine: Engine) -> str:
    """A seeded English-speaking customer's E.164 number: their calls need no zh skill (most seeded
    customers speak Chinese, and the IVR asks for an agent with the caller's language)."""
    from sqlalchemy import select

    from crm_core.models import Customer

    async with engine.db.session() as s:
        found = (await s.scalars(select(Customer).where(Customer.language.like("en%"))
                                 .order_by(Customer.id))).first()
        assert found is not None and found.phones, "the demo seed has English-speaking customers"
        return found.phones[0].e164


async def place_call(engine: Engine, queued: Callable[[], list[Any]], number: str, *, dnis: str = "5002",
                     key: str = "1", timeout_s: float = 30.0, caller: str = "cti-sim-caller") -> Any:
    """A caller dials ``dnis`` from ``number`` and presses ``key`` until a new QueueEntered shows up
    in ``queued()``: digits are only heard while the IVR menu listens, so a key sent during another
    prompt is simply sent again. ``caller``: the caller's own dialplan (silent, or
    cti-sim-caller-tone playing 440 Hz). Returns that QueueEntered."""
    before = len(queued())
    result = await engine.ami.control.originate(f"Local/{dnis}@cti-inbound/n", context=caller, exten="s",
                                                caller_id=f"<{number}>", timeout_ms=10000)
    assert result.success, result
    caller_half = str(result.channel)  # the ;1 half: the caller's phone, where DTMF goes in
    deadline = time.monotonic() + timeout_s
    while len(queued()) == before:
        assert time.monotonic() < deadline, "the call never reached the queue"
        await engine.ami.control.play_dtmf(caller_half, key)
        await asyncio.sleep(0.7)
    return queued()[-1]


class DatabaseAway:
    """``db`` whose every session fails as an unreachable database's does (DatabaseUnavailable);
    anything else is the real database's. Pass it where a ``Database`` is expected."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        from crm_core.errors import DatabaseUnavailable

        raise DatabaseUnavailable("database away")
        yield
