"""End-to-end load test with real SIP: sipp callers and sipp agents through a real Asterisk, routed
(1) by this engine (FastAGI IVR + ACD) and (2) by Asterisk's own app_queue behind a plain dialplan
IVR (Read), same call mix, same run.

    .venv/bin/python bench/e2e_sipp.py              # 100 calls, 5 calls/s, <= 50 concurrent, 20 agents
    .venv/bin/python bench/e2e_sipp.py --quick      # 20 calls, 2 calls/s, 10 agents
    .venv/bin/python bench/e2e_sipp.py --calls 3000 --rate 10 --concurrency 200 --agents 190 --talk-ms 16000
                                                    # the issue's target: 200 concurrent, 10 calls/s, 5 min
    .venv/bin/python bench/e2e_sipp.py --quick --sql-top 20
                                                    # + the engine's 20 most frequent SQL statements per call
    .venv/bin/python bench/e2e_sipp.py --capacity 10,20,30,40,50,60 --step-s 15 --talk-ms 2000
                                                    # capacity: each router at each rate in turn until calls
                                                    # fail or queue entry -> agent channel p99 > 100 ms

What runs: a private Asterisk instance ("e2e-<pid>", its own free ports, so a run never meets another
one; never the developer's one),
sipp agents (one UAS process on one port; each agent endpoint 1001.. registered there with its
PJSIP auth), sipp callers (UAC) calling from a seeded customer's number, keying "1" as RFC 2833
telephone-events replayed from sipp's own pcap (dtmf_2833_1.pcap) while the menu listens, waiting
in the queue, talking until the agent hangs up (BYE from the agent after --talk-ms).
Phase 1: the engine in this process. Callers dial 5003, an IVR flow that mirrors the comparator
(caller looked up by number, a beep, one key, the support queue; --demo-flow uses the shipped demo
IVR on 5002 instead); the ACD rings the agents' PJSIP endpoints; the wrap-up is submitted through
the desk as soon as the call ends; CRM logging on SQLite. The run uses a copy of config/ with the
queues' preferred-agent rule off (--preferred-agent keeps it): the callers reuse the seeded
customers' numbers every few seconds, and app_queue has no such rule; and with call recording off
(--recording keeps it): the comparator records nothing.
Phase 2: the engine stopped; calls come from the endpoint "bench-appqueue" (identified by the
From user) into the dialplan context bench-appqueue: Read(beep, 1 digit) then Queue(bench-support),
whose members are the same PJSIP agents (added with `queue add member`).

Measured per phase: calls completed / failed (sipp's own counters); queue entry -> agent ringing,
the issue's measure (engine: QueueEntered -> AgentRinging on the bus, the routing decision;
app_queue: QueueCallerJoin -> AgentCalled); queue entry -> the agent's channel created and menu
key (DTMFEnd) -> the agent's channel created, both read off Asterisk's own event timestamps the same
way for both routers; CPU seconds of the Asterisk process (/proc/<pid>/stat) and of the engine (this
process's CPU time in phase 1) per call; and for the engine that every call sipp placed left
exactly one CRM interaction with outcome "answered".
Calls only go to 127.0.0.1; rate, count, concurrency and a global sipp timeout are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gc
import json
import os
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HERE = Path(__file__).resolve().parent
SIPP_DIR = HERE / "sipp"
HOST = "127.0.0.1"
CAPACITY_P99_MS = 100.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Both phases wait this long after their agents are set up before the clocks start: the agents'
# login (the engine's fallback-queue members and device states, app_queue's members) is a shift's
# work, not a call's; the engine's took Asterisk about 0.2 s of CPU in its first seconds.
SETTLE_S = 3.0
MAX_RATE, MAX_CONCURRENCY, MAX_CALLS = 160.0, 800, 20_000


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _stat_cpu(stat: Path) -> float:
    """utime + stime from a /proc stat file (a process's or one of its threads')."""
    raw = stat.read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def thread_cpu(pid: int) -> dict[int, float]:
    """utime + stime per thread of a process (/proc/<pid>/task/<tid>/stat)."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            out[int(task.name)] = _stat_cpu(task / "stat")
    return out


def engine_threads(before: dict[int, float], after: dict[int, float], calls: int) -> str:
    """The engine process's CPU per call by thread (the event loop, the database's threads, the
    journals' threads), named as Python names them."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    names[os.getpid()] = "event loop"
    spent = sorted(((after[tid] - before.get(tid, 0.0), names.get(tid, f"thread {tid} (ended)")) for tid in after),
                   reverse=True)
    return "engine CPU per call by thread: " + ", ".join(
        f"{name} {cpu / calls * 1000:.1f} ms" for cpu, name in spent if cpu >= 0.005)


def machine_busy() -> tuple[float, float, float, float]:
    """Busy, total, iowait and steal CPU time of the whole machine, all cores (/proc/stat), in clock
    ticks. Busy counts steal (time the host gave to someone else); iowait is idle time with a
    process waiting for the disk."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks), ticks[4], ticks[7] if len(ticks) > 7 else 0


def asterisk_warnings(pbx: Any, since: int) -> tuple[Counter[str], int]:
    """Asterisk's WARNING and ERROR lines written to its log after byte ``since``, counted by kind
    (source file and message, numbers left out); and the log's new end."""
    path = Path(pbx.log_file)
    if not path.exists():
        return Counter(), since
    with path.open("rb") as fh:
        fh.seek(since)
        text = fh.read().decode(errors="replace")
    kinds: Counter[str] = Counter()
    for line in text.splitlines():
        found = re.search(r"\] (WARNING|ERROR)\[[^\]]*\](?:\[[^\]]*\])? (\S+): (.*)", line)
        if found:
            message = re.sub(r"\d+", "#", found.group(3))[:100]
            kinds[f"{found.group(1)} {found.group(2)}: {message}"] += 1
    return kinds, since + len(text.encode())


def asterisk_thread_names(pbx: Any) -> dict[int, str]:
    """LWP -> the function each Asterisk thread started in (``core show threads``)."""
    names: dict[int, str] = {}
    for line in pbx.cli("core show threads").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith("0x") and parts[1].isdigit():
            names[int(parts[1])] = parts[2]
    return names


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a sipp process, killing it if it has not gone within 5 s."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def stats(values: list[float]) -> str:
    return (f"n={len(values)} p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms, "
            f"max {max(values, default=float('nan')):.1f} ms")


