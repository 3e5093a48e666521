"""Many rows of one INSERT, UPDATE or DELETE handed to SQLite's driver as tuples (the hot writes'
executemany), and many rows of one INSERT ... RETURNING as one multi-row statement: the same SQL and
the same stored values as ``Connection.execute``, with a fraction of its Python per row."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

# (dialect, statement, the rows' keys) -> how to hand its rows to SQLite's driver as they are (None: not possible).
_PLAIN: dict[tuple[Any, Any, tuple[str, ...]], tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]],
                                                  tuple[tuple[int, Callable[[Any], Any]], ...]] | None] = {}


def execute_rows(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """``conn.execute(stmt, rows)`` for an INSERT, UPDATE or DELETE of many rows that all have the same keys
    and returns nothing. On SQLite the rows go to the driver as tuples made with the statement's own
    bind processors (the same stored values), compiled once per statement and set of keys: SQLAlchemy's
    per-row parameter building (a dict of every bind, then a list) was a quarter of the database
    thread's Python at the target load. Anything else (another database, a column default to fill
    in, RETURNING, expanding IN, rows whose keys differ) takes ``conn.execute``."""
    if not rows:
        return
    plain = _sqlite_form(_PLAIN, 200, _plain_form, conn, stmt, rows)
    if plain is None:
        conn.execute(stmt, rows)
        return
    sql, pick, processors = plain
    try:
        values = [tuple(_stored(row, pick, processors)) for row in rows] if processors else [pick(row) for row in rows]
    except KeyError:  # a row without a key of the first one: SQLAlchemy's own error
        conn.execute(stmt, rows)
        return
    conn.exec_driver_sql(sql, values if len(values) > 1 else values[0])


def insert_returning(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``conn.execute(stmt, rows).all()`` for an INSERT ... RETURNING of many rows with the same keys,
    whose returned columns need no result processing (ids, strings); the rows come back in any
    order, as from SQLAlchemy's own multi-row form (insertmanyvalues). On SQLite: one statement
    ``VALUES (...), (...) RETURNING ...`` with the rows' values made by the statement's own bind
    processors, as ``execute_rows`` makes them (SQLAlchemy builds every row's parameters through
    its per-row path first). Anything else takes ``conn.execute``."""
    if not rows:
        return []
    plain = _sqlite_form(_RETURNING, 50, _returning_form, conn, stmt, rows)
    if plain is None:
        return [tuple(row) for row in conn.execute(stmt, rows)]
    (head, values_sql, tail), pick, processors = plain
    flat: list[Any] = []
    try:
        for row in rows:
            flat.extend(_stored(row, pick, processors))
    except KeyError:  # a row without a key of the first one: SQLAlchemy's own error
        return [tuple(row) for row in conn.execute(stmt, rows)]
    sql = head + ", ".join([values_sql] * len(rows)) + tail
    return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(flat))]


def _sqlite_form(cache: dict[Any, Any], limit: int, build: Callable[[Connection, Any, tuple[str, ...]], Any],
                 conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> Any:
    """The statement's form for rows with the first row's keys, built once (at most ``limit`` kept);
    None on another database than SQLite or when the statement has no such form."""
    if conn.dialect.name != "sqlite":
        return None
    keys = tuple(rows[0])
    cache_key = (conn.dialect, stmt, keys)
    if cache_key in cache:
        return cache[cache_key]
    form = cache[cache_key] = build(conn, stmt, keys) if len(cache) < limit else None
    return form


def _stored(row: dict[str, Any], pick: Callable[[dict[str, Any]], tuple[Any, ...]],
            processors: tuple[tuple[int, Callable[[Any], Any]], ...]) -> list[Any]:
    """A row's values in the statement's order, each through its bind processor (the stored form)."""
    v = list(pick(row))
    for i, process in processors:
        v[i] = process(v[i])
    return v


# (dialect, statement, the rows' keys) -> (the SQL's parts before, at and after its VALUES row, how to
# make a row's values) for ``insert_returning`` (None: not possible).
_RETURNING: dict[tuple[Any, Any, tuple[str, ...]], Any] = {}
_VALUES = " VALUES "
_RETURNING_WORD = " RETURNING "


def _returning_form(conn: Connection, stmt: Any, keys: tuple[str, ...]) -> Any:
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
    found = _checked(compiled, keys, returning=True)
    if found is None:
        return None
    text = compiled.string
    head, values, rest = text.partition(_VALUES)
    row, returning, after = rest.partition(_RETURNING_WORD)
    # One VALUES row of plain placeholders, then RETURNING: anything else (a SQL expression among
    # the values, a second VALUES) is not this shape.
    if not (values and returning and row.startswith("(") and row.endswith(")") and _VALUES not in rest
            and set(row[1:-1].replace(",", "").split()) <= {"?"} and row.count("?") == len(compiled.positiontup)):
        return None
    return (head + _VALUES, row, _RETURNING_WORD + after), *found


def _checked(compiled: Any, keys: tuple[str, ...], *, returning: bool) -> Any:
    """(pick, processors) of a compiled statement whose binds are the rows' keys as they are; None otherwise."""
    names = compiled.positiontup
    if (names is None or compiled.insert_prefetch or compiled.update_prefetch
            or bool(compiled.effective_returning) != returning
            or compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names
            or not set(names) <= set(keys)):
        return None
    bind_processors = compiled._bind_processors
    processors = tuple((i, bind_processors[name]) for i, name in enumerate(names) if name in bind_processors)
    pick = operator.itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    return pick, processors


def _plain_form(conn: Connection, stmt: Any, keys: tuple[str, ...]) -> Any:
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys), for_executemany=True)
    found = _checked(compiled, keys, returning=False)
    return None if found is None else (compiled.string, *found)

