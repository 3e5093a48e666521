"""callcenter.recovery_agents: where a restart gives each agent back, from their state history
(tables). An agent who dialled from a break is on their own call with the break pending: the rows
before the "outbound" one say which, and the call's end gives them back to it, as without the
restart. Before, recovery read the last row only: the break was lost (ready, or stuck "outbound")."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from callcenter.recovery_agents import LastState, Restore, last_states, restore, restore_order


@dataclass(frozen=True)
class Row:
    agent_id: str
    state: str
    reason: str | None = None
    phone_reachable: bool = True
    at: float = 0.0


AVAILABLE = ("available", None)
LUNCH = ("not_ready", "lunch")
LOGIN = ("not_ready", "login")
OUT = ("not_ready", "outbound")
WRAP = ("wrap_up", None)
DOWN = ("logged_out", "engine_down")


def rows(*states: tuple[str, str | None] | tuple[str, str | None, bool]) -> list[Row]:
    return [Row("1002", s[0], s[1], s[2] if len(s) > 2 else True) for s in states]  # type: ignore[misc]


@pytest.mark.parametrize(("history", "expected"), [
    # Today's reading: the last row, engine_down rows passed over.
    ([LOGIN, AVAILABLE, DOWN], LastState("available")),
    ([LOGIN, LUNCH], LastState("not_ready", "lunch")),
    # A dial from a break: outbound, the break pending.
    ([LOGIN, LUNCH, OUT], LastState("not_ready", "outbound", True, "lunch")),
    ([LOGIN, LUNCH, OUT, DOWN], LastState("not_ready", "outbound", True, "lunch")),
    # From ready, or from wrap-up: nothing pending (ready after the call).
    ([LOGIN, AVAILABLE, OUT], LastState("not_ready", "outbound", True, None)),
    ([LOGIN, AVAILABLE, ("on_call", None), WRAP, OUT], LastState("not_ready", "outbound", True, None)),
    # From the login's not ready: that is pending (Router.own_call_started), as any reason.
    ([LOGIN, OUT], LastState("not_ready", "outbound", True, "login")),
    # The own call ended: its wrap-up keeps the break pending.
    ([LOGIN, LUNCH, OUT, WRAP], LastState("wrap_up", None, True, "lunch")),
    ([LOGIN, LUNCH, OUT, WRAP, ("wrap_up", None, False)], LastState("wrap_up", None, True, "lunch")),
    # ... and its end (the wrap-up done) ends the story.
    ([LOGIN, LUNCH, OUT, WRAP, LUNCH], LastState("not_ready", "lunch")),
    ([LOGIN, AVAILABLE, OUT, WRAP, AVAILABLE], LastState("available")),
    # Another break chosen during the call: now, nothing pending.
    ([LOGIN, LUNCH, OUT, ("not_ready", "training")], LastState("not_ready", "training")),
    # Ready pressed during the call (Desk.set_ready: "outbound" again, the break withdrawn).
    ([LOGIN, LUNCH, OUT, OUT], LastState("not_ready", "outbound", True, None)),
    # The phone's reachability changing during the call: the same row again, the break kept.
    ([LOGIN, LUNCH, OUT, ("not_ready", "outbound", False)], LastState("not_ready", "outbound", True, "lunch")),
    ([LOGIN, LUNCH, ("not_ready", "outbound", False), OUT], LastState("not_ready", "outbound", True, "lunch")),
    # A restart during the call: its login is the restart's; the restored break and outbound follow.
    ([LOGIN, LUNCH, OUT, DOWN, LOGIN, LUNCH, OUT], LastState("not_ready", "outbound", True, "lunch")),
    ([LOGIN, AVAILABLE, OUT, DOWN, LOGIN, OUT], LastState("not_ready", "outbound", True, None)),
    ([LOGIN, LUNCH, OUT, DOWN, LOGIN, LUNCH, OUT, DOWN], LastState("not_ready", "outbound", True, "lunch")),
    # Logged in again by a restart and left so (a call it could not attach): the login, no own call.
    ([LOGIN, LUNCH, OUT, DOWN, LOGIN], LastState("not_ready", "login")),
    # A login of the agent's own (no restart before it) is theirs.
    ([LOGIN, LUNCH, ("logged_out", None), LOGIN, OUT], LastState("not_ready", "outbound", True, "login")),
])
def test_last_states(history: list[tuple[str, str | None]], expected: LastState) -> None:
    assert last_states(rows(*history)) == {"1002": expected}  # type: ignore[arg-type]


def test_agents_are_read_apart() -> None:
    mixed = [Row("1001", *LUNCH), Row("1002", *AVAILABLE), Row("1001", *OUT), Row("1002", *OUT), Row("1003", *DOWN)]
    assert last_states(mixed) == {"1001": LastState("not_ready", "outbound", True, "lunch"),
                                  "1002": LastState("not_ready", "outbound", True, None)}


ON_OWN_LUNCH = LastState("not_ready", "outbound", True, "lunch")
ON_OWN_READY = LastState("not_ready", "outbound", True, None)


@pytest.mark.parametrize(("last", "busy", "live", "phone", "expected"), [
    (LastState("logged_out"), False, False, False, Restore()),
    (LastState("available"), False, False, False, Restore(ready=True)),
    (LastState("wrap_up"), False, False, False, Restore(ready=True)),
    (LastState("on_call"), True, False, False, Restore()),  # talking on a call not attached: never offered
    (LastState("not_ready", "lunch"), False, False, False, Restore(not_ready="lunch")),
    (LastState("not_ready", "login"), False, False, False, Restore()),
    # On their own call, still up and taken back: outbound, the break pending (None: ready after).
    (ON_OWN_LUNCH, False, True, True, Restore(not_ready="lunch", own_call=True)),
    (ON_OWN_READY, False, True, True, Restore(own_call=True)),
    # Their phone busy with a call not taken back (a dial still ringing it): the same, watched.
    (ON_OWN_LUNCH, False, False, True, Restore(not_ready="lunch", own_call=True, watch=True)),
    # The call gone at the restart: back where its wrap-up would have left them.
    (ON_OWN_LUNCH, False, False, False, Restore(not_ready="lunch")),
    (ON_OWN_READY, False, False, False, Restore(ready=True)),
    # Wrapping the own call up at the restart: the same.
    (LastState("wrap_up", None, True, "lunch"), False, False, False, Restore(not_ready="lunch")),
    (LastState("wrap_up", None, True, None), False, False, False, Restore(ready=True)),
    # A call of theirs taken back that the history does not show as theirs: never ready during it.
    (LastState("available"), False, True, True, Restore(own_call=True)),
    (LastState("wrap_up", None, True, "lunch"), False, True, True, Restore(not_ready="lunch", own_call=True)),
    # ... but a break they chose stays (the call taken back all the same).
    (LastState("not_ready", "training"), False, True, True, Restore(not_ready="training")),
    # Talking on a call of the plan's that it could not attach: left not ready, whatever the history.
    (ON_OWN_LUNCH, True, False, True, Restore()),
])
def test_restore(last: LastState, busy: bool, live: bool, phone: bool, expected: Restore) -> None:
    assert restore(last, busy=busy, own_call_live=live, phone_live=phone) == expected


def test_agents_are_given_back_longest_idle_first() -> None:
    """The available ones in the order they became available (a reachability row is no new start),
    then the others: the first made ready takes the first caller waiting."""
    history = [Row("1001", "not_ready", "login", at=0), Row("1002", "available", at=10),
               Row("1003", "wrap_up", at=5), Row("1002", "available", phone_reachable=False, at=90),
               Row("1002", "available", at=95), Row("1001", "available", at=50),
               Row("1004", "not_ready", "lunch", at=1)]
    last = last_states(history)
    assert (last["1002"].since, last["1001"].since) == (10, 50)
    assert restore_order(last) == ["1002", "1001", "1004", "1003"]