@dataclass
class Phase:
    name: str
    placed: int = 0
    completed: int = 0
    failed: int = 0
    peak_concurrent: int = 0
    queue_to_ring_ms: list[float] = field(default_factory=list)  # the measure
    queue_to_channel_ms: list[float] = field(default_factory=list)  # ... to the agent's channel at Asterisk
    key_to_channel_ms: list[float] = field(default_factory=list)  # menu key -> agent's channel, at Asterisk
    keys_heard: int = 0
    # engine only: queue entry -> ring written by the engine (the caller's Dial in its IVR session, or an
    # Originate); ring written -> channel at Asterisk
    in_engine_ms: list[float] = field(default_factory=list)
    at_asterisk_ms: list[float] = field(default_factory=list)
    originate_response_ms: list[float] = field(default_factory=list)  # Originate written -> its Response read
    loop_late_ms: list[float] = field(default_factory=list)  # engine only: how late each 10-ms tick of its loop woke
    gc_ms: dict[int, list[float]] = field(default_factory=dict)  # engine only: garbage collections by generation
    asterisk_cpu_s: float = 0.0
    engine_cpu_s: float = 0.0
    sipp_cpu_s: float = 0.0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def gc_line(self) -> str:
        return "garbage collections: " + (", ".join(
            f"generation {g} {len(ms)} x, {sum(ms):.0f} ms in all, {max(ms):.1f} ms at most"
            for g, ms in sorted(self.gc_ms.items())) or "none")

    def line(self) -> str:
        calls = max(1, self.placed)
        return (f"{self.name}: placed {self.placed}, completed {self.completed}, failed {self.failed}, "
                f"peak concurrent {self.peak_concurrent}, wall {self.wall_s:.0f} s\n"
                f"  queue entry -> agent ringing (routing decision): {stats(self.queue_to_ring_ms)}\n"
                f"  queue entry -> agent's channel created at Asterisk: {stats(self.queue_to_channel_ms)}\n"
                f"  menu key (RFC 2833 DTMFEnd) -> agent's channel created, both at Asterisk: "
                f"{stats(self.key_to_channel_ms)}; calls whose key was heard: {self.keys_heard}\n"
                f"  CPU: Asterisk {self.asterisk_cpu_s:.1f} s ({self.asterisk_cpu_s / calls * 1000:.1f} ms/call), "
                f"engine {self.engine_cpu_s:.1f} s ({self.engine_cpu_s / calls * 1000:.1f} ms/call), "
                f"sipp {self.sipp_cpu_s:.1f} s")


# -- sipp ----------------------------------------------------------------------------------------

def render(src: Path, dst: Path, **values: str) -> Path:
    text = src.read_text()
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    dst.write_text(text)
    return dst


def sipp_cmd(scenario: Path, *, local_port: int, media_port: int, extra: list[str]) -> list[str]:
    return ["sipp", f"{HOST}:{SIP_PORT}", "-sf", str(scenario), "-i", HOST, "-p", str(local_port),
            "-mi", HOST, "-mp", str(media_port), "-nostdin", "-max_recv_loops", "2000",
            "-timeout_error", *TRACE, *extra]


def sipp_auth(user: str, password: str) -> str:
    """sipp's ``[authentication]`` keyword for an injection file's line. The password is quoted:
    sipp reads an unquoted value that starts with "0x" as hex digits, and one generated password
    in 4,096 does (URL-safe base64), so that agent's registration failed now and then."""
    return f'[authentication username={user} password="{password}"]'


def read_stat(path: Path) -> tuple[int, int, int, int]:
    """Total calls, successful, failed, and peak concurrent from sipp's -trace_stat CSV."""
    placed = ok = failed = peak = 0
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            placed = int(row.get("TotalCallCreated", 0) or 0)
            ok = int(row.get("SuccessfulCall(C)", 0) or 0)
            failed = int(row.get("FailedCall(C)", 0) or 0)
            peak = max(peak, int(row.get("CurrentCall", 0) or 0))
    return placed, ok, failed, peak


SIP_PORT = 0  # set in main()
TRACE: list[str] = []  # --trace: sipp's message logs in the work dir


async def run_callers(work: Path, tag: str, numbers: list[str], dnis: str, args: argparse.Namespace,
                      ) -> tuple[int, int, int, int, float]:
    inf = work / f"callers-{tag}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers))
    scenario = render(SIPP_DIR / "caller_uac.xml", work / f"caller-{tag}.xml",
                      pcap=str(SIPP_DIR / "dtmf_2833_1.pcap"), max_wait_ms=str(int(args.max_wait_s * 1000)))
    stat = work / f"stat-{tag}.csv"
    budget_s = int(args.calls / args.rate + args.max_wait_s + args.talk_ms / 1000 + 60)
    cmd = sipp_cmd(scenario, local_port=free_port(socket.SOCK_DGRAM), media_port=free_port(socket.SOCK_DGRAM),
                   extra=["-s", dnis, "-inf", str(inf), "-m", str(args.calls), "-r", str(args.rate),
                          "-l", str(args.concurrency), "-timeout", f"{budget_s}s", "-trace_stat",
                          "-stf", str(stat), "-fd", "1", "-trace_err", "-error_file", str(work / f"err-{tag}.log")])
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE, cwd=work)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    _, err = await proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # grows by the sipp just reaped
    sipp_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode not in (0, 1):  # 1: some calls failed, still a report
        print(f"sipp callers exited {proc.returncode}: {err.decode(errors='replace')[-800:]}", flush=True)
    placed, ok, failed, peak = read_stat(stat)
    return placed, ok, failed, peak, sipp_cpu


# -- AMI listener (both phases) -------------------------------------------------------------------

class AmiListener:
    """A bare AMI reader (its own connection, both phases alike): timestamps the caller's received
    RFC 2833 keys (DTMFEnd), app_queue's QueueCallerJoin / AgentCalled, and the creation of every
    agent channel (Newchannel PJSIP/1xxx), so both routers can be timed the same way at Asterisk.
    It reads in a child process (this file with --ami-listener): its parsing is the bench's work,
    and this process's CPU time is the engine's figure."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.joined: dict[str, float] = {}
        self.called: dict[str, tuple[float, str]] = {}  # caller uniqueid -> (ts, agent channel)
        self.keys: dict[str, list[float]] = {}  # caller uniqueid -> received DTMF "1" times
        self.agent_channels: dict[str, float] = {}  # channel name -> created
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        ami = self.settings.ami
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--ami-listener", ami.host, str(ami.port), ami.observer_username,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "E2E_AMI_SECRET": ami.observer_secret.get_secret_value()}, limit=1 << 26)
        assert self._proc.stdout is not None
        ready = await self._proc.stdout.readline()  # logged in
        if ready.strip() != b"ready":
            raise SystemExit(f"AMI listener did not start: {ready!r}")

    async def collect(self) -> None:
        """Take what the child has timestamped so far."""
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(b"dump\n")
        await self._proc.stdin.drain()
        data = json.loads(await self._proc.stdout.readline())
        self.joined, self.keys, self.agent_channels = data["joined"], data["keys"], data["agent_channels"]
        self.called = {k: (v[0], v[1]) for k, v in data["called"].items()}

    def last_key_before(self, uid: str, ts: float) -> float | None:
        return max((k for k in self.keys.get(uid, ()) if k <= ts + 0.05), default=None)

    def queue_to_ring_ms(self) -> list[float]:
        return [(self.called[u][0] - t) * 1000 for u, t in self.joined.items() if u in self.called]

    def queue_to_agent_channel_ms(self) -> list[float]:
        """app_queue: QueueCallerJoin -> the called member's channel created."""
        return [(self.agent_channels[self.called[u][1]] - t) * 1000 for u, t in self.joined.items()
                if u in self.called and self.called[u][1] in self.agent_channels]

    def key_to_agent_channel_ms(self) -> list[float]:
        """app_queue: the caller's last key before joining -> the agent channel it called created."""
        out = []
        for uid, joined in self.joined.items():
            key = self.last_key_before(uid, joined)
            if key is not None and uid in self.called and self.called[uid][1] in self.agent_channels:
                out.append((self.agent_channels[self.called[uid][1]] - key) * 1000)
        return out

    def agent_channel_after(self, agent: str, ts: float) -> float | None:
        prefix = f"PJSIP/{agent}-"
        return min((t for n, t in self.agent_channels.items() if n.startswith(prefix) and t >= ts), default=None)

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


