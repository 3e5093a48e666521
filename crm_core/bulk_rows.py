"""Many rows of one INSERT or UPDATE handed to SQLite's driver as tuples (the hot writes' executemany):
the same SQL and the same stored values as ``Connection.execute``, with a fraction of its Python per row."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

# (dialect, statement, the rows' keys) -> how to hand its rows to SQLite's driver as they are (None: not possible).
_PLAIN: dict[tuple[Any, Any, tuple[str, ...]], tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]],
                                                  tuple[tuple[int, Callable[[Any], Any]], ...]] | None] = {}


def execute_rows(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """``conn.execute(stmt, rows)`` for an INSERT or UPDATE of many rows that all have the same keys
    and returns nothing. On SQLite the rows go to the driver as tuples made with the statement's own
    bind processors (the same stored values), compiled once per statement and set of keys: SQLAlchemy's
    per-row parameter building (a dict of every bind, then a list) was a quarter of the database
    thread's Python at the target load. Anything else (another database, a column default to fill
    in, RETURNING, expanding IN, rows whose keys differ) takes ``conn.execute``."""
    if not rows:
        return
    plain = None
    if conn.dialect.name == "sqlite":
        keys = tuple(rows[0])
        cache_key = (conn.dialect, stmt, keys)
        if cache_key in _PLAIN:
            plain = _PLAIN[cache_key]
        else:
            plain = _PLAIN[cache_key] = _plain_form(conn, stmt, keys) if len(_PLAIN) < 200 else None
    if plain is None:
        conn.execute(stmt, rows)
        return
    sql, pick, processors = plain
    try:
        if processors:
            values = []
            for row in rows:
                v = list(pick(row))
                for i, process in processors:
                    v[i] = process(v[i])
                values.append(tuple(v))
        else:
            values = [pick(row) for row in rows]
    except KeyError:  # a row without a key of the first one: SQLAlchemy's own error
        conn.execute(stmt, rows)
        return
    conn.exec_driver_sql(sql, values if len(values) > 1 else values[0])


def _plain_form(conn: Connection, stmt: Any, keys: tuple[str, ...]) -> Any:
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys), for_executemany=True)
    names = compiled.positiontup
    if (names is None or compiled.insert_prefetch or compiled.update_prefetch or compiled.effective_returning
            or compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names
            or not set(names) <= set(keys)):
        return None
    bind_processors = compiled._bind_processors
    processors = tuple((i, bind_processors[name]) for i, name in enumerate(names) if name in bind_processors)
    pick = operator.itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    return compiled.string, pick, processors
