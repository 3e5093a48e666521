"""The real run of bench/dialer.py: campaigns through the real PBX, customers on the far side.

Modes, one after the other on the same rig: progressive (the engine's 1:1 mode, the comparator),
a fixed ratio of 2.5 lines per idle agent (the non-adaptive comparator: the engine's dialer with
its pacer swapped for ``FixedRatioPacer``) and predictive.

Two Asterisk instances (tests/asterisk/trunks/rig.py): ours, running the whole engine with
simulated agent phones, and a carrier whose dialplan plays the customers of +86159...: each call
draws a person (rings 1-6 s, says hello, talks an exponential time and hangs up), an answering
machine (a long greeting: our AMD says MACHINE), busy or no answer. Each mode runs a fresh engine
and campaign for the same wall time on the same rig; the campaign is stopped at the end and the
figures count what happened inside that time:

* occupancy: the dialer's own measure (agent time reserved, talking or in wrap-up / staffed time);
* contacts per agent-hour: customers connected to an agent (``CallConnected``);
* drop rate: dropped / (connected + dropped) answered people;
* idle between calls: mean time from an agent's ``available`` to its next reservation.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PREFIX = "+86159"
FIXED_RATIO = 2.5
# A drop rate or a contact rate over a dozen answered people is noise (one drop is 8 points): a
# verdict needs this many answered people in each of progressive and predictive.
MIN_ANSWERED = 40
AGENTS = ("1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008")


@dataclass
class Customers:
    """What the carrier's +86159... customers do (its dialplan globals)."""

    person_pct: int = 25
    machine_pct: int = 10
    busy_pct: int = 10
    ring_min_s: int = 1
    ring_max_s: int = 6
    talk_mean_s: int = 20
    talk_min_s: int = 3

    def globals(self) -> dict[str, int]:
        return {"CUSTOMER_PERSON_PCT": self.person_pct, "CUSTOMER_MACHINE_PCT": self.machine_pct,
                "CUSTOMER_BUSY_PCT": self.busy_pct, "CUSTOMER_RING_MIN_S": self.ring_min_s,
                "CUSTOMER_RING_MAX_S": self.ring_max_s, "CUSTOMER_TALK_MEAN_S": self.talk_mean_s,
                "CUSTOMER_TALK_MIN_S": self.talk_min_s}


@dataclass
class RealResult:
    mode: str
    agents: int
    seconds: float
    occupancy: float
    connected: int
    dropped: int
    outcomes: dict[str, int]
    idle_gaps: list[float] = field(default_factory=list)

    @property
    def per_agent_hour(self) -> float:
        return self.connected / (self.agents * self.seconds / 3600)

    @property
    def drop_rate(self) -> float:
        answered = self.connected + self.dropped
        return self.dropped / answered if answered else 0.0

    @property
    def idle_between_s(self) -> float:
        return sum(self.idle_gaps) / len(self.idle_gaps) if self.idle_gaps else 0.0


def upper_bound(k: int, n: int, z: float = 1.645) -> float:
    """The one-sided 95 % upper bound (Wilson) of a rate seen as ``k`` of ``n``."""
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def _fixed_ratio_pacer(ratio: float) -> Any:
    from acd.pacing import Floor, Pacer

    class FixedRatioPacer(Pacer):
        """``ratio`` lines per idle agent, whatever it learns (the comparator)."""

        def calls_to_dial(self, floor: Floor, now: float) -> int:
            return max(0, math.floor(ratio * floor.idle) - len(floor.ringing))

    return FixedRatioPacer


def _edit_config(agents: int, wrap_up_s: float, dial_timeout_s: int) -> Callable[[Path], None]:
    """Every bench agent takes the support queue at once (no skill steps; each gets the support skill,
    which an agent needs to log in to the queue), wrap-up is short and nothing is recorded; our Dial
    to the trunk gives up after ``dial_timeout_s``."""

    def edit(config: Path) -> None:
        path = config / "queues.yaml"
        data = yaml.safe_load(path.read_text())
        support = data["queues"]["support"]
        support.update(steps=[{"after_s": 0, "skills": {}}], wrap_up_s=wrap_up_s, recording="none",
                       preferred_agent_s=0)
        for agent_id in AGENTS[:agents]:
            roster = data["agents"][agent_id]
            roster["queues"] = sorted({*roster["queues"], "support"})
            roster["skills"] = {"support": 1, **roster.get("skills", {})}
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        trunks = config / "trunks.yaml"
        trunks.write_text(re.sub(r"dial_timeout_s: \d+", f"dial_timeout_s: {dial_timeout_s}", trunks.read_text()))

    return edit


