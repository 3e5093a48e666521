"""AMI ingest throughput: the engine's path versus plain panoramisk parsing of the same bytes.

    .venv/bin/python bench/ami_ingest.py [--quick] [--events N]

The byte stream is the recorded Asterisk 22 traces (tests/fixtures/ami/*.txt) replicated until it
holds N AMI messages (default 200k, --quick 20k). Fed in 64 KiB chunks, as a socket would.

(a) engine: AmiClient's reader (framing + ActionID routing + typed events) -> Pump (CallModel +
    publish of every typed event and journey event to an InProcessBus with one subscriber),
    processed in slices while a watchdog measures the worst event-loop stall.
(b) panoramisk 1.4: AMIProtocol.data_received (its framing, Message objects, its dispatch) on
    the same chunks, with a no-op event callback.
Reports messages/s for both, the ratio a/b, the worst stall of (a) and peak RSS.
"""

from __future__ import annotations

import os
import sys

# Python puts bench/ first on sys.path, where bench/logging.py would shadow the standard library.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT

import argparse  # noqa: E402
import asyncio  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from panoramisk.ami_protocol import AMIProtocol  # noqa: E402

from cti.ami.bridge import Pump  # noqa: E402
from cti.ami.callmodel import CallModel  # noqa: E402
from cti.ami.manager import AmiClient  # noqa: E402
from cti.bus import InProcessBus  # noqa: E402
from cti.events import Event  # noqa: E402
from cti.settings import AmiSettings  # noqa: E402

FIXTURES = Path(ROOT) / "tests" / "fixtures" / "ami"
CHUNK = 65536


def build_stream(target: int) -> tuple[bytes, int]:
    bodies = []
    for path in sorted(FIXTURES.glob("*.txt")):
        data = path.read_bytes()
        if data.startswith(b"Asterisk Call Manager/"):
            data = data.split(b"\r\n", 1)[1]
        bodies.append(data)
    unit = b"".join(bodies)
    per_unit = unit.count(b"\r\n\r\n")
    copies = max(1, -(-target // per_unit))
    return b"Asterisk Call Manager/11.0.0\r\n" + unit * copies, per_unit * copies


class Watchdog:
    """Worst lateness of a 1 ms timer: how long the loop was kept from running other work."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - t - 0.001)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def engine(stream: bytes) -> tuple[float, float, int, int]:
    bus = InProcessBus()
    seen = 0

    async def subscriber(ev: Event) -> None:
        nonlocal seen
        seen += 1

    bus.subscribe(Event, subscriber, name="bench")
    await bus.start()
    resume = asyncio.Event()
    resume.set()

    def pressure(on: bool) -> None:  # what pause_reading/resume_reading do on a real socket
        if on:
            resume.clear()
        else:
            resume.set()

    pump = Pump(CallModel(), bus, high_water=20_000, on_pressure=pressure)
    client = AmiClient(AmiSettings(), pump.push)
    pump_task = asyncio.create_task(pump.run())
    dog = Watchdog()
    dog.start()
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    for i in range(0, len(stream), CHUNK):
        await resume.wait()
        client._on_data(stream[i:i + CHUNK])  # the protocol's data_received, minus the socket
        await asyncio.sleep(0)  # the next read is another loop iteration
    await pump.drain()
    await bus.drain()
    elapsed = time.perf_counter() - t0
    await dog.stop()
    pump_task.cancel()
    try:
        await pump_task
    except asyncio.CancelledError:
        pass
    await bus.stop()
    return elapsed, dog.worst, pump.published, seen


def panoramisk_parse(stream: bytes) -> tuple[float, int]:
    dispatched = 0

    class Factory:
        save_stream = None

        def dispatch(self, message: Any) -> None:
            nonlocal dispatched
            dispatched += 1

    class Transport:
        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    proto = AMIProtocol()
    proto.connection_made(Transport())
    proto.factory = Factory()
    proto.encoding = "utf8"
    t0 = time.perf_counter()
    for i in range(0, len(stream), CHUNK):
        proto.data_received(stream[i:i + CHUNK])
    return time.perf_counter() - t0, dispatched


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--events", type=int, default=None)
    args = ap.parse_args()
    target = args.events or (20_000 if args.quick else 200_000)
    stream, messages = build_stream(target)
    print(f"stream: {len(stream) / 1e6:.1f} MB, {messages} AMI messages (recorded Asterisk 22 traces, replicated)")

    p_elapsed, dispatched = panoramisk_parse(stream)
    e_elapsed, worst, published, seen = asyncio.run(engine(stream))

    e_rate, p_rate = messages / e_elapsed, messages / p_elapsed
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(a) engine ingest (frame+route+typed events+call model+bus publish): {e_elapsed:.2f} s, "
          f"{e_rate:,.0f} msgs/s; {published} typed events folded, {seen} bus deliveries (incl. journey)")
    print(f"(b) panoramisk 1.4 AMIProtocol parsing + dispatch only:            {p_elapsed:.2f} s, "
          f"{p_rate:,.0f} msgs/s; {dispatched} events dispatched")
    print(f"ratio a/b: {e_rate / p_rate:.2f} (target >= 1.0)")
    print(f"worst event-loop stall during (a): {worst * 1000:.1f} ms (limit 50 ms)")
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
