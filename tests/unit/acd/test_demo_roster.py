"""The demo's roster (config/queues.yaml `agents:`) leaves calls to the person who logs in as
agent7 or agent8, the logins `make run` prints: the README's tour has them press R and take demo calls.

With agent7 at support level 1 (the first step needs support 3) and agent8 without zh (16 of 17
demo customers speak Chinese), the six bots took nearly every call and a person sat ready for
minutes without a ring (seen in a `make run` trial: 90 s as agent7 and 4 min as agent8, no offer)."""

from __future__ import annotations

import pytest

from acd.config import load_queues
from acd.routing import Router
from cti.settings import load_settings

from .helpers import offers

BOTS = [str(1001 + n) for n in range(6)]  # `cti run --demo`'s default bots
ZH_CALLER = {"zh": 1}  # config/ivr/demo.yaml language_skills: a zh-CN customer's call needs zh


@pytest.mark.parametrize(("person", "queue"), [("1007", "support"), ("1007", "general"), ("1008", "support")])
def test_a_person_idle_longest_gets_the_next_call_of_a_chinese_customer(person: str, queue: str) -> None:
    cfg = load_queues(load_settings())
    roster = {a.agent_id: a for a in cfg.agents}
    r = Router(cfg.queues)
    me = roster[person]
    r.agent_login(me.agent_id, me.skills, 0.0, queues=list(me.queues), ready=True)  # ready first: idle longest
    for n, bot in enumerate(BOTS, start=1):
        agent = roster[bot]
        r.agent_login(agent.agent_id, agent.skills, float(n), queues=list(agent.queues), ready=True)
    assert queue in me.queues
    assert offers(r.enqueue("c1", queue, 10.0, skills=ZH_CALLER)) == [("c1", person)]