async def _run_mode(rig: Any, mode: str, agents: int, seconds: float, contacts: int, dial_timeout_s: int,
                    work: Path) -> RealResult:
    from acd.events import AgentStateChanged
    from callcenter.engine import Engine
    from crm_core import campaigns
    from crm_core.campaign_rules import CampaignIn
    from cti.events import Event
    from cti.journey import CallConnected, CampaignAttemptEnded
    from tests.helpers import engine_settings, running_engine

    connected: list[str] = []
    results: dict[str, int] = {}
    available_at: dict[str, float] = {}
    gaps: list[float] = []
    window = {"open": False}

    async def record(ev: Event) -> None:
        if not window["open"]:
            return
        if isinstance(ev, CallConnected) and ev.linkedid.startswith("cmp"):
            connected.append(ev.linkedid)
        elif isinstance(ev, CampaignAttemptEnded):
            results[ev.result] = results.get(ev.result, 0) + 1
        elif isinstance(ev, AgentStateChanged):
            if ev.state == "available":
                available_at[ev.agent_id] = ev.ts
            elif ev.state in ("reserved", "on_call") and (since := available_at.pop(ev.agent_id, None)) is not None:
                gaps.append(ev.ts - since)

    def subscribe(eng: Engine) -> None:
        eng.bus.subscribe(Event, record, name="bench.recorder")

    run_dir = work / mode.replace(" ", "-")
    run_dir.mkdir()
    settings = engine_settings(rig.settings, run_dir)
    async with running_engine(rig.ours, settings, before_start=subscribe, answer_after_s=0.5) as eng:
        eng.dialer.dial_timeout_s = dial_timeout_s
        if mode.startswith("fixed"):  # the engine's dialer, its pacer swapped for the fixed ratio
            live_campaign, pacer_class = eng.dialer._live_campaign, _fixed_ratio_pacer(FIXED_RATIO)

            def fixed(c: Any) -> Any:
                run = live_campaign(c)
                run.pacer = pacer_class(run.pacer.config)
                return run

            eng.dialer._live_campaign = fixed  # type: ignore[method-assign]
        spec = CampaignIn.model_validate({
            "name": f"bench-{mode.split()[0]}", "queue": "support",
            "mode": "progressive" if mode.startswith("fixed") else mode, "timezone": "UTC",
            "windows": [{"days": list(range(7)), "start": "00:00", "end": "24:00"}],
            "retry": {"no_answer": None, "busy": None, "machine": None, "dropped": None, "failed": None},
            "max_attempts": 1, "machine_action": "retry", "drop_message": "vm-goodbye"})
        async with eng.db.session() as s:
            campaign = await campaigns.create_campaign(session=s, spec=spec)
            await campaigns.add_contacts(session=s, campaign=campaign, rows=[
                (i, {"number": f"{PREFIX}{i:08d}"}) for i in range(1, contacts + 1)])
            campaign_id = campaign.id
        for agent_id in AGENTS[:agents]:
            await eng.desk.login_queues(agent_id, ["support"])
            await eng.desk.set_ready(agent_id)
        now = time.time()
        for agent_id in AGENTS[:agents]:
            available_at[agent_id] = now
        window["open"] = True
        await eng.dialer.command(campaign_id, "start", "bench")
        await asyncio.sleep(seconds)
        window["open"] = False
        view = eng.dialer.view(campaign_id) or {}
        await eng.dialer.command(campaign_id, "stop", "bench")
    rig.carrier.cli("channel request hangup all")
    await asyncio.sleep(1)
    return RealResult(mode=mode, agents=agents, seconds=seconds, occupancy=float(view.get("occupancy", 0.0)),
                      connected=len(connected), dropped=results.get("dropped", 0), outcomes=results, idle_gaps=gaps)


def _hwm_mb(pid: int | None) -> float:
    """An Asterisk's peak resident memory (VmHWM), in MB."""
    if pid is None:
        return 0.0
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else 0.0


