"""Outbound campaigns through the real PBX with the customers on the far side of a trunk: the
campaigns' calls leave by the carrier-dialer trunk to the carrier (a second Asterisk) whose
dialplan plays people who say hello, answering machines with a long greeting (our AMD says
MACHINE), busy lines and numbers that never answer. A progressive and a predictive campaign run
to completion with simulated agent phones (in the predictive one both agents step away while the
first people's phones ring, so that some are dropped). What the carrier received proves no contact was
dialled outside its window or on the do-not-call list, and every attempt was dialled once and
is in the CRM exactly once."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from callcenter.engine import Engine
from crm_core import campaigns
from cti.events import Event
from cti.journey import CampaignAttemptEnded
from tests.asterisk.campaigns import (
    assert_one_interaction_per_attempt,
    contacts_and_attempts,
    create_campaign,
    run_to_completion,
    take_calls,
)
from tests.asterisk.trunks.rig import CALLER_ID, OWNED_CALLER_ID, Rig
from tests.helpers import until

# The carrier's customers by number (carrier/asterisk/extensions.conf): 861500 people, 861501
# machines, 861502 busy, 861503 never answer.
PERSON, MACHINE, BUSY, NO_ANSWER = "+86150000000", "+86150100000", "+86150200000", "+86150300000"
CAMPAIGN_CALLER_ID = OWNED_CALLER_ID  # the carrier-dialer trunk lists it in caller_ids


def _carrier_got(rig: Rig) -> Counter[tuple[str, str]]:
    """(number, caller id) of every call the carrier received, counted."""
    return Counter(re.findall(r"NOTICE\[.*: CARRIER-GOT (\+\d+) from (\+?\d*)$", rig.carrier_log(), re.M))


def _played(rig: Rig, sound: str) -> int:
    """How many times our PBX played ``sound`` (to a campaign's customer: cti-campaign's ExecIf)."""
    return len(re.findall(rf"cti-campaign:\d+\] ExecIf\(\"[^\"]+\", \"1\?Playback\({re.escape(sound)}\)\"\)",
                          rig.ours.log_file.read_text(errors="replace")))


async def _agents(eng: Engine, *agents: str) -> None:
    for agent in agents:
        await eng.desk.login_queues(agent, ["support"])
        await eng.desk.set_ready(agent)


async def test_progressive_campaign_runs_to_completion_through_the_trunk(
        rig: Rig, engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    eng.dialer.dial_timeout_s = 6  # a ring-out gives up sooner than the default 30 s
    await _agents(eng, "1001", "1002")
    person, machine, busy, no_answer, dnc = PERSON + "11", MACHINE + "12", BUSY + "13", NO_ANSWER + "14", PERSON + "15"
    listed, night = PERSON + "16", PERSON + "17"
    spring = await create_campaign(
        eng, "spring", [(person, "UTC"), (machine, "UTC"), (busy, "UTC"), (no_answer, "UTC"), (dnc, "UTC"),
                        (listed, "UTC")],
        retry={"busy": 0, "no_answer": None}, max_attempts=2, machine_action="message",
        machine_message="hello-world", caller_id=CAMPAIGN_CALLER_ID, script="Offer the spring plan")
    # A contact whose local time (UTC+14) is outside the window: never dialled.
    nightly = await create_campaign(eng, "night", [(night, "Pacific/Kiritimati")])
    async with eng.db.session() as s:
        await campaigns.add_dnc(session=s, number=dnc, reason="asked not to be called")
        await campaigns.add_dnc(session=s, number=listed, campaign_id=spring)
    served: list[str] = []
    worker = asyncio.create_task(take_calls(eng, seen, served, campaign="spring", script="Offer the spring plan"))
    try:
        await eng.dialer.command(nightly, "start", "sup1")
        await eng.dialer.command(spring, "start", "sup1")
        await run_to_completion(eng, spring, worker, timeout_s=60)
    finally:
        worker.cancel()
    await eng.dialer.command(nightly, "stop", "sup1")

    contacts, attempts = await contacts_and_attempts(eng, spring)
    assert contacts == {person: ("done", 1, "human"), machine: ("done", 1, "machine"), busy: ("failed", 2, "busy"),
                        no_answer: ("failed", 1, "no_answer"), dnc: ("dnc", 0, None), listed: ("dnc", 0, None)}
    assert (await contacts_and_attempts(eng, nightly))[0] == {night: ("pending", 0, None)}
    # The far side received exactly the attempts, with the campaign's caller ID, and nothing else.
    assert _carrier_got(rig) == Counter({(person, CAMPAIGN_CALLER_ID): 1, (machine, CAMPAIGN_CALLER_ID): 1,
                                         (busy, CAMPAIGN_CALLER_ID): 2, (no_answer, CAMPAIGN_CALLER_ID): 1})
    assert Counter(a.number for a in attempts) == Counter({person: 1, machine: 1, busy: 2, no_answer: 1})
    assert len(served) == 1
    assert _played(rig, "hello-world") == 1, rig.ours.logs(300)  # the machine got the campaign's message
    await assert_one_interaction_per_attempt(eng, spring, attempts, lambda agent: agent in ("1001", "1002"))


async def test_predictive_campaign_runs_to_completion_and_drops_hear_the_message(
        rig: Rig, engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    eng.dialer.dial_timeout_s = 6
    await _agents(eng, "1001", "1002")
    people = [PERSON + f"2{i}" for i in range(6)]
    machines, busy, no_answer = [MACHINE + "31", MACHINE + "32"], [BUSY + "33"], [NO_ANSWER + "34", NO_ANSWER + "35"]
    dnc = PERSON + "36"
    numbers = [*people, *machines, *busy, *no_answer, dnc]
    summer = await create_campaign(
        eng, "summer", [(n, "UTC") for n in numbers], mode="predictive",
        retry={"machine": 0, "busy": None, "no_answer": None, "dropped": None}, max_attempts=2,
        machine_action="retry", drop_message="vm-goodbye", script="Offer the summer plan")
    async with eng.db.session() as s:
        await campaigns.add_dnc(session=s, number=dnc, campaign_id=summer)
        # A caller ID the trunk does not (or no longer) own, as if accepted before trunks.yaml changed:
        # creating it now is refused (tests/web), and the dialer presents the default instead.
        (await campaigns.get_campaign(session=s, campaign_id=summer)).caller_id = "+861058880078"
    before = _carrier_got(rig)
    served: list[str] = []
    worker = asyncio.create_task(take_calls(eng, seen, served, campaign="summer", script="Offer the summer plan",
                                            talk_s=1.0))
    try:
        await eng.dialer.command(summer, "start", "sup1")
        # Both agents leave while the first people's phones ring: they answer with no agent free.
        for agent in ("1001", "1002"):
            await eng.desk.set_not_ready(agent, "break")
        await until(lambda: any(isinstance(e, CampaignAttemptEnded) and e.result == "dropped" for e in seen),
                    what="a person dropped")
        for agent in ("1001", "1002"):
            await eng.desk.set_ready(agent)
        await run_to_completion(eng, summer, worker, timeout_s=60)
    finally:
        worker.cancel()

    contacts, attempts = await contacts_and_attempts(eng, summer)
    outcomes = Counter(a.outcome for a in attempts)
    dropped = outcomes["dropped"]
    assert dropped >= 1
    # Each person reached an agent or was dropped (never retried); machines were retried once and
    # never heard a message (machine_action retry); busy and no answer were never retried.
    assert {n: contacts[n] for n in people if contacts[n] != ("done", 1, "human")} == {
        n: ("failed", 1, "dropped") for n in people if contacts[n][2] == "dropped"}
    assert {n: contacts[n] for n in (*machines, *busy, *no_answer, dnc)} == {
        **{n: ("failed", 2, "machine") for n in machines}, **{n: ("failed", 1, "busy") for n in busy},
        **{n: ("failed", 1, "no_answer") for n in no_answer}, dnc: ("dnc", 0, None)}
    assert outcomes == Counter({"human": 6 - dropped, "dropped": dropped, "machine": 4, "busy": 1, "no_answer": 2})
    assert len(served) == 6 - dropped
    # The far side received exactly the attempts (the do-not-call number never).
    got = _carrier_got(rig) - before
    assert Counter(n for n, _ in got.elements()) == Counter(a.number for a in attempts)
    assert {cid for _, cid in got} == {CALLER_ID}  # never the number the trunk does not own
    # A dropped person heard the drop message (never silence); a machine heard nothing.
    assert _played(rig, "vm-goodbye") == dropped
    view = eng.dialer.view(summer)
    assert view is not None and view["drop_rate"] == round(dropped / 6, 4)
    await assert_one_interaction_per_attempt(eng, summer, attempts, lambda agent: agent in ("1001", "1002"))
