"""Outbound dialer benchmark: the real pacing core (acd/pacing.py) running a campaign in simulated time.

A campaign of 10,000 contacts is dialled by 20 to 200 agents. Each attempt ends as a human answer
(after 3-15 s of ringing), an answering machine (answers after 3-12 s, then 4 s of AMD; never
reaches an agent), busy (2 s) or no answer (the 25 s dial timeout). A human who answers takes an
idle agent for a lognormal talk time (mean 90 s) plus 10 s of wrap-up; with no idle agent the
person waits up to the drop grace (2 s, as the engine's dialer: docs/outbound.md) for the next agent
to free up, oldest answer first, and is dropped after it. The pacer is told every result, exactly
as the engine's dialer tells it, and decides after every event and every simulated second.

Modes in the same run, on the same contacts and random draws:
* progressive: the pacing core's progressive mode (one call per idle agent, the comparator);
* fixed ratio: 2.5 lines per idle agent, the classic non-adaptive dialer (comparator);
* predictive: the pacing core's predictive mode (3 % drop cap).

Figures are measured while the list still has contacts to dial (the tail, where agents wait for
the last calls, is the same for every mode): agent occupancy (busy / staffed time), contacts per
agent-hour (humans connected to an agent), drop rate (dropped / humans answered), mean idle time
between an agent's calls, the peak dial level (ringing lines per agent).

Then a shorter real run through Asterisk (bench/dialer_pbx.py): the engine's dialer places real
calls through a trunk to a second Asterisk playing the customers, with simulated agent phones;
progressive, a fixed ratio and predictive each run the same wall time (figures and verdicts
printed the same way).

    .venv/bin/python bench/dialer.py            # 10,000 contacts, 20/50/200 agents, answer rates 10-50 %; real run
    .venv/bin/python bench/dialer.py --quick    # 3,000 contacts, fewer configurations; a shorter real run
    .venv/bin/python bench/dialer.py --sim-only | --real-only [--real-agents 8 --real-seconds 150]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from acd.pacing import DialMode, Floor, Pacer, PacingConfig  # noqa: E402
from bench.dialer_pbx import real_run  # noqa: E402

DROP_CAP = 0.03
FIXED_RATIO = 2.5
MACHINE_RATE = 0.10  # of all attempts
BUSY_RATE = 0.10
NO_ANSWER_S = 25.0
AMD_S = 4.0
WRAP_S = 10.0
TALK_MEAN_S = 90.0
TALK_SIGMA = 0.6
GRACE_S = 2.0  # the engine's default drop grace (crm_core.dialer)


class Dialer(Protocol):
    def calls_to_dial(self, floor: Floor, now: float) -> int: ...
    def record_attempt(self, now: float, *, answered: bool, ring_s: float) -> None: ...
    def record_connect(self, now: float, *, dropped: bool) -> None: ...
    def record_handle(self, handle_s: float) -> None: ...


class FixedRatio:
    """The non-adaptive comparator: ``ratio`` lines per idle agent, whatever happens."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio

    def calls_to_dial(self, floor: Floor, now: float) -> int:
        return max(0, math.floor(self.ratio * floor.idle) - len(floor.ringing))

    def record_attempt(self, now: float, *, answered: bool, ring_s: float) -> None:
        pass

    def record_connect(self, now: float, *, dropped: bool) -> None:
        pass

    def record_handle(self, handle_s: float) -> None:
        pass


@dataclass
class Result:
    mode: str
    agents: int
    answer_rate: float
    occupancy: float
    per_agent_hour: float
    drop_rate: float
    idle_between_s: float
    peak_dial_level: float
    connected: int
    dropped: int


def _outcomes(n: int, p: float, seed: int) -> list[tuple[str, float, float]]:
    """Per contact: outcome, ring time, talk time (drawn once, the same for every mode)."""
    rng = random.Random(seed)
    mu = math.log(TALK_MEAN_S) - TALK_SIGMA ** 2 / 2
    out = []
    for _ in range(n):
        r = rng.random()
        talk = rng.lognormvariate(mu, TALK_SIGMA)
        if r < p:
            out.append(("human", rng.uniform(3, 15), talk))
        elif r < p + MACHINE_RATE:
            out.append(("machine", rng.uniform(3, 12) + AMD_S, 0.0))
        elif r < p + MACHINE_RATE + BUSY_RATE:
            out.append(("busy", 2.0, 0.0))
        else:
            out.append(("no_answer", NO_ANSWER_S, 0.0))
    return out