async def listen_ami(host: str, port: int, username: str) -> None:
    """The listener's child process: read AMI, keep the timestamps, print them as JSON on "dump"."""
    joined: dict[str, float] = {}
    called: dict[str, tuple[float, str]] = {}
    keys: dict[str, list[float]] = {}
    agent_channels: dict[str, float] = {}
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readline()  # banner
    writer.write(f"Action: Login\r\nUsername: {username}\r\nSecret: {os.environ['E2E_AMI_SECRET']}\r\n"
                 "Events: call,agent,dtmf\r\n\r\n".encode())
    await writer.drain()
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    async def read() -> None:
        block: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\r\n")
            if text:
                key, _, value = text.partition(": ")
                block[key] = value
                continue
            # Asterisk's own clock (manager.conf timestampevents): both routers are timed at the
            # PBX, free of the AMI delivery delay of this reader.
            now = float(block.get("Timestamp") or time.time())
            name, uid = block.get("Event"), block.get("Uniqueid", "")
            if name == "QueueCallerJoin":
                joined.setdefault(uid, now)
            elif name == "AgentCalled":
                called.setdefault(uid, (now, block.get("DestChannel", "")))
            elif name == "DTMFEnd" and block.get("Direction") == "Received" and block.get("Digit") == "1":
                keys.setdefault(uid, []).append(now)
            elif name == "Newchannel" and block.get("Channel", "").startswith("PJSIP/1"):
                agent_channels.setdefault(block["Channel"], now)
            block = {}

    task = asyncio.create_task(read())
    while await commands.readline():
        sys.stdout.write(json.dumps({"joined": joined, "called": called, "keys": keys,
                                     "agent_channels": agent_channels}) + "\n")
        sys.stdout.flush()
    task.cancel()
    writer.close()


# -- phases ---------------------------------------------------------------------------------------

async def loop_probe(late_ms: list[float], tick_s: float = 0.01, beats: list[float] | None = None) -> None:
    """How late the event loop wakes a 10-ms sleep, tick after tick: a stall of the engine's loop (a
    long step, a garbage collection) shows here, where Asterisk's own delays do not. ``beats[0]``
    is the last wake-up (for ``StallWatch``)."""
    while True:
        t = time.monotonic()
        if beats is not None:
            beats[:] = [t]
        await asyncio.sleep(tick_s)
        late_ms.append(max(0.0, (time.monotonic() - t - tick_s) * 1000))


class StallWatch:
    """``--stall-stacks``: a thread that, whenever the event loop has not woken for ``after_s``, takes
    the loop thread's Python stack (once per stall); ``stop()`` names the places stalls were found in."""

    def __init__(self, beats: list[float], after_s: float = 0.1) -> None:
        self.beats, self.after_s, self.loop_thread = beats, after_s, threading.get_ident()
        self.stacks: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-stall-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seen = 0.0
        while not self._stop.wait(0.02):
            beat = self.beats[0] if self.beats else time.monotonic()
            if time.monotonic() - beat > self.after_s and beat != seen:
                seen = beat
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    frames = traceback.extract_stack(frame)[-12:]
                    self.stacks["\n".join(f"    {Path(f.filename).name}:{f.lineno} {f.name}" for f in frames)] += 1

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join()
        return [f"  {n} stall(s) of > {self.after_s * 1000:.0f} ms caught in:\n{stack}"
                for stack, n in self.stacks.most_common(5)]


def disk_trips(engine: Any) -> dict[str, int]:
    """Jobs handed so far to each of the engine's DiskThreads (crm_core.outbox): the call log's and
    the feed's journals, the database's write and read threads (an older engine has no counter)."""
    disks = [getattr(getattr(engine.logger, "outbox", None), "_disk", None),
             getattr(getattr(engine.feed, "outbox", None), "_disk", None),
             *getattr(engine.db, "_threads", {}).values()]
    return {d.name: d.trips for d in disks if d is not None and hasattr(d, "trips")}


