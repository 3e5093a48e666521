"""Recovery of the ACD's memory of who last served each customer ("preferred agent" routing: a
customer's next call prefers that agent, ``AcdService.remember_agent``, for ``preferred_window_s``).
The running engine keeps it in memory only; a restarted one fills it again from the inbound
interactions answered within that window, oldest first (the last answer is the one kept)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select

from acd.delivery import AcdService
from callcenter.recovery_own_calls import utc_epoch
from crm_core.db import Database
from crm_core.models import Interaction

log = logging.getLogger(__name__)


async def remember_last_agents(acd: AcdService, db: Database, now: float) -> int:
    """The customers remembered: their last inbound call's agent within the window before ``now``."""
    since = datetime.fromtimestamp(now - acd.preferred_window_s, UTC)  # as the call logger writes times
    try:
        async with db.session() as s:
            stmt = (select(Interaction.customer_id, Interaction.agent_id, Interaction.answered_at)
                    .where(Interaction.direction == "inbound", Interaction.answered_at >= since,
                           Interaction.customer_id.is_not(None), Interaction.agent_id.is_not(None))
                    .order_by(Interaction.answered_at, Interaction.id))
            rows = (await s.execute(stmt)).all()
    except Exception:
        log.exception("recovery: could not read who served the customers last; no agent is preferred for now")
        return 0
    for customer_id, agent_id, answered in rows:
        at = utc_epoch(answered)
        if customer_id is not None and agent_id and at is not None:
            acd.remember_agent(customer_id, agent_id, at)
    return len({r[0] for r in rows})
