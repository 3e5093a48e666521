"""The text the hot writes store: datetimes and JSON columns as SQLAlchemy's own types wrote them
(the engine binds them through faster paths: ``UtcDateTime``'s one-step SQLite processor, orjson,
and ``execute_rows``' tuples handed to SQLite's driver), and values that read back equal on both
databases."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.types import TypeDecorator

from crm_core.audit import AuditEntry
from crm_core.bulk_rows import execute_rows, insert_returning
from crm_core.calllog_rows import _INSERT as INSERT_INTERACTIONS
from crm_core.calllog_rows import interaction_row
from crm_core.db import Database, _json_dumps, sqlite_file
from crm_core.fold import fold_keyed
from crm_core.models import Interaction, UtcDateTime
from cti.journey import CallArrived, CallEnded, IvrFinished

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
    table = cast(Table, AuditEntry.__table__)
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


def _audit_rows(tag: str) -> list[dict[str, Any]]:
    return [{"at": at, "actor": "t", "actor_role": "agent", "action": tag, "target": str(i),
             "detail": {"v": _JSON[i % len(_JSON)]}} for i, at in enumerate(_TIMES)]


async def test_rows_handed_to_the_driver_are_stored_as_sqlalchemy_stores_them(db: Database) -> None:
    """``execute_rows`` (the hot writes' executemany) against ``conn.execute``: the same SQL and the
    same stored values, for an insert and an update of many rows, on both databases."""
    table = cast(Table, AuditEntry.__table__)
    seen: list[str] = []
    engines = db.statement_engines

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        await db.run(lambda conn: conn.execute(insert(table), _audit_rows("forms.a")))
        await db.run(lambda conn: execute_rows(conn, insert(table), _audit_rows("forms.b")))
        await db.run(lambda conn: conn.execute(insert(table), _audit_rows("forms.c")[1:2]))  # one row
        await db.run(lambda conn: execute_rows(conn, insert(table), _audit_rows("forms.d")[1:2]))
        bump = update(table).where(table.c.target == bindparam("t"), table.c.action == bindparam("a")).values(
            actor=bindparam("who"), at=bindparam("when"))
        for tag, how in (("forms.a", "execute"), ("forms.b", "rows")):
            changes = [{"t": str(i), "a": tag, "who": f"u{i}", "when": _TIMES[-1 - i]} for i in range(len(_TIMES))]
            if how == "rows":
                await db.run(lambda conn, c=changes: execute_rows(conn, bump, c))  # type: ignore[misc]
            else:
                await db.run(lambda conn, c=changes: conn.execute(bump, c))  # type: ignore[misc]
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    assert seen[0] == seen[1] and seen[2] == seen[3] and seen[4] == seen[5], seen

    async with db.session() as s:
        got = (await s.execute(select(AuditEntry.action, AuditEntry.target, AuditEntry.actor, AuditEntry.at,
                                      AuditEntry.detail).where(AuditEntry.action.like("forms.%"))
                               .order_by(AuditEntry.id))).all()
    a = [tuple(r[1:]) for r in got if r[0] == "forms.a"]
    b = [tuple(r[1:]) for r in got if r[0] == "forms.b"]
    c = [tuple(r[1:]) for r in got if r[0] == "forms.c"]
    d = [tuple(r[1:]) for r in got if r[0] == "forms.d"]
    assert len(a) == len(_TIMES) and b == a and len(c) == 1 and d == c
    file = sqlite_file(db.url)
    if file is not None:  # the text in the file, byte for byte
        with sqlite3.connect(file) as raw:
            stored = raw.execute("SELECT action, target, actor, at, detail FROM supervisor_audit "
                                 "WHERE action LIKE 'forms.%' ORDER BY id").fetchall()
        by = {tag: [r[1:] for r in stored if r[0] == f"forms.{tag}"] for tag in "abcd"}
        assert by["a"] == by["b"] and by["c"] == by["d"] and len(by["a"]) == len(_TIMES)


def test_rows_that_differ_or_need_defaults_take_sqlalchemy_s_path(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    meta = MetaData()
    t = Table("t", meta, Column("id", Integer, primary_key=True), Column("a", String(8)),
              Column("made", String(8), default="dflt"))
    meta.create_all(engine)
    try:
        with engine.begin() as conn:
            execute_rows(conn, insert(t), [{"id": 1, "a": "x"}, {"id": 2, "a": "y"}])  # "made" filled in
            execute_rows(conn, insert(t), [{"id": 3, "a": "z", "made": "m"}, {"id": 4, "a": "w", "made": "n"}])
            with pytest.raises(StatementError):  # the second row lacks a key of the first: SQLAlchemy says so
                execute_rows(conn, insert(t), [{"id": 5, "a": "v", "made": "o"}, {"id": 6, "made": "p"}])
        with engine.connect() as conn:
            assert conn.execute(select(t).order_by(t.c.id)).all() == [
                (1, "x", "dflt"), (2, "y", "dflt"), (3, "z", "m"), (4, "w", "n")]
    finally:
        engine.dispose()


def _interaction_rows(tag: str, n: int) -> list[dict[str, Any]]:
    """The call log's rows for ``n`` calls, with its datetimes, JSON path, odd text and NULLs."""
    rows = []
    for i in range(n):
        lid = f"{tag}.{i}"
        events = {"a": CallArrived(ts=1790000000.0 + i + 0.000123, linkedid=lid, channel="PJSIP/t-1",
                                   caller_number=f"+86138000{i:05d}", caller_name="李 \"q\" \\ n\n", dnis="100"),
                  "b": IvrFinished(ts=1790000003.5 + i, linkedid=lid, flow="main", outcome="queue", queue="support",
                                   path=({"node": "menu", "input": "1", "n": _JSON[i % len(_JSON)]},)),
                  "c": CallEnded(ts=1790000020.0 + i, linkedid=lid)}
        row = interaction_row(fold_keyed(lid, events), None, ["k1", "k2"])
        row["updated_at"] = _TIMES[i % len(_TIMES)]
        rows.append(row)
    return rows


async def test_interactions_inserted_with_returning_are_stored_as_sqlalchemy_stores_them(db: Database) -> None:
    """``insert_returning`` (the call log's new interactions, one multi-row statement) against
    ``conn.execute``: the same ids for the same linkedids and the same stored values, on both
    databases; on SQLite the file's text byte for byte."""
    table = cast(Table, Interaction.__table__)
    ids: dict[str, dict[str, int]] = {}
    for tag, how in (("ra", "execute"), ("rb", "returning"), ("rc", "execute"), ("rd", "returning")):
        rows = _interaction_rows(tag, 1 if tag in ("rc", "rd") else 7)
        if how == "execute":
            got = await db.run(lambda conn, r=rows: [tuple(x) for x in conn.execute(INSERT_INTERACTIONS, r)])
        else:
            got = await db.run(lambda conn, r=rows: insert_returning(conn, INSERT_INTERACTIONS, r))
        ids[tag] = {lid: db_id for db_id, lid in got}
        assert sorted(ids[tag]) == sorted(r["linkedid"] for r in rows)
    async with db.session() as s:
        stored = {lid: (db_id, rest) for db_id, lid, *rest in (await s.execute(select(table))).all()}
    for tag in ids:
        for lid, db_id in ids[tag].items():
            assert stored[lid][0] == db_id  # each id returned is its own row's

    def same(a: str, b: str) -> None:
        rows_a = {lid.split(".", 1)[1]: rest for lid, (_, rest) in stored.items() if lid.startswith(a + ".")}
        rows_b = {lid.split(".", 1)[1]: rest for lid, (_, rest) in stored.items() if lid.startswith(b + ".")}
        assert rows_a and rows_a == rows_b
    same("ra", "rb")
    same("rc", "rd")
    file = sqlite_file(db.url)
    if file is not None:  # the text in the file, byte for byte (the linkedid aside)
        with sqlite3.connect(file) as raw:
            text = raw.execute("SELECT * FROM interactions").fetchall()
        names = [c.key for c in table.columns]
        lid_at, id_at = names.index("linkedid"), names.index("id")
        by = {tag: {r[lid_at].split(".", 1)[1]: r[:id_at] + r[id_at + 1:lid_at] + r[lid_at + 1:]
                    for r in text if r[lid_at].startswith(tag + ".")} for tag in ids}
        assert by["ra"] == by["rb"] and by["rc"] == by["rd"] and len(by["ra"]) == 7
