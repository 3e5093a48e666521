"""Which desk phones are locked (a deactivated user's, unless an active user had the extension
already), that a lock stays until a new password (a reactivation leaves it), and how a lock and a
new password reach Asterisk's AstDB."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pytest

from agent_console.desk_phones import (
    DeskPhoneLocks,
    MemoryDeskLocks,
    MemoryLockStore,
    desk_endpoints,
    locked_endpoints,
)
from cti.ami.phone_secrets import DESK_LOCK_FAMILY, AstDbDeskLocks
from cti.errors import AmiActionFailed, AmiUnavailable

ENDPOINTS = desk_endpoints(5)  # 1001..1005


@pytest.mark.parametrize(("holders", "locked"), [
    ([("1001", True), ("1002", False)], {"1002"}),
    ([("1002", False), ("1002", True)], set()),  # handed on to an active user: theirs now
    ([("1002", False), ("1002", False)], {"1002"}),
    ([("1009", False), ("sup1", False)], set()),  # not a desk endpoint of this PBX
    ([], set()),
])
def test_a_desk_phone_is_locked_while_only_deactivated_users_hold_it(holders: list[tuple[str, bool]],
                                                                     locked: set[str]) -> None:
    assert locked_endpoints(holders, ENDPOINTS) == locked
    assert ENDPOINTS == {"1001", "1002", "1003", "1004", "1005"}


def Held(holders: list[tuple[str, bool]]) -> MemoryLockStore:
    return MemoryLockStore(holders)


async def test_a_reactivation_leaves_the_phone_locked_until_a_new_password() -> None:
    """Reactivating the user unlocked the phone: its old password, known to whoever was deactivated,
    worked again. Now the lock stays (in the CRM and in AstDB) until an administrator issues a new
    password, which replaces the lock and is told to the other nodes."""
    held = Held([("1001", False), ("1002", True)])
    locks = MemoryDeskLocks()
    locks.locked = {"1003", "1099"}  # 1003: not touched by this change, left to the next sync
    told: list[str] = []

    async def changed() -> None:
        told.append("changed")

    issued: dict[str, str] = {}
    service = DeskPhoneLocks(locks, held, 5, issued=issued.__setitem__, changed=changed)
    await service.refresh(["1001", None, "1009"])
    assert locks.locked == {"1001", "1003", "1099"} and held.kept == {"1001"}
    assert service.locked == {"1001"}  # what the CRM says: whose refused logins are expected (cti.security)
    assert told == ["changed"]
    held.phones = [("1001", True), ("1002", False)]  # 1001 reactivated, 1002 deactivated
    await service.refresh(["1001", "1002"])
    assert locks.locked == {"1001", "1002", "1003", "1099"}
    assert service.locked == {"1001", "1002"} and held.kept == {"1001", "1002"}
    await service.sync()
    assert locks.locked == {"1001", "1002", "1003", "1099"}  # nothing unlocked (1003: not the CRM's, kept)
    password = await service.new_password("1001")
    assert len(password) >= 24 and locks.passwords == {"1001": password} and issued == {"1001": password}
    assert locks.locked == {"1002", "1003", "1099"} and service.locked == {"1002"} and held.kept == {"1002"}
    await service.sync()
    assert "1001" not in locks.locked and locks.passwords == {"1001": password}
    assert await service.new_password("1001") != password  # each one new
    assert told == ["changed"] * 4


class Away:
    async def lock(self, endpoint: str) -> None:
        raise AmiUnavailable("AMI is not connected (Originate not sent)")

    async def rekey(self, endpoint: str, password: str) -> None:
        raise AmiUnavailable("AMI is not connected (Originate not sent)")

    async def lock_only(self, endpoints: Collection[str], span: tuple[int, int]) -> None:
        raise AmiUnavailable("AMI is not connected (Originate not sent)")


async def test_a_lock_that_cannot_reach_asterisk_is_logged_and_the_change_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Held([("1001", False), ("1002", True)])
    service = DeskPhoneLocks(Away(), store, 5)
    await service.refresh(["1001"])
    [record] = [r for r in caplog.records if r.name == "agent_console.desk_phones"]
    assert record.levelname == "ERROR" and "1001 not updated in Asterisk" in record.getMessage()
    store.kept.add("1002")
    with pytest.raises(AmiUnavailable):  # a new password that cannot reach Asterisk: the lock stays
        await service.new_password("1002")
    assert store.kept == {"1001", "1002"}


class Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], **kw: Any) -> Any:
        self.sent.append((action, dict(headers)))


async def test_locks_are_written_by_the_dialplan_with_a_fresh_random_key() -> None:
    sender = Sender()
    locks = AstDbDeskLocks(sender)
    await locks.lock("1001")
    await locks.lock("1001")
    await locks.rekey("1001", "a-new-password-of-24-chars")
    await locks.lock_only(["1003", "1001", "1250"], (1001, 1250))
    (a, first), (_, second), (_, rekey), *syncs = sender.sent
    assert a == "Originate" and DESK_LOCK_FAMILY == "cti_phone/auth"
    assert first["Channel"] == "Local/lock@cti-desk-lock/n" and first["Context"] == "cti-desk-lock"
    ep, key = first["Variable"]
    assert ep == "CTI_EP=1001" and key.startswith("CTI_KEY=") and len(key) >= len("CTI_KEY=") + 40
    assert key != second["Variable"][1]  # never the same password twice, never one anybody was shown
    assert rekey["Channel"] == "Local/rekey@cti-desk-lock/n"
    assert rekey["Variable"] == ["CTI_EP=1001", "CTI_PW=a-new-password-of-24-chars"]
    # One Originate a window of 100 endpoints, whatever number of them is locked: Asterisk drops an
    # AMI line of more than 1,024 bytes. Each window has its own key.
    assert [k["Channel"] for _, k in syncs] == ["Local/sync@cti-desk-lock/n"] * 3
    assert [k["Variable"][:3] for _, k in syncs] == [["CTI_FROM=1001", "CTI_TO=1100", "CTI_EPS=1001-1003"],
                                                    ["CTI_FROM=1101", "CTI_TO=1200", "CTI_EPS="],
                                                    ["CTI_FROM=1201", "CTI_TO=1250", "CTI_EPS=1250"]]
    keys = {k["Variable"][3] for _, k in syncs} | {key, second["Variable"][1]}
    assert len(keys) == 5 and all(k.startswith("CTI_KEY=") for k in keys)


async def test_a_full_window_fits_one_ami_line() -> None:
    sender = Sender()
    await AstDbDeskLocks(sender).lock_only([str(n) for n in range(1001, 3001)], (1001, 3000))
    assert len(sender.sent) == 20
    for _, headers in sender.sent:
        line = "Variable: " + ",".join(headers["Variable"])
        assert len(line.encode()) < 700, line


async def test_sync_costs_one_call_of_the_port_however_many_are_locked() -> None:
    class Counting(MemoryDeskLocks):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        async def lock(self, endpoint: str) -> None:
            self.calls.append("lock")

        async def lock_only(self, endpoints: Collection[str], span: tuple[int, int]) -> None:
            self.calls.append("lock_only")
            await super().lock_only(endpoints, span)

    locks = Counting()
    locks.locked = {"1001", "1099"}
    await DeskPhoneLocks(locks, Held([(str(n), False) for n in range(1002, 1006)]), 5).sync()
    # 1001: locked in AstDB though the CRM has no lock (a restored database...): it stays locked.
    assert locks.calls == ["lock_only"] and locks.locked == {"1001", "1002", "1003", "1004", "1005", "1099"}


@pytest.mark.parametrize("bad", ["web1001", "1001-auth", "", "1001,1002", "x\r\nAction: Command"])
async def test_desk_locks_refuse_anything_but_digits(bad: str) -> None:
    sender = Sender()
    locks = AstDbDeskLocks(sender)
    for call in (locks.lock(bad), locks.rekey(bad, "a-new-password-of-24-chars"), locks.lock_only([bad], (1001, 1005)),
                 locks.rekey("1001", bad), locks.rekey("1001", "short")):
        with pytest.raises(ValueError):
            await call
    assert sender.sent == []


async def test_a_lock_asterisk_left_unanswered_says_how_to_make_it_take() -> None:
    class Refusing(Sender):
        async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], **kw: Any) -> Any:
            raise AmiActionFailed("Originate: Originate failed")

    with pytest.raises(AmiActionFailed) as refused:
        await AstDbDeskLocks(Refusing()).lock("1002")
    said = str(refused.value)
    assert "desk phone 1002 not locked (Originate: Originate failed)" in said and "auth = astdb,cti_phone" in said
    assert "CTI_PW" not in said


async def test_a_sync_asterisk_left_unanswered_names_its_window_and_still_syncs_the_others() -> None:
    class RefusingFirst(Sender):
        async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], **kw: Any) -> Any:
            await super().send_action(action, headers, **kw)
            if len(self.sent) == 1:
                raise AmiActionFailed("Originate: Originate failed")

    sender = RefusingFirst()
    with pytest.raises(AmiActionFailed) as refused:
        await AstDbDeskLocks(sender).lock_only(["1002", "1007"], (1001, 1150))
    said = str(refused.value)
    assert "desk phones 1002, 1007 not locked (Originate: Originate failed)" in said and "cti pbx down" in said
    assert "CTI_KEY" not in said and len(sender.sent) == 2  # the second window went through


async def test_a_change_whose_locks_cannot_be_read_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """The administrator's change is committed: the CRM going away before its locks are read must not
    turn it into an error (the next start or AMI reconnection writes them)."""
    from crm_core.errors import DatabaseUnavailable

    class Away(MemoryLockStore):
        async def locked(self) -> set[str]:
            raise DatabaseUnavailable("the CRM is unavailable (test)")

    locks = MemoryDeskLocks()
    service = DeskPhoneLocks(locks, Away([("1001", False)]), 5)
    await service.refresh(["1001"])
    assert locks.locked == set() and service.locked == frozenset()
    assert any("1001 not updated" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
