"""The call log's journal replayed into a database restored from a backup: a call the IVR had
identified as a customer the backup lacks (created after it) broke the customers foreign key, and
its batch failed at every try: that call and every call after it stayed out of the database for
good (`call log: database write failed ... FOREIGN KEY`), restart after restart. The call is logged
without the customer, as a callback request is, and the others with theirs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_core.calllog import CallLogger
from crm_core.db import Database
from crm_core.models import Customer, Interaction
from cti.events import Event, to_wire
from cti.journey import CallArrived, CallEnded, IvrFinished


def _call(linkedid: str, customer_id: int | None) -> list[Event]:
    return [CallArrived(ts=1.0, linkedid=linkedid, channel="PJSIP/t-1", caller_number="+3312345678"),
            IvrFinished(ts=2.0, linkedid=linkedid, flow="main", outcome="abandoned", customer_id=customer_id),
            CallEnded(ts=3.0, linkedid=linkedid)]


async def test_a_call_naming_a_customer_the_restored_database_lacks_is_logged_without_it(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with db.session() as s:
        known = Customer(name="Zhang Wei")
        s.add(known)
        await s.flush()
        known_id = known.id
    state = tmp_path / "var"
    state.mkdir()
    events = [*_call("gone", known_id + 1000), *_call("known", known_id), *_call("anonymous", None)]
    (state / "calllog-outbox.jsonl").write_bytes(b"".join(to_wire(ev) + b"\n" for ev in events))
    caplog.set_level(logging.WARNING, logger="crm_core.calllog")
    logger = CallLogger(db, state, retry_max_s=0.05)
    await logger.start()
    try:
        await logger.flush(timeout_s=10)
    finally:
        await logger.stop(flush_timeout_s=0.5)
    async with db.session() as s:
        rows = {lid: cid for lid, cid in await s.execute(select(Interaction.linkedid, Interaction.customer_id))}
    assert rows == {"gone": None, "known": known_id, "anonymous": None}
    assert f"customer {known_id + 1000} does not exist" in caplog.text
    assert "+3312345678" not in caplog.text
    assert (state / "calllog-outbox.jsonl").stat().st_size == 0
