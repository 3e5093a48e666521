"""FastAGI benchmark: our FastAgiServer against a bare panoramisk FastAGI handler, same run.

A scripted fake Asterisk (a separate process, so it does not share the server's event loop)
keeps N concurrent FastAGI connections busy with a small menu flow of 6 commands:

    ANSWER, STREAM FILE welcome, GET DATA menu 3000 1, SET VARIABLE CTI_CHOICE 1,
    STREAM FILE thanks, SET VARIABLE CTI_NEXT queue

ANSWER and SET VARIABLE are answered at once (as Asterisk does); STREAM FILE and GET DATA after a
scripted media time (--media-ms, default 1,000 ms, jittered x0.5-1.5 so callers are not in
lockstep), which is what keeps N sessions open at the same time. 1,000 concurrent sessions at
~3 s each is ~330 new calls/s, well above a large call centre's arrival rate; --media-ms 250
is a harsher stress run.
The handler times every command from write to parsed reply. "round trip" is reported over the
instant commands (a pure protocol round trip through both processes). Each side runs twice in
ABBA order (ours, panoramisk, panoramisk, ours) so neither gets the warmer slot.

    .venv/bin/python bench/fastagi.py            # 1,000 concurrent, 2 x 3,000 sessions per side
    .venv/bin/python bench/fastagi.py --quick    # 200 concurrent, 2 x 1,000 sessions per side
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

INSTANT = (b"ANSWER", b"SET VARIABLE")
MEDIA = (b"STREAM FILE", b"GET DATA")


# -- the fake Asterisk (child process) -----------------------------------------------------------

def _header(n: int) -> bytes:
    env = {
        "network": "yes", "network_script": "menu", "request": "agi://127.0.0.1/menu",
        "channel": f"PJSIP/sipp-trunk-{n:08x}", "language": "en", "type": "PJSIP",
        "uniqueid": f"1763900000.{n}", "version": "22.10.1", "callerid": "0612345678",
        "calleridname": "Bench Caller", "callingpres": "0", "callingani2": "0", "callington": "0",
        "callingtns": "0", "dnid": "5000", "rdnis": "unknown", "context": "cti-inbound",
        "extension": "5000", "priority": "4", "enhanced": "0.0", "accountcode": "",
        "threadid": "140000000000000",
    }
    return "".join(f"agi_{k}: {v}\n" for k, v in env.items()).encode() + b"\n"


async def _fake_session(port: int, n: int, media_s: float, rng: random.Random) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_header(n))
    commands = 0
    while True:
        line = await reader.readline()
        if not line:
            break
        commands += 1
        if line.startswith(MEDIA):
            await asyncio.sleep(media_s * rng.uniform(0.5, 1.5))  # callers are not in lockstep
            reply = b"200 result=1\n" if line.startswith(b"GET DATA") else b"200 result=0 endpos=8000\n"
        else:
            reply = b"200 result=1\n" if line.startswith(b"SET") else b"200 result=0\n"
        writer.write(reply)
    writer.close()
    await writer.wait_closed()
    return commands


async def fake_asterisk(port: int, concurrency: int, sessions: int, media_s: float) -> dict[str, Any]:
    started = 0
    commands = 0
    errors = 0

    rng = random.Random(7)

    async def worker() -> None:
        nonlocal started, commands, errors
        await asyncio.sleep(rng.uniform(0, media_s))  # calls arrive spread, not in one burst
        while started < sessions:
            started += 1
            try:
                done = await _fake_session(port, started, media_s, rng)
            except OSError:
                errors += 1
            else:
                commands += done

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": wall, "sessions": sessions, "commands": commands, "errors": errors,
            "cpu": (usage.ru_utime + usage.ru_stime) / wall}


# -- the servers (this process) ------------------------------------------------------------------

class Timings:
    def __init__(self, media_s: float) -> None:
        self.media_s = media_s
        self.instant: list[float] = []
        self.by_command: dict[str, list[float]] = {}
        self.sessions = 0
        self.rss_at_peak_kb = 0

    def record(self, command: str, seconds: float) -> None:
        if not command.startswith(("STREAM FILE", "GET DATA")):  # media time is the fake's script
            self.instant.append(seconds)
            self.by_command.setdefault(command, []).append(seconds)


async def _sample_rss(t: Timings) -> None:
    while True:
        t.rss_at_peak_kb = max(t.rss_at_peak_kb, _rss_kb())
        await asyncio.sleep(0.2)


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


MENU = [("ANSWER",), ("STREAM FILE", "welcome", ""), ("GET DATA", "menu", "3000", "1"),
        ("SET VARIABLE", "CTI_CHOICE", "1"), ("STREAM FILE", "thanks", ""), ("SET VARIABLE", "CTI_NEXT", "queue")]
MENU_LINES = [(words[0], " ".join(w or '""' for w in words)) for words in MENU]  # panoramisk takes raw lines


def ours(t: Timings) -> Callable[..., Awaitable[None]]:
    from cti.agi.session import AgiSession

    async def menu(agi: AgiSession) -> None:
        # The same six commands through the typed session methods the IVR uses.
        clock = time.perf_counter
        t0 = clock()
        await agi.answer()
        t1 = clock()
        await agi.stream_file("welcome")
        await agi.get_data("menu", 3000, 1)
        t2 = clock()
        await agi.set_variable("CTI_CHOICE", "1")
        t3 = clock()
        await agi.stream_file("thanks")
        t4 = clock()
        await agi.set_variable("CTI_NEXT", "queue")
        t5 = clock()
        t.record("ANSWER", t1 - t0)
        t.record("SET VARIABLE", t3 - t2)
        t.record("SET VARIABLE", t5 - t4)
        t.sessions += 1

    return menu


def bare_panoramisk(t: Timings) -> Callable[..., Awaitable[None]]:
    async def menu(request: Any) -> None:
        for name, line in MENU_LINES:
            start = time.perf_counter()
            await request.send_command(line)
            t.record(name, time.perf_counter() - start)
        t.sessions += 1

    return menu


async def run_side(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    from tests.servers import free_port

    port = free_port()
    t = Timings(args.media_ms / 1000)
    if kind == "ours":
        from cti.agi.fastagi import FastAgiServer
        from cti.settings import load_settings

        server = FastAgiServer(load_settings(agi={"port": port}), {"menu": ours(t)})
        await server.start()
        stop: Callable[[], Awaitable[None]] = server.stop
    else:
        from panoramisk.fast_agi import Application

        app = Application()
        app.add_route("menu", bare_panoramisk(t))
        pserver = await asyncio.start_server(app.handler, "127.0.0.1", port, backlog=4096)

        async def stop() -> None:
            pserver.close()
            await pserver.wait_closed()

    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--fake-asterisk", str(port), "--concurrency", str(args.concurrency),
        "--sessions", str(args.sessions), "--media-ms", str(args.media_ms), stdout=asyncio.subprocess.PIPE,
    )
    sampler = asyncio.create_task(_sample_rss(t))
    out, _ = await proc.communicate()
    sampler.cancel()
    await stop()
    fake = json.loads(out)
    return {"timings": t, "fake": fake, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the runs of one side (ABBA order, so neither side gets the warm second slot)."""
    inst = sorted(x for r in runs for x in r["timings"].instant)
    wall = sum(r["fake"]["wall_s"] for r in runs)
    return {
        "sessions": sum(r["timings"].sessions for r in runs), "errors": sum(r["fake"]["errors"] for r in runs),
        "sessions_s": sum(r["fake"]["sessions"] for r in runs) / wall,
        "commands_s": sum(r["fake"]["commands"] for r in runs) / wall,
        "rtt_p50_ms": _pct(inst, 50) * 1000, "rtt_p99_ms": _pct(inst, 99) * 1000,
        "rtt_max_ms": inst[-1] * 1000 if inst else 0.0,
        "rss_at_peak_mb": max(r["timings"].rss_at_peak_kb for r in runs) / 1024,
    }


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def main(args: argparse.Namespace) -> int:
    print(f"load average before the run: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    print(f"FastAGI benchmark: {args.concurrency} concurrent sessions, 2 x {args.sessions} sessions per side (ABBA), "
          f"6 commands each, media {args.media_ms} ms per STREAM FILE/GET DATA; fake Asterisk in its own process")
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "panoramisk": []}
    for kind in ("ours", "panoramisk", "panoramisk", "ours"):
        runs[kind].append(await run_side(kind, args))
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results = [summarize(runs["ours"]), summarize(runs["panoramisk"])]
    print(f"{'':28}{'ours (FastAgiServer)':>22}{'bare panoramisk':>18}{'ratio':>8}")
    rows = [("sessions/s", "sessions_s", "{:.0f}"), ("commands/s", "commands_s", "{:.0f}"),
            ("round trip p50 (ms)", "rtt_p50_ms", "{:.3f}"), ("round trip p99 (ms)", "rtt_p99_ms", "{:.3f}"),
            ("round trip max (ms)", "rtt_max_ms", "{:.2f}"),
            ("RSS with N open (MB)", "rss_at_peak_mb", "{:.1f}")]
    a, b = results
    for label, key, fmt in rows:
        ratio = a[key] / b[key] if b[key] else float("nan")
        print(f"{label:28}{fmt.format(a[key]):>22}{fmt.format(b[key]):>18}{ratio:>8.2f}")
    print(f"completed sessions: ours {a['sessions']} (errors {a['errors']}), "
          f"panoramisk {b['sessions']} (errors {b['errors']})")
    print(f"peak memory (ru_maxrss, server process, both sides): {maxrss_mb:.1f} MB; after the first "
          f"run (ours alone): {runs['ours'][0]['maxrss_mb']:.1f} MB")
    ok = a["rtt_p99_ms"] < 5.0 and a["sessions"] == 2 * args.sessions and a["errors"] == 0
    print(f"target: {args.concurrency} concurrent sessions, p99 round trip < 5 ms: {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--media-ms", type=int, default=1000)
    parser.add_argument("--fake-asterisk", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.concurrency = args.concurrency or (200 if args.quick else 1000)
    args.sessions = args.sessions or (1000 if args.quick else 3000)
    if args.fake_asterisk:
        result = asyncio.run(fake_asterisk(args.fake_asterisk, args.concurrency, args.sessions, args.media_ms / 1000))
        print(json.dumps(result))
        return 0
    logging.basicConfig(level=logging.WARNING)
    # What a long-running engine does after start-up: move the import-time objects out of the
    # collector's way so full collections with 1,000 live sessions stay short (both sides).
    gc.collect()
    gc.freeze()
    return asyncio.run(main(args))


if __name__ == "__main__":
    sys.exit(cli())
