"""Which phone the ACD rings is a per-agent setting an administrator changes (users.phone_kind):
the browser softphone (webrtc, the default of `cti run`), a registered SIP desk phone, or the
simulated phone; and the Asterisk side of the softphone is provisioned by `cti pbx up`."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx

from cti.ami.manager import AmiClient
from cti.ami.phone_secrets import AstDbPhoneSecrets
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import engine_settings, running_engine, until


async def test_admin_sets_an_agents_phone_kind_and_the_acd_rings_that_phone(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    settings = engine_settings(pbx_settings, tmp_path)
    async with running_engine(pbx, settings, phone_kind="webrtc") as eng, \
            httpx.AsyncClient(base_url=eng.url) as http:
        admin = (await http.post("/api/auth/login", json={"username": "admin", "password": "admin-demo-1"})).json()
        agent = (await http.post("/api/auth/login", json={"username": "agent1", "password": "agent1-demo"})).json()
        http.cookies.clear()
        as_admin = {"Authorization": f"Bearer {admin['token']}"}
        as_agent = {"Authorization": f"Bearer {agent['token']}"}
        url = "/api/admin/agents/1001/phone"

        assert (await http.get(url, headers=as_admin)).json()["kind"] is None  # the engine's default
        assert (await http.put(url, json={"kind": "sip"}, headers=as_agent)).status_code == 403
        assert (await http.put(url, json={"kind": "fax"}, headers=as_admin)).status_code == 422
        assert (await http.put("/api/admin/agents/nobody/phone", json={"kind": "sim"},
                               headers=as_admin)).status_code == 404

        dials, console = {}, {}
        for kind in (None, "sip", "sim", "webrtc"):
            assert (await http.put(url, json={"kind": kind}, headers=as_admin)).json()["kind"] == kind
            await eng.desk.login_queues("1001", [])
            phone = eng.acd.phones["1001"]
            dials[kind] = (phone.kind, phone.dial)
            await eng.desk.logout_queues("1001", [])
            # The console learns which phone rings; only the browser phone gets a SIP password.
            creds = (await http.get("/api/phone/credentials", headers=as_agent)).json()
            assert "kind" in creds, creds
            console[kind] = (creds["kind"], bool(creds["password"]))
        assert console == {None: ("webrtc", True), "sip": ("sip", False), "sim": ("sim", False),
                           "webrtc": ("webrtc", True)}
        assert dials == {None: ("webrtc", "PJSIP/web1001"), "sip": ("sip", "PJSIP/1001"),
                         "sim": ("sim", "Local/1001@cti-sim-phone/n"), "webrtc": ("webrtc", "PJSIP/web1001")}


def test_pbx_up_provisions_the_webrtc_side(pbx: ManagedPbx) -> None:
    status = pbx.cli("http show status")
    assert f"Bound to 127.0.0.1:{pbx.settings.pbx.http_port}" in status and "/ws => Asterisk HTTP WebSocket" in status
    transports = pbx.cli("pjsip show transports")
    assert "transport-ws" in transports and "transport-wss" in transports
    endpoint = pbx.cli("pjsip show endpoint web1001")
    for line in ("webrtc                             : yes", "dtmf_mode                          : rfc4733",
                 "media_encryption                   : dtls", "ice_support                        : true"):
        assert line in endpoint, line
    assert "ulaw" in endpoint and "opus" in endpoint  # this build has codec_opus
    assert "ICE support:     Yes" in pbx.cli("rtp show settings")
    # No password before an agent logs in: the auth object exists only in AstDB, while logged in.
    assert "Unable to find object web1001" in pbx.cli("pjsip show auth web1001")



def _log_since(pbx: ManagedPbx, start: int) -> str:
    with open(pbx.log_file, "rb") as fh:
        fh.seek(start)
        return fh.read().decode(errors="replace")


async def _astdb_until(pbx: ManagedPbx, holds: bool, text: str) -> str:
    for _ in range(100):
        entries = pbx.cli("database show cti_phone/auth")
        if (text in entries) is holds:
            break
        await asyncio.sleep(0.05)
    return entries


async def _logged(pbx: ManagedPbx, start: int, exten: str) -> str:
    """The messages file since ``start`` once Asterisk's logger thread has written the end of
    ``exten``@cti-phone-secret's run ("Spawn extension ... exited", after its Set() line): waited
    for, where a fixed 0.5 s was slept and the file read once (a loaded machine writes it later)."""
    last = f"Spawn extension (cti-phone-secret, {exten}, "

    def written() -> str:
        text = _log_since(pbx, start)
        return text if last in text else ""

    log: str = await until(written, 10, f"Asterisk's log of {exten}@cti-phone-secret")
    return log


async def test_a_softphone_password_reaches_astdb_but_not_asterisks_log(pbx: ManagedPbx) -> None:
    """The dialplan that writes the password (cti-phone-secret) ran Set() with it in the arguments,
    which Asterisk logs at verbose 3 into its messages file (owned by the PBX's uid, readable by
    others): whoever read it registered as the agent's browser phone."""
    client = AmiClient(pbx.settings.ami, lambda evs: None)
    await client.start()
    try:
        await client.wait_connected(10)
        password = secrets.token_urlsafe(24)
        start = pbx.log_file.stat().st_size
        await AstDbPhoneSecrets(client).put("web1004", password)
        stored = await _astdb_until(pbx, True, password)
        assert f'"username":"web1004","password":"{password}"' in stored, stored
        log = await _logged(pbx, start, "put")
        assert "[put@cti-phone-secret:1] Set(" in log and password not in log  # its lines are logged, not the password
        await AstDbPhoneSecrets(client).delete("web1004")
        assert "web1004" not in await _astdb_until(pbx, False, "web1004")
        log = await _logged(pbx, start, "del")
        assert "[del@cti-phone-secret:1] Set(" in log and password not in log  # nor the deleted entry's value
    finally:
        await client.stop()


async def test_a_fenced_node_leaves_the_routing_nodes_softphone_passwords(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    """A node that lost the routing lease (it stalled; another node routes and serves the consoles
    now) stops. Its stop cleared the whole AstDB family of softphone passwords, those the routing
    node had issued since included: each of its agents' browser phones failed its next REGISTER."""
    settings = engine_settings(pbx_settings, tmp_path)
    password = secrets.token_urlsafe(24)
    async with running_engine(pbx, settings, phone_kind="webrtc") as eng:
        await AstDbPhoneSecrets(eng.ami.client).put("web1005", password)  # issued by the routing node
        await _astdb_until(pbx, True, password)
        eng._lease_lost("the-other-node")
    try:
        assert password in await _astdb_until(pbx, False, password)
    finally:
        client = AmiClient(pbx.settings.ami, lambda evs: None)
        await client.start()
        try:
            await client.wait_connected(10)
            await AstDbPhoneSecrets(client).delete("web1005")
        finally:
            await client.stop()
