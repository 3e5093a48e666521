"""Events the CRM publishes, owned here beside nothing that does I/O: the feed's vocabulary
(``crm_core.feed_events``) maps them without importing a database follower."""

from __future__ import annotations

from cti.events import Event, event


@event("case.changed")
class CaseChanged(Event):
    """One step of a case's history. ``action``: created, status, updated, assigned, escalated, note.
    ``status``/``previous_status`` for a status change, ``fields`` for an edit (their names),
    ``owner_id`` at creation and for an assignment, ``priority`` at creation, ``escalation_level``
    for an escalation."""

    event_id: int
    case_id: int
    action: str
    actor: str
    customer_id: int | None = None
    status: str | None = None
    previous_status: str | None = None
    fields: tuple[str, ...] = ()
    owner_id: int | None = None
    priority: str | None = None
    escalation_level: int | None = None
