"""The call log's rows: an interaction and its segments as the fold makes them, and one batch's
writes in one transaction (``Work.write``, run where the database runs statements). No state: the
call logger (crm_core.calllog) decides what to write and when."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, case, delete, insert, or_, select, update

from crm_core.bulk_rows import execute_rows, insert_returning
from crm_core.fold import Folded, FoldedSegment
from crm_core.models import Customer, CustomerPhone, Interaction, Segment
from cti.events import Event, from_wire

log = logging.getLogger(__name__)

# Column widths of Interaction: a long value is cut rather than failing the whole batch.
_WIDTHS = {"caller_number": 40, "caller_name": 120, "dialled_number": 40, "agent_id": 64, "queue": 64,
           "disposition": 40, "ivr_flow": 64, "ivr_outcome": 16, "recording_file": 255,
           "callback_number": 40, "voicemail_mailbox": 40, "language": 8, "direction": 10, "callback_id": 64}
_TIMES = ("started_at", "answered_at", "ended_at")
# Core tables, not ORM entities: executemany stays one round trip to the database thread.
_I = cast(Table, Interaction.__table__)
_S = cast(Table, Segment.__table__)
# SQLAlchemy prepares every row's parameters on the event loop before the driver runs the statement:
# a batch of 200 calls (~40 columns each) and their ~900 segments would hold the loop ~25 ms in
# one go, so they go in chunks (bench/call_logging.py: loop stall worst 22-24 ms with one statement each).
_ROW_CHUNK = 100
_SEGMENT_CHUNK = 300
# Built once (compiled once per engine, then taken from its cache); lists bind as expanding IN.
STORED = select(_I.c.id, _I.c.linkedid, _I.c.events, _I.c.customer_id).where(
    _I.c.linkedid.in_(bindparam("lids", expanding=True)))
_OWNERS = select(CustomerPhone.__table__.c.e164, CustomerPhone.__table__.c.customer_id).where(
    CustomerPhone.__table__.c.e164.in_(bindparam("numbers", expanding=True)))
_CUSTOMERS = select(Customer.__table__.c.id).where(Customer.__table__.c.id.in_(bindparam("ids", expanding=True)))
_INSERT = insert(_I).returning(_I.c.id, _I.c.linkedid)
_INSERT_SEGMENTS = insert(_S)
# A call's segments from one on (its rows in front are stored as the fold makes them): one row each.
_DELETE_SEGMENTS = delete(_S).where(_S.c.interaction_id == bindparam("b_id"), _S.c.seq >= bindparam("b_seq"))
_UPDATES: dict[tuple[str, ...], Any] = {}  # one UPDATE per set of columns (with or without the customer)
# An update names the call's customer (b_customer) only where the row has none, or has one no agent
# linked (customer_linked, set by crm_core.interactions.link_customer: the later, deliberate choice,
# kept even when it names the very customer this logger wrote) that is still the one this logger
# last sent for the call (b_logged; None: none, or not known, as after a restart). Decided by the
# database in the UPDATE itself, so a link made between the logger's read and its write is not lost.
_CUSTOMER = case((and_(_I.c.customer_linked, _I.c.customer_id.is_not(None)), _I.c.customer_id),
                 (or_(_I.c.customer_id.is_(None), _I.c.customer_id == bindparam("b_logged")),
                  bindparam("b_customer", type_=_I.c.customer_id.type)), else_=_I.c.customer_id)


def _update(columns: Iterable[str]) -> Any:
    key = tuple(k for k in columns if k not in ("b_id", "linkedid", "b_logged"))  # Work.write drops the linkedid
    stmt = _UPDATES.get(key)
    if stmt is None:
        stmt = _UPDATES[key] = update(_I).where(_I.c.id == bindparam("b_id")).values(
            {("customer_id" if k == "b_customer" else k): (_CUSTOMER if k == "b_customer" else bindparam(k))
             for k in key})
    return stmt


@dataclass(eq=False)
class Written:
    ids: dict[str, int] = field(default_factory=dict)  # new interactions' ids
    customers: dict[str, int] = field(default_factory=dict)  # callers matched on their number
    gone: dict[str, int] = field(default_factory=dict)  # calls logged without a customer that does not exist
    logged: dict[str, int] = field(default_factory=dict)  # the customer sent for each call that had one


@dataclass(eq=False)
class Work:
    """One batch's writes, made on the loop: ``write`` runs them in one transaction on a Core
    connection (``Database.run``: on SQLite in the database's thread) and touches nothing else."""

    new: dict[str, dict[str, Any]]  # linkedid -> interaction row to insert
    # linkedid -> interaction row to update (b_id: its id; b_logged: the customer this logger last
    # sent for the call, the only one besides none its customer may replace)
    old: dict[str, dict[str, Any]]
    segments: dict[str, list[dict[str, Any]]]  # linkedid -> segment rows to insert (interaction_id filled here)
    wanted: dict[str, list[str]]  # caller numbers to match on customer_phones -> their calls
    # Look the rows' customers up first (after a write failed on a constraint): one the database
    # lacks (deleted, or created after the backup it was restored from) is left off the call.
    check_customers: bool = False
    # linkedid of a stored call -> the first seq of its stored segments to delete (those from there on
    # are written again or are no more); a call not named keeps the segments it has.
    cut: dict[str, int] = field(default_factory=dict)

    def write(self, conn: Connection) -> Written:
        out = Written()
        if self.wanted:
            owners: dict[str, set[int]] = {}
            for e164, customer_id in conn.execute(_OWNERS, {"numbers": list(self.wanted)}):
                owners.setdefault(e164, set()).add(customer_id)
            for e164, ids in owners.items():
                if len(ids) == 1:
                    for lid in self.wanted[e164]:
                        out.customers[lid] = next(iter(ids))
        rows = [*self.new.values(), *self.old.values()]
        for row in rows:
            if row["customer_id"] is None and row["linkedid"] in out.customers:
                row["customer_id"] = out.customers[row["linkedid"]]
        named = {row["customer_id"] for row in rows if row["customer_id"] is not None}
        if self.check_customers and named:
            there = set(conn.execute(_CUSTOMERS, {"ids": sorted(named)}).scalars())
            for row in rows:
                if row["customer_id"] is not None and row["customer_id"] not in there:
                    out.gone[row["linkedid"]] = row["customer_id"]
                    row["customer_id"] = None
        for row in rows:
            if row["customer_id"] is not None:
                out.logged[row["linkedid"]] = row["customer_id"]
        new = list(self.new.values())
        for start in range(0, len(new), _ROW_CHUNK):
            for db_id, linkedid in insert_returning(conn, _INSERT, new[start:start + _ROW_CHUNK]):
                out.ids[linkedid] = db_id
        if self.old:
            old = list(self.old.values())
            with_customer = [r for r in old if r["customer_id"] is not None]
            without = [r for r in old if r["customer_id"] is None]
            for r in without:
                r.pop("customer_id")  # never clear a customer an agent linked meanwhile
                r.pop("b_logged")
            for r in with_customer:
                r["b_customer"] = r.pop("customer_id")  # nor replace it (_CUSTOMER)
            for r in old:
                # A row's key named like a column is set by the UPDATE (SQLAlchemy adds it to SET):
                # the linkedid, which never changes, was written again on every update.
                r.pop("linkedid")
            for group in (with_customer, without):
                if group:
                    execute_rows(conn, _update(group[0]), group)
        if self.cut:
            execute_rows(conn, _DELETE_SEGMENTS, [{"b_id": self.old[lid]["b_id"], "b_seq": seq}
                                                  for lid, seq in self.cut.items()])
        seg_rows = []
        for lid, segs in self.segments.items():
            interaction_id = out.ids[lid] if lid in out.ids else self.old[lid]["b_id"]
            for seg in segs:
                seg["interaction_id"] = interaction_id
                seg_rows.append(seg)
        for start in range(0, len(seg_rows), _SEGMENT_CHUNK):
            execute_rows(conn, _INSERT_SEGMENTS, seg_rows[start:start + _SEGMENT_CHUNK])
        return out


def stored_events(stored: str) -> Iterable[Event]:
    for d in json.loads(stored):
        try:
            yield from_wire(json.dumps(d))
        except (ValueError, TypeError, KeyError):
            log.warning("stored event unreadable, ignored: %.200s", d)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def interaction_row(f: Folded, customer_id: int | None, event_keys: Iterable[str], **extra: Any) -> dict[str, Any]:
    row = dict(f.fields)
    for name in _TIMES:
        row[name] = _ts(row[name])
    for name, width in _WIDTHS.items():
        if isinstance(row.get(name), str):
            row[name] = row[name][:width]
    row["customer_id"] = row["customer_id"] if row["customer_id"] is not None else customer_id
    row["linkedid"] = f.linkedid
    row["events"] = "[" + ",".join(sorted(event_keys)) + "]"
    row["updated_at"] = datetime.now(UTC)
    row.update(extra)
    return row


def segment_row(interaction_id: int, seq: int, seg: FoldedSegment) -> dict[str, Any]:
    return {"interaction_id": interaction_id, "seq": seq, "kind": seg.kind, "started_at": _ts(seg.started),
            "ended_at": _ts(seg.ended), "duration_s": round(seg.duration, 3), "agent_id": seg.agent_id,
            "queue": seg.queue, "detail": seg.detail,
            "disposition": seg.disposition[:_WIDTHS["disposition"]] if seg.disposition else seg.disposition,
            "notes": seg.notes}
