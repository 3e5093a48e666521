"""The text the hot writes store: datetimes and JSON columns as SQLAlchemy's own types wrote them
(the engine binds them through faster paths: ``UtcDateTime``'s one-step SQLite processor and orjson),
and values that read back equal on both databases."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from crm_core.audit import AuditEntry
from crm_core.db import Database, _json_dumps, sqlite_file
from crm_core.models import UtcDateTime

_TIMES = [
    datetime(2026, 12, 6, 7, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 6, 7, 0, 0, 123, tzinfo=timezone(timedelta(hours=8))),
    datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2026, 12, 6, 7, 0, 0),  # naive: taken as UTC
    datetime(1, 1, 1),
    datetime(999, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
]
_JSON: list[Any] = [
    {"n": "中文", "nested": [1, 2.5, None, True, {"k": "v"}]},
    {1: "int key", "s": "quote \" backslash \\ newline \n tab \t nul \x00 del \x7f"},
    [{"node": "menu", "input": "1"}],
    {"big": 2**70},  # past orjson's 64 bits: json's form
    "plain",
    [],
    {},
]


@pytest.mark.parametrize("value", [None, *_TIMES])
def test_sqlite_datetime_text_is_sqlalchemy_s_own(value: datetime | None) -> None:
    t = UtcDateTime()
    dialect = sqlite.dialect()
    chained = TypeDecorator.bind_processor(t.dialect_impl(dialect), dialect)
    assert chained is not None
    assert t._cached_bind_processor(dialect)(value) == chained(value)  # type: ignore[misc]


def test_postgresql_binds_through_the_decorator_s_chain() -> None:
    dialect = postgresql.dialect()
    process = UtcDateTime()._cached_bind_processor(dialect)
    value = datetime(2026, 12, 6, 7, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    bound = process(value) if process is not None else UtcDateTime().process_bind_param(value, dialect)
    assert bound == datetime(2026, 12, 5, 23, 0, 0, tzinfo=UTC) and bound.tzinfo is not None


@pytest.mark.parametrize("value", _JSON)
def test_json_text_is_json_s_own(value: Any) -> None:
    assert _json_dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def test_hot_writes_read_back_equal(db: Database) -> None:
    table = AuditEntry.__table__
    rows = [{"at": at, "actor": "t", "actor_role": "agent", "action": "test.forms", "target": str(i),
             "detail": {"v": _JSON[i % len(_JSON)]}} for i, at in enumerate(_TIMES)]
    await db.run(lambda conn: conn.execute(insert(table), rows))
    async with db.session() as s:
        back = (await s.execute(select(AuditEntry.target, AuditEntry.at, AuditEntry.detail)
                                .where(AuditEntry.action == "test.forms"))).all()
    got = {target: (at, detail) for target, at, detail in back}
    for i, at in enumerate(_TIMES):
        want_at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        assert got[str(i)][0] == want_at
        want = json.loads(json.dumps({"v": _JSON[i % len(_JSON)]}))
        assert got[str(i)][1] == want
    file = sqlite_file(db.url)
    if file is not None:  # SQLite: the text itself, as SQLAlchemy's DATETIME writes it
        with sqlite3.connect(file) as raw:
            stored = dict(raw.execute("SELECT target, at FROM supervisor_audit WHERE action = 'test.forms'").fetchall())
        assert stored["1"] == "2026-12-05 23:00:00.000123"
        assert stored["4"] == "0001-01-01 00:00:00.000000"
