"""The AMI bridge against a real Asterisk 22: Local-channel calls, durations, resync, injection."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from cti.ami.bridge import AmiBridge
from cti.ami.callmodel import Phase
from cti.ami.dialplan import missing_contexts
from cti.ami.events import DeviceStateChange
from cti.bus import InProcessBus
from cti.errors import UnsafeValue
from cti.journey import CallEnded
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import busy_context, playing_music


class Ended:
    def __init__(self) -> None:
        self.events: list[CallEnded] = []

    async def __call__(self, ev: CallEnded) -> None:
        self.events.append(ev)

    async def wait(self, linkedid: str, timeout_s: float = 10.0) -> CallEnded:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for ev in self.events:
                if ev.linkedid == linkedid:
                    return ev
            await asyncio.sleep(0.05)
        raise AssertionError(f"no CallEnded for {linkedid}; got {self.events}")


async def until(predicate, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def with_ami(settings: Settings, **ami: object) -> Settings:
    return settings.model_copy(update={"ami": settings.ami.model_copy(update=ami)})


@pytest.fixture
async def bridge(pbx: ManagedPbx) -> AsyncIterator[tuple[AmiBridge, Ended]]:
    bus = InProcessBus()
    ended = Ended()
    bus.subscribe(CallEnded, ended, name="ended")
    await bus.start()
    br = AmiBridge(with_ami(pbx.settings, reconnect_min_s=1.5, reconnect_max_s=3.0), bus)
    await br.start()
    await br.wait_connected(10)
    try:
        yield br, ended
    finally:
        await br.stop()
        await bus.stop()
        pbx.cli("channel request hangup all")


async def test_local_call_rings_answers_and_hangs_up_with_right_durations(bridge: tuple[AmiBridge, Ended]) -> None:
    br, ended = bridge
    t0 = time.time()
    result = await br.control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                        caller_id="Customer <5550100>", timeout_ms=10000)
    assert result.success and result.reason == 4, result
    assert result.channel and result.channel.startswith("Local/1001@cti-sim-phone-")
    # OriginateResponse and the channel's Newstate come from different Asterisk threads: the
    # response can overtake the Up by a few milliseconds.
    await until(lambda: (c := br.model.channel(result.channel or "")) is not None and c.phase is Phase.UP, 2.0)
    chan = br.model.channel(result.channel)
    assert chan is not None
    assert chan.ringing_at is not None and chan.answered_at is not None
    assert 0.8 <= chan.answered_at - chan.ringing_at <= 2.5  # cti-sim-phone answers after 1 s
    assert chan.linkedid == result.linkedid
    call = br.model.call(chan.linkedid)
    assert call is not None and len(call.live) == 2 and call.created >= t0 - 1
    peer = br.model.channel(chan.local_peer or "")
    assert peer is not None and peer.name.endswith(";2")
    await asyncio.sleep(1.0)
    await br.control.hangup(result.channel)
    done = await ended.wait(chan.linkedid)
    assert done.cause == 16
    call = br.model.call(chan.linkedid)
    assert call is not None and call.ended_at is not None and not call.live
    assert call.duration_s is not None and 1.8 <= call.duration_s <= 4.0
    assert br.model.calls() == [] or all(c.linkedid != chan.linkedid for c in br.model.calls())


async def test_asterisk_sends_only_the_device_states_of_pjsip_phones_that_matter(
        bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    """manager.conf's header filters: a Local call's device states never leave Asterisk, nor do a
    SIP call's in-use states (with main's filters both arrive). That PJSIP states which matter do
    arrive live is what the lost-softphone browser tests rely on (tests/browser/console); the
    resync's DeviceStateList items are no events and list every device."""
    br, ended = bridge
    seen: list[DeviceStateChange] = []

    async def on_state(ev: DeviceStateChange) -> None:
        seen.append(ev)

    br.pump.bus.subscribe(DeviceStateChange, on_state, name="test.device_states")
    await until(lambda: br.client.resyncs >= 1)
    await br.settle()
    t0 = time.time()
    result = await br.control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                        timeout_ms=10000)
    assert result.success and result.channel
    await br.control.hangup(result.channel)
    # A real SIP call from the trunk's address (sipp's built-in caller; no IVR listens, it ends).
    await asyncio.to_thread(
        subprocess.run, ["sipp", f"127.0.0.1:{pbx.settings.pbx.sip_port}", "-sn", "uac", "-s", "7999", "-i",
                         "127.0.0.1", "-p", "0", "-m", "1", "-timeout", "15s", "-nostdin", "-timeout_error"],
        capture_output=True, check=False, timeout=30)
    await until(lambda: any(c.name.startswith("PJSIP/sipp-trunk") for e in ended.events
                            if (call := br.model.call(e.linkedid)) is not None for c in call.channels))
    # Asterisk works device states out on its own thread after the hang-ups; an absence cannot be
    # awaited, so give it a moment (main's filters deliver the Local states within it).
    await asyncio.sleep(0.5)
    await br.settle()
    live = [e for e in seen if e.ts >= t0]
    assert all(e.device.startswith("PJSIP/") for e in live), live
    assert not [e for e in live if e.state in ("INUSE", "RINGING", "RINGINUSE", "ONHOLD", "BUSY")], live
    # The resync's list still names non-PJSIP devices (whatever their state: other tests on this
    # PBX change the fallback queue's members).
    assert br.model.device_state("Queue:cti-fallback-support_avail") is not None
    # manager.conf's disabledevents: Asterisk took the list (it builds none of these events).
    line = next(x for x in pbx.cli("manager show settings").splitlines() if "Disabled events:" in x)
    assert {"VarSet", "Newexten", "AGIExecStart", "QueueMemberStatus"} <= set(line.split(":", 1)[1].strip().split(","))


