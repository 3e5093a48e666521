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
    marked = hold.index("same => n(take),Set(SHARED(CTI_HOLD_BACK,${CTI_HOLD_PEER})=${CHANNEL})")
    assert marked < bridge
    assert "SHARED(CTI_HOLD_BACK,${CTI_HOLD_PEER})=)" in hold[bridge + 1]
    consult = _section("cti-consult-connect")
    tried = consult.index("same => n(bridge),Bridge(${CTI_CALLER},F(cti-park-agent^s^1))")
    assert "same => n,GotoIf($[${LEN(${SHARED(CTI_HOLD_BACK,${CTI_CALLER})})} > 0]?taken)" in consult[:tried]
    assert "same => n,Goto(check)" in consult  # the FAILURE retry checks again
    taken = next(i for i, line in enumerate(consult) if line.startswith("same => n(taken),"))
    assert consult[taken + 2:taken + 4] == ["same => n,Set(CTI_CONSULT_DONE=1)", "same => n,Hangup()"]
    assert "same => n,Set(SHARED(CTI_HOLD_BACK)=)" in _section("cti-park-agent")


def _locked_steps(lines: list[str], lock: str, unlock_from: int) -> list[str]:
    """The steps from the Gosub that takes the leg's lock up to the first UNLOCK after ``unlock_from``."""
    start = lines.index(lock)
    end = next(i for i in range(unlock_from, len(lines)) if "${UNLOCK(${CTI_LEG_LOCK})}" in lines[i])
    return lines[start:end + 1]


def test_each_side_looks_and_marks_under_the_legs_lock_and_never_bridges_holding_it() -> None:
    """The race a late answer ran with the caller's own check: cti-hold takes the leg's lock, looks
    for a consultation's claim (CTI_CONSULTING), marks the leg taken (CTI_HOLD_BACK) and unlocks
    before its Bridge(); cti-consult-connect takes the same lock, looks for that mark, claims the
    leg and unlocks before its Bridge(). One side's decision is final; a Bridge() never holds it."""
    hold = _section("cti-hold")
    lock = "same => n,Gosub(cti-leg-lock,s,1(${CTI_HOLD_PEER}))"
    marked = hold.index("same => n(take),Set(SHARED(CTI_HOLD_BACK,${CTI_HOLD_PEER})=${CHANNEL})")
    steps = _locked_steps(hold, lock, marked)
    assert steps[1] == 'same => n,GotoIf($["${GOSUB_RETVAL}" != "1"]?s,wait)'  # not locked: the music again
    assert "same => n,Set(CTI_HOLD_CLAIM=${SHARED(CTI_CONSULTING,${CTI_HOLD_PEER})})" in steps
    assert not any("Bridge(" in line for line in steps)
    assert hold.index("same => n,Bridge(${CTI_HOLD_PEER},F(cti-park-agent^s^done))") > marked
    # A claim keeps the caller waiting, unless its leg is gone; the lock is let go on that way too.
    claimed = next(i for i, line in enumerate(hold) if line.startswith("same => n(claimed),"))
    assert hold[claimed] == 'same => n(claimed),GotoIf($["${CHANNEL_EXISTS(${CTI_HOLD_CLAIM})}" = "0"]?take)'
    assert "${UNLOCK(${CTI_LEG_LOCK})}" in hold[claimed + 1] and hold[claimed + 3] == "same => n,Goto(s,wait)"

    consult = _section("cti-consult-connect")
    lock = "same => n(check),Gosub(cti-leg-lock,s,1(${CTI_CALLER}))"
    claim = consult.index("same => n,Set(SHARED(CTI_CONSULTING,${CTI_CALLER})=${CHANNEL})")
    steps = _locked_steps(consult, lock, claim)
    assert steps[1] == 'same => n,GotoIf($["${GOSUB_RETVAL}" != "1"]?taken)'
    assert steps[2] == "same => n,GotoIf($[${LEN(${SHARED(CTI_HOLD_BACK,${CTI_CALLER})})} > 0]?taken)"
    bridge = consult.index("same => n(bridge),Bridge(${CTI_CALLER},F(cti-park-agent^s^1))")
    assert consult[bridge - 1] == steps[-1] and consult[bridge + 1] == "same => n,Gosub(cti-consult-release,s,1)"
    taken = next(i for i, line in enumerate(consult) if line.startswith("same => n(taken),"))
    assert "${UNLOCK(${CTI_LEG_LOCK})}" in consult[taken]

    # The claim is released under the lock, only if it is still this leg's.
    release = _section("cti-consult-release")
    assert release[0] == "exten => s,1,Gosub(cti-leg-lock,s,1(${CTI_CALLER}))"
    assert release[1] == ('same => n,ExecIf($["${SHARED(CTI_CONSULTING,${CTI_CALLER})}" = "${CHANNEL}"]'
                          "?Set(SHARED(CTI_CONSULTING,${CTI_CALLER})=))")
    assert "${UNLOCK(${CTI_LEG_LOCK})}" in release[2] and release[3] == "same => n,Return()"
    # A bounded set of lock names (func_lock keeps every name it was ever given).
    assert _section("cti-leg-lock") == ["exten => s,1,Set(CTI_LEG_LOCK=cti-leg-${MD5(${ARG1}):0:2})",
                                        "same => n,Return(${LOCK(${CTI_LEG_LOCK})})"]
