"""Which phone the ACD rings is a per-agent setting an administrator changes (users.phone_kind):
the browser softphone (webrtc, the default of `cti run`), a registered SIP desk phone, or the
simulated phone; and the Asterisk side of the softphone is provisioned by `cti pbx up`."""

from __future__ import annotations

from pathlib import Path

import httpx

from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import engine_settings, running_engine


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
