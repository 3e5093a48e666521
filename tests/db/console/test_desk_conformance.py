"""The fake desk behaves as the real one: the same scenarios, run on ``agent_console.fakes.FakeDesk``
(what hundreds of web tests and the demo run on) and on ``agent_console.desk.EngineDesk`` over the
real ACD service (``acd.delivery.AcdService``, its router, ``FakeCallControl`` for Asterisk) and a
real CRM database (SQLite), must give the same transcript: each step's answer (its value, or the
error as a client sees it: code, HTTP status, field) and what the agent's console then shows (the
hub's view of the published state and call updates, and the desk's snapshot a reload reads).
A difference is the fake's to fix: the real desk is the product."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from agent_console.ports import AgentDesk, WrapUpInput
from tests.db.console.desk_worlds import Scenario, Transcript, World


async def ready_and_not_ready(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("ready, logged out", lambda: d.set_ready("1001"))
    await t.step("not ready, logged out", lambda: d.set_not_ready("1001", "break"))
    await t.step("log in", lambda: d.login_queues("1001", ["support"]))
    for reason in ("missed", "login", "outbound", "supervisor", "offboarded", "", "Break"):
        await t.step(f"not ready {reason!r}: the engine's own", functools.partial(d.set_not_ready, "1001", reason))
    await t.step("ready", lambda: d.set_ready("1001"))
    await t.step("ready again", lambda: d.set_ready("1001"))
    await t.step("not ready lunch", lambda: d.set_not_ready("1001", "lunch"))
    await t.step("not ready break", lambda: d.set_not_ready("1001", "break"))
    await t.step("ready", lambda: d.set_ready("1001"))
    await t.step("not ready no_microphone: the console's own", lambda: d.set_not_ready("1001", "no_microphone"))
    await t.step("ready", lambda: d.set_ready("1001"))


async def queue_login(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("log out, logged out", lambda: d.logout_queues("1002", []))
    await t.step("unknown queue", lambda: d.login_queues("1002", ["nope"]))
    await t.step("one unknown queue", lambda: d.login_queues("1002", ["support", "nope"]))
    await t.step("no skill for billing", lambda: d.login_queues("1002", ["billing"]))
    await t.step("own queues", lambda: d.login_queues("1002", []))
    await t.step("1001 in support", lambda: d.login_queues("1001", ["support"]))
    await t.step("1001 adds billing", lambda: d.login_queues("1001", ["billing"]))
    await t.step("1001 adds an unknown queue", lambda: d.login_queues("1001", ["nope"]))
    await t.step("1001 leaves an unknown queue", lambda: d.logout_queues("1001", ["nope"]))
    await t.step("1001 leaves support", lambda: d.logout_queues("1001", ["support"]))
    await t.step("1001 leaves billing: logged out", lambda: d.logout_queues("1001", ["billing"]))
    await t.step("1001 back in sales only", lambda: d.login_queues("1001", ["sales"]))
    await t.step("1001 logs in again, no queue named", lambda: d.login_queues("1001", []))
    await t.step("1001 logs out", lambda: d.logout_queues("1001", []))
    await t.step("1001 back in its own queues", lambda: d.login_queues("1001", []))
    await t.step("1002 logs out", lambda: d.logout_queues("1002", []))
    await t.step("1002 logs out again", lambda: d.logout_queues("1002", []))


async def _on_a_call(w: World, t: Transcript) -> str:
    """1001 ready in support and on a call, 1002 logged in not ready."""
    await t.step("1001 logs in", lambda: w.desk.login_queues("1001", ["support"]))
    await t.step("1002 logs in", lambda: w.desk.login_queues("1002", ["support"]))
    await t.step("1001 ready", lambda: w.desk.set_ready("1001"))
    call = await w.call_in("1001")
    t.name(call)
    t.lines.append(("a call for 1001", None, await t.consoles()))
    return call


async def someone_elses_call(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("1002 hangs up 1001's call", lambda: d.hangup("1002", call))
    await t.step("1002 holds it", lambda: d.hold("1002", call))
    await t.step("1002 resumes it", lambda: d.resume("1002", call))
    await t.step("1002 transfers it", lambda: d.transfer("1002", call, kind="blind", target_kind="queue",
                                                         target="sales"))
    await t.step("1002 wraps it up", lambda: d.wrap_up("1002", call, WrapUpInput(disposition="resolved")))
    for verb in (d.hangup, d.hold, d.resume):
        await t.step(f"{verb.__name__} an unknown call", functools.partial(verb, "1001", "no-such-call"))
    await t.step("wrap up an unknown call", lambda: d.wrap_up("1001", "no-such-call",
                                                              WrapUpInput(disposition="resolved")))


async def a_call_to_its_end(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("resume a call not held", lambda: d.resume("1001", call))
    await t.step("wrap up while talking", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved")))
    await t.step("hold", lambda: d.hold("1001", call))
    await t.step("hold again", lambda: d.hold("1001", call))
    await t.step("resume", lambda: d.resume("1001", call))
    await t.step("transfer to an unknown queue", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                                    target="nope"))
    await t.step("transfer to a bad number", lambda: d.transfer("1001", call, kind="blind", target_kind="number",
                                                                target="12&PJSIP/9"))
    await t.step("not ready during the call", lambda: d.set_not_ready("1001", "lunch"))
    await w.caller_hangs_up(call)
    t.lines.append(("the caller hangs up", None, await t.consoles()))
    await t.step("hang up the ended call", lambda: d.hangup("1001", call))
    await t.step("hold the ended call", lambda: d.hold("1001", call))
    await t.step("transfer the ended call", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                               target="sales"))
    await t.step("unknown disposition", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="nope")))
    await t.step("wrap up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved", notes="done")))
    await t.step("wrap up twice", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved")))
    await t.step("hang up the wrapped-up call", lambda: d.hangup("1001", call))


async def dialling(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("dial, logged out", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("log in", lambda: d.login_queues("1001", ["support"]))
    await t.step("ready", lambda: d.set_ready("1001"))
    for bad in ("12ab", "", "+", "100&PJSIP/9", "1 2"):
        await t.step(f"dial {bad!r}", functools.partial(d.dial, "1001", bad, None))
    call = await w.call_in("1001")
    t.name(call)
    await t.step("dial during a call", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("not ready during the call", lambda: d.set_not_ready("1001", "lunch"))
    await w.caller_hangs_up(call)
    out = await t.step("dial during the wrap-up", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("wrap up the call before", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved")))
    await t.step("ready during the outbound call", lambda: d.set_ready("1001"))
    await t.step("dial again", lambda: d.dial("1001", "+8613800138003", None))
    await t.step("hang up", lambda: d.hangup("1001", out))
    await t.step("wrap up the outbound call", lambda: d.wrap_up("1001", out, WrapUpInput(disposition="sale")))
    await t.step("dial when ready", lambda: d.dial("1001", "+8613800138004", None))


async def transfers(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("to oneself", lambda: d.transfer("1001", call, kind="blind", target_kind="agent", target="1001"))
    await t.step("to an agent logged out", lambda: d.transfer("1001", call, kind="blind", target_kind="agent",
                                                              target="1999"))
    await t.step("to a number with +", lambda: d.transfer("1001", call, kind="blind", target_kind="number",
                                                          target="+86 10"))
    await t.step("blind to a queue", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                        target="sales"))
    await t.step("hold after the transfer", lambda: d.hold("1001", call))
    await t.step("wrap up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="escalated")))


async def callbacks_of_others(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("1001 logs in", lambda: d.login_queues("1001", ["support"]))
    await t.step("1002 logs in", lambda: d.login_queues("1002", ["support"]))
    support = await w.add_callback("support")
    billing = await w.add_callback("billing")
    personal = await w.add_callback(None, agent_id="1001")
    await t.step("claim an unknown callback", lambda: d.claim_callback("1001", 999))
    await t.step("release an unknown callback", lambda: d.release_callback("1001", 999))
    await t.step("1002 claims billing's", lambda: d.claim_callback("1002", billing))
    await t.step("1002 claims 1001's own", lambda: d.claim_callback("1002", personal))
    await t.step("1001 releases one not claimed", lambda: d.release_callback("1001", support))
    await t.step("1001 claims", lambda: d.claim_callback("1001", support))
    await t.step("1001 claims again", lambda: d.claim_callback("1001", support))
    await t.step("1002 claims 1001's claim", lambda: d.claim_callback("1002", support))
    await t.step("1002 releases 1001's claim", lambda: d.release_callback("1002", support))
    await t.step("1001 releases", lambda: d.release_callback("1001", support))
    await t.step("1002 claims", lambda: d.claim_callback("1002", support))
    await t.step("1001 claims its own", lambda: d.claim_callback("1001", personal))


async def call_controls(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("an agent the CRM does not know logs in", lambda: d.login_queues("1999", []))
    await t.step("catalog of 1002", lambda: _catalog(d, "1002"))
    await t.step("catalog of an unknown agent", lambda: _catalog(d, "1999"))
    call = await _on_a_call(w, t)
    await t.step("has it", lambda: d.has_call("1001", call))
    await t.step("1002 has it", lambda: d.has_call("1002", call))
    await t.step("tags on 1002's side", lambda: d.set_call_attributes("1002", call, tags=["vip"], values={}))
    await t.step("tags on an unknown call", lambda: d.set_call_attributes("1001", "nope", tags=["vip"], values={}))
    await t.step("tags", lambda: d.set_call_attributes("1001", call, tags=["vip"], values={"order": "A1"}))
    await t.step("bad tones", lambda: d.send_dtmf("1001", call, "x"))
    await t.step("tones of 1002", lambda: d.send_dtmf("1002", call, "1"))
    await t.step("tones", lambda: d.send_dtmf("1001", call, "12#"))
    await t.step("cancel no consultation", lambda: d.cancel_consult("1001", call))
    await t.step("conference without a consultation", lambda: d.conference("1001", call))
    await t.step("adds a queue during the call", lambda: d.login_queues("1001", ["billing"]))
    await t.step("leaves a queue during the call", lambda: d.logout_queues("1001", ["support"]))
    await t.step("logs out during the call", lambda: d.logout_queues("1001", []))
    await t.step("not ready during the call", lambda: d.set_not_ready("1001", "meeting"))
    await t.step("ready during the call: withdraws it", lambda: d.set_ready("1001"))
    await t.step("not ready again", lambda: d.set_not_ready("1001", "training"))
    await w.caller_hangs_up(call)
    t.lines.append(("the caller hangs up", None, await t.consoles()))
    await t.step("tones on the ended call", lambda: d.send_dtmf("1001", call, "1"))
    await t.step("wrap up with the engine's reason", lambda: d.wrap_up(
        "1001", call, WrapUpInput(disposition="resolved", not_ready_reason="missed")))
    await t.step("wrap up with a reason", lambda: d.wrap_up(
        "1001", call, WrapUpInput(disposition="resolved", not_ready_reason="lunch")))


async def _catalog(d: AgentDesk, agent_id: str) -> tuple[Any, ...]:
    c = await d.catalog(agent_id)  # the dispositions' order is the CRM's data (category, code), not the desk's
    return (tuple(r.code for r in c.reasons), tuple(sorted((x.code, x.resolves) for x in c.dispositions)),
            tuple(c.queues), tuple(c.login_queues))


async def working_callbacks(w: World, t: Transcript) -> None:
    d = w.desk
    support = await w.add_callback("support")
    await t.step("1001 logged out claims", lambda: d.claim_callback("1001", support))
    await t.step("1001 logs in", lambda: d.login_queues("1001", ["support"]))
    await t.step("1002 logs in", lambda: d.login_queues("1002", ["support"]))
    await t.step("1001 calls it unclaimed", lambda: d.call_callback("1001", support))
    await t.step("1001 skips it unclaimed", lambda: d.skip_callback("1001", support, "not_now"))
    await t.step("1001 claims", lambda: d.claim_callback("1001", support))
    await t.step("1002 skips 1001's claim", lambda: d.skip_callback("1002", support, "not_now"))
    await t.step("1002 calls 1001's claim", lambda: d.call_callback("1002", support))
    await t.step("the list of 1002", lambda: _callbacks(d, "1002"))
    await t.step("the list of 1001", lambda: _callbacks(d, "1001"))
    await t.step("1001 calls it", lambda: d.call_callback("1001", support))
    await t.step("1001 calls it again", lambda: d.call_callback("1001", support))
    await t.step("1001 releases it while calling", lambda: d.release_callback("1001", support))
    other = await w.add_callback("support")
    await t.step("1002 claims another", lambda: d.claim_callback("1002", other))
    await t.step("1002 skips it for no known reason", lambda: d.skip_callback("1002", other, "bored"))
    await t.step("1002 skips it for good", lambda: d.skip_callback("1002", other, "wrong_number"))
    await t.step("1002 skips an unknown one", lambda: d.skip_callback("1002", 999, "not_now"))
    await t.step("1002 claims it again", lambda: d.claim_callback("1002", other))


async def _callbacks(d: AgentDesk, agent_id: str) -> tuple[Any, ...]:
    return tuple((cb.state, cb.claimed_by, cb.calling) for cb in await d.callbacks(agent_id, everyone=False))


async def ringing(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("1001 logs in", lambda: d.login_queues("1001", ["support"]))
    await t.step("1001 ready", lambda: d.set_ready("1001"))
    first = await w.offer("1001")
    t.name(first)
    t.lines.append(("1001's phone rings", None, await t.consoles()))
    await t.step("not ready while it rings", lambda: d.set_not_ready("1001", "break"))
    await t.step("dial while it rings", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("hold the ringing call", lambda: d.hold("1001", first))
    await t.step("wrap up the ringing call", lambda: d.wrap_up("1001", first, WrapUpInput(disposition="resolved")))
    await t.step("ready while it rings", lambda: d.set_ready("1001"))
    await w.caller_hangs_up(first)
    t.lines.append(("the caller hangs up while it rings", None, await t.consoles()))
    await t.step("hang up the call gone", lambda: d.hangup("1001", first))
    second = await w.offer("1001")
    t.name(second)
    t.lines.append(("1001's phone rings again", None, await t.consoles()))
    await w.answer(second)
    t.lines.append(("1001 answers", None, await t.consoles()))
    await t.step("hang up", lambda: d.hangup("1001", second))
    await t.step("wrap up", lambda: d.wrap_up("1001", second, WrapUpInput(disposition="resolved")))
    await t.step("1001 ready again", lambda: d.set_ready("1001"))
    third = await w.offer("1001")
    t.name(third)
    t.lines.append(("1001's phone rings a third time", None, await t.consoles()))
    await t.step("log off while it rings", lambda: d.logout_queues("1001", []))


async def consulting(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("consult a number", lambda: d.transfer("1001", call, kind="attended", target_kind="number",
                                                        target="8610555", note="refund"))
    await t.step("hold during it", lambda: d.hold("1001", call))
    await t.step("transfer again during it", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                                target="sales"))
    await t.step("tones during it", lambda: d.send_dtmf("1001", call, "1"))
    await t.step("1002 cancels it", lambda: d.cancel_consult("1002", call))
    await t.step("cancel", lambda: d.cancel_consult("1001", call))
    await t.step("cancel again", lambda: d.cancel_consult("1001", call))
    await t.step("consult the number again", lambda: d.transfer("1001", call, kind="attended", target_kind="number",
                                                                target="8610555"))
    await t.step("conference", lambda: d.conference("1001", call))
    await t.step("conference again", lambda: d.conference("1001", call))
    await t.step("hold the conference", lambda: d.hold("1001", call))
    await t.step("leave it", lambda: d.hangup("1001", call))
    await t.step("wrap up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="escalated")))


async def consulting_an_agent(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("consult 1002, not ready", lambda: d.transfer("1001", call, kind="attended", target_kind="agent",
                                                                target="1002"))
    await t.step("cancel the waiting one", lambda: d.cancel_consult("1001", call))
    await t.step("1002 ready", lambda: d.set_ready("1002"))
    await t.step("consult 1002", lambda: d.transfer("1001", call, kind="attended", target_kind="agent", target="1002"))
    await t.step("1002 holds it", lambda: d.hold("1002", call))
    await t.step("1002 wraps it up", lambda: d.wrap_up("1002", call, WrapUpInput(disposition="resolved")))
    await t.step("1002 hangs up: back to 1001", lambda: d.hangup("1002", call))
    await t.step("consult 1002 again", lambda: d.transfer("1001", call, kind="attended", target_kind="agent",
                                                          target="1002"))
    await t.step("cancel", lambda: d.cancel_consult("1001", call))
    await t.step("consult 1002 once more", lambda: d.transfer("1001", call, kind="attended", target_kind="agent",
                                                              target="1002", note="refund"))
    await t.step("conference", lambda: d.conference("1001", call))
    await t.step("1001 leaves", lambda: d.hangup("1001", call))
    await t.step("1002 holds it now", lambda: d.hold("1002", call))
    await t.step("1002 resumes", lambda: d.resume("1002", call))
    await t.step("1001 wraps up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="escalated")))
    await t.step("1002 hangs up", lambda: d.hangup("1002", call))
    await t.step("1002 wraps up", lambda: d.wrap_up("1002", call, WrapUpInput(disposition="resolved")))
    second = await w.call_in("1001")
    t.name(second)
    await t.step("1002 ready again", lambda: d.set_ready("1002"))
    await t.step("consult 1002 on the second", lambda: d.transfer("1001", second, kind="attended",
                                                                  target_kind="agent", target="1002"))
    await t.step("1001 hangs up: the transfer completes", lambda: d.hangup("1001", second))
    await w.caller_hangs_up(second)
    t.lines.append(("the caller hangs up", None, await t.consoles()))


SCENARIOS: list[Scenario] = [ready_and_not_ready, queue_login, someone_elses_call, a_call_to_its_end, dialling,
                             transfers, callbacks_of_others, call_controls, working_callbacks, ringing,
                             consulting, consulting_an_agent]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
async def test_the_fake_desk_answers_and_publishes_as_the_real_one(worlds: dict[str, World],
                                                                   scenario: Scenario) -> None:
    transcripts = {}
    for kind, world in worlds.items():
        t = Transcript(world)
        await scenario(world, t)
        transcripts[kind] = t.lines
    fake, real = transcripts["fake"], transcripts["real"]
    differences = [f"{f[0]}:\n  fake {_diff(f, r)}\n  real {_diff(r, f)}" for f, r in zip(fake, real, strict=True)
                   if f != r]
    assert not differences, "\n".join(differences)
    # Not a transcript of nothing: refusals among the steps, with the codes a client sees.
    assert any(isinstance(answer, tuple) and answer[:1] == ("error",) for _, answer, _ in real)


def _diff(line: tuple[Any, ...], other: tuple[Any, ...]) -> str:
    """What of a transcript line differs from the other's: the answer, or an agent's views."""
    parts = [f"answer {line[1]}"] if line[1] != other[1] else []
    for (agent, hub, snap), (_, hub2, snap2) in zip(line[2], other[2], strict=True):
        parts += [f"{agent} sees {hub}"] if hub != hub2 else []
        parts += [f"{agent} reloads {snap}"] if snap != snap2 else []
    return "; ".join(parts)