async def engine_phase(settings: Any, pbx: Any, work: Path, numbers: list[str], args: argparse.Namespace) -> Phase:
    from sqlalchemy import func, select

    from acd.calls import AgentPhone
    from acd.events import AgentCallUpdate
    from agent_console.ports import WrapUpInput
    from callcenter.engine import Engine
    from crm_core.models import Interaction
    from cti.ami.manager import AmiClient
    from cti.bus import observe
    from cti.errors import CtiError
    from cti.journey import AgentRinging, CallArrived, QueueEntered

    phase = Phase("engine (FastAGI IVR + ACD)")
    engine = Engine(settings, phone_kind="sip", web=False)
    entered: dict[str, float] = {}
    ringing: dict[str, tuple[float, str]] = {}
    arrived: set[str] = set()
    wraps: set[asyncio.Task[Any]] = set()

    # The bench's own bus subscribers are observers (cti.bus: called as the event is published), so
    # that the engine's CPU per call does not include worker tasks of the bench's (6 wake-ups a call).
    def on_entered(ev: QueueEntered) -> None:
        entered.setdefault(ev.linkedid, ev.ts)

    def on_ringing(ev: AgentRinging) -> None:
        ringing.setdefault(ev.linkedid, (ev.ts, ev.agent_id))

    def on_arrived(ev: CallArrived) -> None:
        arrived.add(ev.linkedid)

    async def wrap(agent: str, linkedid: str) -> None:
        with contextlib.suppress(CtiError):
            await engine.desk.wrap_up(agent, linkedid, WrapUpInput(disposition="resolved", notes="e2e"))

    def on_update(ev: AgentCallUpdate) -> None:
        # The agent's console: submit the wrap-up at once (app_queue's members have wrapuptime 0).
        if ev.status == "ended":
            task = asyncio.create_task(wrap(ev.agent_id, ev.linkedid))
            wraps.add(task)
            task.add_done_callback(wraps.discard)

    # Where the engine's time goes: the moment each agent Originate leaves this process.
    originate_sent: dict[str, float] = {}
    control = engine.ami.control
    send = control._send

    def note_originate(action: str, headers: Any) -> None:
        if action == "Originate":
            for var in headers.get("Variable", ()):
                if var.startswith("CTI_LINKEDID="):
                    originate_sent.setdefault(var.partition("=")[2], time.time())

    async def timed_send(action: str, headers: Any, **kw: Any) -> Any:
        note_originate(action, headers)
        return await send(action, headers, **kw)

    control._send = timed_send
    # An agent free at the hand-off is rung by the caller's IVR session (its last command, Dial:
    # acd/ringing.py): time that write too. The IVR's AGI gets the linkedid as its first argument.
    from cti.agi.fastagi import FastAgiSession
    exec_now = FastAgiSession.exec_last_now

    def timed_exec_now(self: Any, application: str, *args: str) -> bool:
        t = time.time()
        written = exec_now(self, application, *args)
        if written and application == "Dial":
            originate_sent.setdefault(self.env.get("arg_1", ""), t)
        return written

    FastAgiSession.exec_last_now = timed_exec_now  # type: ignore[method-assign]
    # The ACD writes its Originate from its own step (AmiClient.submit_action): time it there too.
    submit = getattr(control, "_submit_now", None)
    if submit is not None:
        def timed_submit(action: str, headers: Any, **kw: Any) -> Any:
            note_originate(action, headers)
            t = time.time()
            future = submit(action, headers, **kw)
            if action == "Originate":
                originate_written[id(future)] = t
            return future

        control._submit_now = timed_submit
    # Originate written -> its Response read ("successfully queued"): Asterisk's manager session
    # thread reads the action and starts the originating thread, then our loop reads the answer.
    originate_written: dict[int, float] = {}
    originate_response_ms: list[float] = []
    route = AmiClient._route

    def timed_route(p: Any, m: dict[str, str]) -> None:
        if p.action == "Originate" and p.response is None and "Event" not in m:
            t = originate_written.pop(id(p.future), None)
            if t is not None:
                originate_response_ms.append((time.time() - t) * 1000)
        route(p, m)

    AmiClient._route = staticmethod(timed_route)  # type: ignore[method-assign]
    observe(engine.bus, QueueEntered, on_entered, name="bench.entered")
    observe(engine.bus, AgentRinging, on_ringing, name="bench.ringing")
    observe(engine.bus, CallArrived, on_arrived, name="bench.arrived")
    observe(engine.bus, AgentCallUpdate, on_update, name="bench.wrapup")
    await engine.start()
    tally = sql_tally(*engine.db.statement_engines) if args.sql_top else None
    listener = AmiListener(settings)
    await listener.start()
    try:
        for n in range(args.agents):
            agent = str(1001 + n)
            await engine.acd.agent_login(agent, {"support": 5, "general": 5, "billing": 5, "sales": 5},
                                         ["support", "general", "billing", "sales"],
                                         phone=AgentPhone(agent, kind="sip"), ready=True)
        await asyncio.sleep(SETTLE_S)
        threads0 = thread_cpu(os.getpid())
        trips0 = disk_trips(engine)
        agi0 = getattr(engine.agi, "commands_total", None)
        ast0, me0, t0 = cpu_s(pbx.pid()), time.process_time(), time.monotonic()
        beats: list[float] = []
        # The probe costs the loop some 100 wake-ups a second: not in the cost-per-call runs.
        probe = (asyncio.create_task(loop_probe(phase.loop_late_ms, beats=beats), name="bench.loop-probe")
                 if args.capacity or args.stall_stacks else None)
        watch = StallWatch(beats) if args.stall_stacks else None
        gc_started: list[float] = []

        def on_gc(stage: str, info: dict[str, int]) -> None:
            if stage == "start":
                gc_started[:] = [time.perf_counter()]
            elif gc_started:
                phase.gc_ms.setdefault(info["generation"], []).append((time.perf_counter() - gc_started[0]) * 1000)

        gc.callbacks.append(on_gc)
        try:
            placed, ok, failed, peak, sipp_cpu = await run_callers(work, f"engine{args.tag}", numbers, args.dnis, args)
        finally:
            FastAgiSession.exec_last_now = exec_now  # type: ignore[method-assign]
            if probe is not None:
                probe.cancel()
            gc.callbacks.remove(on_gc)
            if watch is not None:
                stalls = watch.stop()
                phase.notes.extend(stalls)
                print("\n".join(stalls), flush=True)
        # Let the last hang-ups and wrap-ups land before the clocks stop.
        for _ in range(100):  # at most 20 s
            if not (engine.acd.calls or wraps):
                break
            await asyncio.sleep(0.2)
        phase.asterisk_cpu_s = cpu_s(pbx.pid()) - ast0
        phase.engine_cpu_s = time.process_time() - me0
        phase.notes.append(engine_threads(threads0, thread_cpu(os.getpid()), max(1, placed)))
        phase.wall_s = time.monotonic() - t0
        await listener.collect()
        phase.placed, phase.completed, phase.failed, phase.peak_concurrent = placed, ok, failed, peak
        phase.sipp_cpu_s = sipp_cpu
        phase.queue_to_ring_ms = [(ringing[k][0] - t) * 1000 for k, t in entered.items() if k in ringing]
        # The caller's PJSIP channel opens its call: its uniqueid is the engine's linkedid. The
        # agent's channel is the first PJSIP/<agent> channel Asterisk created after the offer.
        in_engine: list[float] = []
        at_asterisk: list[float] = []
        for linkedid, queued in entered.items():
            if linkedid not in ringing:
                continue
            rung, agent = ringing[linkedid]
            channel = listener.agent_channel_after(agent, rung - 0.05)
            if channel is None:
                continue
            phase.queue_to_channel_ms.append((channel - queued) * 1000)
            if linkedid in originate_sent:
                in_engine.append((originate_sent[linkedid] - queued) * 1000)
                at_asterisk.append((channel - originate_sent[linkedid]) * 1000)
            key = listener.last_key_before(linkedid, queued)
            if key is not None:
                phase.key_to_channel_ms.append((channel - key) * 1000)
        phase.in_engine_ms, phase.at_asterisk_ms = in_engine, at_asterisk
        phase.originate_response_ms = originate_response_ms
        phase.notes.append(f"queue entry -> agent's channel, split: queue entry -> ring written by the engine "
                           f"(the IVR session's Dial, or an Originate) {stats(in_engine)}; ring written -> channel "
                           f"created at Asterisk {stats(at_asterisk)}; Originate written -> its Response read "
                           f"{stats(originate_response_ms)}")
        phase.notes.append((f"the engine's event loop, a 10-ms sleep woke late by: {stats(phase.loop_late_ms)}, "
                            f"at worst {max(phase.loop_late_ms, default=0.0):.0f} ms; " if probe else "")
                           + phase.gc_line())
        phase.keys_heard = sum(1 for k in arrived if listener.keys.get(k))
        statements = {smp.labels.get("op", "?"): int(smp.value) for metric in engine.metrics.db_statements.collect()
                      for smp in metric.samples if smp.name.endswith("_count")}
        per_call = ", ".join(f"{op} {n / max(1, placed):.1f}" for op, n in sorted(statements.items()))
        phase.notes.append(f"database statements per call placed: {per_call}; call logger: "
                           f"{engine.logger.stats['batches']} write batches, {engine.logger.stats['written']} "
                           f"interaction writes; journals: call log {engine.logger.outbox.writes} writes, "
                           f"{getattr(engine.logger.outbox, 'flushes', '?')} flushes, feed "
                           f"{getattr(getattr(engine.feed, 'outbox', None), 'writes', '?')} writes")
        trips = {name: n - trips0.get(name, 0) for name, n in disk_trips(engine).items()}
        if trips:
            phase.notes.append("trips between the event loop and the engine's own threads per call placed: "
                               + ", ".join(f"{name} {n / max(1, placed):.1f}" for name, n in sorted(trips.items())))
        if agi0 is not None:  # the sessions ended in the phase: every IVR session of a completed call
            agi_n = engine.agi.commands_total - agi0
            phase.notes.append(f"AGI commands per call placed: {agi_n / max(1, placed):.2f}")
        if tally is not None:
            phase.notes.append(f"statements per call placed by text (top {args.sql_top}):")
            phase.notes.extend(f"  {n / max(1, placed):5.2f}  {sql}" for sql, n in tally.most_common(args.sql_top))
        await engine.bus.drain()  # type: ignore[attr-defined]
        await engine.logger.flush()
        async with engine.db.session() as s:
            rows = (await s.execute(select(Interaction.outcome, func.count()).where(
                Interaction.linkedid.in_(arrived)).group_by(Interaction.outcome))).all()
            total = await s.scalar(select(func.count()).select_from(Interaction).where(
                Interaction.linkedid.in_(arrived)))
        outcomes = {str(o): int(c) for o, c in rows}
        phase.notes.append(f"CRM: {len(arrived)} calls reached the IVR, {total} interactions for them "
                           f"(outcomes {outcomes}); sipp placed {placed}")
        if total != placed or outcomes.get("answered", 0) != ok:
            phase.notes.append("CRM CHECK FAILED: not exactly one answered interaction per completed sipp call")
        else:
            phase.notes.append("CRM check passed: one interaction per sipp call, 'answered' for every completed call")
        never_queued = len(arrived) - len(entered)
        if never_queued:
            phase.notes.append(f"{never_queued} calls left the IVR without reaching the queue")
    finally:
        await listener.stop()
        await engine.stop()
    return phase


