"""The phones' credentials in Asterisk's AstDB, over AMI: the softphones' passwords (the adapter
behind ``agent_console.phone.PhoneSecrets``) and the locks on desk phones of deactivated users
(behind ``agent_console.desk_phones.DeskLocks``)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from cti.errors import AmiActionFailed

ASTDB_FAMILY = "cti_phone/auth"  # sorcery.conf: auth = astdb,cti_phone (the wizard adds /auth)
DESK_LOCK_FAMILY = ASTDB_FAMILY  # keys <extension>-auth beside the softphones' web<extension>
KEEP_WINDOW = 100  # desk endpoints a sync looks at: its list ("1001-1002-...") stays under 600 bytes


class _Sender(Protocol):
    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                          expect: Any = "response", timeout_s: float = 10.0) -> Any: ...


class AstDbPhoneSecrets:
    """Auth objects in AstDB, read by res_sorcery_astdb on each REGISTER (no reload).

    The engine's AMI user may not write AstDB itself: DBPut/DBDel need the ``system`` class, which
    would also let it run shell commands through Originate. So each write is a Local channel
    originated into ``cti-phone-secret`` (config/asterisk/extensions.conf), whose dialplan writes
    or deletes the entry from the channel's variables and hangs up; the call model knows that
    context and makes no call of it. Endpoint names and passwords are [A-Za-z0-9_-] only."""

    def __init__(self, sender: _Sender) -> None:
        self._sender = sender

    async def _run(self, exten: str, endpoint: str = "", password: str = "") -> None:
        for value in (endpoint, password):
            if not _SAFE.fullmatch(value):
                raise ValueError("softphone endpoint names and passwords are [A-Za-z0-9_-] only")
        await _originate(self._sender, "cti-phone-secret", exten, [f"CTI_EP={endpoint}", f"CTI_PW={password}"])

    async def put(self, endpoint: str, password: str) -> None:
        await self._run("put", endpoint, password)

    async def delete(self, endpoint: str) -> None:
        await self._run("del", endpoint)

    async def clear(self) -> None:
        await self._run("clear")


class AstDbDeskLocks:
    """Locks on desk-phone endpoints (1001...) in AstDB, read before pjsip.conf on each REGISTER and
    each call from the phone (no reload).

    A lock is an auth object named as the endpoint's own (``<endpoint>-auth``) with a password nobody
    is given: sorcery.conf lists its AstDB wizard first, so it shadows the password of pjsip.conf
    and every request from the phone fails its challenge. Locking also ends the phone's
    registration: the dialplan marks its contacts expired, and Asterisk deletes them at once (the
    endpoint turns unreachable, nothing rings it). Written like the softphones' passwords, by Local
    channels into ``cti-desk-lock``; endpoint names are digits only. Each Originate carries a fresh
    random key (``CTI_KEY``, kept nowhere) and the dialplan makes each lock's password
    SHA1(key endpoint): one Originate writes the locks of a whole window, none of them guessable.
    ``rekey`` writes a password an administrator is shown once in the lock's place (the same auth
    object name): the one way a locked phone works again."""

    def __init__(self, sender: _Sender) -> None:
        self._sender = sender

    async def lock(self, endpoint: str) -> None:
        _check_desk(endpoint)
        try:
            await _originate(self._sender, "cti-desk-lock", "lock", [f"CTI_EP={endpoint}", _key()])
        except AmiActionFailed as err:  # the dialplan leaves it unanswered when PJSIP reads pjsip.conf first
            raise _not_locked(f"desk phone {endpoint}", err) from None

    async def rekey(self, endpoint: str, password: str) -> None:
        """``password`` is the endpoint's from now on: written under the lock's name (in place of the
        lock, shadowing pjsip.conf's password), checked as PJSIP reads it, the phone's registrations
        ended. There is no unlock: a locked phone's way back is a new password."""
        _check_desk(endpoint)
        if not _SAFE.fullmatch(password) or len(password) < 16:
            raise ValueError("a desk phone's new password is 16 or more of [A-Za-z0-9_-]")
        try:
            await _originate(self._sender, "cti-desk-lock", "rekey", [f"CTI_EP={endpoint}", f"CTI_PW={password}"])
        except AmiActionFailed as err:
            raise _not_locked(f"desk phone {endpoint}'s new password", err) from None

    async def lock_only(self, endpoints: Collection[str], span: tuple[int, int]) -> None:
        """Of the endpoints numbered ``span`` (first, last), ``endpoints`` are locked (the engine's
        start: the CRM decides): a lock there already stays as it is, a missing one is written, and
        the others are left alone (a password an administrator issued; never an unlock: the old
        password was known to whoever was deactivated). One Originate a window of ``KEEP_WINDOW``
        numbers: Asterisk drops an AMI line longer than 1,024 bytes, and the list of a window fits one. A window whose
        locks PJSIP does not read first fails; the other windows are still synced, then it raises."""
        for endpoint in endpoints:
            _check_desk(endpoint)
        wanted = {int(e) for e in endpoints}
        refused: list[AmiActionFailed] = []
        for first in range(span[0], span[1] + 1, KEEP_WINDOW):
            last = min(first + KEEP_WINDOW - 1, span[1])
            kept = [str(n) for n in sorted(wanted) if first <= n <= last]
            try:
                await _originate(self._sender, "cti-desk-lock", "sync",
                                 [f"CTI_FROM={first}", f"CTI_TO={last}", f"CTI_EPS={'-'.join(kept)}", _key()])
            except AmiActionFailed as err:
                refused.append(_not_locked(f"desk phones {', '.join(kept) or f'{first}-{last}'}", err))
        if refused:
            raise AmiActionFailed("; ".join(str(err) for err in refused))


def _key() -> str:
    """The channel variable of a fresh key the dialplan derives the locks' passwords from."""
    return f"CTI_KEY={secrets.token_urlsafe(32)}"


def _not_locked(what: str, err: AmiActionFailed) -> AmiActionFailed:
    done = "not written" if "password" in what else "not locked"
    return AmiActionFailed(
        f"{what} {done} ({err}): Asterisk must read the lock before pjsip.conf "
        "(sorcery.conf's first auth line `auth = astdb,cti_phone`; an Asterisk running since before "
        "that line needs `cti pbx down && cti pbx up`) and have the cti-desk-lock context")


async def _originate(sender: _Sender, context: str, exten: str, variables: list[str]) -> None:
    """Run ``exten`` of a housekeeping context (the call model makes no call of it); Asterisk
    answers the Originate once the dialplan has done its writes (it answers last)."""
    await sender.send_action("Originate", {
        "Channel": f"Local/{exten}@{context}/n", "Context": context, "Exten": "done",
        "Priority": "1", "Timeout": "5000", "Variable": variables}, timeout_s=10.0)


def _check_desk(endpoint: str) -> None:
    if not _DESK.fullmatch(endpoint):
        raise ValueError(f"desk phone endpoints are digits only, not {endpoint!r}")


_SAFE = re.compile(r"[A-Za-z0-9_-]*")
_DESK = re.compile(r"[0-9]{1,32}")
