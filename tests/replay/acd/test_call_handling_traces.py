"""Recorded Asterisk 22 traces of what CallActions does for an attended transfer and a three-way
conference (tests/fixtures/ami/record.py: attended_transfer, conference), through the codec,
translation and call model: who is bridged with whom at each step."""

from __future__ import annotations

from pathlib import Path

from cti.ami.callmodel import CallModel
from cti.ami.codec import AmiFrameParser
from cti.ami.translate import WANTED, translate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ami"


def _steps(name: str) -> tuple[CallModel, list[dict[str, tuple[str, ...]]]]:
    """Replay a trace; after each event, the live bridges as {bridge id: channel names}."""
    parser = AmiFrameParser(WANTED)
    model = CallModel()
    seen: list[dict[str, tuple[str, ...]]] = []
    for msg in parser.feed((FIXTURES / f"{name}.txt").read_bytes()):
        if "ActionID" in msg and msg.get("Event") != "OriginateResponse":
            continue
        e = translate(msg, 0.0)
        if e is not None:
            model.apply(e)
            bridges = {b: tuple(sorted(ch.name for u in uids if (ch := model.channel(u)) is not None))
                       for b, uids in model.bridges().items() if uids}
            if not seen or seen[-1] != bridges:
                seen.append(bridges)
    return model, seen


def _names(bridges: dict[str, tuple[str, ...]]) -> list[set[str]]:
    return [{c.split("@")[0] + "@" + c.split("@")[1].split("-")[0] for c in chans} for chans in bridges.values()]


def test_attended_transfer_moves_the_caller_from_the_agent_to_the_target() -> None:
    model, seen = _steps("attended_transfer")
    groups = [_names(b) for b in seen]
    caller, agent, target = "Local/s@cti", "Local/1001@cti", "Local/1002@cti"
    # The caller talks to the agent; the agent then to the target (the caller on music); then the
    # caller to the target, the agent gone.
    first = next(i for i, g in enumerate(groups) if {caller, agent} in g)
    consult = next(i for i, g in enumerate(groups) if {agent, target} in g and i > first)
    done = next(i for i, g in enumerate(groups) if {caller, target} in g and i > consult)
    assert all(caller not in s for g in groups[consult:done] for s in g if agent in s)
    # The agent's leg leaves the consultation bridge once the target's leg is moved out by AMI
    # Bridge (cti-consult-connect's F sends it to cti-park-agent), and is then hung up.
    assert any({caller, target} in g and not any(agent in s for s in g) for g in groups[done:])
    assert all(not c.live for c in model.calls())  # everything hung up at the end


def test_conference_puts_three_parties_in_one_bridge_and_survives_the_agent_leaving() -> None:
    _, seen = _steps("conference")
    groups = [_names(b) for b in seen]
    caller, agent, third = "Local/s@cti", "Local/1001@cti", "Local/8610555@cti"
    three = next(i for i, g in enumerate(groups) if {caller, agent, third} in g)
    after = next(g for g in groups[three + 1:] if g)
    assert {caller, third} in after  # the agent left; caller and third party talk on
