"""The ACD's bus handlers, CPU per call, in process: the engine's AcdService beside a bare bus.

    .venv/bin/python bench/acd_handlers.py [--quick] [--calls N] [--agents N]

Each call is what the e2e run (bench/e2e_sipp.py) hands the ACD: IvrFinished (the IVR queued the
caller) -> enqueue, routing, the offer's Originate (FakeCallControl answers at once) and the queue
entry's Setvar -> answered and bridged; the agent's phone's device states; CallEnded -> the
agent's part ends (no wrap-up time, ready again). 190 agents on SIP phones, one queue.
(a) engine: AcdService (router, delivery, the softphone watcher) on an InProcessBus.
(b) bare bus: the same events to no-op subscribers of the same types: the floor of delivering them.
Both run twice: with the three device states per call Asterisk sent before manager.conf's device
filters (RINGING, INUSE, NOT_INUSE) and with the one it sends now (NOT_INUSE). Process CPU per
call, best of three runs; the ratio a/b; peak RSS.
(c) fan-out: (a) with the queue's wrap-up time (15 s) ended by the agent's wrap-up (``set_ready``,
as the desk does), and the agents' state changes reaching what the engine wires to them without
the web console: the fallback members (an in-memory PBX), the campaign dialer, the metrics and a
stand-in for the event feed's subscription (another area's). Besides CPU per call it prints the
AgentStateChanged published and the bus worker wake-ups (handler runs) per call.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT  # bench/ first on sys.path would let bench/logging.py shadow the standard library

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

from acd.calls import AgentPhone  # noqa: E402
from acd.delivery import AcdService  # noqa: E402
from acd.events import AgentStateChanged  # noqa: E402
from acd.fallback import FakeFallbackQueues, FallbackMembers  # noqa: E402
from acd.model import QueueConfig  # noqa: E402
from acd.routing import Router  # noqa: E402
from cti.ami.control import FakeCallControl, OriginateResult  # noqa: E402
from cti.ami.events import DeviceStateChange  # noqa: E402
from cti.bus import InProcessBus  # noqa: E402
from cti.journey import CallEnded, IvrFinished  # noqa: E402
from cti.trunks import TrunksConfig  # noqa: E402

BEFORE = ("RINGING", "INUSE", "NOT_INUSE")  # per call, before the header filters
NOW = ("NOT_INUSE",)
TARGET_US = 400.0  # a tenth of the 4 ms engine budget per call


def engine_acd(bus: InProcessBus, agents: int, wrap_up_s: float) -> AcdService:
    devices = {f"PJSIP/{n}": "NOT_INUSE" for n in range(1001, 1001 + agents)}
    control = FakeCallControl(originate_result=OriginateResult(True, 4, "u", "L", "PJSIP/1001-1"))
    acd = AcdService(Router([QueueConfig("support", wrap_up_s=wrap_up_s)]), control, bus, device_state=devices.get)
    acd.subscribe()
    return acd


async def login_all(acd: AcdService, agents: int) -> None:
    for n in range(1001, 1001 + agents):
        await acd.agent_login(str(n), {"support": 5}, ["support"], phone=AgentPhone(str(n), "sip", 0), ready=True)


async def queue_call(bus: InProcessBus, i: int) -> str:
    """The IVR queues caller ``i``; returns its linkedid once every subscriber has handled it."""
    linkedid = f"L{i}"
    await bus.publish(IvrFinished(ts=time.time(), linkedid=linkedid, flow="bench", outcome="queue",
                                  channel=f"PJSIP/trunk-{i:08x}", caller_number="5550100", queue="support"))
    await bus.drain()
    return linkedid


async def answered(acd: AcdService, linkedid: str, i: int) -> str:
    """Wait for the call's ring task (the Originate's answer, then the bridge); its agent."""
    call = acd.calls[linkedid]
    if call.ring_task is not None:
        await call.ring_task
    assert call.status == "talking" and call.agent_id is not None
    if not i % 100:
        acd.control.calls.clear()  # type: ignore[attr-defined]
    return call.agent_id


async def one_run(calls: int, agents: int, states: tuple[str, ...], *, bare: bool) -> float:
    bus = InProcessBus()
    acd: AcdService | None = None
    if bare:
        async def nothing(_ev: object) -> None:
            return None
        for kind in (IvrFinished, CallEnded, DeviceStateChange):
            bus.subscribe(kind, nothing, name=f"bare.{kind.__name__}")
    else:
        acd = engine_acd(bus, agents, 0)
    await bus.start()
    if acd is not None:
        await login_all(acd, agents)
    gc.collect()
    t0 = time.process_time()
    for i in range(calls):
        linkedid = await queue_call(bus, i)
        device = f"PJSIP/{1001 + i % agents}"
        if acd is not None:
            device = f"PJSIP/{await answered(acd, linkedid, i)}"
        for state in states[:-1]:
            await bus.publish(DeviceStateChange(ts=time.time(), device=device, state=state))
        await bus.publish(CallEnded(ts=time.time(), linkedid=linkedid))
        await bus.publish(DeviceStateChange(ts=time.time(), device=device, state=states[-1]))
        await bus.drain()
    cpu = time.process_time() - t0
    if acd is not None:
        await acd.stop()
    await bus.stop()
    return cpu / calls * 1e6


async def fanout_run(calls: int, agents: int) -> tuple[float, float, float]:
    """(c): CPU us per call, AgentStateChanged per call, bus handler runs per call."""
    from agent_console.metrics import EngineMetrics  # the engine's wiring, not the ACD's imports
    from crm_core.dialer import CampaignDialer

    bus = InProcessBus()
    acd = engine_acd(bus, agents, 15)
    control = acd.control
    members = FallbackMembers(FakeFallbackQueues(), bus, acd.phones, ["support"])
    members.subscribe()
    dialer = CampaignDialer(None, acd, lambda: control, bus, routing=TrunksConfig())  # type: ignore[arg-type]
    dialer.subscribe()
    dialer._task = asyncio.create_task(asyncio.sleep(3600))  # started, no campaign running
    EngineMetrics().subscribe(bus)
    states = 0

    async def feed_stand_in(_ev: AgentStateChanged) -> None:
        nonlocal states
        states += 1

    bus.subscribe(AgentStateChanged, feed_stand_in, name="bench.feed_stand_in")
    await bus.start()
    await login_all(acd, agents)
    await bus.drain()
    await members.wait_synced()

    def worker_runs() -> int:
        """Handler runs of the bus's workers (stats() also counts observers, which wake nothing)."""
        workers = bus.queue_depths()
        return sum(s["handled"] for name, s in bus.stats().items() if name in workers)

    handled0 = worker_runs()
    states = 0
    gc.collect()
    t0 = time.process_time()
    for i in range(calls):
        linkedid = await queue_call(bus, i)
        agent = await answered(acd, linkedid, i)
        await bus.publish(CallEnded(ts=time.time(), linkedid=linkedid))
        await bus.publish(DeviceStateChange(ts=time.time(), device=f"PJSIP/{agent}", state="NOT_INUSE"))
        await bus.drain()
        acd.wrapped_up(agent, linkedid)
        await acd.set_ready(agent)  # the agent's wrap-up, as the desk submits it
        await bus.drain()
    cpu = time.process_time() - t0
    handled = worker_runs() - handled0
    dialer._task.cancel()
    await acd.stop()
    await bus.stop()
    return cpu / calls * 1e6, states / calls, handled / calls


