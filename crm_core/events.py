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


@event("customer.changed")
class CustomerChanged(Event):
    """A customer was created or their details changed through the CRM's API (``POST`` or ``PATCH
    /api/crm/customers``), committed: the consoles showing that customer's pop on a live call refresh
    its card, the screen pop's recent cards (what outage pops show) are read again, and the IVR's
    caller look-ups forget what they knew of the customer's numbers, on every node (the engine's bus).
    ``fields``: the names of the fields given (never their values: a PIN among them stays unsaid)."""

    customer_id: int
    actor: str
    fields: tuple[str, ...] = ()


@event("interaction.customer_linked")
class CustomerLinked(Event):
    """A call's interaction was linked to a customer through the CRM's API (``PUT
    /api/crm/interactions/{id}/customer``), committed: the consoles showing that call (its agent,
    a consulted agent) get the pop of the linked customer, on every node (the engine's bus). The
    interaction row is the call's customer from then on (the call log keeps it; the wrap-up's case
    and callback read it). Not in the public feed."""

    linkedid: str
    interaction_id: int
    customer_id: int
    actor: str


@event("campaign.changed")
class CampaignChanged(Event):
    """A campaign was started, paused, resumed or stopped, committed (``crm_core.dialer``'s
    ``command``): every node's dialer reads the campaigns again now (an idle one reads them only on
    such news, or once a minute). Not in the public feed."""

    campaign_id: int
    state: str
    actor: str
