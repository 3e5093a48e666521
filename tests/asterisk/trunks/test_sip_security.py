"""Secured SIP on the real Asterisk (no loopback test trunk here): an INVITE from an unknown user
gets 401/403 and never becomes a call; agents' desk phones authenticate with their generated
password, not the old guessable one; repeated failed logins from one address become a security
event, a warning in the logs and a supervisor alert (audit row ``alert.security``)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import socket

import pytest
from sqlalchemy import select

from callcenter.engine import Engine
from crm_core.audit import AuditEntry
from cti.ami.events import SecurityFailure
from cti.events import Event
from cti.journey import CallArrived
from cti.security import AuthFailuresAlarm
from cti.sip_credentials import passwords
from tests.asterisk.trunks.rig import Rig
from tests.helpers import until


class SipClient:
    """Just enough SIP over UDP to send one request and read the final answer."""

    def __init__(self, port: int) -> None:
        self.server = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.local = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, user: str, target: str, *, auth: str = "", call_id: str = "",
                cseq: int = 1, expires: int | None = None) -> tuple[int, str]:
        host, port = self.server
        uri = f"sip:{target}@{host}:{port}"
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n") if method == "INVITE" else ""
        msg = (f"{method} {uri} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.local};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
               f"From: <sip:{user}@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
               f"To: <{uri}>\r\nCall-ID: {call_id or secrets.token_hex(12)}\r\nCSeq: {cseq} {method}\r\n"
               f"Contact: <sip:{user}@127.0.0.1:{self.local}>\r\nMax-Forwards: 70\r\n"
               + (f"Authorization: {auth}\r\n" if auth else "")
               + (f"Expires: {expires}\r\n" if expires is not None else "")
               + ("Content-Type: application/sdp\r\n" if sdp else "")
               + f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
        self.sock.sendto(msg.encode(), self.server)
        while True:  # skip 100 Trying
            data = self.sock.recv(65535).decode(errors="replace")
            code = int(data.split(" ", 2)[1])
            if code >= 200:
                if method == "INVITE":  # ACK the final answer so Asterisk stops retransmitting it
                    self.sock.sendto(self._ack(msg, data).encode(), self.server)
                return code, data

    @staticmethod
    def _ack(request: str, response: str) -> str:
        def header(text: str, name: str) -> str:
            found = re.search(rf"^{name}: (.*)$", text, re.M | re.I)
            return found.group(1).strip() if found else ""

        first = request.split("\r\n", 1)[0].replace("INVITE", "ACK", 1)
        cseq = header(request, "CSeq").split()[0]
        return (f"{first}\r\nVia: {header(request, 'Via')}\r\nFrom: {header(request, 'From')}\r\n"
                f"To: {header(response, 'To')}\r\nCall-ID: {header(request, 'Call-ID')}\r\n"
                f"CSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def digest(challenge: str, *, user: str, password: str, method: str, uri: str) -> str:
    """The Authorization header answering a WWW-Authenticate challenge."""
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge.split("Digest", 1)[1]))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    cnonce, nc = secrets.token_hex(4), "00000001"
    if "auth" in params.get("qop", ""):
        response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        extra = ""
    opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5{extra}{opaque}')


def _challenge(response: str) -> str:
    found = re.search(r"^WWW-Authenticate: (.*)$", response, re.M | re.I)
    assert found, response
    return found.group(1)


def _register(sip: SipClient, user: str, password: str, *, expires: int | None = None) -> int:
    """``expires`` 0 removes the contact (None: the registrar's default)."""
    code, answer = sip.request("REGISTER", user, user, expires=expires)
    assert code == 401, answer
    uri = f"sip:{user}@127.0.0.1:{sip.server[1]}"
    auth = digest(_challenge(answer), user=user, password=password, method="REGISTER", uri=uri)
    return sip.request("REGISTER", user, user, auth=auth, cseq=2, expires=expires)[0]


async def test_an_invite_from_an_unknown_user_never_becomes_a_call(
        rig: Rig, engine: tuple[Engine, list[Event]]) -> None:
    _, seen = engine
    sip = SipClient(rig.settings.pbx.sip_port)
    try:
        # bench-appqueue: the benchmark's unauthenticated endpoint, absent without sip.loopback_test_trunk
        for user in ("anonymous", "intruder", "bench-appqueue", ""):
            code, answer = await asyncio.to_thread(sip.request, "INVITE", user or "anonymous", "7001")
            assert code in (401, 403), answer
            if code == 401:  # answering the (artificial) challenge with a guess changes nothing
                uri = f"sip:7001@127.0.0.1:{sip.server[1]}"
                auth = digest(_challenge(answer), user=user or "anonymous", password="guess",
                              method="INVITE", uri=uri)
                code, answer = await asyncio.to_thread(sip.request, "INVITE", user or "anonymous", "7001",
                                                       auth=auth, cseq=2)
                assert code in (401, 403), answer
    finally:
        sip.close()
    await asyncio.sleep(1.0)
    assert not [e for e in seen if isinstance(e, CallArrived)]
    assert "0 active calls" in rig.ours.cli("core show channels count")


async def test_agents_authenticate_with_their_generated_password_only(rig: Rig) -> None:
    generated = passwords(rig.settings.state_dir, ["1001"])["1001"]
    assert generated != "agent1001" and len(generated) >= 20
    sip = SipClient(rig.settings.pbx.sip_port)
    try:
        assert await asyncio.to_thread(_register, sip, "1001", "agent1001") in (401, 403)
        assert await asyncio.to_thread(_register, sip, "1001", generated) == 200
    finally:
        sip.close()


async def test_repeated_failures_from_one_address_alert_the_supervisors(
        rig: Rig, engine: tuple[Engine, list[Event]], caplog: pytest.LogCaptureFixture) -> None:
    eng, seen = engine
    caplog.set_level(logging.WARNING, logger="cti.security")
    threshold = rig.settings.sip.auth_failure_threshold
    sip = SipClient(rig.settings.pbx.sip_port)
    try:
        for n in range(threshold):
            await asyncio.to_thread(_register, sip, "1002", f"wrong-{n}")
    finally:
        sip.close()
    alarm = await until(lambda: next((e for e in seen if isinstance(e, AuthFailuresAlarm)), None),
                        what="the auth-failure alarm")
    failures = [e for e in seen if isinstance(e, SecurityFailure)]
    assert len(failures) >= threshold and {f.service for f in failures} == {"PJSIP"}
    assert (alarm.remote_address, alarm.count, alarm.accounts) == ("127.0.0.1", threshold, ("1002",))
    assert any("failed PJSIP logins from 127.0.0.1" in r.getMessage() for r in caplog.records)
    await eng.bus.drain()  # type: ignore[attr-defined]

    async def audit_rows() -> list[AuditEntry]:
        async with eng.db.session() as s:
            return list(await s.scalars(select(AuditEntry).where(AuditEntry.action == "alert.security")))

    rows = await audit_rows()
    assert [(r.target, r.detail["count"]) for r in rows] == [("address:127.0.0.1", threshold)]
