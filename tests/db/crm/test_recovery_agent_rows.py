"""A restarted engine's recovery reads each agent's state history back (SQLite and PostgreSQL) and
finds the break an agent dialled from: the row before their "outbound" one, written as the
supervisor writes rows (``write_state_once``, the journal's writer), an ``engine_down`` row and a
change of phone reachability among them. Before, recovery kept the last row only (``("not_ready",
"outbound")``): the break pending during the own call was lost at the restart."""

from __future__ import annotations

from typing import Any, cast

from callcenter.recovery import Recovery
from callcenter.recovery_agents import LastState
from crm_core.agent_log import ENGINE_DOWN, state_key, write_state_once
from crm_core.db import Database

NOW = 1_800_000_000.0


async def _write(db: Database, rows: list[tuple[str, str, str | None, float, bool]]) -> None:
    async with db.session() as s:
        for agent_id, state, reason, at, reachable in rows:
            await write_state_once(s, state_key(agent_id, state, at, reachable),
                                   {"agent_id": agent_id, "state": state, "reason": reason, "at": at,
                                    "phone_reachable": reachable})
            await s.flush()
        await s.commit()


def _recovery(db: Database) -> Recovery:
    return Recovery(acd=cast(Any, None), model=cast(Any, None), control=cast(Any, None), db=db,
                    bus=cast(Any, None), login=cast(Any, None), clock=lambda: NOW)


async def test_recovery_reads_the_break_an_agent_dialled_from(db: Database) -> None:
    t = NOW - 600
    await _write(db, [
        # 1002: lunch, dials (outbound), its phone drops and comes back during the call, the engine dies.
        ("1002", "not_ready", "login", t, True), ("1002", "not_ready", "lunch", t + 10, True),
        ("1002", "not_ready", "outbound", t + 20, True), ("1002", "not_ready", "outbound", t + 30, False),
        ("1002", "not_ready", "outbound", t + 40, True), ("1002", "logged_out", ENGINE_DOWN, t + 40, True),
        # 1001: ready, dials, hangs up: wrapping the call up at the restart (nothing pending).
        ("1001", "available", None, t, True), ("1001", "not_ready", "outbound", t + 5, True),
        ("1001", "wrap_up", None, t + 50, True),
        # 1003: lunch, dials, presses ready during the call (the break withdrawn: "outbound" again).
        ("1003", "not_ready", "lunch", t, True), ("1003", "not_ready", "outbound", t + 5, True),
        ("1003", "not_ready", "outbound", t + 15, True),
        # 1004: restarted once during its dial from training: the restart's login, training, outbound.
        ("1004", "not_ready", "training", t, True), ("1004", "not_ready", "outbound", t + 5, True),
        ("1004", "logged_out", ENGINE_DOWN, t + 6, True), ("1004", "not_ready", "login", t + 60, True),
        ("1004", "not_ready", "training", t + 60.001, True), ("1004", "not_ready", "outbound", t + 60.002, True),
        # Older than the recovery's reach (12 h): not read.
        ("1009", "not_ready", "outbound", NOW - 13 * 3600, True),
    ])
    got = await _recovery(db)._last_states()
    assert got == {
        "1002": LastState("not_ready", "outbound", own_call=True, back_to="lunch"),
        "1001": LastState("wrap_up", None, own_call=True, back_to=None),
        "1003": LastState("not_ready", "outbound", own_call=True, back_to=None),
        "1004": LastState("not_ready", "outbound", own_call=True, back_to="training"),
    }
