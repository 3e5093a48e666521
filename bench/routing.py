"""ACD routing benchmark: the engine's indexed Router beside a naive linear-scan router, same run.

The engine runs a call-center simulation (Poisson arrivals, ring delays, missed offers, talk
times, abandons, wrap-up); the naive router then replays the very same operations, in the same
process, and must return identical decisions for every one of them; the run aborts otherwise.
Measured: the wall time of each router call that decided an offer, split into "call arrives ->
agent" (enqueue) and "agent frees -> call" (wrap-up end, ready again), p50 / p99 and the
naive/engine ratio; then the memory of 1,000 agents with 200 calls in flight.

    .venv/bin/python bench/routing.py            # 1k and 10k agents
    .venv/bin/python bench/routing.py --quick    # 1k agents, shorter
"""

from __future__ import annotations

import argparse
import gc
import heapq
import os
import random
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on sys.path, where a sibling module may shadow the standard
# library (bench/logging.py does): import from the project root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from acd.decisions import (  # noqa: E402
    Abandoned,
    AgentStateChange,
    Bridge,
    Decision,
    LimitAction,
    Offer,
    Requeue,
)
from acd.model import (  # noqa: E402
    Agent,
    AgentState,
    CallState,
    LimitKind,
    LimitSpec,
    QueueConfig,
    QueuedCall,
    RoutingStep,
    Strategy,
)
from acd.routing import Router  # noqa: E402

SKILLS = [f"s{i:02d}" for i in range(32)]
LANGS = SKILLS[28:]  # the last 4 skills play languages a call may ask for
N_QUEUES = 12
TALK_MEAN_S = 150.0
WRAP_S = 8.0
PATIENCE_MEAN_S = 90.0
MISS_RATE = 0.03


class NaiveRouter(Router):
    """The comparator: no index; every decision scans every agent, or every call, linearly.

    Same rules and tie-breaks as the engine (longest idle by (idle_since, idle_seq); most skilled
    then longest idle; round robin by login rank; calls by priority, then age, then arrival seq).
    """

    def _index_insert(self, agent: Agent) -> None:
        pass

    def _index_delete(self, agent: Agent) -> None:
        pass

    def _pick_agent(self, call: QueuedCall, cfg: QueueConfig) -> Agent | None:
        need = call.need
        scored = [s for s, _ in cfg.steps[0].requirement(call.skills)] or [s for s, _ in need]
        rr_last = self._rr_last[cfg.name]
        best: Agent | None = None
        best_key: tuple[float, ...] = ()
        for agent in self._agents.values():
            if not agent.indexed or cfg.name not in agent.queues or not agent.meets(need):
                continue
            if cfg.strategy is Strategy.LONGEST_IDLE:
                key: tuple[float, ...] = agent.idle_key
            elif cfg.strategy is Strategy.MOST_SKILLED:
                key = (-sum(agent.skills.get(s, 0) for s in scored), *agent.idle_key)
            else:
                key = (int(agent.rank <= rr_last), agent.rank)
            if best is None or key < best_key:
                best, best_key = agent, key
        return best

    def _pick_call(self, agent: Agent) -> QueuedCall | None:
        best: QueuedCall | None = None
        for call in self._calls.values():
            if call.state is not CallState.WAITING or call.queue not in agent.queues:
                continue
            if call.pref_active and call.preferred_agent != agent.agent_id:
                continue
            if agent.meets(call.need) and (best is None or call.order < best.order):
                best = call
        return best


def make_queues() -> list[QueueConfig]:
    strategies = [Strategy.LONGEST_IDLE] * 8 + [Strategy.MOST_SKILLED] * 2 + [Strategy.ROUND_ROBIN] * 2
    return [
        QueueConfig(
            name=f"q{i:02d}",
            steps=(
                RoutingStep(0.0, {SKILLS[i]: 3}),
                RoutingStep(20.0, {SKILLS[i]: 1}, call_skill_cap=1),
                RoutingStep(60.0, {}, call_skill_cap=0),
            ),
            strategy=strategies[i],
            wrap_up_s=WRAP_S,
            ring_timeout_s=15.0,
            max_wait_s=600.0,
            max_wait_action=LimitSpec(LimitKind.VOICEMAIL),
            preferred_agent_s=10.0,
        )
        for i in range(N_QUEUES)
    ]