def real_run(*, quick: bool, drop_cap: float, agents: int | None = None, seconds: float | None = None) -> list[str]:
    """Progressive, fixed ratio, then predictive through the real PBX; returns the verdict lines."""
    from crm_core.campaign_answers import MAX_GRACE_S
    from tests.asterisk.trunks.rig import carrier_rig

    agents = agents or (4 if quick else 8)
    seconds = seconds or (45.0 if quick else 420.0)  # progressive connects ~45 people in 420 s
    dial_timeout_s = 15
    customers = Customers()
    work = Path(tempfile.mkdtemp(prefix="cti-dialer-bench-"))
    print(f"\nreal run: our Asterisk + a carrier Asterisk playing the customers (+86159...: person "
          f"{customers.person_pct} %, machine {customers.machine_pct} %, busy {customers.busy_pct} %, "
          f"else no answer (our Dial gives up after {dial_timeout_s} s); a person rings "
          f"{customers.ring_min_s}-{customers.ring_max_s} s, talks exponential mean {customers.talk_mean_s} s "
          f"(>= {customers.talk_min_s} s) and hangs up; 3 s wrap-up), {agents} simulated agent phones, "
          f"{seconds:.0f} s per mode, drop grace {MAX_GRACE_S:.0f} s", flush=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")  # failures show
    if os.environ.get("BENCH_DEBUG"):  # every pacing decision and answered person, with the pacer's belief
        logging.getLogger("crm_core.dialer.pace").setLevel(logging.DEBUG)
    started = time.perf_counter()
    results: list[RealResult] = []
    asterisk_mb = carrier_mb = 0.0
    try:
        with carrier_rig(work / "rig", edit_config=_edit_config(agents, 3.0, dial_timeout_s), rtp_ports=200) as rig:
            for name, value in customers.globals().items():
                rig.carrier.cli(f"dialplan set global {name} {value}")
            for mode in ("progressive", f"fixed {FIXED_RATIO}", "predictive"):
                results.append(asyncio.run(_run_mode(rig, mode, agents, seconds, 3000, dial_timeout_s, work)))
            asterisk_mb, carrier_mb = _hwm_mb(rig.ours.pid()), _hwm_mb(rig.carrier.pid())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'agents':>6} {'mode':<12} {'occup.':>7} {'/agent-h':>9} {'drop':>7} {'idle gap s':>10} "
          f"{'connected':>9}  attempts by result")
    for r in results:
        print(f"{r.agents:>6} {r.mode:<12} {r.occupancy:>7.1%} {r.per_agent_hour:>9.1f} {r.drop_rate:>7.2%} "
              f"{r.idle_between_s:>10.1f} {r.connected:>9}  {dict(sorted(r.outcomes.items()))}")
    prog, _, pred = results
    # No call connected in a mode means the run itself failed (see the warnings above): no verdict MET.
    ran = all(r.connected > 0 for r in results)
    ratio = pred.per_agent_hour / prog.per_agent_hour if prog.per_agent_hour else 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prog_answered, pred_answered = prog.connected + prog.dropped, pred.connected + pred.dropped
    print(f"ratio predictive/progressive contacts per agent-hour: {ratio:.2f}x "
          f"(answer rate {customers.person_pct} %); predictive dropped {pred.dropped} of "
          f"{pred.connected + pred.dropped} answered (95 % upper bound "
          f"{upper_bound(pred.dropped, pred.connected + pred.dropped):.1%})")
    print(f"wall time {time.perf_counter() - started:.1f} s, peak memory (max RSS): bench + engine {peak_mb:.0f} MB, "
          f"our Asterisk {asterisk_mb:.0f} MB, carrier Asterisk {carrier_mb:.0f} MB (pid {os.getpid()})")

    def verdict(met: bool, answered: int) -> str:
        if not ran:
            return "MISSED"
        if answered < MIN_ANSWERED:  # e.g. --quick: the figures show the path works, not the pace
            return (f"NOT MEASURED (small sample: {answered} answered people, a verdict needs "
                    f"{MIN_ANSWERED}; {'would be MET' if met else 'would be MISSED'})")
        return "MET" if met else "MISSED"

    return [f"target real run: predictive drop rate < {drop_cap:.0%}: "
            f"{verdict(pred.drop_rate < drop_cap, pred_answered)} "
            f"({pred.drop_rate:.2%}, {pred.dropped} dropped{'' if ran else '; a mode connected no call'})",
            f"target real run: predictive >= 1.25x progressive contacts per agent-hour at {customers.person_pct} % "
            f"answers: {verdict(ratio >= 1.25, min(prog_answered, pred_answered))} ({ratio:.2f}x)"]
