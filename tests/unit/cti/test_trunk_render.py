"""Trunks rendered into pjsip.conf and extensions.conf text; the managed PBX's agent passwords."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cti.errors import ConfigError
from cti.pbx_config import agent_endpoints
from cti.settings import load_settings
from cti.trunk_render import dialplan, pjsip_sections
from cti.trunks import TrunksConfig

CFG = TrunksConfig.model_validate({
    "trunks": [
        {"name": "sim", "kind": "simulator", "max_calls": 7},
        {"name": "lan", "kind": "ip", "host": "192.0.2.10", "port": 5080, "codecs": ["alaw"],
         "dids": [{"number": "+861058880000", "dnis": "5000"}, {"number": "861058880001", "dnis": "5001"}]},
        {"name": "reg", "kind": "registration", "host": "sip.example.net", "transport": "tls", "srtp": True,
         "username_env": "REG_USER", "secret_env": "REG_SECRET", "max_calls": 2},
    ],
    "outbound": {"routes": [{"prefix": "86", "trunk": "lan"}, {"prefix": "8699", "trunk": "sim"},
                            {"prefix": "33", "trunk": "reg"}],
                 "caller_id": {"default": "+861058880000"}, "dial_timeout_s": 25},
})
ENV = {"REG_USER": "acct42", "REG_SECRET": "s3cret-from-env"}


def _section(text: str, name: str, kind: str) -> str:
    blocks = text.split("\n\n")
    return next(b for b in blocks if f"[{name}]" in b and f"type = {kind}" in b)


def test_ip_trunk_is_identified_by_address_and_port() -> None:
    text = pjsip_sections(CFG, ENV, tls_available=True)
    assert "match = 192.0.2.10:5080" in _section(text, "lan", "identify")
    endpoint = _section(text, "lan", "endpoint")
    assert "context = cti-from-lan" in endpoint and "allow = alaw" in endpoint and "outbound_auth" not in endpoint
    assert "contact = sip:192.0.2.10:5080" in _section(text, "lan", "aor")
    assert "[sim]" not in text  # the simulator is dialplan only


def test_registration_trunk_takes_its_account_from_the_environment() -> None:
    text = pjsip_sections(CFG, ENV, tls_available=True)
    auth = _section(text, "reg-auth", "auth")
    assert "username = acct42" in auth and "password = s3cret-from-env" in auth
    reg = _section(text, "reg", "registration")
    assert "server_uri = sip:sip.example.net:5060;transport=tls" in reg and "transport = transport-tls" in reg
    assert "outbound_auth = reg-auth" in reg and "line = yes" in reg
    assert "media_encryption = sdes" in _section(text, "reg", "endpoint")
    with pytest.raises(ConfigError, match="REG_USER and REG_SECRET"):
        pjsip_sections(CFG, {}, tls_available=True)
    with pytest.raises(ValueError, match=r"sip\.tls"):
        pjsip_sections(CFG, ENV, tls_available=False)


def test_dialplan_routes_limits_and_presents_the_caller_id() -> None:
    text = dialplan(CFG)
    assert "exten => _86X.,1,Goto(cti-trunk-lan,${EXTEN},1)" in text
    assert "exten => _8699X.,1,Goto(cti-trunk-sim,${EXTEN},1)" in text
    assert " same => n,Congestion(5)" in text.split("[cti-routes]")[1].split("[cti-trunk-")[0]  # no catch-all
    sim = text.split("[cti-trunk-sim]")[1].split("\n\n")[0]
    assert "Set(GROUP(cti-trunks)=sim)" in sim and "GROUP_COUNT(sim@cti-trunks)} > 7]?full" in sim
    assert "Dial(Local/${EXTEN}@cti-sim-customer,25)" in sim
    lan = text.split("[cti-trunk-lan]")[1].split("\n\n")[0]
    assert "Dial(PJSIP/+${EXTEN}@lan,25)" in lan and "+861058880000" in lan and "CALLERID(num)" in lan
    inbound = text.split("[cti-from-lan]")[1].split("\n\n")[0]
    for form in ("861058880000", "+861058880000", "861058880001", "+861058880001"):
        assert f"exten => {form},1,Goto(cti-inbound,{'5000' if form.endswith('0') else '5001'},1)" in inbound
    assert "Hangup(1)" in inbound  # any other number: unallocated


def test_agent_passwords_are_random_per_installation_and_stable(tmp_path: Path) -> None:
    first = agent_endpoints(3, tmp_path)
    assert "password = agent100" not in first
    assert agent_endpoints(3, tmp_path) == first  # the same installation keeps its passwords
    other = agent_endpoints(3, tmp_path / "other")
    assert other != first
    assert (tmp_path / "sip-credentials.json").stat().st_mode & 0o777 == 0o600
    assert "media_encryption = sdes" in agent_endpoints(1, tmp_path, srtp=True)


def test_the_loopback_test_trunk_says_it_is_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """sip.loopback_test_trunk takes unauthenticated calls from 127.0.0.1: opt-in, and it says so."""
    from cti.pbx_config import _sip_values

    with caplog.at_level(logging.WARNING, logger="cti.pbx_config"):
        off = _sip_values(load_settings(state_dir=tmp_path), tmp_path, "/x")
        assert off["loopback_test_trunk"] == "" and not caplog.records
        on = _sip_values(load_settings(state_dir=tmp_path, sip={"loopback_test_trunk": True}), tmp_path, "/x")
    assert "[sipp-trunk]" in on["loopback_test_trunk"]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "loopback_test_trunk is on" in caplog.records[0].getMessage()