def simulate(mode: str, dialer: Dialer, agents: int, p: float, contacts: list[tuple[str, float, float]]) -> Result:
    events: list[tuple[float, int, str, int]] = []  # (time, seq, kind, index)
    seq = 0
    idle = set(range(agents))
    busy_since: dict[int, float] = {}
    free_since = {a: 0.0 for a in range(agents)}
    idle_gaps: list[float] = []
    ringing: dict[int, float] = {}  # contact -> dialled at
    next_contact = 0
    connected = dropped = humans = 0
    busy_time = 0.0
    peak_level = 0.0
    now = 0.0
    list_done_at: float | None = None
    assigned: dict[int, int] = {}  # contact -> agent
    waiting: dict[int, float] = {}  # contact -> answered at: people waiting out the grace, oldest first

    def push(at: float, kind: str, idx: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, idx))

    def connect(idx: int, agent: int, talk: float) -> None:
        nonlocal connected
        if list_done_at is None:
            idle_gaps.append(now - free_since[agent])
        busy_since[agent] = now
        assigned[idx] = agent
        connected += list_done_at is None
        dialer.record_connect(now, dropped=False)
        push(now + talk + WRAP_S, "free", idx)

    push(0.0, "tick", 0)
    while events:
        now, _, kind, idx = heapq.heappop(events)
        if kind == "tick":
            if list_done_at is None:
                push(now + 1.0, "tick", 0)
        elif kind == "end":  # a call attempt stops ringing
            del ringing[idx]
            outcome, ring_s, talk = contacts[idx]
            dialer.record_attempt(now, answered=outcome == "human", ring_s=ring_s)
            if outcome == "human":
                humans += 1
                if idle:
                    connect(idx, idle.pop(), talk)
                else:
                    waiting[idx] = now
                    push(now + GRACE_S, "grace", idx)
        elif kind == "grace":  # no agent freed up within the grace: a drop
            if waiting.pop(idx, None) is not None:
                dropped += 1
                dialer.record_connect(now, dropped=True)
        elif kind == "free":
            agent = assigned.pop(idx)
            start = busy_since.pop(agent)
            handle = now - start
            if list_done_at is None:  # (calls still going when the list ran out were counted then)
                busy_time += handle
            dialer.record_handle(handle)
            free_since[agent] = now
            if waiting:  # the person waiting longest takes the agent
                first = next(iter(waiting))
                del waiting[first]
                connect(first, agent, contacts[first][2])
            else:
                idle.add(agent)
        if list_done_at is not None:
            continue
        # Decide once all events of this instant are in (the engine decides on each change too).
        if events and events[0][0] == now:
            continue
        floor = Floor(idle=len(idle), busy_elapsed=tuple(now - s for s in busy_since.values()),
                      ringing=tuple(now - s for s in ringing.values()), waiting=len(waiting))
        n = dialer.calls_to_dial(floor, now)
        for _ in range(n):
            if next_contact >= len(contacts):
                break
            _, ring_s, _ = contacts[next_contact]
            push(now + ring_s, "end", next_contact)
            ringing[next_contact] = now
            next_contact += 1
        peak_level = max(peak_level, len(ringing) / agents)
        if next_contact >= len(contacts):
            list_done_at = now
            busy_time += sum(now - s for s in busy_since.values())
    span = list_done_at or now
    return Result(mode=mode, agents=agents, answer_rate=p, occupancy=busy_time / (agents * span),
                  per_agent_hour=connected / (agents * span / 3600), drop_rate=dropped / humans if humans else 0.0,
                  idle_between_s=sum(idle_gaps) / len(idle_gaps) if idle_gaps else 0.0,
                  peak_dial_level=peak_level, connected=connected, dropped=dropped)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="3,000 contacts, fewer configurations; 4 agents and 45 s per mode in the real run")
    parser.add_argument("--sim-only", action="store_true", help="skip the real run through Asterisk")
    parser.add_argument("--real-only", action="store_true", help="only the real run through Asterisk")
    parser.add_argument("--real-agents", type=int, default=None, help="real run: agents (1-8; default 8, quick 4)")
    parser.add_argument("--real-seconds", type=float, default=None,
                        help="real run: seconds per mode (default 420, quick 45)")
    args = parser.parse_args()
    if args.real_only:
        for line in real_run(quick=args.quick, drop_cap=DROP_CAP, agents=args.real_agents, seconds=args.real_seconds):
            print(line)
        return 0
    n = 3000 if args.quick else 10_000
    agent_counts = (20, 100) if args.quick else (20, 50, 200)
    rates = (0.15, 0.30) if args.quick else (0.10, 0.20, 0.30, 0.50)
    seeds = (1,) if args.quick else (1, 2)
    print(f"dialer: {n} contacts per run, answer rates {rates}, agents {agent_counts}, seeds {seeds}; "
          f"machines {MACHINE_RATE:.0%}, busy {BUSY_RATE:.0%}, talk lognormal mean {TALK_MEAN_S:.0f} s + "
          f"{WRAP_S:.0f} s wrap-up, no answer after {NO_ANSWER_S:.0f} s, drop cap {DROP_CAP:.0%}, "
          f"drop grace {GRACE_S:.0f} s")
    print(f"{'agents':>6} {'answer':>6} {'mode':<12} {'occup.':>7} {'/agent-h':>9} {'drop':>7} "
          f"{'idle gap s':>10} {'peak lines/agent':>16} {'connected':>9}")
    started = time.perf_counter()
    worst_drop = 0.0
    gains: list[tuple[float, int, float]] = []
    for agents in agent_counts:
        for p in rates:
            for seed in seeds:
                contacts = _outcomes(n, p, seed * 1000 + agents)
                runs = [
                    simulate("progressive", Pacer(PacingConfig(mode=DialMode.PROGRESSIVE)), agents, p, contacts),
                    simulate(f"fixed {FIXED_RATIO}", FixedRatio(FIXED_RATIO), agents, p, contacts),
                    simulate("predictive", Pacer(PacingConfig(mode=DialMode.PREDICTIVE, drop_cap=DROP_CAP,
                                                        max_ring_s=NO_ANSWER_S)),
                             agents, p, contacts),
                ]
                for r in runs:
                    print(f"{r.agents:>6} {r.answer_rate:>6.0%} {r.mode:<12} {r.occupancy:>7.1%} "
                          f"{r.per_agent_hour:>9.1f} {r.drop_rate:>7.2%} {r.idle_between_s:>10.1f} "
                          f"{r.peak_dial_level:>16.2f} {r.connected:>9}")
                prog, _, pred = runs
                worst_drop = max(worst_drop, pred.drop_rate)
                gains.append((p, agents, pred.per_agent_hour / prog.per_agent_hour))
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    low = [g for g in gains if g[0] <= 0.30]
    min_gain = min(g[2] for g in low)
    print(f"ratio predictive/progressive contacts per agent-hour (answer rate <= 30 %): "
          f"min {min_gain:.2f}x, max {max(g[2] for g in low):.2f}x; "
          f"all rates: {', '.join(f'{p:.0%}/{a}: {g:.2f}x' for p, a, g in gains)}")
    print(f"wall time {elapsed:.1f} s, peak memory (max RSS) {peak_mb:.0f} MB")
    print(f"target predictive drop rate < {DROP_CAP:.0%} in every run: "
          f"{'MET' if worst_drop < DROP_CAP else 'MISSED'} (worst {worst_drop:.2%})")
    print(f"target predictive >= 1.25x progressive contacts per agent-hour at answer rates <= 30 %: "
          f"{'MET' if min_gain >= 1.25 else 'MISSED'} (worst {min_gain:.2f}x)")
    if not args.sim_only:
        for line in real_run(quick=args.quick, drop_cap=DROP_CAP, agents=args.real_agents, seconds=args.real_seconds):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
