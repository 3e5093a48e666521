"""What the engine's AMI session reads per call, on the real Asterisk with the shipped manager.conf:
a few IVR -> queue -> agent calls (menu key, music on hold, the agent's bridge, hang-up), every
byte the engine's connection receives counted by event name. Events only observers wait on
(DTMFEnd, MusicOnHoldStart/Stop, DialBegin, BridgeCreate/Destroy) go to the observer user, never
to the engine; the figures are printed for bench/RESULTS.md (pytest -s)."""

from __future__ import annotations

import asyncio
from collections import Counter

from acd.events import AgentOffer
from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected, CallEnded, QueueEntered
from tests.helpers import customer_number, place_call, until

CALLS = 3
OBSERVER_ONLY = {"DTMFEnd", "MusicOnHoldStart", "MusicOnHoldStop", "DialBegin", "BridgeCreate", "BridgeDestroy"}


class Tally:
    """Frames the engine connection's bytes again (on the side) and counts its messages."""

    def __init__(self) -> None:
        self.buf = b""
        self.events: Counter[str] = Counter()
        self.responses = 0  # action responses and list items (they carry the engine's ActionID)

    def feed(self, data: bytes) -> None:
        *blocks, self.buf = (self.buf + data).split(b"\r\n\r\n")
        for block in blocks:
            if block.startswith(b"Event: ") and b"\r\nActionID: " not in block:
                self.events[block[7:].split(b"\r\n", 1)[0].decode()] += 1
            elif block:
                self.responses += 1


async def test_the_engine_reads_only_the_events_it_models(engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    tally = Tally()
    client = eng.ami.client
    on_data = client._on_data

    def counting(data: bytes) -> None:
        tally.feed(data)
        on_data(data)

    client._on_data = counting  # type: ignore[method-assign]
    _, _, number = await customer_number(eng)
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    for n in range(CALLS):
        await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
        offer = await until(lambda n=n: ([e for e in seen if isinstance(e, AgentOffer)] + [None] * CALLS)[n])
        await until(lambda o=offer: any(isinstance(e, CallConnected) and e.linkedid == o.linkedid for e in seen))
        await asyncio.sleep(0.5)
        await eng.desk.hangup("1001", offer.linkedid)
        await until(lambda o=offer: any(isinstance(e, CallEnded) and e.linkedid == o.linkedid for e in seen))
        await until(lambda: eng.router.agent("1001").state.value == "wrap_up")
        await eng.desk.wrap_up("1001", offer.linkedid, WrapUpInput(disposition="resolved"))
    await asyncio.sleep(0.5)  # the last hang-ups' events
    total = sum(tally.events.values())
    print(f"\nengine AMI session, {CALLS} calls: {total / CALLS:.1f} events + {tally.responses / CALLS:.1f} "
          f"responses a call; by name per call: "
          + ", ".join(f"{k} {v / CALLS:.2f}" for k, v in tally.events.most_common()))
    assert tally.events["Newchannel"] >= 2 * CALLS and tally.events["BridgeEnter"] >= 2 * CALLS
    assert not OBSERVER_ONLY & set(tally.events), tally.events