def agent_profile(rng: random.Random) -> tuple[dict[str, int], list[str]]:
    queues = rng.sample(range(N_QUEUES), rng.randint(2, 3))
    skills = {SKILLS[q]: rng.randint(1, 5) for q in queues}
    for s in rng.sample(SKILLS[N_QUEUES:], rng.randint(2, 5)):
        skills[s] = rng.randint(1, 5)
    return skills, [f"q{q:02d}" for q in queues]


@dataclass
class Timings:
    arrive: list[int] = field(default_factory=list)  # ns per enqueue that offered
    free: list[int] = field(default_factory=list)  # ns per agent-side offer (tick / set_ready)
    all_ops: int = 0
    total_ns: int = 0

    def add(self, kind: str, dt: int, out: list[Decision]) -> None:
        self.all_ops += 1
        self.total_ns += dt
        offers = sum(1 for d in out if isinstance(d, Offer))
        if offers and kind == "enqueue":
            self.arrive.append(dt)
        elif offers and kind in ("tick", "ready"):
            self.free.extend([dt // offers] * offers)


@dataclass
class Sim:
    """Drives the engine's router through a simulated call center and logs every operation."""

    router: Router
    timing: Timings
    rng: random.Random
    # (kind, method, args, kwargs, repr of the decisions, measured): strings, so that the log kept for
    # the replay does not load the garbage collector the way a live engine never would
    log: list[tuple[str, str, tuple[Any, ...], dict[str, Any], str, bool]] = field(default_factory=list)
    measuring: bool = False
    events: list[tuple[float, int, str, tuple[str, ...]]] = field(default_factory=list)
    seq: int = 0
    ringing: dict[str, tuple[str, int]] = field(default_factory=dict)  # call -> (agent, offer no)
    offer_no: int = 0
    decisions: int = 0

    def at(self, t: float, kind: str, *args: str) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, args))

    def op(self, kind: str, method: str, *args: Any, **kwargs: Any) -> list[Decision]:
        call = getattr(self.router, method)
        t0 = time.perf_counter_ns()
        out: list[Decision] = call(*args, **kwargs)
        dt = time.perf_counter_ns() - t0
        if self.measuring:
            self.timing.add(kind, dt, out)
        self.log.append((kind, method, args, kwargs, repr(out), self.measuring))
        return out

    def react(self, now: float, decisions: list[Decision]) -> None:
        rng = self.rng
        for d in decisions:
            self.decisions += 1
            if isinstance(d, Offer):
                self.offer_no += 1
                self.ringing[d.call_id] = (d.agent_id, self.offer_no)
                if rng.random() < MISS_RATE:
                    self.at(now + d.ring_timeout_s, "no_answer", d.call_id, d.agent_id, str(self.offer_no))
                else:
                    self.at(now + rng.uniform(1.0, 5.0), "answer", d.call_id, d.agent_id, str(self.offer_no))
            elif isinstance(d, Bridge):
                self.ringing.pop(d.call_id, None)
                self.at(now + max(10.0, rng.expovariate(1 / TALK_MEAN_S)), "end", d.call_id)
            elif isinstance(d, Requeue | Abandoned | LimitAction):
                self.ringing.pop(d.call_id, None)
            elif isinstance(d, AgentStateChange) and d.new is AgentState.NOT_READY and d.reason == "missed":
                self.at(now + 20.0, "ready", d.agent_id)

    def run(self, until: float, arrival_rate: float, start_measuring_at: float, prio_rng: random.Random) -> None:
        call_no = 0
        self.at(0.0, "arrival")
        while self.events:
            due = self.router.next_due()
            if due is not None and due <= self.events[0][0]:
                # The adapter sleeps until the router's next timer and ticks right then.
                self.measuring = due >= start_measuring_at
                self.react(due, self.op("tick", "tick", due))
                continue
            now, _, kind, args = heapq.heappop(self.events)
            if now > until:
                break
            self.measuring = now >= start_measuring_at
            if kind == "arrival":
                call_no += 1
                cid = f"c{call_no}"
                q = f"q{prio_rng.randrange(N_QUEUES):02d}"
                skills = {prio_rng.choice(LANGS): 2} if prio_rng.random() < 0.3 else None
                prio = 5 if prio_rng.random() < 0.05 else 0
                out = self.op("enqueue", "enqueue", cid, q, now, skills=skills, priority=prio)
                self.react(now, out)
                self.at(now + prio_rng.expovariate(1 / PATIENCE_MEAN_S), "abandon", cid)
                self.at(now + prio_rng.expovariate(arrival_rate), "arrival")
            elif kind in ("answer", "no_answer"):
                cid, aid, no = args
                if self.ringing.get(cid) != (aid, int(no)):
                    continue
                if kind == "answer":
                    out = self.op("answer", "offer_answered", cid, aid, now)
                else:
                    out = self.op("no_answer", "offer_no_answer", cid, aid, now)
                self.react(now, out)
            elif kind == "end":
                self.react(now, self.op("end", "call_ended", args[0], now))
            elif kind == "abandon":
                cid = args[0]
                view = self.router._calls.get(cid)
                if view is not None and view.state in (CallState.WAITING, CallState.RINGING):
                    self.react(now, self.op("abandon", "caller_hung_up", cid, now))
            elif kind == "ready":
                aid = args[0]
                if self.router._agents[aid].state is AgentState.NOT_READY:
                    self.react(now, self.op("ready", "set_ready", aid, now))


