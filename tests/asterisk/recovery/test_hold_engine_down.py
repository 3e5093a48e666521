"""A caller on hold when the engine goes away is not left on hold's music for nobody: cti-hold checks
the engine's heartbeat between slices of music, as cti-queue does. With no engine for longer than
the timeout, the caller is bridged with its agent's leg again if that leg is still parked (the two
talk on; the next engine takes the call back as a talking call of that agent), or goes to its
queue's fallback if the agent's phone hung up meanwhile. While the engine beats, a hold lasts as
long as the agent wants.

The engines stop cleanly here: a stop leaves the calls to Asterisk exactly as a crash does (the
heartbeat stops beating; docs/resilience.md), and it is the beats stopping that the dialplan sees."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected, QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.asterisk.caller.ears import TonePhone, sox_stat
from tests.asterisk.recovery import crashing_engine
from tests.helpers import channels, english_customer_number, playing_music, until


@dataclass
class Held:
    linkedid: str
    caller: str  # the caller's leg in cti-hold (the ;2 half of its Local channel)
    phone: str  # the caller's own phone (the ;1 half, cti-sim-caller-tone, which records what it hears)
    agent_leg: str  # the agent's leg, parked in cti-park-agent
    record: Path  # what the caller's phone hears (MixMonitor's r() file), on the host


async def _held_call(pbx: ManagedPbx, eng: Engine, seen: list[Event]) -> Held:
    """Agent 1001 (a phone playing 1000 Hz) answers a caller (a phone playing 440 Hz that records
    what it hears), then puts it on hold from the console."""
    await eng.desk.login_queues("1001", ["support"])
    eng.acd.phones["1001"] = TonePhone("1001", answer_after_s=0.5)
    await eng.desk.set_ready("1001")
    number = await english_customer_number(eng)
    inside = f"{pbx.instance_path}/spool/monitor/holdfb-{time.monotonic_ns()}"
    result = await eng.ami.control.originate("Local/5002@cti-inbound/n", context="cti-sim-caller-tone", exten="s",
                                             caller_id=f"<{number}>", variables={"CTI_RECORD": inside},
                                             timeout_ms=10000)
    assert result.success, result
    phone = str(result.channel)
    deadline = time.monotonic() + 30
    while not any(isinstance(e, QueueEntered) for e in seen):  # "1": support, sent until the menu hears it
        assert time.monotonic() < deadline, "the call never reached the queue"
        await eng.ami.control.play_dtmf(phone, "1")
        await asyncio.sleep(0.7)
    connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None),
                            what="1001 answering")
    call = eng.acd.calls[connected.linkedid]
    assert call.agent_channel is not None
    agent_leg = call.agent_channel
    await eng.desk.hold("1001", connected.linkedid)
    await until(lambda: playing_music(pbx, call.caller_channel), what="the caller on hold's music")
    await until(lambda: _where(pbx, agent_leg) == ("cti-park-agent", "Wait"), what="the agent's leg parked")
    return Held(connected.linkedid, call.caller_channel, phone, agent_leg,
                pbx.rootfs / f"{inside.lstrip('/')}-r.wav")


def _where(pbx: ManagedPbx, name: str) -> tuple[str, str] | None:
    """The context and application Asterisk lists for ``name`` now."""
    return next(((c.context, c.application) for c in channels(pbx) if c.name == name), None)


def _variables(pbx: ManagedPbx, channel: str) -> dict[str, str]:
    """A channel's variables as Asterisk shows them (``core show channel``: NAME=value lines)."""
    out: dict[str, str] = {}
    for line in pbx.cli(f"core show channel {channel}").splitlines():
        name, eq, value = line.strip().partition("=")
        if eq and name.isidentifier():
            out[name] = value
    return out