def sql_tally(*sync_engines: Any) -> Counter[str]:
    """Count the engine's statements by their text (the start of it, parameters apart)."""
    from sqlalchemy import event

    counts: Counter[str] = Counter()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counts[" ".join(statement.split())[:110]] += 1

    for sync_engine in sync_engines:  # the session's and, on SQLite, that of Database.run
        event.listen(sync_engine, "before_cursor_execute", before)
    return counts


async def appqueue_phase(settings: Any, pbx: Any, work: Path, args: argparse.Namespace) -> Phase:
    phase = Phase("app_queue (dialplan Read + Queue)")
    if "PJSIP/1001" not in pbx.cli("queue show bench-support"):
        for n in range(args.agents):
            pbx.cli(f"queue add member PJSIP/{1001 + n} to bench-support")
    listener = AmiListener(settings)
    await listener.start()
    try:
        await asyncio.sleep(SETTLE_S)
        ast0, t0 = cpu_s(pbx.pid()), time.monotonic()
        placed, ok, failed, peak, sipp_cpu = await run_callers(work, f"appqueue{args.tag}", ["bench-appqueue"], "5003",
                                                               args)
        phase.asterisk_cpu_s = cpu_s(pbx.pid()) - ast0
        phase.wall_s = time.monotonic() - t0
        await asyncio.sleep(0.5)  # the last events reach the listener
        await listener.collect()
        phase.placed, phase.completed, phase.failed, phase.peak_concurrent = placed, ok, failed, peak
        phase.sipp_cpu_s = sipp_cpu
        phase.queue_to_ring_ms = listener.queue_to_ring_ms()
        phase.queue_to_channel_ms = listener.queue_to_agent_channel_ms()
        phase.key_to_channel_ms = listener.key_to_agent_channel_ms()
        phase.keys_heard = sum(1 for u in listener.joined if listener.keys.get(u))
    finally:
        await listener.stop()
    return phase


async def register_agents(work: Path, args: argparse.Namespace, uas_port: int, pbx: Any) -> None:
    from cti.sip_credentials import passwords

    agents = [str(1001 + n) for n in range(args.agents)]
    # Each agent's random password, as `cti pbx up` rendered it into pjsip.conf (cti.sip_credentials).
    secret = passwords(pbx.settings.state_dir, agents)
    todo, why = agents, ""
    for attempt in (1, 2):
        inf = work / f"agents-{attempt}.csv"
        inf.write_text("SEQUENTIAL\n" + "".join(
            f"{a};{sipp_auth(a, secret[a])}\n" for a in todo))
        cmd = sipp_cmd(SIPP_DIR / "register.xml", local_port=uas_port, media_port=free_port(socket.SOCK_DGRAM),
                       extra=["-inf", str(inf), "-m", str(len(todo)), "-r", "50", "-timeout", "30s"])
        done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, cwd=work, timeout=60, check=False)
        registered = set(re.findall(r"Contact:\s+(\d+)/", pbx.cli("pjsip show contacts")))
        todo = [a for a in agents if a not in registered]
        if not todo:
            break
        why = f"sipp exit {done.returncode}: {done.stderr.decode()[-400:]}"
        # A phone whose registration failed registers again.
        print(f"agent registration: {len(todo)} of {len(agents)} without a contact after pass {attempt} ({why})",
              flush=True)
    if todo:
        raise SystemExit(f"agent registration failed for {len(todo)} agents ({why})")
    print(f"agents registered: {args.agents}", flush=True)


async def customer_numbers(settings: Any) -> list[str]:
    from sqlalchemy import select

    from crm_core.db import Database
    from crm_core.models import CustomerPhone
    from crm_core.seed import seed_demo

    db = Database.from_settings(settings)
    try:
        await db.upgrade()
        await seed_demo(db, progress=lambda *_: None, config_dir=settings.config_dir)
        async with db.session() as s:
            found = (await s.scalars(select(CustomerPhone.e164))).all()
    finally:
        await db.dispose()
    return sorted({n for n in found if n.startswith("+861")})