def pct(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] / 1000.0  # microseconds


def login_all(router: Router, n_agents: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n_agents):
        skills, qs = agent_profile(rng)
        router.agent_login(f"a{i}", skills, 0.0, queues=qs, ready=True)


def bench(n_agents: int, sim_s: float, reps: int, seed: int = 7) -> tuple[list[Timings], Timings, int]:
    """Simulate with the engine ``reps`` times (the same operations each time, a fresh router each
    time: the shared machine's noise shows between runs), then replay those operations once on the
    naive router. Run apart rather than interleaved, so that neither pays for the other's cache
    misses; every naive decision list must equal the engine's.
    """
    queues = make_queues()
    # Offered load 97 % of the agents: queues form, agents and calls both wait at times.
    rate = 0.97 * n_agents / (TALK_MEAN_S + WRAP_S + 3.0)
    runs: list[Sim] = []
    for _ in range(reps):
        engine = Router(queues)
        login_all(engine, n_agents, seed)
        sim = Sim(engine, Timings(), random.Random(seed + 1))
        gc.collect()
        gc.freeze()
        sim.run(until=sim_s, arrival_rate=rate, start_measuring_at=sim_s * 0.5, prio_rng=random.Random(seed + 2))
        if runs and sim.log != runs[0].log:
            raise AssertionError("the engine is not deterministic: two runs of the same operations differ")
        runs.append(sim)
        if len(runs) > 1:
            sim.log = []
        del engine
    naive = NaiveRouter(queues)
    login_all(naive, n_agents, seed)
    gc.collect()
    gc.freeze()
    naive_timing = Timings()
    for kind, method, args, kwargs, expected, measuring in runs[0].log:
        call = getattr(naive, method)
        t0 = time.perf_counter_ns()
        out = call(*args, **kwargs)
        dt = time.perf_counter_ns() - t0
        if repr(out) != expected:
            raise AssertionError(f"engine and naive routers decided differently on {method}{args}:\n"
                                 f"  engine: {expected}\n  naive:  {out}")
        if measuring:
            naive_timing.add(kind, dt, out)
    return [r.timing for r in runs], naive_timing, runs[0].decisions