async def test_injection_through_originate_is_refused_before_anything_is_sent(
        bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    br, _ = bridge
    sent = br.client.actions_sent
    with pytest.raises(UnsafeValue) as err:
        await br.control.originate("Local/1001@cti-sim-phone\r\nAction: Originate\r\nChannel: Local/2@x",
                                   context="cti-sim-caller", exten="s")
    assert err.value.field == "Channel"
    with pytest.raises(UnsafeValue) as err:
        await br.control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                   caller_id="x\nApplication: System")
    assert err.value.field == "CallerID"
    assert br.client.actions_sent == sent
    await asyncio.sleep(0.5)
    assert "0 active channels" in pbx.cli("core show channels")


async def test_resync_after_a_dropped_connection_finds_calls_up_and_started_meanwhile(
        bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    br, ended = bridge
    first = await br.control.originate("Local/1002@cti-sim-phone", context="cti-sim-caller", exten="s",
                                       timeout_ms=10000)
    assert first.success and first.linkedid
    short = await br.control.originate("Local/1003@cti-sim-phone", context="cti-sim-caller", exten="s",
                                       timeout_ms=10000)
    assert short.success and short.channel and short.linkedid
    resyncs = br.client.resyncs
    br.client.drop_connection()
    await until(lambda: not br.client.connected)
    # While we are away: one call starts, one ends. Only the resync can tell us.
    pbx.cli("channel originate Local/1004@cti-sim-phone extension s@cti-sim-caller")
    pbx.cli(f"channel request hangup {short.channel}")
    await until(lambda: br.client.resyncs > resyncs, timeout_s=15)
    await br.settle()
    names = {c.name for call in br.model.calls() for c in call.live}
    assert any(n.startswith("Local/1002@cti-sim-phone-") for n in names), names
    assert any(n.startswith("Local/1004@cti-sim-phone-") for n in names), names
    assert not any(n.startswith("Local/1003@cti-sim-phone-") for n in names), names
    gone = await ended.wait(short.linkedid)
    assert gone.cause_text == "ended while AMI was disconnected"
    kept = br.model.call(first.linkedid)
    assert kept is not None and len(kept.live) == 2
    assert all(c.phase is Phase.UP for c in kept.live)


async def _caller_bridged_to_an_agent(br: AmiBridge) -> tuple[str, str]:
    """A caller's channel and an agent's, bridged: the agent's leg runs dialplan (as the ACD's do) and
    is bridged to the caller from AMI."""
    caller = await br.control.originate("Local/s@cti-sim-caller", context="cti-queue", exten="s", timeout_ms=5000)
    assert caller.success and caller.channel
    agent = await br.control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                       timeout_ms=10000)
    assert agent.success and agent.channel
    await br.control.bridge(agent.channel, caller.channel)
    await until(lambda: (p := br.model.bridged_peer(caller.channel or "")) is not None and p.name == agent.channel)
    return caller.channel, agent.channel


async def test_hold_plays_music_to_the_held_party_and_unhold_bridges_back(bridge: tuple[AmiBridge, Ended],
                                                                         pbx: ManagedPbx) -> None:
    br, _ = bridge
    caller, agent = await _caller_bridged_to_an_agent(br)
    await br.control.hold(caller, peer=agent)
    await until(lambda: (c := br.model.channel(caller)) is not None and c.bridge_id is None)
    await until(lambda: playing_music(pbx, caller))
    await br.control.unhold(caller)
    await until(lambda: (p := br.model.bridged_peer(caller)) is not None and p.name == agent)
    assert not playing_music(pbx, caller)


