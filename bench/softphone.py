"""Browser softphones taking real calls routed by the engine, beside plain SIP phones (sipp).

    .venv/bin/python bench/softphone.py              # 6 browser phones x 5 rounds, then 30 sipp calls
    .venv/bin/python bench/softphone.py --quick      # 2 browser phones x 2 rounds, 4 sipp calls
    .venv/bin/python bench/softphone.py --phones 4 --rounds 10

What runs: a private Asterisk instance ("softphone<pid>", its own free ports), the whole engine with
its console (SQLite, demo company), one headless Chromium (fake microphone playing 1 kHz) with one
page (its own browser context) per agent 1001.., each logged in to the console, its SIP.js phone
registered over WebSocket and ready. Callers are Local channels playing 440 Hz whose queue half
waits on music in ``cti-queue`` and is handed to the ACD (``AcdService.enqueue``), so the ACD
routes every call and originates to the agent's phone as in production (the IVR is left out: it
is not what is measured). Phase 1: each round, one call per browser agent at once; each page
rings, answers (the Answer button's click handler, run in the page) and is checked for audio both
ways; the bench hangs up and submits the wrap-up like a console. Phase 2, the comparator, same
run, browser agents not ready: agents 1007/1008 are PJSIP desk phones registered by one sipp UAS
process that rings, answers at once with an SDP pointing at the bench's own UDP socket, which
timestamps the first RTP packet and echoes everything back; one call at a time.

Measured: offer (the ACD's ``AgentOffer``, wall clock) -> ringing (browser: ``#phone-card`` turning
``data-ringing=true``, a MutationObserver's ``Date.now()``; sipp: Asterisk's Newstate Ringing of
the agent's channel, its own event timestamp, i.e. once the 180 is back); Answer -> first audio
packet received (browser: the click handler's ``Date.now()`` -> the first ``getStats()`` poll, every
5 ms, with ``inbound-rtp.packetsReceived > 0``; sipp: Asterisk's Newstate Up -> the first packet on
the bench's socket). One-way audio: the browser's inbound audio energy (the caller's 440 Hz) and
the caller's own recording of what it heard (MixMonitor r() file, RMS above silence) must both
show sound; for sipp, packets on the socket and the echo in the caller's recording. Peak memory:
the bench process (engine + console + bench), Asterisk (VmHWM) and Chromium (summed RSS at the end).
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(1, str(HERE))

import e2e_sipp as e2e  # noqa: E402  (free ports, sipp command line, percentiles)

from tests.ami_events import AmiEvents  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection",
                 "--autoplay-policy=no-user-gesture-required"]
SIPP_AGENTS = ("1007", "1008")
RING_TARGET_MS, AUDIO_TARGET_MS = 150.0, 300.0
RING_HOPS = ("offer->originate", "originate->channel", "channel->INVITE in page", "INVITE->ring shown",
             "offer->180 at Asterisk")
SILENCE_RMS = 0.01

# In the page (page.evaluate runs over CDP, outside the console's Content-Security-Policy).
WATCH_RING = """() => {
  const card = document.getElementById("phone-card");
  window.__bench = { rings: [] };
  let was = card.dataset.ringing === "true";
  new MutationObserver(() => {
    const now = card.dataset.ringing === "true";
    if (now && !was) window.__bench.rings.push(Date.now());
    was = now;
  }).observe(card, { attributes: true, attributeFilter: ["data-ringing"] });
  // Where Answer -> first audio goes: the answer's peer connection's steps, timestamped.
  const Native = window.RTCPeerConnection;
  window.__bench.steps = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    const note = (what) => window.__bench.steps.push([what, Date.now()]);
    note("pc created");
    pc.addEventListener("icegatheringstatechange", () => note("gathering " + pc.iceGatheringState));
    pc.addEventListener("iceconnectionstatechange", () => note("ice " + pc.iceConnectionState));
    pc.addEventListener("connectionstatechange", () => note("dtls/pc " + pc.connectionState));
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
}"""
# Before the console's scripts: every SIP INVITE the page's WebSocket receives, timestamped before
# SIP.js sees it (the ring's hops: offer -> originate -> channel -> INVITE in the page -> ring shown).
WATCH_INVITES = """(() => {
  const Native = window.WebSocket;
  window.__benchInvites = [];
  window.__benchFrames = [];  // the console's own frames (offer, state, call, pop) and long tasks, for BENCH_DEBUG
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        if (typeof ev.data !== "string") return;
        if (ev.data.startsWith("INVITE ")) window.__benchInvites.push(Date.now());
        else if (ev.data.startsWith("{")) window.__benchFrames.push([JSON.parse(ev.data).type, Date.now(), 0]);
      });
    }
  };
  new PerformanceObserver((list) => list.getEntries().forEach((e) => window.__benchFrames.push(
    ["long task", Math.round(performance.timeOrigin + e.startTime), Math.round(e.duration)])))
    .observe({ type: "longtask" });
})();"""
ANSWER_AND_WAIT_AUDIO = """async () => {
  const clicked = Date.now();
  document.getElementById("phone-answer").click();
  while (Date.now() - clicked < 5000) {
    const s = await window.ctiPhone.stats();
    if (s && s.inbound && s.inbound.packetsReceived > 0) return [clicked, Date.now()];
    await new Promise((r) => setTimeout(r, 5));
  }
  return [clicked, null];
}"""


@dataclass
class Kind:
    name: str
    ring_ms: list[float] = field(default_factory=list)
    # The browser ring's hops, ms each: offer -> originate sent, -> Asterisk's channel, -> INVITE in
    # the page, -> ring shown; and (informative) offer -> the browser's 180 at Asterisk.
    hops: dict[str, list[float]] = field(default_factory=lambda: {h: [] for h in RING_HOPS})
    chromium_cpu: tuple[float, float] = (0.0, 0.0)  # Chromium's CPU seconds over the phase, the phase's seconds
    audio_ms: list[float] = field(default_factory=list)
    calls: int = 0
    one_way: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.name}: {self.calls} calls; offer -> ringing {e2e.stats(self.ring_ms)}; "
                f"Answer -> first audio packet {e2e.stats(self.audio_ms)}; one-way or silent: {len(self.one_way)}")


class RawAmi(AmiEvents):
    """A second AMI login (call events only) read as channel states: (channel, state, Asterisk's
    timestamp) for Newchannel ("new", the channel's creation), Newstate, and with BENCH_DEBUG Hangup."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings, mask="call")
        self.states: list[tuple[str, str, float]] = []

    def got(self, event: dict[str, str]) -> None:
        kind = event.get("Event")
        if kind == "Newchannel":
            state = "new"
        elif kind == "Newstate":
            state = event.get("ChannelStateDesc", "")
        elif kind == "Hangup" and os.environ.get("BENCH_DEBUG"):
            state = "Hangup " + event.get("Cause-txt", "")
        else:
            return
        self.states.append((event.get("Channel", ""), state, float(event.get("Timestamp", "0") or 0)))

    def first(self, prefix: str, state: str, after: float) -> float | None:
        return next((ts for ch, st, ts in self.states if ch.startswith(prefix) and st == state and ts >= after), None)


class EchoPhone(asyncio.DatagramProtocol):
    """The sipp phone's audio port: timestamps the first packet since ``arm()``, echoes all back."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.first_at: float | None = None
        self.packets = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.first_at is None:
            self.first_at = time.time()
        self.packets += 1
        assert self.transport is not None
        self.transport.sendto(data, addr)

    def arm(self) -> None:
        self.first_at, self.packets = None, 0


def rms(path: Path) -> float:
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=False).stderr
    line = next((x for x in out.splitlines() if x.startswith("RMS     amplitude")), None)
    return float(line.split(":")[1]) if line else 0.0


async def until(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)
    return value


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.offers: dict[str, tuple[float, str]] = {}  # linkedid -> (offer ts, agent)
        self.recordings: dict[str, tuple[Path, str]] = {}  # linkedid -> (caller's recording, kind)
        self.seq = 0
        self.ami: Any = None
        self.originated: list[tuple[str, float]] = []  # (agent's channel, when the ACD's originate was sent)
        self.invites: list[tuple[float, float]] = []  # (Asterisk's channel created, INVITE in the page), s

    async def call(self, eng: Any, pbx: Any, agent: str) -> str:
        """A caller playing 440 Hz, queued through the ACD for ``agent`` (in one of its queues, the
        way a transfer to a named agent waits: the roster's agents are in different queues); returns
        its linkedid."""
        from acd.calls import LiveCall

        self.seq += 1
        inside = f"{pbx.instance_path}/spool/monitor/bench-{self.seq}"
        result = await eng.ami.control.originate(
            "Local/s@cti-queue/n", context="cti-sim-caller-tone", exten="s", caller_id=f"<+1555010{self.seq:04d}>",
            variables={"CTI_RECORD": inside}, timeout_ms=10000)
        if not result.success or not result.channel or not result.linkedid:
            raise RuntimeError(f"caller not placed: {result.reason}")
        self.recordings[result.linkedid] = (pbx.rootfs / inside.lstrip("/"), "")
        queue = sorted(eng.acd.agent(agent).queues)[0]
        await eng.acd.enqueue(LiveCall(linkedid=result.linkedid, caller_channel=result.channel.replace(";1", ";2"),
                                       caller_number=f"+1555010{self.seq:04d}", queue=queue), required=agent)
        return str(result.linkedid)

    async def end(self, eng: Any, linkedid: str, agent: str) -> None:
        from agent_console.ports import WrapUpInput

        await eng.acd.actions.hangup(linkedid)
        await until(lambda: (agent, linkedid) in eng.acd.wrapups, 10, f"wrap-up of {linkedid}")
        await eng.desk.wrap_up(agent, linkedid, WrapUpInput(disposition="resolved", notes="bench"))

    async def browser_phase(self, eng: Any, pbx: Any, pages: dict[str, Any], kind: Kind) -> None:
        """Every phone takes ``rounds`` calls one after the other, the phones staggered over one
        call's length, so N calls are up at once but not all ringing at the same instant."""
        cycle_s = 3.0

        async def phone(n: int, agent: str) -> None:
            await asyncio.sleep(n * cycle_s / len(pages))
            for _ in range(self.args.rounds):
                await until(lambda: eng.acd.agent_state(agent).value == "available", 15, f"{agent} ready")
                await self.take(eng, await self.call(eng, pbx, agent), pages[agent], kind)

        await asyncio.gather(*(phone(n, agent) for n, agent in enumerate(pages)))

    async def take(self, eng: Any, linkedid: str, page: Any, kind: Kind) -> None:
        """Ring, Answer (in the page), audio both ways, hang up and wrap up."""
        await until(lambda: linkedid in self.offers, 15, "offer")
        offered, agent = self.offers[linkedid]
        for _ in range(300):
            rings = await page.evaluate("window.__bench.rings")
            if rings:
                break
            await asyncio.sleep(0.02)
        else:
            raise TimeoutError(f"{agent} never rang")
        await page.evaluate("window.__bench.rings = []")
        kind.ring_ms.append(rings[0] - offered * 1000)
        await self.ring_hops(page, agent, offered, rings[0], kind)
        clicked, first = await page.evaluate(ANSWER_AND_WAIT_AUDIO)
        kind.calls += 1
        self.recordings[linkedid] = (self.recordings[linkedid][0], "browser")
        if first is None:
            kind.one_way.append(f"{linkedid}: no audio packet in 5 s")
        else:
            kind.audio_ms.append(first - clicked)
            if os.environ.get("BENCH_DEBUG"):
                steps = await page.evaluate("window.__bench.steps.splice(0)")
                up = self.ami.first(f"PJSIP/web{agent}-", "Up", offered - 0.001)
                print("DEBUG answer", [(w, t - clicked) for w, t in steps], "asterisk Up",
                      up and up * 1000 - clicked, "first", first - clicked, flush=True)
            await asyncio.sleep(1.5)
            stats = await page.evaluate("window.ctiPhone.stats()")
            if not stats or stats["inbound"]["totalAudioEnergy"] <= 0.01:
                kind.one_way.append(f"{linkedid}: browser heard silence {stats}")
        await self.end(eng, linkedid, agent)

    async def ring_hops(self, page: Any, agent: str, offered: float, rang_ms: float, kind: Kind) -> None:
        """Where the offer -> ringing time went, for this call (wall clocks: engine, Asterisk, page)."""
        invites = [t for t in await page.evaluate("window.__benchInvites.splice(0)") if t >= offered * 1000]
        frames = await page.evaluate("window.__benchFrames.splice(0)")
        sent = next((t for ch, t in self.originated if ch == f"PJSIP/web{agent}" and t >= offered), None)
        created = self.ami.first(f"PJSIP/web{agent}-", "new", offered - 0.001)
        ringing = self.ami.first(f"PJSIP/web{agent}-", "Ringing", offered - 0.001)
        if sent is None or created is None or not invites:
            print(f"ring hops of {agent}: missing (originate {sent}, channel {created}, INVITE {invites})", flush=True)
            return
        spans = [(sent - offered) * 1000, (created - sent) * 1000, invites[0] - created * 1000, rang_ms - invites[0]]
        if ringing is not None:  # SIP.js sends its 180 on its own; not every call's arrives before this look
            spans.append((ringing - offered) * 1000)
        for hop, ms in zip(RING_HOPS, spans, strict=False):
            kind.hops[hop].append(ms)
        self.invites.append((created, invites[0] / 1000))
        if os.environ.get("BENCH_DEBUG"):
            print("DEBUG ring", {h: round(v[-1], 1) for h, v in kind.hops.items()}, "page, ms from the offer:",
                  [(what, round(t - offered * 1000), ms) for what, t, ms in frames if abs(t - invites[0]) < 1000],
                  "INVITE", round(invites[0] - offered * 1000), flush=True)

    def invite_sent(self, log_file: Path) -> None:
        """BENCH_DEBUG: splits "channel -> INVITE in page" at Asterisk's own send of each INVITE (its
        pjsip logger's "Transmitting" lines, ms timestamps in its log)."""
        sent = []
        lines = log_file.read_text(errors="replace").splitlines()
        for n, line in enumerate(lines[:-1]):
            if "Transmitting SIP request" in line and "WS:" in line and lines[n + 1].lstrip().startswith("INVITE"):
                stamp = line[1:line.index("]")]
                sent.append(time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + float(stamp[19:]))
        for created, seen in self.invites:
            out = next((t for t in sent if t >= created - 0.002), None)
            if out is not None:
                print(f"DEBUG INVITE: channel -> sent by Asterisk {(out - created) * 1000:.1f} ms, sent -> "
                      f"in the page {(seen - out) * 1000:.1f} ms", flush=True)

    async def sipp_phase(self, eng: Any, pbx: Any, ami: RawAmi, echo: EchoPhone, kind: Kind) -> None:
        for _ in range(self.args.sipp_calls):
            agent = await until(lambda: next((a for a in SIPP_AGENTS if eng.acd.agent_state(a).value == "available"),
                                             None), 15, "a sipp agent ready")
            echo.arm()
            linkedid = await self.call(eng, pbx, agent)
            await until(lambda lid=linkedid: lid in self.offers, 10, "offer")
            offered, agent = self.offers[linkedid]
            try:
                await until(lambda: echo.first_at is not None, 10, "first RTP packet at the sipp phone")
            except TimeoutError:
                print("DEBUG", [x for x in ami.states if x[0].startswith("PJSIP/")][-10:], offered, agent,
                      pbx.cli("pjsip show channelstats"), pbx.cli("core show channels verbose"), flush=True)
                raise
            prefix, since = f"PJSIP/{agent}-", offered - 0.001
            rang = await until(lambda p=prefix, t=since: ami.first(p, "Ringing", t), 5, "Ringing")
            up = await until(lambda p=prefix, t=since: ami.first(p, "Up", t), 5, "Up")
            await asyncio.sleep(1.0)
            kind.calls += 1
            kind.ring_ms.append((rang - offered) * 1000)
            assert echo.first_at is not None
            kind.audio_ms.append((echo.first_at - up) * 1000)
            if echo.packets < 20:
                kind.one_way.append(f"{linkedid}: the sipp phone got {echo.packets} packets")
                if os.environ.get("BENCH_DEBUG"):
                    print("DEBUG sipp", [x for x in ami.states if x[2] >= offered - 0.5], flush=True)
            self.recordings[linkedid] = (self.recordings[linkedid][0], "sipp")
            await self.end(eng, linkedid, agent)

    def check_callers(self, kinds: dict[str, Kind]) -> None:
        """What each caller heard (MixMonitor's r() file, closed when the call ended): the agent's side."""
        for linkedid, (base, which) in self.recordings.items():
            if which not in kinds:
                continue
            heard = base.with_name(base.name + "-r.wav")
            level = rms(heard) if heard.exists() else 0.0
            if level <= SILENCE_RMS:
                kinds[which].one_way.append(f"{linkedid}: the caller heard silence (RMS {level:.4f})")


async def register_sipp(work: Path, uas_port: int, pbx: Any) -> None:
    from cti.sip_credentials import passwords

    inf = work / "agents.csv"
    secret = passwords(pbx.settings.state_dir, list(SIPP_AGENTS))
    inf.write_text("SEQUENTIAL\n" + "".join(f"{a};{e2e.sipp_auth(a, secret[a])}\n"
                                            for a in SIPP_AGENTS))
    cmd = e2e.sipp_cmd(e2e.SIPP_DIR / "register.xml", local_port=uas_port, media_port=e2e.free_port(socket.SOCK_DGRAM),
                       extra=["-inf", str(inf), "-m", str(len(SIPP_AGENTS)), "-timeout", "30s"])
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, cwd=work, timeout=60, check=False)
    if done.returncode != 0:
        raise SystemExit(f"sipp registration failed ({done.returncode}): {done.stderr.decode()[-500:]}")


def _chromium_pids() -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            if pid.isdigit() and Path(f"/proc/{pid}/comm").read_text().strip().startswith("chrom") and \
                    str(os.getpid()) in _ancestors(int(pid)):
                pids.append(int(pid))
    return pids


def chromium_rss_mb() -> float:
    total = 0
    for pid in _chromium_pids():
        with contextlib.suppress(OSError, StopIteration):
            total += int(next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                              if x.startswith("VmRSS")).split()[1])
    return total / 1024


