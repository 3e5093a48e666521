"""KPIS.md takes FCR's resolution from the wrap-up's resolved flag; a disposition that ``resolves``
is that flag's default: a wrap-up that does not say (an API client, a script) is resolved when its
disposition resolves, and an agent's explicit choice wins. The console's catalog says which
dispositions resolve (its wrap-up form pre-ticks the box)."""

from __future__ import annotations

from pathlib import Path

from agent_console.ports import WrapUpInput
from agent_console.protocol import WrapUpFields
from crm_core import catalog
from crm_core.db import Database
from crm_core.schemas import DispositionIn
from cti.journey import WrapUpDone
from tests.db.crm.test_wrapup_outage import _desk, _ended


async def test_the_resolved_flag_defaults_to_the_dispositions_resolves(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        await catalog.create_disposition(session=s, data=DispositionIn(code="fixed", label="Fixed", resolves=True))
        await catalog.create_disposition(session=s, data=DispositionIn(code="escalated", label="Escalated"))
        await s.commit()
    desk, seen = await _desk(db, tmp_path / "j.jsonl")
    assert WrapUpFields(disposition="fixed").resolved is None  # the form's field, when a client omits it
    cases = [("fixed", None, True), ("escalated", None, False), ("fixed", False, False), ("escalated", True, True)]
    for i, (code, resolved, _) in enumerate(cases):
        desk.acd.wrapups[("1001", f"L{i}")] = _ended("1001", f"L{i}")
        await desk.wrap_up("1001", f"L{i}", WrapUpInput(disposition=code, resolved=resolved))
    await desk.bus.drain()
    done = {e.linkedid: e.resolved_first_contact for e in seen if isinstance(e, WrapUpDone)}
    assert [done[f"L{i}"] for i in range(len(cases))] == [expected for *_, expected in cases]
    got = {d.code: d.resolves for d in (await desk.catalog("1001")).dispositions}
    assert (got["fixed"], got["escalated"]) == (True, False)
    await desk.journal.stop()
