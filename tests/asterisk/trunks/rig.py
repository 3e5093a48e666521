"""Two real Asterisk instances: the call centre under test with trunks from a test trunks.yaml,
and a carrier (templates in carrier/asterisk) on its own ports that delivers calls to our DIDs
and plays the customers of the numbers we call (by number, or drawn by chance: the dialplan's
comments). Used by this package's tests and by bench/dialer.py's real run."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cti.pbx import ManagedPbx
from cti.settings import DEFAULT_CONFIG_DIR, Settings, load_settings
from tests.servers import free_port, rtp_range

CARRIER_TEMPLATES = Path(__file__).parent / "carrier" / "asterisk"
REG_USER, REG_USER_ENV, REG_SECRET_ENV = "ccreg", "CTI_TEST_TRUNK_REG_USER", "CTI_TEST_TRUNK_REG_SECRET"
DID_SALES, DID_HOTLINE, DID_REG = "861058880000", "861058880001", "861058880002"
CALLER_ID = "+861058880009"
OWNED_CALLER_ID = "+861058880077"  # carrier-dialer's caller_ids: what a campaign may present
# Two small flows next to the shipped demo flow: each DID must open its own.
FLOWS = {
    "sales-line.yaml": 'flow: sales-line\nentries: ["7001"]\nstart: bye\nnodes:\n  bye: {type: hangup}\n',
    "hotline.yaml": 'flow: hotline\nentries: ["7002"]\nstart: bye\nnodes:\n  bye: {type: hangup}\n',
}


def trunks_yaml(carrier_sip: int, reg_port: int, dialer_port: int) -> str:
    # carrier-dialer: the campaigns' customers (+8615...) through another border port of the
    # carrier, without carrier-ip's limit of one call.
    return f"""
default_region: CN
trunks:
  - name: carrier-ip
    kind: ip
    host: 127.0.0.1
    port: {carrier_sip}
    codecs: [alaw, ulaw]
    max_calls: 1
    dids:
      - {{number: "+{DID_SALES}", dnis: "7001", flow: sales-line}}
      - {{number: "+{DID_HOTLINE}", dnis: "7002", flow: hotline}}
  - name: carrier-reg
    kind: registration
    host: 127.0.0.1
    port: {reg_port}
    username_env: {REG_USER_ENV}
    secret_env: {REG_SECRET_ENV}
    dids:
      - {{number: "{DID_REG}", dnis: "7001", flow: sales-line}}
  - name: carrier-dialer
    kind: ip
    host: 127.0.0.1
    port: {dialer_port}
    codecs: [alaw, ulaw]
    max_calls: 100
    caller_ids: ["{OWNED_CALLER_ID}"]
outbound:
  routes:
    - {{prefix: "86", trunk: carrier-ip}}
    - {{prefix: "8615", trunk: carrier-dialer}}
    - {{prefix: "33", trunk: carrier-reg}}
  caller_id:
    default: "{CALLER_ID}"
  dial_timeout_s: 6
"""


@dataclass
class Rig:
    ours: ManagedPbx
    carrier: ManagedPbx
    settings: Settings

    def carrier_log(self) -> str:
        path = self.carrier.log_file
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def carrier_rig(base: Path, *, edit_config: Callable[[Path], None] | None = None,
                **ours: Any) -> Iterator[Rig]:
    """Both instances up (the carrier first), removed on exit; ``ours`` overrides our settings and
    ``edit_config`` may change our copy of the configuration before anything starts."""
    our_sip, carrier_sip, reg_port, dialer_port = (free_port(socket.SOCK_DGRAM) for _ in range(4))  # SIP over UDP
    reg_secret = secrets.token_urlsafe(16)
    carrier_cfg = base / "carrier-config"
    (carrier_cfg / "asterisk").mkdir(parents=True)
    for template in CARRIER_TEMPLATES.glob("*.conf"):
        text = (template.read_text().replace("%%ENGINE_SIP%%", str(our_sip)).replace("%%REG_PORT%%", str(reg_port))
                .replace("%%DIALER_PORT%%", str(dialer_port)).replace("%%REG_SECRET%%", reg_secret))
        (carrier_cfg / "asterisk" / template.name).write_text(text)
    carrier = ManagedPbx(load_settings(
        config_dir=carrier_cfg, state_dir=base / "carrier-state",
        ami={"port": free_port(), "secret": secrets.token_urlsafe(16)}, agi={"port": free_port()},
        pbx={"instance": f"carrier{os.getpid()}", "sip_port": carrier_sip, "agent_endpoints": 0,
             **rtp_range("carrier")}))

    ours_cfg = base / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, ours_cfg)
    (ours_cfg / "trunks.yaml").write_text(trunks_yaml(carrier_sip, reg_port, dialer_port))
    for name, text in FLOWS.items():
        (ours_cfg / "ivr" / name).write_text(text)
    if edit_config is not None:
        edit_config(ours_cfg)
    pbx = {"instance": f"trunks{os.getpid()}", "sip_port": our_sip, "agent_endpoints": 3, **rtp_range("trunks"),
           "log_verbose": 3, **ours.pop("pbx", {})}  # the tests read dialplan steps in its messages file
    settings = load_settings(
        config_dir=ours_cfg, state_dir=base / "state", recordings={"dir": base / "recordings"},
        database_url="sqlite+aiosqlite:///" + str(base / "cti.db"),
        ami={"port": free_port(), "secret": secrets.token_urlsafe(24)}, agi={"port": free_port()}, pbx=pbx,
        web={"port": free_port(), "session_secret": secrets.token_urlsafe(32)}, **ours)
    saved = {k: os.environ.get(k) for k in (REG_USER_ENV, REG_SECRET_ENV)}
    os.environ[REG_USER_ENV], os.environ[REG_SECRET_ENV] = REG_USER, reg_secret
    ours_pbx = ManagedPbx(settings)
    try:
        carrier.up(progress=False)
        ours_pbx.up(progress=False)
        yield Rig(ours=ours_pbx, carrier=carrier, settings=settings)
    finally:
        ours_pbx.remove_instance()
        carrier.remove_instance()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