MIRROR_FLOW = """\
# bench/e2e_sipp.py: the engine's IVR for the comparison, mirroring the comparator's dialplan
# (Read(CHOICE,beep,1,,1,10) then Queue): a beep, one key within 10 s, the support queue. The
# engine still looks the caller up by number first (screen pop and CRM), as it always does.
flow: bench
entries: ["5003"]
language: en
start: identify
operator: support
nodes:
  identify: {type: lookup, by: caller_id, found: menu, not_found: menu}
  menu:
    type: menu
    prompt: [beep]
    options: {"1": support}
    timeout_ms: 10000
    retries: 0
    fallback: support
  support: {type: queue, queue: support, skills: {support: 2}}
"""


def bench_config(work: Path, args: argparse.Namespace) -> Path:
    """The shipped configuration plus the mirror flow, and (unless --preferred-agent) without the
    preferred-agent rule: app_queue has none, and the sipp callers reuse the seeded customers'
    numbers every few seconds, so the rule would hold calls for their last agent. Recording off
    (unless --recording): the comparator's Queue() records nothing, and MixMonitor writing every
    call to disk is work only one side would do."""
    import yaml

    from cti.settings import DEFAULT_CONFIG_DIR

    config = work / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    (config / "ivr" / "bench.yaml").write_text(MIRROR_FLOW)
    queues = config / "queues.yaml"
    data = yaml.safe_load(queues.read_text())
    for queue in data["queues"].values():
        if not args.preferred_agent:
            queue["preferred_agent_s"] = 0
        if not args.recording:
            queue["recording"] = "none"
    queues.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


async def main_async(args: argparse.Namespace) -> list[Phase] | list[str]:
    global SIP_PORT
    from cti.pbx import ManagedPbx
    from cti.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="cti-e2e-"))
    SIP_PORT = free_port(socket.SOCK_DGRAM)
    # Above the kernel's ephemeral range (32768-60999 on Linux), where free_port() finds the SIP and
    # AMI ports of this and other instances: an RTP port held there could be handed out again.
    rtp, rtp_ports = 61000 + (os.getpid() % 2) * 2000, 2000
    if args.capacity:
        # Each call holds two RTP instances (caller and agent), an even port and the next one each,
        # for its IVR, ring and talk time, and a freed port lingers: 2,000 ports ran out at 90-100
        # calls/s ("Unable to create RTP instance"), the bench's limit rather than a router's. Below
        # the kernel's ephemeral range (sipp's media ports come from there): one capacity run at a time.
        rtp, rtp_ports = 10000, 20000
    settings = load_settings(
        ami={"port": free_port(), "secret": secrets.token_urlsafe(24),
             # The timing listener logs in as the read-only observer user (cti.pbx_config): the
             # engine's user only gets the events the engine models, and app_queue's are not among them.
             "observer_secret": "e2e-bench-observer"}, agi={"port": free_port()},
        pbx={"instance": f"e2e-{os.getpid()}", "sip_port": SIP_PORT, "agent_endpoints": args.agents,
             "rtp_start": rtp, "rtp_end": rtp + rtp_ports - 1},
        sip={"loopback_test_trunk": True},  # sipp's callers are identified by address
        web={"port": free_port()}, database_url=f"sqlite+aiosqlite:///{work / 'e2e.db'}", state_dir=work / "state",
        recordings={"dir": work / "recordings"},  # --recording: the work dir's, not the checkout's var/
        config_dir=bench_config(work, args))
    numbers = await customer_numbers(settings)
    pbx = ManagedPbx(settings)
    uas: subprocess.Popen[bytes] | None = None
    try:
        pbx.up(progress=True)
        print(f"asterisk pid {pbx.pid()}", flush=True)
        uas_port = free_port(socket.SOCK_DGRAM)
        await register_agents(work, args, uas_port, pbx)
        uas_cmd = sipp_cmd(SIPP_DIR / "agent_uas.xml", local_port=uas_port, media_port=free_port(socket.SOCK_DGRAM),
                           extra=["-d", str(args.talk_ms), "-timeout",
                                  f"{int(args.calls / args.rate * 2 * args.pairs + 1200)}s",
                                  "-trace_err", "-error_file", str(work / "err-uas.log")])
        uas = subprocess.Popen(uas_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)  # noqa: ASYNC220
        await asyncio.sleep(0.5)
        if args.capacity:
            return await capacity(settings, pbx, work, numbers, args)
        phases: list[Phase] = []
        for n in range(args.pairs):
            # Pairs alternate which router goes first (engine, app_queue, app_queue, engine, ...), so a
            # machine that drifts during the run does not favour one of them.
            order = ("engine", "app_queue") if n % 2 == 0 else ("app_queue", "engine")
            pair: dict[str, Phase] = {}
            for router in order:
                step = argparse.Namespace(**vars(args))
                step.tag = f"-p{n + 1}" if args.pairs > 1 else ""
                print(f"pair {n + 1} of {args.pairs}: {router}, {args.calls} calls at {args.rate}/s, <= "
                      f"{args.concurrency} concurrent", flush=True)
                if router == "engine":
                    pair[router] = await engine_phase(settings, pbx, work, numbers, step)
                else:
                    pair[router] = await appqueue_phase(settings, pbx, work, step)
                print(pair[router].line(), flush=True)
                await asyncio.sleep(3)
            phases += [pair["engine"], pair["app_queue"]]
        uas_cpu = cpu_s(uas.pid)
        phases[0].notes.append(f"sipp agents (UAS, every phase) CPU {uas_cpu:.1f} s")
        return phases
    finally:
        if uas is not None:
            stop_process(uas)
        pbx.remove_instance()
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _breaks(phase: Phase, calls: int) -> str | None:
    """Why a step counts as not sustained (None: it was)."""
    if phase.failed or phase.completed < calls:
        return f"{phase.failed} calls failed, {phase.completed}/{calls} completed"
    if not phase.queue_to_channel_ms:
        return "no queue -> agent measure"
    p99 = pct(phase.queue_to_channel_ms, 99)
    if p99 > CAPACITY_P99_MS:
        return f"queue entry -> agent's channel p99 {p99:.0f} ms > {CAPACITY_P99_MS:.0f} ms"
    return None


