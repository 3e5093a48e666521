"""Real adapters of the agent console's ports on the CRM database: ``UserStore`` (argon2 login),
``SessionStore`` (sessions ended in the database), ``CustomerSearch`` (cards, history, open
cases). The ``PopSource`` adapter is ``crm_core.screenpop.SqlPopSource``."""

from __future__ import annotations

from typing import Any

from agent_console.security import Principal
from crm_core import cases, customers, interactions, users
from crm_core.db import Database
from crm_core.errors import NotFound
from crm_core.screenpop import case_view, customer_card, interaction_view


class SqlUserStore:
    """Who may log in to the console; unknown users cost the same argon2 work as known ones."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def authenticate(self, username: str, password: str) -> Principal | None:
        async with self.db.session() as session:
            user = await users.authenticate(session=session, username=username, password=password)
            if user is None:
                return None
            return Principal(user_id=user.id, username=user.username, role=user.role,  # type: ignore[arg-type]
                             agent_id=user.agent_id, display_name=user.display_name)


class SqlSessionStore:
    """Session checks and ends on the users table (``crm_core.users``): shared by every node."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def session_problem(self, user_id: int, issued_at: float) -> str | None:
        async with self.db.session() as session:
            return await users.session_problem(session=session, user_id=user_id, issued_at=issued_at)

    async def end_sessions(self, user_id: int, at: float) -> None:
        async with self.db.session() as session:
            await users.end_sessions(session=session, user_id=user_id, at=at)


class SqlCustomerSearch:
    """Customer cards for the console's search box and customer panel."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            found, _ = await customers.search_customers(session=session, q=query.strip()[:100] or None,
                                                        limit=max(1, min(limit, 100)))
            return [customer_card(c) for c in found]

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        async with self.db.session() as session:
            try:
                c = await customers.get_customer(session=session, customer_id=customer_id)
            except NotFound:
                return None
            recent = await interactions.recent_for_customer(session=session, customer_id=c.id, limit=5)
            open_cases, _ = await cases.list_cases(session=session, customer_id=c.id, open_only=True, limit=20)
            return {"customer": customer_card(c), "interactions": [interaction_view(i) for i in recent],
                    "open_cases": [case_view(x) for x in open_cases]}

    async def history(self, customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            recent = await interactions.recent_for_customer(session=session, customer_id=customer_id,
                                                            limit=max(1, min(limit, 200)))
            return [interaction_view(i) for i in recent]
