"""Who the outbound dialer counts as free: agents of the campaign's queue who meet what its first
step asks of the campaign's calls. An agent the queue would reach only after widening is not free
(counted free, a person was answered for them and waited on music: docs/outbound.md)."""

from __future__ import annotations

from typing import Any, cast

from acd.delivery import AcdService
from acd.model import QueueConfig, RoutingStep
from acd.routing import Router
from crm_core.campaign_models import Campaign
from crm_core.dialer import CampaignDialer
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.trunks import TrunksConfig


def test_only_agents_the_first_step_takes_are_free() -> None:
    support = QueueConfig("support", steps=(RoutingStep(0, {"support": 3}), RoutingStep(90, {})))
    router = Router([support])
    for agent, skills in (("1001", {"support": 4, "zh": 2}), ("1002", {"support": 3}), ("1003", {"support": 1}),
                          ("1004", {"zh": 5})):
        router.agent_login(agent, skills, 1000.0, queues=["support"], ready=True)
    acd = AcdService(router, FakeCallControl(), InProcessBus(), clock=lambda: 1000.0)
    dialer = CampaignDialer(cast(Any, None), acd, FakeCallControl, InProcessBus(), routing=TrunksConfig())

    def free(skills: dict[str, int]) -> int:
        campaign = Campaign(id=1, name="c", queue="support", skills=skills, mode="progressive", state="running",
                            caller_id=None, drop_cap=0.03, max_lines_per_agent=3.0, drop_message="",
                            machine_action="retry", machine_message="", script="")
        return dialer._floor(dialer._live_campaign(campaign), 1000.0).idle

    assert free({}) == 2  # 1001 and 1002; 1003 and 1004 only once the queue widens
    assert free({"zh": 2}) == 1  # the campaign's own skills are added to the step's
