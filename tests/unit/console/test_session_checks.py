"""Session checks in bulk (agent_console.session_checks): checks asked together cost one query, a
check never gets an answer older than itself, and every open websocket is re-checked in one query."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from agent_console.errors import NotAuthenticated
from agent_console.security import ConsoleAuth, LoginThrottle, Principal
from agent_console.tokens import TokenSigner


class Store:
    """The database's answer, in memory: deactivated users and each user's session cutoff."""

    def __init__(self) -> None:
        self.inactive: set[int] = set()
        self.cutoff: dict[int, float] = {}
        self.calls: list[list[tuple[int, float]]] = []
        self.gate: asyncio.Event | None = None  # set: queries wait for it
        self.fail = False
        self.asked = asyncio.Event()  # set at every query

    async def session_problems(self, checks: Sequence[tuple[int, float]]) -> list[str | None]:
        self.calls.append(list(checks))
        self.asked.set()
        # What the database holds when the query starts is its answer.
        answers = ["user deactivated" if u in self.inactive else
                   "session ended" if iat <= self.cutoff.get(u, float("-inf")) else None for u, iat in checks]
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("database unreachable")
        return answers

    async def end_sessions(self, user_id: int, at: float) -> None:
        self.cutoff[user_id] = at


def _auth(store: Store, recheck_s: float = 5.0) -> ConsoleAuth:
    return ConsoleAuth(signer=TokenSigner("s" * 32), throttle=LoginThrottle(), sessions=store, recheck_s=recheck_s)


def _token(auth: ConsoleAuth, user_id: int) -> str:
    return auth.signer.issue(Principal(user_id=user_id, username=f"u{user_id}", role="agent",
                                       agent_id=f"a{user_id}"))[0]


async def test_checks_asked_together_make_one_query() -> None:
    store = Store()
    auth = _auth(store)
    tokens = [_token(auth, uid) for uid in range(1, 101)]
    store.inactive.add(7)
    results = await asyncio.gather(*(auth.check(t) for t in tokens), return_exceptions=True)
    assert len(store.calls) == 1 and len(store.calls[0]) == 100
    refused = [i + 1 for i, r in enumerate(results) if isinstance(r, NotAuthenticated)]
    assert refused == [7]
    assert str(results[6]) == "user deactivated"
    assert all(isinstance(r, Principal) for i, r in enumerate(results) if i != 6)


async def test_a_check_asked_during_a_query_is_answered_by_a_later_one() -> None:
    """A logout seen by the database after a query started must not be missed by a check asked
    after the logout: that check waits for the next query."""
    store = Store()
    auth = _auth(store)
    token = _token(auth, 1)
    store.gate = asyncio.Event()
    first = asyncio.ensure_future(auth.check(token))
    await store.asked.wait()
    store.cutoff[1] = auth.signer.clock() + 1  # the user logged out on another node, meanwhile
    second = asyncio.ensure_future(auth.check(token))
    await asyncio.sleep(0)
    store.gate.set()
    assert isinstance(await first, Principal)  # its query started before the logout
    with pytest.raises(NotAuthenticated, match="session ended"):
        await second
    assert len(store.calls) == 2


async def test_a_failed_query_fails_the_checks_it_answered_and_the_next_one_runs() -> None:
    store = Store()
    auth = _auth(store)
    token = _token(auth, 1)
    store.fail = True
    results = await asyncio.gather(auth.check(token), auth.check(token), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results) and len(store.calls) == 1
    store.fail = False
    assert isinstance(await auth.check(token), Principal)


async def test_open_sockets_are_rechecked_in_one_query_and_only_ended_ones_close() -> None:
    store = Store()
    auth = _auth(store, recheck_s=3600)  # the sweep is run by hand here
    closed: dict[int, str] = {}
    unregister = {}
    for uid in range(1, 51):
        def close(reason: str, uid: int = uid) -> None:
            closed[uid] = reason
        unregister[uid] = auth.register_socket(uid, close, _token(auth, uid))
    await auth.recheck_sockets()
    assert len(store.calls) == 1 and len(store.calls[0]) == 50 and closed == {}
    store.cutoff[3] = auth.signer.clock() + 1
    store.inactive.add(4)
    auth.signer.revoke(_token(auth, 5))  # another token of user 5: its socket stays
    await auth.recheck_sockets()
    assert closed == {3: "session ended", 4: "user deactivated"}
    assert len(store.calls) == 2 and len(store.calls[1]) == 50
    await auth.recheck_sockets()  # closed sockets are not checked again
    assert len(store.calls[2]) == 48 and len(closed) == 2
    for uid in range(1, 51):
        unregister[uid]()
    assert auth._watched is not None and len(auth._watched) == 0


async def test_an_expired_token_closes_its_socket_without_asking_the_database() -> None:
    store = Store()
    auth = _auth(store, recheck_s=3600)
    now = [1000.0]
    auth.signer.clock = lambda: now[0]
    closed: list[str] = []
    auth.register_socket(1, closed.append, _token(auth, 1))
    now[0] += auth.signer.ttl_s + 1
    await auth.recheck_sockets()
    assert closed and "expired" in closed[0] and store.calls == []


async def test_the_sweep_runs_every_recheck_s_keeps_sockets_through_a_database_fault_and_stops() -> None:
    store = Store()
    auth = _auth(store, recheck_s=0.01)
    closed: list[str] = []
    gone = asyncio.Event()

    def close(reason: str) -> None:
        closed.append(reason)
        gone.set()

    unregister = auth.register_socket(1, close, _token(auth, 1))
    store.fail = True
    async with asyncio.timeout(2):
        for _ in range(2):  # two failed sweeps: the socket stays open
            store.asked.clear()
            await store.asked.wait()
    assert closed == []
    store.fail = False
    store.inactive.add(1)
    async with asyncio.timeout(2):
        await gone.wait()
    assert closed == ["user deactivated"]
    unregister()
    assert auth._watched is not None and auth._watched._task is None
