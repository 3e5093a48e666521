"""A deactivated user's SIP desk phone on the real Asterisk: its password (pjsip.conf, from
var/sip-credentials.json) kept registering and placing calls after an administrator deactivated the
user, until someone rotated it and ran `cti pbx up`. Now the deactivation locks the endpoint in
AstDB at once (no reload) and drops its registration. Reactivating the user unlocked it, and the old
password, which whoever was deactivated knows, worked again: now the phone stays locked until an
administrator issues it a new password (shown once), which works at once and alone."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from callcenter.engine import Engine
from crm_core.db import Database
from crm_core.models import User
from cti.ami.events import SecurityFailure
from cti.ami.manager import AmiClient
from cti.ami.phone_secrets import AstDbDeskLocks, AstDbPhoneSecrets
from cti.errors import AmiActionFailed
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.security import AuthFailuresAlarm
from cti.settings import Settings
from cti.sip_credentials import passwords
from tests.asterisk.trunks.test_sip_security import SipClient, _challenge, _register, digest
from tests.helpers import engine_settings, running_engine, seed, until
from tests.servers import free_port, rtp_range


def _invite(sip: SipClient, user: str, password: str, target: str) -> int:
    """A call from ``user``'s phone to ``target``, answering Asterisk's challenge: the final status
    (``target`` has no phone registered, so an accepted call ends at once, never 401 or 403)."""
    code, answer = sip.request("INVITE", user, target)
    if code != 401:
        return code
    uri = f"sip:{target}@127.0.0.1:{sip.server[1]}"
    auth = digest(_challenge(answer), user=user, password=password, method="INVITE", uri=uri)
    return sip.request("INVITE", user, target, auth=auth, cseq=2)[0]


def _log_since(pbx: ManagedPbx, start: int) -> str:
    with open(pbx.log_file, "rb") as fh:
        fh.seek(start)
        return fh.read().decode(errors="replace")


def _contacts(pbx: ManagedPbx, aor: str) -> list[str]:
    return [line for line in pbx.cli(f"pjsip show aor {aor}").splitlines() if line.strip().startswith("Contact:")
            and f"{aor}/sip:" in line]


async def _deactivate(http: httpx.AsyncClient, agent_id: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The administrator deactivates the user of ``agent_id``: their headers and that user."""
    login = await http.post("/api/auth/login", json={"username": "admin", "password": "admin-demo-1"})
    http.cookies.clear()
    admin = {"Authorization": f"Bearer {login.json()['token']}"}
    users = (await http.get("/api/admin/users", headers=admin)).json()
    user = next(u for u in users if u["agent_id"] == agent_id)
    off = await http.patch(f"/api/admin/users/{user['id']}", json={"active": False}, headers=admin)
    assert off.status_code == 200, off.text
    return admin, user


