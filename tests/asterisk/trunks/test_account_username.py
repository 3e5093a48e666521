"""Every character RFC 3261 allows in a SIP URI's user part, which `cti config check` now accepts in a
registration trunk's username (tests/unit/cti/test_trunk_usernames.py refuses the others), reaches a
real Asterisk whole: as the auth username, and as the user of the registration's client URI, which
res_pjsip_outbound_registration parses (an unparsable one, such as ``acct<x@y>`` rendered without the
check, leaves the registration out: ``pjsip show registration`` says "Unable to find object")."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from cti.pbx import ManagedPbx
from cti.settings import DEFAULT_CONFIG_DIR, load_settings
from tests.servers import free_port, rtp_range

TRUNKS = """
trunks:
  - {{name: users, kind: registration, host: 127.0.0.1, port: {port}, username_env: CTI_TEST_USER_USER,
     secret_env: CTI_TEST_USER_SECRET}}
"""
USERNAME = "Ab9-_.!~*'()&=+$,;?/%41"


def test_a_username_of_every_user_part_character_reaches_asterisk_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_TEST_USER_USER", USERNAME)
    monkeypatch.setenv("CTI_TEST_USER_SECRET", "s3cret")
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    (config / "trunks.yaml").write_text(TRUNKS.format(port=free_port()))
    settings = load_settings(config_dir=config, state_dir=tmp_path / "state", ami={"port": free_port()},
                             agi={"port": free_port()},
                             pbx={"instance": f"users{os.getpid()}", "sip_port": free_port(), **rtp_range("own"),
                                  "agent_endpoints": 1, "http_port": free_port()})
    pbx = ManagedPbx(settings)
    try:
        pbx.up(progress=False)
        shown = pbx.cli("pjsip show auth users-auth")
        username = re.search(r"^\s*username\s*:\s*(.*?)\s*$", shown, re.MULTILINE)
        assert username and username.group(1) == USERNAME, shown
        registration = pbx.cli("pjsip show registration users")
        assert f"sip:{USERNAME}@127.0.0.1" in registration, registration
    finally:
        pbx.remove_instance()