def memory_1k_200() -> tuple[int, int]:
    """Bytes the engine holds for 1,000 agents and 200 calls in flight (150 talking, 50 waiting)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rng = random.Random(3)
    router = Router(make_queues())
    for i in range(1000):
        skills, qs = agent_profile(rng)
        router.agent_login(f"a{i}", skills, 0.0, queues=qs, ready=True)
    talking = 0
    for n in range(200):
        out = router.enqueue(f"c{n}", f"q{n % N_QUEUES:02d}", 1.0 + n * 0.01, skills={"s30": 5} if n >= 150 else None)
        for d in out:
            if isinstance(d, Offer):
                router.offer_answered(d.call_id, d.agent_id, 2.0 + n * 0.01)
                talking += 1
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    in_flight = sum(1 for c in router.calls() if c.state in (CallState.CONNECTED, CallState.WAITING))
    assert in_flight == 200 and talking >= 100, (in_flight, talking)
    del router
    return held, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k agents only, a shorter simulation")
    parser.add_argument("--reps", type=int, default=3, help="engine runs of the same operations (median shown)")
    parser.add_argument("--gc-gen0", type=int, default=gc.get_threshold()[0], metavar="N",
                        help="garbage collector generation-0 threshold (Python's default: 700); a young-"
                             "generation collection inside a timed call is what shows at p99")
    args = parser.parse_args()
    gc.set_threshold(args.gc_gen0, *gc.get_threshold()[1:])
    print(f"python {sys.version.split()[0]}, gc thresholds {gc.get_threshold()}, objects frozen out of the "
          f"collector after setup (gc.freeze); load average before the run {os.getloadavg()[0]:.2f} (2 shared cores)")
    held, rss_kb = memory_1k_200()
    verdict = "MET" if rss_kb < 300 * 1024 else "MISSED"
    print(f"memory: 1,000 agents + 200 calls in flight: engine holds {held / 1e6:.2f} MB (tracemalloc); "
          f"process peak RSS so far {rss_kb / 1024:.1f} MB; target < 300 MB: {verdict}")
    sizes = [(1000, 900.0)] if args.quick else [(1000, 1800.0), (10000, 500.0)]
    failed = False
    for n, sim_s in sizes:
        t0 = time.perf_counter()
        engine_runs, nai, decisions = bench(n, sim_s, args.reps)
        wall = time.perf_counter() - t0
        by_p99 = sorted(engine_runs, key=lambda t: pct(t.arrive + t.free, 99))
        eng = by_p99[len(by_p99) // 2]
        print(f"\n{n} agents, 32 skills, {N_QUEUES} queues, {sim_s:.0f} s simulated (measured 2nd half), "
              f"{decisions} decisions compared, identical: yes ({wall:.1f} s wall)")
        print(f"  engine: {len(engine_runs)} runs of the same operations, p99 of all offers per run: "
              + ", ".join(f"{pct(t.arrive + t.free, 99):.1f}us" for t in engine_runs) + "; the median run below")
        print(f"  {'decision':<22}{'n':>7}{'engine p50':>12}{'p99':>9}{'naive p50':>12}{'p99':>10}"
              f"{'ratio p50':>11}{'p99':>8}")
        for label, e, v in (("call arrives -> agent", eng.arrive, nai.arrive),
                            ("agent frees -> call", eng.free, nai.free),
                            ("all offers", eng.arrive + eng.free, nai.arrive + nai.free)):
            ep50, ep99, np50, np99 = pct(e, 50), pct(e, 99), pct(v, 50), pct(v, 99)
            print(f"  {label:<22}{len(e):>7}{ep50:>10.1f}us{ep99:>7.1f}us{np50:>10.1f}us{np99:>8.1f}us"
                  f"{np50 / ep50:>10.1f}x{np99 / ep99:>7.1f}x")
        e_all, n_all = eng.arrive + eng.free, nai.arrive + nai.free
        print(f"  every router call (n={eng.all_ops}): engine mean {eng.total_ns / eng.all_ops / 1000:.1f}us, "
              f"naive mean {nai.total_ns / nai.all_ops / 1000:.1f}us")
        if n >= 10000:
            p99, ratio = pct(e_all, 99), pct(n_all, 99) / pct(e_all, 99)
            ok = p99 < 50.0 and ratio >= 20.0
            failed |= not ok
            print(f"  target at 10k: p99 < 50us and >= 20x naive -> p99 {p99:.1f}us, {ratio:.0f}x: "
                  f"{'MET' if ok else 'MISSED'}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS (ru_maxrss) of the whole run: {peak_mb:.1f} MB")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
