"""A registration trunk's secret holding ``;`` (and a backslash) is read whole by a real Asterisk: written
as it was, pjsip.conf's ``password = ab;cd`` was ``ab`` to Asterisk's parser (the go-live trial), and the
trunk could never authenticate. ``pjsip show auth`` shows the value Asterisk holds."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import pytest

from cti.pbx import ManagedPbx
from cti.settings import DEFAULT_CONFIG_DIR, load_settings
from tests.servers import free_port, rtp_range

TRUNKS = """
trunks:
  - {{name: semi, kind: registration, host: 127.0.0.1, port: {port}, username_env: CTI_TEST_SEMI_USER,
     secret_env: CTI_TEST_SEMI_SECRET}}
"""


def test_a_secret_with_semicolons_and_a_backslash_reaches_asterisk_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"{secrets.token_hex(4)};--x;y\\;z\\"
    monkeypatch.setenv("CTI_TEST_SEMI_USER", "acct;42")
    monkeypatch.setenv("CTI_TEST_SEMI_SECRET", secret)
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    (config / "trunks.yaml").write_text(TRUNKS.format(port=free_port()))
    settings = load_settings(config_dir=config, state_dir=tmp_path / "state", ami={"port": free_port()},
                             agi={"port": free_port()},
                             pbx={"instance": f"semi{os.getpid()}", "sip_port": free_port(), **rtp_range("own"),
                                  "agent_endpoints": 1, "http_port": free_port()})
    pbx = ManagedPbx(settings)
    try:
        pbx.up(progress=False)
        shown = pbx.cli("pjsip show auth semi-auth")
        password = re.search(r"^\s*password\s*:\s*(.*?)\s*$", shown, re.MULTILINE)
        username = re.search(r"^\s*username\s*:\s*(.*?)\s*$", shown, re.MULTILINE)
        whole = password is not None and password.group(1) == secret  # compared, never shown: a secret
        assert whole, "Asterisk holds another password than the trunk's"
        assert username and username.group(1) == "acct;42", shown
        registration = pbx.cli("pjsip show registration semi")
        assert "sip:acct;42@127.0.0.1" in registration, registration
    finally:
        pbx.remove_instance()