def chromium_cpu_s() -> float:
    """CPU time (user + system) Chromium's live processes have used: less sensitive to other
    load on the machine than latencies."""
    total = 0
    for pid in _chromium_pids():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def _ancestors(pid: int) -> list[str]:
    out = []
    with contextlib.suppress(OSError, StopIteration):
        while pid > 1:
            pid = int(next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                           if x.startswith("PPid")).split()[1])
            out.append(str(pid))
    return out


def vm_hwm_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


async def main_async(args: argparse.Namespace) -> str:
    from playwright.async_api import async_playwright

    from acd.events import AgentOffer
    from callcenter.engine import Engine
    from crm_core.db import Database
    from crm_core.seed import seed_demo
    from cti.pbx import ManagedPbx
    from cti.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="cti-softphone-"))
    e2e.SIP_PORT = e2e.free_port(socket.SOCK_DGRAM)
    rtp = 44000 + (os.getpid() % 10) * 1000
    settings = load_settings(
        ami={"port": e2e.free_port(), "secret": secrets.token_urlsafe(24),
             "observer_secret": secrets.token_urlsafe(24)}, agi={"port": e2e.free_port()},
        pbx={"instance": f"softphone{os.getpid()}", "sip_port": e2e.SIP_PORT, "agent_endpoints": 8, "rtp_start": rtp,
             "rtp_end": rtp + 999, "http_port": e2e.free_port(),
             # BENCH_DEBUG reads pjsip's logger lines (verbose) from Asterisk's messages file.
             "log_verbose": 3 if os.environ.get("BENCH_DEBUG") else 0},
        web={"port": e2e.free_port(), "session_secret": secrets.token_urlsafe(32)},
        database_url=f"sqlite+aiosqlite:///{work / 'bench.db'}", state_dir=work / "state",
        recordings={"dir": work / "recordings"}, dev_mode=True)
    db = Database.from_settings(settings)
    await db.upgrade()
    await seed_demo(db, progress=lambda *_: None, config_dir=settings.config_dir)
    await db.dispose()
    tone = work / "mic-1khz.wav"
    await asyncio.to_thread(subprocess.run, ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(tone), "synth",
                                             "600", "sine", "1000", "vol", "0.5"], check=True)
    pbx = ManagedPbx(settings)
    uas: subprocess.Popen[bytes] | None = None
    bench = Bench(args, work)
    browser_kind, sipp_kind = Kind(f"browser softphones (N={args.phones})"), Kind("sipp desk phones (comparator)")
    try:
        pbx.up(progress=True)
        loop = asyncio.get_running_loop()
        rtp_port = e2e.free_port(socket.SOCK_DGRAM)
        _, echo = await loop.create_datagram_endpoint(EchoPhone, local_addr=(e2e.HOST, rtp_port))
        uas_port = e2e.free_port(socket.SOCK_DGRAM)
        await register_sipp(work, uas_port, pbx)
        scenario = e2e.render(e2e.SIPP_DIR / "softphone_uas.xml", work / "uas.xml", rtp_port=str(rtp_port),
                              ring_ms=str(args.sipp_ring_ms))
        uas = subprocess.Popen(  # noqa: ASYNC220
            e2e.sipp_cmd(scenario, local_port=uas_port, media_port=e2e.free_port(socket.SOCK_DGRAM),
                         extra=["-timeout", "1800s"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
        engine = Engine(settings, phone_kind="webrtc")

        async def on_offer(ev: AgentOffer) -> None:
            bench.offers.setdefault(ev.linkedid, (ev.ts, ev.agent_id))

        engine.bus.subscribe(AgentOffer, on_offer, name="bench.offers")
        await engine.start()
        originate = engine.acd.control.originate

        async def timed_originate(channel: str, *a: Any, **kw: Any) -> Any:
            bench.originated.append((channel, time.time()))
            return await originate(channel, *a, **kw)

        engine.acd.control.originate = timed_originate
        if os.environ.get("BENCH_DEBUG"):
            pbx.cli("pjsip set logger on")
        agents = [str(1001 + n) for n in range(args.phones)]
        async with async_playwright() as pw, RawAmi(settings) as ami:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tone}"])
            pages: dict[str, Any] = {}
            for n, agent in enumerate(agents, 1):
                context = await browser.new_context(locale="en-US")
                await context.add_init_script(WATCH_INVITES)
                page = await context.new_page()
                await page.goto(engine.url + "/")
                await page.fill("#login-username", f"agent{n}")
                await page.fill("#login-password", f"agent{n}-demo")
                await page.keyboard.press("Enter")
                await page.wait_for_selector("#phone-status[data-state=registered]", timeout=30_000)
                await page.evaluate(WATCH_RING)
                await page.click("#btn-ready")
                pages[agent] = page
            print(f"{len(pages)} browser phones registered and ready", flush=True)
            bench.ami = ami
            cpu_before, wall_before = chromium_cpu_s(), time.monotonic()
            await bench.browser_phase(engine, pbx, pages, browser_kind)
            chromium_mb = chromium_rss_mb()
            browser_kind.chromium_cpu = (chromium_cpu_s() - cpu_before, time.monotonic() - wall_before)
            for agent in agents:
                await engine.desk.set_not_ready(agent, "break")
            for agent in SIPP_AGENTS:
                engine.desk.phone_overrides[agent] = "sip"
                await engine.desk.login_queues(agent, [])
                await engine.desk.set_ready(agent)
            await bench.sipp_phase(engine, pbx, ami, echo, sipp_kind)
            asterisk_mb = vm_hwm_mb(pbx.pid() or 0)
            await browser.close()
        pbx.cli("channel request hangup all")
        await asyncio.sleep(1.0)
        await engine.stop()
        bench.check_callers({"browser": browser_kind, "sipp": sipp_kind})
        if os.environ.get("BENCH_DEBUG"):
            bench.invite_sent(pbx.log_file)
        return report(args, browser_kind, sipp_kind, asterisk_mb, chromium_mb)
    finally:
        if uas is not None:
            e2e.stop_process(uas)
        pbx.remove_instance()
        shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, web: Kind, sip: Kind, asterisk_mb: float, chromium_mb: float) -> str:
    p = e2e.pct
    out = [web.line(), sip.line()]
    if web.hops[RING_HOPS[0]]:
        out.append("browser ringing, hop by hop (p50 / p99 ms): " + "; ".join(
            f"{hop} {p(v, 50):.1f} / {p(v, 99):.1f}" for hop, v in web.hops.items()))
    for problem in (web.one_way + sip.one_way)[:10]:
        out.append(f"  {problem}")
    out.append(f"ratios browser/sipp: ringing p50 {p(web.ring_ms, 50) / p(sip.ring_ms, 50):.2f} "
               f"p99 {p(web.ring_ms, 99) / p(sip.ring_ms, 99):.2f}; first audio p50 "
               f"{p(web.audio_ms, 50) / p(sip.audio_ms, 50):.2f} p99 {p(web.audio_ms, 99) / p(sip.audio_ms, 99):.2f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.append(f"peak memory: engine+console (bench process) {rss:.0f} MB, Asterisk {asterisk_mb:.0f} MB, "
               f"Chromium ({len(web.ring_ms) and args.phones} pages) {chromium_mb:.0f} MB")
    cpu, wall = web.chromium_cpu
    out.append(f"Chromium CPU over the browser phase: {cpu:.1f} s in {wall:.1f} s ({100 * cpu / max(wall, 1e-9):.0f}% "
               f"of one core; load average at the end {os.getloadavg()[0]:.1f})")
    verdict = lambda ok: "MET" if ok else "MISSED"  # noqa: E731
    out.append(f"target browser ringing within {RING_TARGET_MS:.0f} ms p99 of the offer: "
               f"{verdict(web.calls > 0 and p(web.ring_ms, 99) <= RING_TARGET_MS)} ({p(web.ring_ms, 99):.1f} ms)")
    out.append(f"target first audio within {AUDIO_TARGET_MS:.0f} ms p99 of Answer: "
               f"{verdict(len(web.audio_ms) == web.calls > 0 and p(web.audio_ms, 99) <= AUDIO_TARGET_MS)} "
               f"({p(web.audio_ms, 99):.1f} ms)")
    out.append(f"target no call with one-way audio: {verdict(not web.one_way and not sip.one_way)} "
               f"({len(web.one_way)} browser, {len(sip.one_way)} sipp of {web.calls + sip.calls})")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 browser phones x 2 rounds, 4 sipp calls")
    parser.add_argument("--phones", type=int, default=6, help="browser phones (agents 1001..; at most 6)")
    parser.add_argument("--rounds", type=int, default=5, help="calls per browser phone")
    parser.add_argument("--sipp-calls", type=int, default=30, help="comparator calls, one at a time")
    parser.add_argument("--sipp-ring-ms", type=int, default=0, help="the sipp phone's ringing before it answers")
    args = parser.parse_args()
    if args.quick:
        args.phones, args.rounds, args.sipp_calls = 2, 2, 4
    if not 1 <= args.phones <= 6:
        parser.error("--phones: 1 to 6 (agents 1007 and 1008 are the sipp phones)")
    print(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
