"""The screen pop of a call that went through the real IVR driver: each step's human label and the
caller's topic as intent, from the logger's live state and again from the stored interaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_console.protocol import Pop
from crm_core.calllog import CallLogger
from crm_core.db import Database
from crm_core.models import Article, Customer, Script
from crm_core.screenpop import SqlPopSource
from crm_core.seed import ARTICLES, SCRIPTS
from cti.journey import AgentRinging, CallEnded, IvrFinished, QueueEntered
from ivr.driver import run_ivr
from tests.unit.ivr.test_driver import Clock, ScriptedSession, directory
from tests.unit.ivr.test_driver import bus as bus
from tests.unit.ivr.walk import OPEN, demo

LABELS = ["Caller ID lookup", "Welcome", "Account number", "PIN", "Account and PIN check", "Caller identified",
          "Opening hours", "Main menu", "Billing"]


async def test_pop_shows_step_labels_and_the_callers_topic(db: Database, tmp_path: Path, bus: Any) -> None:
    async with db.session() as s:
        s.add(Customer(id=42, name="Li Wei", account_number="123456"))  # GOLD of the scripted directory
        for name, queue, intent, lang, title, body in SCRIPTS:
            s.add(Script(name=name, queue=queue, intent=intent, language=lang, title=title, body=body))
        for title, body, lang, category, tags in ARTICLES:
            s.add(Article(title=title, body=body, language=lang, category=category, tags=tags))
    out = await run_ivr(ScriptedSession(["123456", "1234", "2"]), demo(), directory(), bus, Clock(OPEN))
    await bus.drain()
    lid = out.linkedid
    logger = CallLogger(db, tmp_path)
    await logger.start()
    try:
        for ev in bus.seen:
            await logger.handle(ev)
        t = next(e for e in bus.seen if isinstance(e, IvrFinished)).ts
        for ev in (QueueEntered(ts=t + 0.1, linkedid=lid, queue="billing"),
                   AgentRinging(ts=t + 5, linkedid=lid, agent_id="1003", queue="billing")):
            await logger.handle(ev)
        live = Pop.model_validate(await SqlPopSource(db, live=logger).build_pop(
            lid, "1003", {"queue": "billing", "waited_s": 4.9}))
        await logger.handle(CallEnded(ts=t + 9, linkedid=lid))
        await logger.flush(timeout_s=10)
    finally:
        await logger.stop()
    stored = Pop.model_validate(await SqlPopSource(db).build_pop(lid, "1003", {}))
    for pop in (live, stored):
        assert [step.label for step in pop.ivr_path] == LABELS
        assert next(step for step in pop.ivr_path if step.label == "Main menu").input == "2"
        assert next(step for step in pop.ivr_path if step.label == "PIN").input == "****"
        assert pop.intent == "billing" and pop.queue == "billing"
        assert pop.script is not None and pop.script.title in ("账单咨询", "Billing questions")
        assert pop.articles