async def capacity(settings: Any, pbx: Any, work: Path, numbers: list[str], args: argparse.Namespace) -> list[str]:
    """Raise the call rate step by step, each router at a rate before the next rate, until calls
    fail or queue entry -> agent's channel p99 passes 100 ms; report each step's CPU per process."""
    rates = [float(r) for r in args.capacity.split(",")]
    broken: dict[str, str] = {}
    lines = [f"capacity: steps of {args.step_s:.0f} s at {', '.join(f'{r:g}' for r in rates)} calls/s; talk "
             f"{args.talk_ms} ms, {args.agents} agents; a step is sustained when every call completes and queue "
             f"entry -> agent's channel p99 <= {CAPACITY_P99_MS:.0f} ms; CPU as % of one core over the step",
             f"{'router':<10} {'rate/s':>6} {'placed':>6} {'done':>6} {'failed':>6} {'q->chan p50':>11} "
             f"{'p99 ms':>8} {'Asterisk%':>9} {'engine%':>8} {'callers%':>8} {'machine%':>8}  verdict",
             "  (machine%: all cores busy, 100 % per core; then, over the whole step with its start-up, the busiest "
             "Asterisk thread, the machine's iowait and steal (the host's other guests), and the engine's "
             "event-loop thread, % of one core)"]
    print("\n".join(lines), flush=True)
    best: dict[str, float] = {}
    for rate in rates:
        for router in ("engine", "app_queue"):
            if router in broken:
                continue
            step = argparse.Namespace(**vars(args))
            step.rate, step.calls, step.tag = rate, max(1, int(rate * args.step_s)), f"-{rate:g}"
            step.concurrency = MAX_CONCURRENCY
            ast_threads0, me_threads0, machine0 = thread_cpu(pbx.pid()), thread_cpu(os.getpid()), machine_busy()
            span0 = time.monotonic()
            _, log_at = asterisk_warnings(pbx, 0)
            if router == "engine":
                phase = await engine_phase(settings, pbx, work, numbers, step)
            else:
                phase = await appqueue_phase(settings, pbx, work, step)
            why = _breaks(phase, step.calls)
            wall = max(phase.wall_s, 1e-9)
            # The thread figures span the whole step (start-up and login included), not only the calls.
            ast_threads, machine1, span = thread_cpu(pbx.pid()), machine_busy(), max(time.monotonic() - span0, 1e-9)
            busiest = max(ast_threads, key=lambda t: ast_threads[t] - ast_threads0.get(t, 0.0))
            busiest_pct = (ast_threads[busiest] - ast_threads0.get(busiest, 0.0)) / span * 100
            loop_pct = (thread_cpu(os.getpid()).get(os.getpid(), 0.0) - me_threads0.get(os.getpid(), 0.0)) / span * 100
            machine_pct, iowait_pct, steal_pct = (
                (machine1[i] - machine0[i]) / max(1, machine1[1] - machine0[1]) * 100 * (os.cpu_count() or 1)
                for i in (0, 2, 3))
            line = (f"{router:<10} {rate:>6g} {phase.placed:>6} {phase.completed:>6} {phase.failed:>6} "
                    f"{pct(phase.queue_to_channel_ms, 50):>11.1f} {pct(phase.queue_to_channel_ms, 99):>8.1f} "
                    f"{phase.asterisk_cpu_s / wall * 100:>9.0f} {phase.engine_cpu_s / wall * 100:>8.0f} "
                    f"{phase.sipp_cpu_s / wall * 100:>8.0f} {machine_pct:>8.0f}  "
                    f"{'sustained' if why is None else 'BREAKS: ' + why}\n"
                    f"{'':<10} busiest Asterisk thread: {asterisk_thread_names(pbx).get(busiest, 'exited')} "
                    f"(LWP {busiest}) {busiest_pct:.0f} %; machine iowait {iowait_pct:.0f} %, "
                    f"steal {steal_pct:.0f} %" + (
                        f"; engine event loop {loop_pct:.0f} %; p50 / p99 of queue entry -> ring written (the IVR "
                        f"session's Dial, or an Originate) {pct(phase.in_engine_ms, 50):.1f} / "
                        f"{pct(phase.in_engine_ms, 99):.1f} ms, ring written -> channel "
                        f"{pct(phase.at_asterisk_ms, 50):.1f} / {pct(phase.at_asterisk_ms, 99):.1f} ms (an "
                        f"Originate's Response read {pct(phase.originate_response_ms, 50):.1f} / "
                        f"{pct(phase.originate_response_ms, 99):.1f} ms, of {len(phase.originate_response_ms)}); "
                        f"its loop woke a 10-ms tick late by {pct(phase.loop_late_ms, 99):.1f} ms p99, "
                        f"{max(phase.loop_late_ms, default=0.0):.0f} ms at worst; {phase.gc_line()}"
                        if router == "engine" else ""))
            warnings, _ = asterisk_warnings(pbx, log_at)
            line += "".join(f"\n{'':<10} Asterisk log: {n} x {kind}" for kind, n in warnings.most_common(3))
            print(line, flush=True)
            lines.append(line)
            if why is None:
                best[router] = rate
            else:
                broken[router] = f"breaks at {rate:g}/s ({why})"
            await asyncio.sleep(2)
        if len(broken) == 2:
            break
    for router in ("engine", "app_queue"):
        lines.append(f"{router}: sustained up to {best.get(router, 0):g} calls/s; "
                     f"{broken.get(router, 'did not break within the steps')}")
    verdict = "MET" if best.get("engine", 0) >= best.get("app_queue", 0) else "MISSED"
    lines.append(f"target: the engine's sustainable rate >= app_queue's "
                 f"({best.get('engine', 0):g} vs {best.get('app_queue', 0):g} calls/s): {verdict}")
    return lines


def figures(eng: Phase, aq: Phase) -> dict[str, float]:
    """One pair's cost and latency figures (engine phase, app_queue phase)."""
    per_call_aq = max(1e-9, aq.asterisk_cpu_s / max(1, aq.placed))
    return {"engine_ms": eng.engine_cpu_s / max(1, eng.placed) * 1000,
            "ast_engine_ms": eng.asterisk_cpu_s / max(1, eng.placed) * 1000, "ast_aq_ms": per_call_aq * 1000,
            "ast_ratio": (eng.asterisk_cpu_s / max(1, eng.placed)) / per_call_aq,
            "total_ratio": ((eng.asterisk_cpu_s + eng.engine_cpu_s) / max(1, eng.placed)) / per_call_aq,
            "gap": pct(eng.queue_to_channel_ms, 50) - pct(aq.queue_to_channel_ms, 50)}


