"""An engine that stops rings no agent, on a real Asterisk. The stop ends the ACD first, yet the
engine still hears what happens for a few seconds (AMI and the bus close later): an agent who
becomes free then (a wrap-up ending, here made ready) is not rung for a waiting caller, since no
engine would be there to connect them. The caller keeps waiting in ``cti-queue`` with its queue
entry, for the next engine. Before, the stopped ACD offered the call and Asterisk rang the agent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from acd.events import AgentOffer
from acd.recovery import ENTRY_VAR, decode_entry
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import channels, engine_settings, english_customer_number, place_call, seed, until


def _channels(pbx: ManagedPbx) -> list[tuple[str, str]]:
    """(channel, context) of every channel Asterisk has."""
    return [(c.name, c.context) for c in channels(pbx)]


async def test_an_agent_freed_during_the_stop_is_not_rung(pbx: ManagedPbx, pbx_settings: Settings,
                                                          tmp_path: Path) -> None:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    settings = engine_settings(pbx_settings, tmp_path)
    await seed(settings)
    eng = Engine(settings, answer_after_s=0.5, web=False)
    eng.bus.subscribe(Event, record, name="test.recorder")
    await eng.start()
    try:
        number = await english_customer_number(eng)
        await eng.desk.login_queues("1001", ["support", "general"])  # not ready: the caller waits
        entered = await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
        caller = entered.channel
        await until(lambda: (caller, "cti-queue") in _channels(pbx), what="the caller waiting in cti-queue")

        await eng.acd.stop()  # the stop's first step; AMI and the bus still run
        await eng.desk.set_ready("1001")  # free now, as a wrap-up ending during the stop would make it
        await asyncio.sleep(2.0)  # an Originate would have made 1001's leg long before this
        assert not [e for e in seen if isinstance(e, AgentOffer)]
        assert eng.router.agent("1001").state.value == "available"
        assert not [name for name, _ in _channels(pbx) if "1001@" in name or "/1001-" in name], _channels(pbx)
        assert (caller, "cti-queue") in _channels(pbx)
        entry = decode_entry(await eng.ami.control.get_var(caller, ENTRY_VAR))  # what the next engine reads
        assert entry is not None and (entry.linkedid, entry.queue) == (entered.linkedid, entered.queue), entry
    finally:
        await eng.stop()
    try:
        assert (caller, "cti-queue") in _channels(pbx)  # still waiting, for the next engine
    finally:
        pbx.cli("channel request hangup all")
        await until(lambda: "0 active channels" in pbx.cli("core show channels count"), what="every channel gone")
