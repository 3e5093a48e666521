"""The callback intake keeps every request a caller was promised (SQLite and PostgreSQL): journaled
before the database is asked, retried while the database is away, kept across an engine restart,
recorded once, and the journal emptied when nothing waits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.callback_intake import CallbackIntake
from crm_core.db import Database
from crm_core.models import Callback
from cti.bus import InProcessBus
from cti.journey import CallbackRequested
from tests.helpers import until

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


class Outage:
    """Makes ``db.session()`` fail as an unreachable database does, while ``away`` is set."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.away = False
        self.refused = 0
        real: Callable[[], AbstractAsyncContextManager[AsyncSession]] = db.session

        def session() -> AbstractAsyncContextManager[AsyncSession]:
            if self.away:
                self.refused += 1
                raise OperationalError("connect", {}, ConnectionRefusedError("the database is away"))
            return real()

        monkeypatch.setattr(db, "session", session)


@pytest.fixture
async def clean(db: Database) -> AsyncIterator[Database]:
    async with db.session() as s:
        await s.execute(delete(Callback))
    yield db


def request(n: int, number: str = "+8613800138000") -> CallbackRequested:
    return CallbackRequested(ts=T0.timestamp() + n, linkedid=f"ivr-{n}", number=number[:-1] + str(n),
                             queue="support")


async def rows(db: Database) -> list[tuple[str | None, str, str]]:
    async with db.session() as s:
        found = (await s.scalars(select(Callback).order_by(Callback.id))).all()
        return [(c.origin_linkedid, c.number, c.state) for c in found]


async def test_requests_wait_out_a_database_outage_in_order(clean: Database, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    outage = Outage(clean, monkeypatch)
    journal = tmp_path / "callback-outbox.jsonl"
    intake = CallbackIntake(clean, journal=journal, retry_delays_s=(0.01, 0.05))
    bus = InProcessBus()
    intake.subscribe(bus)
    await intake.start()
    await bus.start()
    try:
        await bus.publish(request(1))
        await bus.drain()
        assert await rows(clean) == [("ivr-1", "+8613800138001", "pending")]
        assert journal.stat().st_size == 0  # recorded: nothing left to keep

        outage.away = True
        for n in (2, 3, 4):
            await bus.publish(request(n))
        await bus.drain()
        assert list(intake.waiting) == ["ivr-2", "ivr-3", "ivr-4"]
        assert journal.read_text().count("\n") == 3  # each on disk before the database was asked
        await until(lambda: outage.refused >= 4)  # the retries go on ...
        outage.away = False  # ... until the database is back
        await until(lambda: not intake.waiting)
    finally:
        await bus.stop()
        await intake.stop()
    assert await rows(clean) == [("ivr-1", "+8613800138001", "pending"), ("ivr-2", "+8613800138002", "pending"),
                                 ("ivr-3", "+8613800138003", "pending"), ("ivr-4", "+8613800138004", "pending")]
    assert journal.stat().st_size == 0


async def test_a_request_the_database_never_took_is_recorded_after_a_restart(
        clean: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(clean, monkeypatch)
    journal = tmp_path / "callback-outbox.jsonl"
    outage.away = True
    first = CallbackIntake(clean, journal=journal, retry_delays_s=(0.01,))
    await first.start()
    await first.handle(request(5))
    await first.handle(CallbackRequested(ts=T0.timestamp(), linkedid="ivr-anon", number="anonymous"))
    with caplog.at_level(logging.WARNING, logger="crm_core.callback_intake"):
        await first.stop()  # the engine stops while the database is still away
    assert "2 requests not yet in the database; they stay in the journal" in caplog.text
    outage.away = False
    assert await rows(clean) == []

    again = CallbackIntake(clean, journal=journal, retry_delays_s=(0.01,))
    await again.start()
    try:
        await until(lambda: not again.waiting)
        await again.handle(request(5))  # the same request delivered again adds nothing
    finally:
        await again.stop()
    # The anonymous caller's request can never be called back: dropped (with a warning), not retried forever.
    assert await rows(clean) == [("ivr-5", "+8613800138005", "pending")]
    assert journal.stat().st_size == 0


async def test_without_a_journal_the_intake_still_retries(clean: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    outage = Outage(clean, monkeypatch)
    intake = CallbackIntake(clean, retry_delays_s=(0.01,))
    await intake.start()
    try:
        outage.away = True
        await intake.handle(request(6))
        assert list(intake.waiting) == ["ivr-6"]
        outage.away = False
        await until(lambda: not intake.waiting)
    finally:
        await intake.stop()
    assert await rows(clean) == [("ivr-6", "+8613800138006", "pending")]


async def test_a_refused_statement_is_logged_without_its_sql_parameters(
        clean: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A failed INSERT's text carries its parameters (the caller's number): the warnings said it."""
    intake = CallbackIntake(clean, retry_delays_s=(0.01,))
    real, failures = intake._record, [2]

    async def flaky(ev: CallbackRequested) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OperationalError("INSERT INTO callbacks (number) VALUES (?)", {"number": ev.number},
                                   Exception("database is locked"))
        await real(ev)

    monkeypatch.setattr(intake, "_record", flaky)
    bus = InProcessBus()
    intake.subscribe(bus)
    await intake.start()
    await bus.start()
    try:
        with caplog.at_level(logging.WARNING, logger="crm_core.callback_intake"):
            await bus.publish(request(7))
            await bus.drain()
            await until(lambda: not intake.waiting)
    finally:
        await bus.stop()
        await intake.stop()
    assert await rows(clean) == [("ivr-7", "+8613800138007", "pending")]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "database is locked" in logged and "8613800138007" not in logged and "INSERT" not in logged, logged
