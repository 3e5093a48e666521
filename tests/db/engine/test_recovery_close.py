"""The recovery's ``call.ended`` of the calls that ended while no engine ran names whom each was
with (docs/resilience.md), as the live path's does: the agent app_queue connected (the AstDB away
record's) or else the one the CRM logged, and the customer of the open interaction. Before, both
were null. A SQLite CRM; AstDB and the bus are stand-ins (the real Asterisk: tests/asterisk/recovery)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from callcenter.recovery import Recovery, RecoveryReport
from crm_core.db import Database
from crm_core.models import Customer, Interaction
from cti.errors import AmiActionFailed
from cti.events import Event
from cti.journey import CallConnected, CallEnded


async def test_the_closed_calls_end_with_their_agent_and_customer(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    await db.upgrade()
    now = time.time()
    began = datetime.fromtimestamp(now - 120, UTC)
    try:
        async with db.session() as s:
            ann, bo = Customer(name="Ann"), Customer(name="Bo")
            s.add_all([ann, bo])
            await s.flush()
            s.add_all([
                # talking to 1001 when the engine died; Asterisk's hang-up handler left nothing (no record)
                Interaction(linkedid="gone-1", started_at=began, agent_id="1001", customer_id=ann.id, queue="support"),
                # waiting when the engine died; app_queue connected it to 1003 (the away record says)
                Interaction(linkedid="gone-2", started_at=began, customer_id=bo.id, queue="support"),
                Interaction(linkedid="gone-3", started_at=began),  # an unknown caller in the IVR
                Interaction(linkedid="live-1", started_at=began, agent_id="1002", customer_id=ann.id),  # still up
            ])
            ids = {"ann": ann.id, "bo": bo.id}
        published: list[Event] = []

        async def publish(ev: Event) -> None:
            published.append(ev)

        async def send(action: str, headers: dict[str, str], **_: Any) -> Any:
            if action == "DBGet" and headers["Key"] == "gone-2":
                return SimpleNamespace(items=[{"Val": f"{now - 30:.3f}|app_queue|support|1003|{now - 90:.3f}|"}])
            if action == "DBGet":
                raise AmiActionFailed("DBGet: Database entry not found")
            return None  # the Originate that clears cti_away

        rec = Recovery(acd=cast(Any, SimpleNamespace(calls={"live-1": object()})),
                       model=cast(Any, SimpleNamespace(calls=lambda: [])), control=cast(Any, None), db=db,
                       bus=cast(Any, SimpleNamespace(publish=publish)), login=cast(Any, None), send=send)
        closed = await rec._close_orphans(RecoveryReport())
        assert sorted(closed) == ["gone-1", "gone-2", "gone-3"]
        ended = {e.linkedid: (e.agent_id, e.customer_id) for e in published if isinstance(e, CallEnded)}
        assert ended == {"gone-1": ("1001", ids["ann"]), "gone-2": ("1003", ids["bo"]), "gone-3": (None, None)}
        assert [(e.linkedid, e.agent_id) for e in published if isinstance(e, CallConnected)] == [("gone-2", "1003")]
    finally:
        await db.dispose()