def best(calls: int, agents: int, states: tuple[str, ...], *, bare: bool) -> float:
    return min(asyncio.run(one_run(calls, agents, states, bare=bare)) for _ in range(3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--calls", type=int, default=None)
    ap.add_argument("--agents", type=int, default=190)
    args = ap.parse_args()
    calls = args.calls or (300 if args.quick else 2000)
    print(f"{calls} calls, {args.agents} agents on SIP phones, process CPU per call, best of 3")
    now_us = 0.0
    for label, states in (("3 device states per call (before the filters)", BEFORE),
                          ("1 device state per call (manager.conf now)", NOW)):
        engine_us = best(calls, args.agents, states, bare=False)
        bare_us = best(calls, args.agents, states, bare=True)
        print(f"{label}: (a) engine {engine_us:.0f} us, (b) bare bus {bare_us:.0f} us, "
              f"ratio a/b {engine_us / bare_us:.1f}")
        now_us = engine_us
    runs = [asyncio.run(fanout_run(calls, args.agents)) for _ in range(3)]
    fan_us = min(r[0] for r in runs)
    print(f"(c) fan-out, wrap-up by the agent: {fan_us:.0f} us per call; AgentStateChanged per call "
          f"{runs[0][1]:.1f}, bus handler runs per call {runs[0][2]:.1f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    verdict = "MET" if now_us <= TARGET_US else "MISSED"
    print(f"target: the ACD's handlers <= {TARGET_US:.0f} us CPU per call (a tenth of the 4 ms engine budget): "
          f"{verdict} ({now_us:.0f} us)")


if __name__ == "__main__":
    main()