def _same_bridge(pbx: ManagedPbx, a: str, b: str) -> bool:
    """Asterisk's own view (its bridge list): ``a`` and ``b`` are in one bridge."""
    for line in pbx.cli("bridge show all").splitlines()[1:]:
        bridge_id = line.split(" ", 1)[0]
        if not bridge_id:
            continue
        shown = pbx.cli(f"bridge show {bridge_id}")
        if a in shown and b in shown:
            return True
    return False


def _tail_frequency(path: Path, seconds: float) -> tuple[float, float]:
    """The last ``seconds`` of a recording: sox's rough frequency and RMS amplitude."""
    stats = sox_stat(path, "trim", f"-{seconds}")
    return stats["Rough   frequency"], stats["RMS     amplitude"]


async def _recorded_engine(settings: Settings, seen: list[Event], *, web: bool = True) -> Engine:
    """An engine on ``settings`` whose bus events go to ``seen``; ``web``: with its supervisor
    service, which records the agents' states (a restarted engine logs them in again from it)."""
    async def record(ev: Event) -> None:
        seen.append(ev)

    eng = Engine(settings, answer_after_s=0.5, web=web)
    eng.bus.subscribe(Event, record, name="test.recorder")
    await eng.start()
    return eng


async def test_a_held_caller_talks_with_its_agent_again_when_the_engine_is_gone(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    settings = await crashing_engine.away_settings(pbx_settings, tmp_path)  # timeout 3 s, checked every 1 s
    seen: list[Event] = []
    first = await _recorded_engine(settings, seen)
    try:
        held = await _held_call(pbx, first, seen)
    finally:
        await first.stop()  # nobody left to take the caller off hold: the beats stop
    # The dialplan bridges the caller with the agent's parked leg itself, once the heartbeat is
    # older than the timeout (3 s, plus a slice of music): its check (cti-hold's t) did it.
    await until(lambda: _same_bridge(pbx, held.caller, held.agent_leg), timeout_s=15,
                what="the caller bridged with its agent's leg again")
    shown = _variables(pbx, held.caller)
    assert shown.get("BRIDGEPEER") == held.agent_leg and "CTI_HB_LAST" in shown, shown
    assert not shown.get("CTI_FALLBACK"), shown  # no fallback: its agent is there
    # They talk: a few seconds of the agent's phone's 1000 Hz for the caller's phone to hear (checked
    # in its recording at the end), the two still bridged after them.
    await asyncio.sleep(3.0)
    assert _same_bridge(pbx, held.caller, held.agent_leg)

    # A restarted engine takes it back as a talking call of 1001: over AMI, the two share a bridge.
    second_seen: list[Event] = []
    second = await _recorded_engine(settings, second_seen, web=False)
    try:
        report = second.recovery_report
        assert report is not None and report.attached == {held.linkedid: "1001"}, report
        call = second.acd.calls[held.linkedid]
        assert (call.status, call.agent_channel) == ("talking", held.agent_leg), (call.status, call.agent_channel)
        peer = second.ami.model.bridged_peer(held.caller)
        assert peer is not None and peer.name == held.agent_leg, peer
        assert second.router.agent("1001").state.value == "on_call"
        # The call ends as usual: the agent hangs up, and wraps up.
        await second.desk.hangup("1001", held.linkedid)
        await until(lambda: second.router.agent("1001").state.value == "wrap_up", what="1001 wrapping up")
        await until(lambda: not [c for c in channels(pbx) if c.name in (held.caller, held.agent_leg)],
                    what="both legs gone")
    finally:
        pbx.cli("channel request hangup all")
        await until(lambda: not channels(pbx), what="every channel gone")
        await second.stop()
    frequency, rms = _tail_frequency(held.record, 2.5)
    assert abs(frequency - 1000) < 100 and rms > 0.02, (frequency, rms)


async def test_a_held_caller_whose_agent_hung_up_goes_to_the_fallback_when_the_engine_is_gone(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    settings = await crashing_engine.away_settings(pbx_settings, tmp_path)
    seen: list[Event] = []
    first = await _recorded_engine(settings, seen)
    try:
        held = await _held_call(pbx, first, seen)
    finally:
        await first.stop()
    try:
        # The agent's phone hangs up while no engine runs: its parked leg ends with it.
        pbx.cli(f"channel request hangup {held.agent_leg.removesuffix(';1')};2")
        await until(lambda: held.agent_leg not in [c.name for c in channels(pbx)], what="the agent's leg gone")
        # The caller is not left on hold's music: it leaves for its queue's fallback (cti-engine-down).
        await until(lambda: _variables(pbx, held.caller).get("CTI_FALLBACK") in ("engine_down", "app_queue"),
                    timeout_s=15, what="the caller sent to the fallback")
        assert (_where(pbx, held.caller) or ("gone",))[0] != "cti-hold", _where(pbx, held.caller)
    finally:
        pbx.cli("channel request hangup all")
        await until(lambda: not channels(pbx), what="every channel gone")


async def test_a_hold_lasts_while_the_engine_beats_and_ends_with_the_call_after_resume(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    """With the engine beating, the held caller stays on hold through many slices of music (beats
    seen more than the timeout apart), and Resume brings the agent back; when the agent's phone
    hangs up after that, the call is over: the caller does not go back to hold's music."""
    settings = await crashing_engine.away_settings(pbx_settings, tmp_path)
    seen: list[Event] = []
    eng = await _recorded_engine(settings, seen)
    try:
        held = await _held_call(pbx, eng, seen)
        await eng.ami.control.play_dtmf(held.phone, "5")  # a key pressed on hold: no way out of it
        key = f'Executing [i@cti-hold:1] Goto("{held.caller}"'
        await until(lambda: key in pbx.log_file.read_text(errors="replace"), what="the key taken by cti-hold's i")
        beats: list[int] = []
        music: list[bool] = []
        deadline = time.monotonic() + 20
        while not beats or beats[-1] - beats[0] <= 4:  # more than the 3 s timeout, 1 s slices
            assert time.monotonic() < deadline, f"no beats more than 4 s apart seen by the dialplan: {beats}"
            value = await eng.ami.control.get_var(held.caller, "CTI_HB_LAST")
            if value and (not beats or int(value) != beats[-1]):
                beats.append(int(value))
            # Between two slices of music the caller runs cti-hold's check (a few steps, longer on
            # a loaded machine): on hold all along, the music playing nearly all the time.
            assert (_where(pbx, held.caller) or ("",))[0] == "cti-hold", _where(pbx, held.caller)
            music.append(playing_music(pbx, held.caller))
            assert (_where(pbx, held.agent_leg) or ("",))[0] == "cti-park-agent", _where(pbx, held.agent_leg)
            await asyncio.sleep(0.2)
        assert sum(music) >= 0.75 * len(music), music
        assert eng.acd.calls[held.linkedid].status == "held"
        await eng.desk.resume("1001", held.linkedid)
        await until(lambda: _same_bridge(pbx, held.caller, held.agent_leg), what="the two talking again")
        pbx.cli(f"channel request hangup {held.agent_leg.removesuffix(';1')};2")  # the agent's phone
        await until(lambda: held.caller not in [c.name for c in channels(pbx)], timeout_s=5,
                    what="the caller's call over")
    finally:
        pbx.cli("channel request hangup all")
        await until(lambda: not channels(pbx), what="every channel gone")
        await eng.stop()



async def test_a_caller_held_for_a_consultation_waits_for_the_agent_while_they_talk_with_the_third_party(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    """The engine goes while the agent talks to a number it consulted: the caller is not taken
    from them (nobody could complete the transfer anyway); the heartbeat's checks find the agent's
    leg talking and the caller waits on. When the third party hangs up, the agent's leg is back in
    the park and the caller is bridged with it."""
    settings = await crashing_engine.away_settings(pbx_settings, tmp_path)
    seen: list[Event] = []
    first = await _recorded_engine(settings, seen)
    try:
        held = await _held_call(pbx, first, seen)
        await first.desk.resume("1001", held.linkedid)
        await until(lambda: _same_bridge(pbx, held.caller, held.agent_leg), what="the two talking again")
        await first.acd.actions.transfer(held.linkedid, target_kind="number", target="8610001", kind="attended")
        third = first.acd.calls[held.linkedid].consult_channel
        assert third is not None
        await until(lambda: _same_bridge(pbx, held.agent_leg, third), what="the agent talking to the number")
        await until(lambda: playing_music(pbx, held.caller), what="the caller on hold's music")
        # Its leg claimed the agent's leg before its Bridge() (cti-consult-connect, under the leg's lock).
        claim = f'Set("{third}", "SHARED(CTI_CONSULTING,{held.agent_leg})={third}")'
        assert claim in pbx.log_file.read_text(errors="replace")
    finally:
        await first.stop()
    try:
        # With the heartbeat stale and the agent's leg there, t's sixth step (the leg's BRIDGEPEER;
        # Asterisk's log shows it substituted) sends the caller back to the music: seen twice.
        def looked() -> bool:
            log = pbx.log_file.read_text(errors="replace").splitlines()
            return sum(1 for line in log if "Executing [t@cti-hold:6]" in line
                       and f'("{held.caller}", "1?s,wait")' in line) >= 2

        await until(looked, timeout_s=20, what="the dialplan's checks finding the agent on the consultation")
        # Right after a check the caller may still be on its way back to the music (a few steps).
        await until(lambda: playing_music(pbx, held.caller), what="the caller back on the music")
        assert not _same_bridge(pbx, held.caller, held.agent_leg)
        assert _same_bridge(pbx, held.agent_leg, third)
        assert not _variables(pbx, held.caller).get("CTI_FALLBACK")
        # The third party hangs up: the agent's leg goes back to the park, and the caller to the agent.
        pbx.cli(f"channel request hangup {third.removesuffix(';1')};2")
        await until(lambda: _same_bridge(pbx, held.caller, held.agent_leg), timeout_s=15,
                    what="the caller bridged with the agent again")
    finally:
        pbx.cli("channel request hangup all")
        await until(lambda: not channels(pbx), what="every channel gone")


async def test_a_consulted_number_answering_after_the_caller_got_its_agent_back_is_hung_up(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    """The engine goes while a consulted number still rings: cti-hold takes the caller back to the
    agent's parked leg. When the number answers after that, its leg (cti-consult-connect) must not
    pull the agent's leg away from the caller (the caller would be hung up): it ends instead."""
    settings = await crashing_engine.away_settings(pbx_settings, tmp_path)
    number = f"8693{time.monotonic_ns() % 1000000:06d}"  # rings until CTI_SIM_ANSWER_<number> is 1
    seen: list[Event] = []
    first = await _recorded_engine(settings, seen)
    transfer: asyncio.Task[None] | None = None
    try:
        held = await _held_call(pbx, first, seen)
        await first.desk.resume("1001", held.linkedid)
        await until(lambda: _same_bridge(pbx, held.caller, held.agent_leg), what="the two talking again")
        transfer = asyncio.create_task(first.acd.actions.transfer(held.linkedid, target_kind="number",
                                                                  target=number, kind="attended"))

        def ring() -> str | None:
            return next((c.name for c in channels(pbx) if c.name.startswith(f"Local/{number}@cti-external")
                         and c.name.endswith(";1")), None)

        await until(ring, what=f"{number} ringing")
        await until(lambda: playing_music(pbx, held.caller), what="the caller on hold's music")
        await until(lambda: _where(pbx, held.agent_leg) == ("cti-park-agent", "Wait"), what="the agent's leg parked")
    finally:
        if transfer is not None:
            transfer.cancel()
            with contextlib.suppress(BaseException):
                await transfer
        await first.stop()
    try:
        leg = ring()
        assert leg is not None, "the consultation's ring ended with the engine"
        await until(lambda: _same_bridge(pbx, held.caller, held.agent_leg), timeout_s=15,
                    what="the caller bridged with its agent's leg again")
        pbx.cli(f"dialplan set global CTI_SIM_ANSWER_{number} 1")  # the number answers now
        await until(lambda: leg not in [c.name for c in channels(pbx)], timeout_s=10,
                    what="the consultation's leg ended")
        log = pbx.log_file.read_text(errors="replace")
        assert f'Executing [s@cti-consult-connect:1] NoOp("{leg}"' in log, "the number never answered"
        assert _same_bridge(pbx, held.caller, held.agent_leg)
        assert not _variables(pbx, held.caller).get("CTI_FALLBACK")
    finally:
        pbx.cli("channel request hangup all")
        await until(lambda: not channels(pbx), what="every channel gone")


async def test_a_consultation_claiming_the_agents_leg_keeps_the_caller_waiting_until_its_leg_is_gone(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    """The other order of the race with a late answer: a consulted number's leg that answered has
    claimed the agent's parked leg (cti-consult-connect, under the leg's lock, just before its
    Bridge() pulls it) when the held caller's check comes. The caller must not take the leg then
    (both Bridge()s would pull it, and the caller's call could end): it waits, as while the agent
    talks with the third party. A claim whose leg is gone counts for nothing. The claim is set by
    hand here, the moment between the two dialplan steps being too short to hit on purpose."""
    settings = await crashing_engine.away_settings(pbx_settings, tmp_path)
    seen: list[Event] = []
    first = await _recorded_engine(settings, seen)
    try:
        held = await _held_call(pbx, first, seen)
        # Claimed by a live channel (the caller's own phone stands in for the consultation's leg).
        pbx.cli(f"dialplan set chanvar {held.agent_leg} SHARED(CTI_CONSULTING) {held.phone}")
    finally:
        await first.stop()
    try:
        # With the heartbeat stale, t's sixth step finds the leg parked (no BRIDGEPEER) and goes on
        # to the lock: seen twice, the caller never bridged with the claimed leg meanwhile.
        def looked() -> int:
            log = pbx.log_file.read_text(errors="replace").splitlines()
            return sum(1 for line in log
                       if "Executing [t@cti-hold:6]" in line and f'("{held.caller}", "0?s,wait")' in line)

        deadline = time.monotonic() + 20
        while looked() < 2:
            assert not _same_bridge(pbx, held.caller, held.agent_leg), "the caller took the leg a consultation claimed"
            assert time.monotonic() < deadline, "the dialplan's checks never found the agent's leg parked"
            await asyncio.sleep(0.2)
        # Right after a check the caller may still be on its way back to the music (a few steps).
        await until(lambda: playing_music(pbx, held.caller), what="the caller back on the music")
        assert not _same_bridge(pbx, held.caller, held.agent_leg)
        assert (_where(pbx, held.agent_leg) or ("",))[0] == "cti-park-agent", _where(pbx, held.agent_leg)
        claimed = f'"CTI hold: no engine, {held.agent_leg} claimed by the consultation {held.phone}")'
        assert claimed in pbx.log_file.read_text(errors="replace")
        # The consultation's leg is gone (hung up during its Bridge(), which released nothing): taken back.
        pbx.cli(f"dialplan set chanvar {held.agent_leg} SHARED(CTI_CONSULTING) Local/gone@cti-external-00000000;1")
        await until(lambda: _same_bridge(pbx, held.caller, held.agent_leg), timeout_s=15,
                    what="the caller bridged with its agent's leg again")
        assert not _variables(pbx, held.caller).get("CTI_FALLBACK")
    finally:
        pbx.cli("channel request hangup all")
        await until(lambda: not channels(pbx), what="every channel gone")
