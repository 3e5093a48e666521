"""What an AMI Originate costs at Asterisk before the agent's channel exists, beside a dial made
from a channel's own thread (app_queue's way), same run, same private Asterisk.

    .venv/bin/python bench/originate_cost.py [--quick] [--tries N]

A private Asterisk instance ("oc-<pid>", free loopback ports; never the developer's one), Local
channels into the shipped dialplan, one try at a time (spaced, so nothing queues):
(a) AMI Originate (Async, as the ACD rings agents): our write -> the new channel's Newchannel,
    stamped by Asterisk (timestampevents), both on this machine's clock;
(b) in-thread Dial: an originated Local/s@cti-sim-caller answers and runs Dial() itself, as
    app_queue rings a member from the caller's thread: that channel's Up -> the dialled channel's
    Newchannel, both Asterisk's timestamps;
(c) an AMI Ping round trip (our clock): the socket wake-up and parse every action pays.
Prints p50 / p90 / min of each, (a) - (b), and peak RSS. The e2e bench (bench/e2e_sipp.py)
gives the same split with PJSIP phones under load.
"""

from __future__ import annotations

import os
import secrets
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT  # bench/ first on sys.path would let bench/logging.py shadow the standard library

import argparse  # noqa: E402
import asyncio  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from cti.ami import events as ev  # noqa: E402
from cti.ami.manager import AmiClient  # noqa: E402
from cti.events import Event  # noqa: E402
from cti.pbx import ManagedPbx  # noqa: E402
from cti.settings import load_settings  # noqa: E402

TARGET_MS = 0.2  # issue 19: the engine's queue entry -> agent channel p50 within app_queue's + 0.2 ms


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summary(xs: list[float]) -> str:
    ordered = sorted(xs)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"n={len(xs)} p50 {statistics.median(xs):.2f} ms, p90 {p90:.2f} ms, min {ordered[0]:.2f} ms"


async def new_channel(events: list[Event], prefix: str, timeout_s: float = 2.0) -> ev.Newchannel | None:
    """The first Newchannel whose name starts with ``prefix``, as it arrives."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for e in events:
            if isinstance(e, ev.Newchannel) and e.channel.startswith(prefix):
                return e
        await asyncio.sleep(0.002)
    return None


async def measure(client: AmiClient, pbx: ManagedPbx, events: list[Event], tries: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ping": [], "originate": [], "in_thread": []}
    for i in range(tries):
        t = time.time()
        await client.send_action("Ping", {})
        out["ping"].append((time.time() - t) * 1000)
        ext = str(7000 + i)
        events.clear()
        t = time.time()
        await client.submit_action("Originate", {"Channel": f"Local/{ext}@cti-sim-phone/n", "Context": "cti-sim-caller",
                                                 "Exten": "s", "Priority": "1", "Async": "true", "Timeout": "5000"})
        new = await new_channel(events, f"Local/{ext}@cti-sim-phone")
        if new is not None:
            out["originate"].append((new.ts - t) * 1000)
        events.clear()
        await client.send_action("Originate", {"Channel": "Local/s@cti-sim-caller/n", "Application": "Dial",
                                               "Data": f"Local/9{ext}@cti-sim-phone/n", "Async": "true",
                                               "Timeout": "5000"})
        dialled = await new_channel(events, f"Local/9{ext}@cti-sim-phone")
        up = next((e for e in events if isinstance(e, ev.Newstate) and e.state == 6
                   and e.channel.startswith("Local/s@cti-sim-caller") and e.channel.endswith(";1")), None)
        if dialled is not None and up is not None:
            out["in_thread"].append((dialled.ts - up.ts) * 1000)
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.05)
    return out


async def main_async(tries: int) -> None:
    settings = load_settings(ami={"port": free_port(), "secret": secrets.token_urlsafe(24)}, agi={"port": free_port()},
                             pbx={"instance": f"oc-{os.getpid()}", "sip_port": free_port(), "agent_endpoints": 5},
                             web={"port": free_port()})
    pbx = ManagedPbx(settings)
    events: list[Event] = []
    try:
        pbx.up(progress=False)
        client = AmiClient(settings.ami, events.extend)
        await client.start()
        try:
            await client.wait_connected(20)
            await asyncio.sleep(1.0)  # the resync's snapshot first
            got = await measure(client, pbx, events, tries)
        finally:
            await client.stop()
    finally:
        pbx.remove_instance()
    print(f"(a) AMI Originate written -> Newchannel (Asterisk's stamp): {summary(got['originate'])}")
    print(f"(b) in-thread Dial: the dialling channel Up -> dialled Newchannel: {summary(got['in_thread'])}")
    print(f"(c) AMI Ping round trip: {summary(got['ping'])}")
    extra = statistics.median(got["originate"]) - statistics.median(got["in_thread"])
    print(f"(a) - (b), p50: {extra:.2f} ms; min: {min(got['originate']) - min(got['in_thread']):.2f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    verdict = "MET" if extra <= TARGET_MS else "MISSED"
    print(f"target: an AMI Originate costs Asterisk <= {TARGET_MS} ms more than an in-thread dial (p50), "
          f"before any engine time: {verdict} ({extra:+.2f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tries", type=int, default=None)
    args = ap.parse_args()
    asyncio.run(main_async(args.tries or (30 if args.quick else 200)))


if __name__ == "__main__":
    main()