async def test_unhold_the_instant_hold_returns_bridges_back(bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    """An agent who clicks Hold and at once Resume: the caller is still being moved out of the bridge
    when the Bridge action arrives (Asterisk: "Unable to add Channel2 to bridge"); the resume waits
    for the move instead of failing."""
    br, _ = bridge
    caller, agent = await _caller_bridged_to_an_agent(br)
    for _ in range(3):
        await br.control.hold(caller, peer=agent)
        await br.control.unhold(caller)
        await until(lambda: (p := br.model.bridged_peer(caller)) is not None
                    and p.name == agent)
    await until(lambda: not playing_music(pbx, caller))


def _context_of(pbx: ManagedPbx, channel: str) -> str:
    for line in pbx.cli("core show channels concise").splitlines():
        fields = line.split("!")
        if fields[0] == channel:
            return fields[1]
    return ""


async def test_a_hold_returns_once_both_legs_have_landed(bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    """Hold's Redirect is answered before the two legs have left their bridge. An AMI Bridge that
    reaches Asterisk in that instant fails ("Unable to add Channel1/2") and, worse, Asterisk has
    already replaced the legs' way out of the bridge with where they stood before it: the agent's
    leg went back to its old dialplan (cti-agent-connect's next step hangs it up; here the
    simulated phone's Wait) instead of cti-park-agent. So Hold returns only once the caller is in
    cti-hold and the agent's leg in cti-park-agent, and a Resume sent at once, without retries,
    bridges them back."""
    br, _ = bridge
    caller, agent = await _caller_bridged_to_an_agent(br)
    for _ in range(3):
        await br.control.hold(caller, peer=agent)
        assert (_context_of(pbx, caller), _context_of(pbx, agent)) == ("cti-hold", "cti-park-agent")
        await br.client.send_action("Bridge", {"Channel1": agent, "Channel2": caller, "Tone": "no"})
        await until(lambda: (p := br.model.bridged_peer(caller)) is not None and p.name == agent)


async def test_reconnect_after_an_asterisk_restart_rebuilds_the_picture(pbx_settings: Settings) -> None:
    from tests.servers import free_port, rtp_range

    settings = pbx_settings.model_copy(update={
        "ami": pbx_settings.ami.model_copy(update={"port": free_port(), "reconnect_min_s": 0.5,
                                                    "reconnect_max_s": 2.0}),
        "agi": pbx_settings.agi.model_copy(update={"port": free_port()}),
        "pbx": pbx_settings.pbx.model_copy(update={"instance": f"{pbx_settings.pbx.instance}r",
                                                    "sip_port": free_port(), **rtp_range("own")}),
    })
    own = ManagedPbx(settings)
    own.up(progress=False)
    bus = InProcessBus()
    ended = Ended()
    bus.subscribe(CallEnded, ended, name="ended")
    await bus.start()
    br = AmiBridge(settings, bus)
    try:
        await br.start()
        await br.wait_connected(10)
        before = await br.control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                            timeout_ms=10000)
        assert before.success and before.linkedid
        await asyncio.to_thread(own.down)
        await until(lambda: not br.client.connected)
        await asyncio.to_thread(own.up, progress=False)
        await br.wait_connected(20)
        await until(lambda: br.client.resyncs >= 2)
        # The restart killed the call: Asterisk reports the hangups while shutting down, or, when
        # it could not, the resync after the reconnect does.
        gone = await ended.wait(before.linkedid)
        assert gone.cause_text in ("Unknown", "Normal Clearing", "ended while AMI was disconnected")
        assert br.model.call(before.linkedid) is not None and not br.model.call(before.linkedid).live  # type: ignore[union-attr]
        after = await br.control.originate("Local/1002@cti-sim-phone", context="cti-sim-caller", exten="s",
                                           timeout_ms=10000)
        assert after.success and after.linkedid
        await br.settle()
        call = br.model.call(after.linkedid)
        assert call is not None and len(call.live) == 2
        assert [c.linkedid for c in br.model.calls()] == [after.linkedid]
    finally:
        await br.stop()
        await bus.stop()
        await asyncio.to_thread(own.remove_instance)


async def test_the_loaded_dialplan_is_asked_for_the_contexts_a_feature_needs(
        bridge: tuple[AmiBridge, Ended]) -> None:
    br, _ = bridge
    shipped = ["cti-agent-dialled", "cti-agent-predial", "cti-record-predial"]
    assert await missing_contexts(br.client.send_action, [*shipped, "cti-no-such-context"]) == ["cti-no-such-context"]


async def test_a_ringing_originate_is_hung_up_by_the_unique_id_it_was_given(
        bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    """acd.reconnect hangs up a ring in flight by the channel id its originate gave it (the channel's
    name is not known until it answers): Asterisk finds a channel by unique id as by name."""
    br, _ = bridge
    leg = "cti-test-unring-1"
    ring = asyncio.ensure_future(br.control.originate("Local/9001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                                    timeout_ms=60_000, channel_id=leg))
    await until(lambda: "Local/9001@cti-sim-phone" in pbx.cli("core show channels concise"))
    assert not ring.done()
    await br.control.hangup(leg, may_be_gone=True)
    result = await asyncio.wait_for(ring, 20)  # the never-answering phone would ring for 60 s
    assert not result.success, result
    await until(lambda: "Local/9001@cti-sim-phone" not in pbx.cli("core show channels concise"))


async def test_the_stand_in_of_a_caller_bridge_pulls_never_reaches_the_engine(
        bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    """cti-agent-connect's Bridge() pulls a caller running dialplan: Asterisk moves the caller into a
    new channel and keeps the old one, "Surrogate/<caller>", until the caller's thread lets go of it
    (now and then never: tests/conftest.py restarts Asterisk for such an entry). ``core show channels``
    lists it; AMI never names it (its technology is internal: no event, no CoreShowChannel item), so
    neither the call model nor a reconnect's resync has it, and the call ends once its own channels
    hang up. (8 s busy: the pull and the resync, 1.5 s and more on a loaded machine, fit well within.)"""
    br, ended = bridge
    with busy_context(pbx, "cti-test-busy-caller", 8):
        caller = await br.control.originate("Local/s@cti-test-busy-caller", application="Wait", data="30",
                                            timeout_ms=5000)
        assert caller.success and caller.channel and caller.linkedid
        pulled = caller.channel[:-1] + "2"  # the half running the context
        await until(lambda: f"{pulled}!cti-test-busy-caller!s!2!Up!System!" in pbx.cli("core show channels concise"))
        agent = await br.control.originate("Local/1001@cti-sim-phone/n", context="cti-agent-connect", exten="s",
                                           variables={"CTI_CALLER": pulled, "CTI_ANSWER_S": "0"}, timeout_ms=5000)
        assert agent.success and agent.channel
        stand_in = f"Surrogate/{pulled}"
        await until(lambda: stand_in in pbx.cli("core show channels concise"))
        resyncs = br.client.resyncs
        br.client.drop_connection()
        await until(lambda: br.client.resyncs > resyncs, timeout_s=15)
        await br.settle()
        assert stand_in in pbx.cli("core show channels concise")  # still there when the resync listed channels
        names = {c.name for call in br.model.calls() for c in call.channels}
        assert not [n for n in names if n.startswith("Surrogate/")], names
        peer = br.model.bridged_peer(pulled)
        assert peer is not None and peer.name == agent.channel  # the caller (the new channel) talks to the agent
        await br.control.hangup(agent.channel)  # cti-agent-gone hangs up the caller
        done = await ended.wait(caller.linkedid)
        assert not br.model.calls(), br.model.calls()
        call = br.model.call(done.linkedid)
        assert call is not None and not [c.name for c in call.channels if c.name.startswith("Surrogate/")], call
        await until(lambda: stand_in not in pbx.cli("core show channels concise"), 15.0)  # its sleep ended


async def test_get_var_reads_a_channels_language_through_the_dialplan_function(bridge: tuple[AmiBridge, Ended]) -> None:
    """The IVR sets CHANNEL(language) (an AGI MSet through the function); Getvar reads it back through
    the function on the live channel: Asterisk's default first, then the value set on the channel."""
    br, _ = bridge
    caller = await br.control.originate("Local/s@cti-sim-caller", context="cti-queue", exten="s", timeout_ms=5000)
    assert caller.success and caller.channel
    assert await br.control.get_var(caller.channel, "CHANNEL(language)") == "en"
    # Set as the dialplan would (AMI's Setvar writes through the function too; set_var takes plain names).
    await br.client.send_action("Setvar", {"Channel": caller.channel, "Variable": "CHANNEL(language)", "Value": "zh"})
    assert await br.control.get_var(caller.channel, "CHANNEL(language)") == "zh"
    with pytest.raises(UnsafeValue):
        await br.control.get_var(caller.channel, "SHELL(id)")
    await br.control.hangup(caller.channel)
