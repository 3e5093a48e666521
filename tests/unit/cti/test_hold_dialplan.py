"""cti-hold's shape, which its behaviour on a real Asterisk rests on (proven there in
tests/asterisk/recovery/test_hold_engine_down.py)."""

from __future__ import annotations

from pathlib import Path


def _section(name: str) -> list[str]:
    conf = (Path(__file__).parents[3] / "config/asterisk/extensions.conf").read_text()
    section = conf.split(f"[{name}]", 1)[1].split("\n[", 1)[0]
    return [line.strip() for line in section.splitlines() if line.strip() and not line.strip().startswith(";")]


def test_the_music_slice_is_the_last_priority_of_s() -> None:
    """WaitExten goes to t (the heartbeat check) only when no priority follows it; and a caller an
    Unhold's bridge took from it comes back to the priority after it, where none must be, so that its
    call ends instead of going back on hold."""
    lines = _section("cti-hold")
    after_s = next(i for i, line in enumerate(lines) if line.startswith("exten =>") and i > 0)
    assert lines[0].startswith("exten => s,1,")
    assert lines[after_s - 1] == "same => n,WaitExten(${CTI_HB_CHECK},m(default))"
    assert any(line.startswith("exten => t,1,") for line in lines)
    assert "exten => i,1,Goto(t,1)" in lines  # a key pressed on hold: checked, no way out of it


def test_no_engine_leads_to_the_agents_leg_or_the_fallback() -> None:
    lines = _section("cti-hold")
    t = lines[next(i for i, line in enumerate(lines) if line.startswith("exten => t,1,")):]
    gone = [line for line in t if "cti-engine-down,s,1" in line]
    assert len(gone) == 2 and "CTI_HOLD_PEER" in gone[0] and "CHANNEL_EXISTS(${CTI_HOLD_PEER})" in gone[1]
    assert "same => n,Bridge(${CTI_HOLD_PEER},F(cti-park-agent^s^done))" in t
    assert any(line.startswith("same => n(done),") for line in _section("cti-park-agent"))


def test_a_consultation_answering_after_the_reconnect_finds_the_agents_leg_taken() -> None:
    """cti-hold marks the agent's leg before bridging it (and clears the mark when that fails);
    cti-consult-connect reads the mark before every Bridge() try; the park clears it."""
    hold = _section("cti-hold")
    bridge = hold.index("same => n,Bridge(${CTI_HOLD_PEER},F(cti-park-agent^s^done))")
    assert hold[bridge - 1] == "same => n,Set(SHARED(CTI_HOLD_BACK,${CTI_HOLD_PEER})=${CHANNEL})"
    assert "SHARED(CTI_HOLD_BACK,${CTI_HOLD_PEER})=)" in hold[bridge + 1]
    consult = _section("cti-consult-connect")
    tried = consult.index("same => n(bridge),Bridge(${CTI_CALLER},F(cti-park-agent^s^1))")
    assert consult[tried - 1] == \
        "same => n(check),GotoIf($[${LEN(${SHARED(CTI_HOLD_BACK,${CTI_CALLER})})} > 0]?taken)"
    assert "same => n,Goto(check)" in consult  # the FAILURE retry checks again
    taken = next(i for i, line in enumerate(consult) if line.startswith("same => n(taken),"))
    assert consult[taken + 1:taken + 3] == ["same => n,Set(CTI_CONSULT_DONE=1)", "same => n,Hangup()"]
    assert "same => n,Set(SHARED(CTI_HOLD_BACK)=)" in _section("cti-park-agent")
