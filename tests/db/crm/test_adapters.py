"""The console's and the IVR's ports on the real CRM database: login, customer search, screen pop."""

from __future__ import annotations

from pathlib import Path

from agent_console.crm_adapters import SqlCustomerSearch, SqlUserStore
from agent_console.protocol import CustomerCard, InteractionView, Pop
from crm_core.calllog import CallLogger
from crm_core.db import Database
from crm_core.screenpop import SqlPopSource
from crm_core.seed import seed_demo
from cti.journey import AgentRinging, CallArrived, IvrFinished, QueueEntered


async def test_seeded_demo_through_the_console_ports(db: Database, tmp_path: Path) -> None:
    lines: list[str] = []
    added = await seed_demo(db, progress=lines.append)
    assert added["customers"] == 200 and added["users"] == 11 and added["interactions"] == 600
    again = await seed_demo(db, progress=lines.append)
    assert set(again.values()) == {0}  # idempotent

    store = SqlUserStore(db)
    who = await store.authenticate("agent1", "agent1-demo")
    assert who is not None and (who.role, who.agent_id) == ("agent", "1001")
    assert await store.authenticate("agent1", "wrong") is None
    assert (await store.authenticate("admin", "admin-demo-1")).role == "admin"  # type: ignore[union-attr]

    search = SqlCustomerSearch(db)
    cards = await search.search("13800138000")
    assert [CustomerCard.model_validate(c).name for c in cards] == ["张伟"]
    panel = await search.customer(cards[0]["id"])
    assert panel is not None and panel["customer"]["tier"] == "key_account"
    for i in await search.history(cards[0]["id"]):
        InteractionView.model_validate(i)
    assert await search.customer(999_999) is None

    # A live call: the pop comes from the logger's memory before anything is written.
    logger = CallLogger(db, tmp_path)
    await logger.start()
    for ev in (CallArrived(ts=1.0, linkedid="live.1", channel="PJSIP/t-1", caller_number="13800138000"),
               IvrFinished(ts=9.0, linkedid="live.1", flow="demo", outcome="queue", queue="billing",
                           path=({"node": "ask_pin", "input": "1234"}, {"node": "menu", "input": "2",
                                                                         "choice": "billing"})),
               QueueEntered(ts=9.1, linkedid="live.1", queue="billing"),
               AgentRinging(ts=20.0, linkedid="live.1", agent_id="1002", queue="billing")):
        await logger.handle(ev)
    pop = Pop.model_validate(await SqlPopSource(db, live=logger).build_pop("live.1", "1002", {"waited_s": 10.9}))
    await logger.stop()
    assert pop.customer is not None and pop.customer.name == "张伟"
    assert pop.queue == "billing" and pop.intent == "billing" and pop.waited_s == 10.9
    assert [s.input for s in pop.ivr_path] == ["****", "2"]
    assert pop.script is not None and "张伟" in pop.script.body
    assert len(pop.interactions) <= 5 and pop.articles


async def test_session_checks_for_many_users_in_one_query(db: Database) -> None:
    """``SqlSessionStore.session_problems``: one statement answers for every user asked (on
    SQLite and PostgreSQL), whether each user is active and each token was issued after the
    user's sessions were last ended."""
    from sqlalchemy import event

    from agent_console.crm_adapters import SqlSessionStore
    from crm_core import users

    async with db.session() as s:
        ids = [(await users.create_user(session=s, username=f"sc{i}", password="a-long-password")).id
               for i in range(3)]
        await users.end_sessions(session=s, user_id=ids[1], at=1000.0)
        await users.set_active(session=s, user_id=ids[2], active=False)
    statements: list[str] = []
    sync_engine = db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    store = SqlSessionStore(db)
    checks = [(ids[0], 900.0), (ids[1], 900.0), (ids[1], 1001.0), (ids[2], 2000.0), (999_999, 1.0)]
    assert await store.session_problems(checks) == [
        None, "session ended", None, "user deactivated", "user deactivated"]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


async def test_a_password_reset_or_demotion_elsewhere_drops_the_login_remembered_for_outages(db: Database) -> None:
    """A node remembers a login's hash for database outages. A reset made on another node (or by
    ``cti users reset-password``) was seen by this node's session checks only as "session ended",
    and the old password still logged in here during an outage, for up to 8 h."""
    from agent_console.crm_adapters import SqlSessionStore, SqlUserStore
    from crm_core import users

    async with db.session() as s:
        kept = await users.create_user(session=s, username="kept1", password="a-long-password")
        reset = await users.create_user(session=s, username="reset1", password="a-long-password")
        demoted = await users.create_user(session=s, username="demoted1", password="a-long-password",
                                          role="supervisor")
    logins = SqlUserStore(db)
    for name in ("kept1", "reset1", "demoted1"):
        assert await logins.authenticate(name, "a-long-password") is not None
    async with db.session() as s:  # another node, or the command
        await users.set_password(session=s, user_id=reset.id, password="another-long-password")
        await users.update_user(session=s, user_id=demoted.id, changes={"role": "agent"})
    checks = [(kept.id, 1.0), (reset.id, 1.0), (demoted.id, 1.0)]
    await SqlSessionStore(db, logins).session_problems(checks)
    assert [name for name, _ in logins.recent.items()] == ["kept1"]
