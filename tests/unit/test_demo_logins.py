"""What `cti run --demo` prints as the agent's login: one the bots do not play (the printed agent1
was a bot: whoever used it watched its calls ring a simulated phone)."""

from acd.config import demo_agents
from callcenter.run import demo_logins
from cti.settings import DEFAULT_CONFIG_DIR

ROSTER = [(f"agent{n}", str(1000 + n)) for n in range(1, 9)]


def test_the_printed_agent_is_the_first_the_bots_leave() -> None:
    logins = dict(demo_logins(ROSTER, {str(1000 + n) for n in range(1, 7)}))
    assert logins["agent"] == "agent7 / agent7-demo  (yours to take calls; agent8 likewise)"
    assert logins["manager"] == "mgr1 / mgr1-demo-1" and logins["supervisor"] == "sup1 / sup1-demo-1"
    assert dict(demo_logins(ROSTER, {"1001", "1002", "1003"}))["agent"].startswith(
        "agent4 / agent4-demo  (yours to take calls; agent5..agent8 likewise)")
    assert dict(demo_logins(ROSTER, {a for _, a in ROSTER}))["agent"].startswith("none")


def test_the_shipped_roster_with_the_default_bots_leaves_agent7() -> None:
    roster = [(a.username, a.agent_id) for a in demo_agents(DEFAULT_CONFIG_DIR)]
    assert dict(demo_logins(roster, {str(1001 + n) for n in range(6)}))["agent"].startswith("agent7 / agent7-demo")