def report(args: argparse.Namespace, phases: list[Phase]) -> str:
    pairs = [(phases[i], phases[i + 1]) for i in range(0, len(phases), 2)]
    out: list[str] = []
    for eng, aq in pairs:
        out += [eng.line(), *("  " + n for n in eng.notes), aq.line(), *("  " + n for n in aq.notes)]
    each = [figures(eng, aq) for eng, aq in pairs]
    eng, aq = pairs[0]
    if len(pairs) > 1:  # the cost verdicts below are on the pairs' medians
        out.append("pairs (engine ms/call; Asterisk ms/call with the engine / with app_queue; (Asterisk+engine) / "
                   "Asterisk(app_queue); q->chan p50 gap): " + " | ".join(
                       f"{f['engine_ms']:.1f}; {f['ast_engine_ms']:.1f} / {f['ast_aq_ms']:.1f}; "
                       f"{f['total_ratio']:.2f}x; {f['gap']:+.1f} ms" for f in each))
    fig = {k: statistics.median(f[k] for f in each) for k in each[0]}
    measures = [("queue->ring", eng.queue_to_ring_ms, aq.queue_to_ring_ms),
                ("queue->agent channel", eng.queue_to_channel_ms, aq.queue_to_channel_ms),
                ("key->agent channel", eng.key_to_channel_ms, aq.key_to_channel_ms)]
    ratios = "; ".join(f"{name} p50 {pct(e, 50) / pct(a, 50):.2f} p99 {pct(e, 99) / pct(a, 99):.2f}"
                       for name, e, a in measures)
    many = len(pairs) > 1
    out.append(f"ratios engine/app_queue{' (first pair)' if many else ''}: {ratios}; Asterisk CPU per "
               f"call {fig['ast_ratio']:.2f}; (Asterisk+engine) CPU per call / Asterisk(app_queue) "
               f"{fig['total_ratio']:.2f}{' (medians of the pairs)' if many else ''}")
    failed_calls = sum(e.failed for e, _ in pairs)
    failed = "met" if failed_calls == 0 else f"MISSED ({failed_calls} failed)"
    crm = "met" if all(any(n.startswith("CRM check passed") for n in e.notes) for e, _ in pairs) else "MISSED"
    full = args.concurrency >= 200 and args.rate >= 10 and args.calls >= 3000
    verdicts = ", ".join(f"{name} {'met' if pct(e, 50) <= pct(a, 50) else 'MISSED'}" for name, e, a in measures)
    out.append(f"targets: no call failed by the engine: {failed}; one CRM interaction per sipp call with the "
               f"right outcome: {crm}; p50 no worse than app_queue: {verdicts}; peak concurrent "
               f"{eng.peak_concurrent} (issue target 200 at 10 calls/s for 5 min{'' if full else ': not this run'})")
    engine_ms, total_ratio, gap = fig["engine_ms"], fig["total_ratio"], fig["gap"]
    out.append(f"targets (cost and latency{', medians of the pairs' if many else ''}): engine CPU per call <= 4 ms: "
               f"{'met' if engine_ms <= 4 else 'MISSED'} ({engine_ms:.1f} ms); (Asterisk+engine) CPU per call <= "
               f"1.0x Asterisk's with app_queue: {'met' if total_ratio <= 1.0 else 'MISSED'} ({total_ratio:.2f}x); "
               f"queue entry -> agent's channel p50 <= app_queue's + 0.2 ms: "
               f"{'met' if gap <= 0.2 else 'MISSED'} ({gap:+.1f} ms)")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.append(f"peak RSS (bench process incl. engine): {rss_mb:.0f} MB")
    return "\n".join(out)


def main() -> None:
    if sys.argv[1:2] == ["--ami-listener"]:  # the AMI listener's child process (AmiListener)
        host, port, username = sys.argv[2:5]
        asyncio.run(listen_ami(host, int(port), username))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 calls, 2/s, 10 agents")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="new calls per second")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--talk-ms", type=int, default=4000, help="agent talk time before its BYE")
    parser.add_argument("--max-wait-s", type=float, default=120.0, help="a caller waits at most this for the BYE")
    parser.add_argument("--demo-flow", action="store_true",
                        help="engine callers go through the shipped demo IVR (DNIS 5002: caller lookup, "
                             "main menu, 3.3 s 'please hold') instead of the flow that mirrors the comparator")
    parser.add_argument("--preferred-agent", action="store_true",
                        help="keep the queues' preferred-agent rule (the callers reuse a few hundred "
                             "customer numbers within seconds, which no real caller does)")
    parser.add_argument("--recording", action="store_true",
                        help="keep the shipped queues' call recording (the comparator records nothing)")
    parser.add_argument("--capacity", nargs="?", const="10,20,30,40,50,60,70,80", default=None, metavar="RATES",
                        help="capacity mode: call rates to step through (default 10,...,80 calls/s), each "
                             "router in turn at each rate, until calls fail or queue -> agent p99 > 100 ms")
    parser.add_argument("--pairs", type=int, default=1,
                        help="run the two routers this many times, alternating which goes first, and judge the "
                             "cost targets on the pairs' medians (the machine's noise is 10-20 %% between runs)")
    parser.add_argument("--step-s", type=float, default=20.0, help="capacity mode: seconds of calls per step")
    parser.add_argument("--sql-top", type=int, default=0, metavar="N",
                        help="list the engine's N most frequent SQL statements (per call placed)")
    parser.add_argument("--stall-stacks", action="store_true",
                        help="print the engine's Python stack whenever its event loop stalls for > 100 ms")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (sipp logs)")
    parser.add_argument("--trace", action="store_true", help="sipp -trace_msg logs (implies --keep)")
    args = parser.parse_args()
    if args.trace:
        TRACE.append("-trace_msg")
        args.keep = True
    args.dnis = "5002" if args.demo_flow else "5003"
    args.tag = ""
    if args.quick:
        args.calls, args.rate, args.concurrency, args.agents = 20, 2.0, 10, 10
    if args.capacity:
        # Agents are never the bottleneck: ring + talk at the highest rate, with room to spare.
        top = max(float(r) for r in args.capacity.split(","))
        if not 0 < top <= MAX_RATE or not 0 < args.step_s <= 120:
            raise SystemExit(f"bounds: capacity rates <= {MAX_RATE}/s, --step-s <= 120")
        args.agents = max(args.agents, int(top * (args.talk_ms / 1000 + 1.5) * 1.5))
        args.calls = int(sum(float(r) for r in args.capacity.split(",")) * args.step_s)
        args.rate = top
    if not 1 <= args.pairs <= 5:
        raise SystemExit("bounds: --pairs 1 to 5")
    if not (0 < args.rate <= MAX_RATE and 0 < args.concurrency <= MAX_CONCURRENCY and 0 < args.calls <= MAX_CALLS):
        raise SystemExit(f"bounds: rate <= {MAX_RATE}/s, concurrency <= {MAX_CONCURRENCY}, calls <= {MAX_CALLS}")
    if shutil.which("sipp") is None:
        raise SystemExit("sipp not found: apt-get install sip-tester")
    from cti.loop import run as run_loop

    result = run_loop(main_async(args))  # the engine's own loop (cti.loop): what runs is what is measured
    if args.capacity:
        print("\n" + "\n".join(str(line) for line in result), flush=True)
        return
    print("\n" + report(args, result), flush=True)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
