"""sip.tls on: the managed Asterisk listens for SIP over TLS on sip.tls_port with a self-signed
certificate generated into <state_dir>/sip-tls (none configured), and agent endpoints offer SRTP."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from cti.pbx import ManagedPbx
from cti.settings import load_settings
from tests.servers import free_port, rtp_range


def test_tls_transport_with_a_generated_certificate_and_srtp(tmp_path: Path) -> None:
    tls_port = free_port()
    settings = load_settings(
        state_dir=tmp_path / "state", ami={"port": free_port(), "secret": secrets.token_urlsafe(16)},
        agi={"port": free_port()},
        pbx={"instance": f"tls{os.getpid()}", "sip_port": free_port(), "agent_endpoints": 1,
             **rtp_range("tls")},
        sip={"tls": True, "tls_port": tls_port, "srtp": True})
    pbx = ManagedPbx(settings)
    try:
        pbx.up(progress=False)
        assert (tmp_path / "state" / "sip-tls" / "cert.pem").exists()
        assert "transport-tls" in pbx.cli("pjsip show transports")
        assert "sdes" in pbx.cli("pjsip show endpoint 1001")
        hello = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_port}", "-brief"],
                               input="", capture_output=True, text=True, timeout=20, check=False)
        assert "CONNECTION ESTABLISHED" in hello.stderr, hello.stderr
        assert "Peer certificate: CN = cti-engine-pbx" in hello.stderr, hello.stderr
    finally:
        pbx.remove_instance()