async def test_a_deactivated_users_desk_phone_stops_registering_and_calling_at_once(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    secret = passwords(pbx.settings.state_dir, ["1001", "1002"])
    settings = engine_settings(pbx_settings, tmp_path)
    phone, other = SipClient(pbx.settings.pbx.sip_port), SipClient(pbx.settings.pbx.sip_port)
    try:
        async with running_engine(pbx, settings, phone_kind="sip") as eng, \
                httpx.AsyncClient(base_url=eng.url) as http:
            assert await asyncio.to_thread(_register, phone, "1001", secret["1001"]) == 200
            assert _contacts(pbx, "1001"), pbx.cli("pjsip show aor 1001")
            admin, agent1 = await _deactivate(http, "1001")
            # At once: the registration it had is gone (nothing rings it), a new one is refused, and
            # so is a call from it; no reload of the PBX.
            await until(lambda: not _contacts(pbx, "1001"), timeout_s=5, what="1001's registration removed")
            assert await asyncio.to_thread(_register, phone, "1001", secret["1001"]) in (401, 403)
            assert await asyncio.to_thread(_invite, phone, "1001", secret["1001"], "1003") in (401, 403)
            # Another agent's desk phone is not touched.
            assert await asyncio.to_thread(_register, other, "1002", secret["1002"]) == 200

            on = await http.patch(f"/api/admin/users/{agent1['id']}", json={"active": True}, headers=admin)
            assert on.status_code == 200 and on.json()["desk_locked"] is True, on.text
            # Reactivated: the old password stays refused (the person deactivated knows it).
            assert await asyncio.to_thread(_register, phone, "1001", secret["1001"]) in (401, 403)
            assert await asyncio.to_thread(_invite, phone, "1001", secret["1001"], "1003") in (401, 403)
            start = pbx.log_file.stat().st_size
            issued = await http.post(f"/api/admin/users/{agent1['id']}/desk-password", headers=admin)
            assert issued.status_code == 201, issued.text
            new = issued.json()["password"]
            assert issued.json()["username"] == "1001" and new != secret["1001"]
            # The new password works at once, and alone; nothing of it in Asterisk's log.
            assert await asyncio.to_thread(_register, phone, "1001", new) == 200
            assert await asyncio.to_thread(_invite, phone, "1001", new, "1003") not in (401, 403)
            assert await asyncio.to_thread(_register, other, "1001", secret["1001"]) in (401, 403)
            assert new not in await asyncio.to_thread(_log_since, pbx, start)
            # Another new password ends the registration the previous one made.
            again = await http.post(f"/api/admin/users/{agent1['id']}/desk-password", headers=admin)
            assert again.status_code == 201, again.text
            await until(lambda: not _contacts(pbx, "1001"), timeout_s=5, what="1001's registration ended")
            assert await asyncio.to_thread(_register, phone, "1001", new) in (401, 403)
            secret["1001"] = again.json()["password"]  # for the unregistration below
            # The engine's next sync (a restart, AMI back) keeps the issued password: no lock comes back.
            await eng.desk_phones.sync()
            assert await asyncio.to_thread(_register, phone, "1001", secret["1001"]) == 200
    finally:
        _drop_locks(pbx)  # the session's PBX serves the other tests too
        for sip, user in ((phone, "1001"), (other, "1002")):
            await asyncio.to_thread(_register, sip, user, secret[user], expires=0)
            sip.close()


def _locks(pbx: ManagedPbx) -> str:
    """The desk phone locks in AstDB (the lines of keys <extension>-auth)."""
    return "\n".join(line for line in pbx.cli("database show cti_phone/auth").splitlines() if "-auth " in line)


def _drop_locks(pbx: ManagedPbx) -> None:
    for n in range(1001, 1010):
        pbx.cli(f"database del cti_phone/auth {n}-auth")


def _lock_passwords(pbx: ManagedPbx) -> dict[str, str]:
    """The locks' passwords by endpoint."""
    return {line.split("/")[-1].split("-auth")[0]: json.loads(line.split(":", 1)[1]).get("password", "")
            for line in _locks(pbx).splitlines()}


def _lock_originates(log: str) -> set[str]:
    """The Local channels the engine originated into cti-desk-lock (one an Originate)."""
    return set(re.findall(r"Local/\w+@cti-desk-lock-[0-9a-f]+", log))


async def _set_active(db: Database, agent_id: str, active: bool) -> None:
    async with db.session() as s:
        await s.execute(update(User).where(User.agent_id == agent_id).values(active=active))


async def test_the_engines_start_locks_what_the_crm_says_and_nothing_else(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    """A deactivation whose lock never reached Asterisk (AMI away): the next start, and the next AMI
    reconnection, write the locks the CRM holds, with one Originate for the 5 endpoints (it was one,
    plus one for each locked endpoint, each writing a new password). A lock already there keeps its
    password; a lock the CRM does not know (a database restored from before a deactivation) is left
    too, and so is a reactivated user's: nothing but a new password unlocks a phone. The lock's
    password is in no log."""
    secret = passwords(pbx.settings.state_dir, ["1002", "1003"])
    settings = engine_settings(pbx_settings, tmp_path)
    await seed(settings)
    db = Database.from_settings(settings)
    for agent in ("1002", "1004"):
        await _set_active(db, agent, False)
    await db.dispose()
    pbx.cli('database put cti_phone/auth 1003-auth {\\"auth_type\\":\\"userpass\\",\\"username\\":\\"1003\\",'
            '\\"password\\":\\"stale-lock\\"}')
    pbx.cli('database put cti_phone/auth 1004-auth {\\"auth_type\\":\\"userpass\\",\\"username\\":\\"1004\\",'
            '\\"password\\":\\"earlier-lock-of-1004\\"}')
    start = pbx.log_file.stat().st_size
    eng = Engine(settings, web=False, phone_kind="sip")
    sip = SipClient(pbx.settings.pbx.sip_port)
    try:
        # 1002 registered while no engine could lock it: the start's lock ends its registration.
        assert await asyncio.to_thread(_register, sip, "1002", secret["1002"]) == 200
        assert _contacts(pbx, "1002"), pbx.cli("pjsip show aor 1002")
        await eng.start()
        locks = _locks(pbx)
        assert "1002-auth" in locks and "1004-auth" in locks and "1003-auth" in locks, locks
        assert not _contacts(pbx, "1002"), pbx.cli("pjsip show aor 1002")
        lock_passwords = _lock_passwords(pbx)
        assert lock_passwords["1004"] == "earlier-lock-of-1004"  # there already: left as it is
        lock_password = lock_passwords["1002"]
        # The softphones' passwords share the family: both are read (a second AstDB line in
        # sorcery.conf was dropped by Asterisk, and every softphone failed), and clearing the
        # softphones' leaves the locks.
        await AstDbPhoneSecrets(eng.ami.client).put("web1003", "soft-phone-pass")
        assert "web1003/web1003" in pbx.cli("pjsip show auth web1003")
        await AstDbPhoneSecrets(eng.ami.client).clear()
        assert "web1003" not in pbx.cli("database show cti_phone/auth") and "1002-auth" in _locks(pbx)
        assert len(lock_password) >= 32
        assert await asyncio.to_thread(_register, sip, "1002", secret["1002"]) in (401, 403)
        assert await asyncio.to_thread(_register, sip, "1003", secret["1003"]) in (401, 403)  # never unlocked
        log = await asyncio.to_thread(_log_since, pbx, start)
        assert "@cti-desk-lock" in log and lock_password not in log
        assert len(_lock_originates(log)) == 1, sorted(_lock_originates(log))  # + the softphones' 2: other context
        # lock_only leaves what it does not lock as it is, inside its span or not (the start writes
        # the missing locks and keeps the others: no unlocked moment between).
        pbx.cli('database put cti_phone/auth 1005-auth {\\"auth_type\\":\\"userpass\\"}')
        kept = {"1002": lock_password, "1003": "stale-lock", "1004": "earlier-lock-of-1004", "1005": ""}
        await AstDbDeskLocks(eng.ami.client).lock_only(["1002", "1004"], (1001, 1004))
        assert _lock_passwords(pbx) == kept
        await AstDbDeskLocks(eng.ami.client).lock_only(["1002", "1004"], (1001, 1005))
        assert _lock_passwords(pbx) == kept
        # AMI comes back (Asterisk may have been replaced, a lock may have failed meanwhile): synced
        # again, the locks there already untouched; 1004, reactivated meanwhile, stays locked.
        await _set_active(eng.db, "1005", False)
        await _set_active(eng.db, "1004", True)
        connects = eng.ami.client.connects
        back = pbx.log_file.stat().st_size
        eng.ami.client._protocol.transport.close()  # type: ignore[union-attr]
        await until(lambda: eng.ami.client.connects > connects, what="AMI reconnected")
        await until(lambda: _lock_passwords(pbx)["1005"] != "", timeout_s=10,
                    what="the locks synced after the reconnection")
        assert _lock_passwords(pbx).keys() == {"1002", "1003", "1004", "1005"}
        assert _lock_passwords(pbx)["1002"] == lock_password
        assert _lock_passwords(pbx)["1004"] == "earlier-lock-of-1004"
        log = await asyncio.to_thread(_log_since, pbx, back)
        assert len(_lock_originates(log)) == 1, sorted(_lock_originates(log))
        assert lock_password not in log and _lock_passwords(pbx)["1005"] not in log
        assert await asyncio.to_thread(_register, sip, "1002", secret["1002"]) in (401, 403)
    finally:
        sip.close()
        await eng.stop()
        _drop_locks(pbx)


async def test_an_asterisk_still_reading_pjsip_conf_first_refuses_the_lock_and_the_engine_says_why(
        pbx_settings: Settings, tmp_path: Path) -> None:
    """`cti pbx up` on a running Asterisk only reloads, and a reload does not re-read sorcery.conf: an
    instance started before the lock's wizard existed reads pjsip.conf's password first, so a lock
    written to AstDB would change nothing. The dialplan checks which password PJSIP now reads and
    leaves the Originate unanswered; the engine's error names the fix (restart the instance)."""
    config = tmp_path / "config"
    shutil.copytree(pbx_settings.config_dir, config)
    current = (config / "asterisk" / "sorcery.conf").read_text()
    (config / "asterisk" / "sorcery.conf").write_text(  # what sorcery.conf was before the locks
        "[res_pjsip]\nauth = config,pjsip.conf,criteria=type=auth\nauth = astdb,cti_phone\n")
    settings = pbx_settings.model_copy(update={
        "config_dir": config, "state_dir": tmp_path / "state",
        "ami": pbx_settings.ami.model_copy(update={"port": free_port()}),
        "agi": pbx_settings.agi.model_copy(update={"port": free_port()}),
        "pbx": pbx_settings.pbx.model_copy(update={"instance": f"{pbx_settings.pbx.instance}d",
                                                    "sip_port": free_port(), "http_port": free_port(),
                                                    **rtp_range("own")})})
    own = ManagedPbx(settings)
    await asyncio.to_thread(own.up, progress=False)
    try:
        (config / "asterisk" / "sorcery.conf").write_text(current)
        await asyncio.to_thread(own.up, progress=False)  # running: the new files, and a core reload
        assert "cti-desk-lock" in own.cli("dialplan show cti-desk-lock")
        client = AmiClient(settings.ami, lambda evs: None)
        await client.start()
        try:
            await client.wait_connected(10)
            with pytest.raises(AmiActionFailed) as refused:
                await AstDbDeskLocks(client).lock("1001")
            said = str(refused.value)
            assert "desk phone 1001 not locked" in said and "cti pbx down && cti pbx up" in said, said
            # So does the start's sync (which leaves a lock there already as it is): the locks it
            # keeps are checked too, and the other windows still go through.
            own.cli('database put cti_phone/auth 1002-auth {\\"auth_type\\":\\"userpass\\",'
                    '\\"username\\":\\"1002\\",\\"password\\":\\"older-lock\\"}')
            with pytest.raises(AmiActionFailed) as refused:
                await AstDbDeskLocks(client).lock_only(["1002", "1104"], (1001, 1105))
            said = str(refused.value)
            assert "desk phones 1002 not locked" in said and "cti pbx down && cti pbx up" in said, said
            assert "1104" not in said and len(_lock_passwords(own)["1104"]) >= 32  # no pjsip.conf object: taken
        finally:
            await client.stop()
        await asyncio.to_thread(own.down)
        await asyncio.to_thread(own.up, progress=False)  # restarted: sorcery.conf read again
        client = AmiClient(settings.ami, lambda evs: None)
        await client.start()
        try:
            await client.wait_connected(10)
            await AstDbDeskLocks(client).lock("1001")
        finally:
            await client.stop()
        assert "1001-auth" in _locks(own)
    finally:
        await asyncio.to_thread(own.remove_instance)


async def test_a_locked_desk_phone_retrying_is_no_failed_login_alert_but_a_wrong_password_still_is(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    """A deactivated user's desk phone left plugged in keeps registering with its own password, which
    the lock refuses: every try was a SecurityFailure counted towards the supervisors' failed-login
    alert, so each such phone (behind one office address: all of them together) raised it again and
    again. We locked it on purpose: its refusals are logged, not counted. Wrong passwords for an
    unlocked phone from the same address still raise the alert, counting only themselves."""
    base = engine_settings(pbx_settings, tmp_path)
    settings = base.model_copy(update={"sip": base.sip.model_copy(update={"auth_failure_threshold": 3})})
    secret = passwords(pbx.settings.state_dir, ["1001", "1002"])
    alarms: list[AuthFailuresAlarm] = []
    failures: list[SecurityFailure] = []

    async def record(ev: Event) -> None:
        (alarms if isinstance(ev, AuthFailuresAlarm) else failures).append(ev)  # type: ignore[arg-type]

    def recorders(eng: Engine) -> None:
        eng.bus.subscribe(AuthFailuresAlarm, record, name="test.alarms")
        eng.bus.subscribe(SecurityFailure, record, name="test.failures")

    phone, other = SipClient(pbx.settings.pbx.sip_port), SipClient(pbx.settings.pbx.sip_port)
    try:
        async with running_engine(pbx, settings, phone_kind="sip", before_start=recorders) as eng, \
                httpx.AsyncClient(base_url=eng.url) as http:
            await _deactivate(http, "1001")
            for _ in range(6):  # the phone retries its registration (and its user tries a call)
                assert await asyncio.to_thread(_register, phone, "1001", secret["1001"]) in (401, 403)
            assert await asyncio.to_thread(_invite, phone, "1001", secret["1001"], "1003") in (401, 403)
            await until(lambda: len([f for f in failures if f.account == "1001"]) >= 7, timeout_s=5,
                        what="Asterisk's security events for the locked phone")
            await asyncio.sleep(0.5)
            assert alarms == [], "a locked phone's refused logins raised the failed-login alert"
            for n in range(3):  # someone guessing another phone's password from the same address
                assert await asyncio.to_thread(_register, other, "1002", f"wrong-{n}") in (401, 403)
            alarm = await until(lambda: alarms[0] if alarms else None, timeout_s=5, what="the alarm")
            assert (alarm.remote_address, alarm.count, alarm.accounts) == ("127.0.0.1", 3, ("1002",))
    finally:
        _drop_locks(pbx)
        for sip in (phone, other):
            sip.close()
