"""Every field of the KPI record (``acd.kpis.CallRecord``) is filled from the CRM's interaction
(``agent_console.supervisor.records.record_of``): a field no interaction can set is a rule the
figures claim and never apply. ``repeat_contact`` was such a field (FCR read it, nothing set it);
a repeat contact is the next contact on the same case within ``fcr_days`` (docs/kpis.md), which
the issue grouping itself sees, so the field is gone rather than set."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import SimpleNamespace

from acd.agent_parts import AgentPart
from acd.kpis import CallRecord, per_agent
from agent_console.supervisor.records import record_of


def test_every_field_of_the_kpi_record_comes_from_the_interaction() -> None:
    t = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    row = SimpleNamespace(linkedid="L1", direction="inbound", started_at=t, answered_at=t, ended_at=t,
                          outcome="answered", queue="support", agent_id="1001", ivr_s=5.0, wait_s=12.0, talk_s=60.0,
                          hold_s=10.0, acw_s=20.0, hold_count=1, disposition="resolved", resolved_first_contact=True,
                          case_id=7, csat=5, dialled_number="5000")
    # The agents' own parts of a transferred call come from its segments (records.load_parts).
    parts = (AgentPart(agent_id="1002", talk_s=20.0), AgentPart(agent_id="1001", talk_s=40.0))
    record = record_of(row, parts)
    assert record is not None
    defaults = {f.name for f in dataclasses.fields(CallRecord)
                if f.default is not dataclasses.MISSING and getattr(record, f.name) == f.default}
    # ``contact`` is True for every interaction: only the per-agent split sets it, on the parts of
    # the agents whose wrap-up did not complete the call.
    assert defaults == {"contact"}, f"never set from the CRM: {sorted(defaults - {'contact'})}"
    assert [(r.agent_id, r.contact) for r in per_agent(record)] == [("1002", False), ("1001", True)]
