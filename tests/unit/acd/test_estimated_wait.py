"""Estimated wait: the queue's real handle time (wrap-up included) over the agents actually serving
it (shared across queues), its error against what callers then waited, and the announced range."""

from __future__ import annotations

from acd.decisions import Announce
from acd.model import QueueConfig

from .helpers import of, ready_agent, router


def test_estimate_uses_handle_time_with_wrap_up_and_agents_shared_across_queues() -> None:
    r = router(QueueConfig("support", wrap_up_s=30), QueueConfig("sales"))
    ready_agent(r, "a", {}, 0.0)  # support only: one server
    r.enqueue("x", "support", 0.0)
    r.offer_answered("x", "a", 0.0)
    r.call_ended("x", 90.0)  # talk 90 s, then 30 s of wrap-up
    r.tick(120.0)
    snap = r.queue_snapshot("support", 120.0)
    assert snap.avg_talk_s == 90.0 and snap.avg_handle_s == 120.0
    r.set_not_ready("a", "lunch", 121.0)
    ready_agent(r, "b", {}, 121.0, queues=("support", "sales"))  # half a server for support
    r.enqueue("y", "sales", 121.5)  # b is busy on a sales call: still serving (back after its AHT)
    r.offer_answered("y", "b", 122.0)
    r.enqueue("c1", "support", 123.0)
    assert r.position("c1") == (1, 240.0)  # 1 x 120 s / 0.5 server
    r.set_ready("a", 124.0)  # a is busy in no time... but c1 goes to a at once
    assert r.call("c1").agent_id == "a"


def test_estimates_are_checked_against_the_wait_callers_had() -> None:
    r = router(QueueConfig("support", wrap_up_s=0))
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("x", "support", 0.0)
    r.offer_answered("x", "a", 0.0)
    r.enqueue("c1", "support", 10.0)  # estimated 180 s (no calls handled yet)
    assert r.queue_snapshot("support", 10.0).ewt_samples == 0
    r.call_ended("x", 40.0)  # c1 is offered to a
    r.offer_answered("c1", "a", 41.0)  # waited 31 s
    snap = r.queue_snapshot("support", 41.0)
    assert snap.ewt_samples == 1 and snap.ewt_error_s == 149.0 and snap.ewt_bias_s == -149.0


def test_the_announced_range_narrows_to_the_known_error() -> None:
    r = router(QueueConfig("support", wrap_up_s=0, announce_every_s=30))
    ready_agent(r, "a", {}, 0.0)
    t = 0.0
    for i in range(5):  # five calls estimated at 60 s that waited 50 s: mean error 10 s
        r.enqueue(f"busy{i}", "support", t)
        r.offer_answered(f"busy{i}", "a", t)
        r._stats["support"].ewt_observed(60.0, 50.0)
        r.call_ended(f"busy{i}", t + 60.0)
        t += 60.0
    r.enqueue("busy", "support", t)
    r.offer_answered("busy", "a", t)
    r.enqueue("c1", "support", t + 1)
    announced = of(r.tick(t + 31), Announce)
    assert announced == [Announce(call_id="c1", queue="support", position=1, ewt_s=60.0,
                                  ewt_low_s=50.0, ewt_high_s=70.0)]


def test_the_serving_agent_count_kept_on_the_fly_matches_a_recount() -> None:
    import random

    from acd.errors import AcdError
    from acd.model import AgentState

    rng = random.Random(7)
    r = router(QueueConfig("support", wrap_up_s=5), QueueConfig("sales", wrap_up_s=5))
    agents = [f"a{i}" for i in range(8)]
    t = 0.0
    for step in range(600):
        t += rng.random() * 3
        a = rng.choice(agents)
        try:
            match rng.randrange(7):
                case 0:
                    r.agent_login(a, {}, t, queues=rng.choice([["support"], ["sales"], ["support", "sales"]]),
                                  ready=rng.random() < 0.5)
                case 1:
                    r.agent_logout(a, t)
                case 2:
                    r.set_ready(a, t)
                case 3:
                    r.set_not_ready(a, "break", t)
                case 4:
                    r.set_device_registered(a, rng.random() < 0.7, t)
                case 5:
                    r.enqueue(f"c{step}", rng.choice(["support", "sales"]), t)
                case _:
                    for c in r.calls():
                        if c.agent_id and c.state.value == "ringing":
                            r.offer_answered(c.call_id, c.agent_id, t)
                        elif c.agent_id and c.state.value == "connected" and rng.random() < 0.5:
                            r.call_ended(c.call_id, t)
        except AcdError:
            pass
        for q in ("support", "sales"):
            recount = sum(1 / len(v.queues) for v in r.agents() if q in v.queues and v.registered
                          and v.state not in (AgentState.NOT_READY, AgentState.LOGGED_OUT))
            assert abs(r._servers(q) - recount) < 1e-9, (step, q)
