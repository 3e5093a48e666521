"""Two real Asterisk instances: the call centre under test with trunks from a test trunks.yaml,
and a carrier (templates in carrier/asterisk) on its own ports that delivers calls to our DIDs
and answers, rings out or is busy for the numbers we call."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import DEFAULT_CONFIG_DIR, Settings, load_settings
from tests.helpers import engine_settings, running_engine
from tests.servers import free_port, run_slot

CARRIER_TEMPLATES = Path(__file__).parent / "carrier" / "asterisk"
REG_USER, REG_USER_ENV, REG_SECRET_ENV = "ccreg", "CTI_TEST_TRUNK_REG_USER", "CTI_TEST_TRUNK_REG_SECRET"
DID_SALES, DID_HOTLINE, DID_REG = "861058880000", "861058880001", "861058880002"
CALLER_ID = "+861058880009"
# Two small flows next to the shipped demo flow: each DID must open its own.
FLOWS = {
    "sales-line.yaml": 'flow: sales-line\nentries: ["7001"]\nstart: bye\nnodes:\n  bye: {type: hangup}\n',
    "hotline.yaml": 'flow: hotline\nentries: ["7002"]\nstart: bye\nnodes:\n  bye: {type: hangup}\n',
}


def trunks_yaml(carrier_sip: int, reg_port: int) -> str:
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
outbound:
  routes:
    - {{prefix: "86", trunk: carrier-ip}}
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


def _rtp(offset: int) -> dict[str, int]:
    start = 50000 + run_slot(100) * 60 + offset
    return {"rtp_start": start, "rtp_end": start + 29}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("trunks")
    our_sip, carrier_sip, reg_port, reg_secret = free_port(), free_port(), free_port(), secrets.token_urlsafe(16)

    carrier_cfg = base / "carrier-config"
    (carrier_cfg / "asterisk").mkdir(parents=True)
    for template in CARRIER_TEMPLATES.glob("*.conf"):
        text = (template.read_text().replace("%%ENGINE_SIP%%", str(our_sip)).replace("%%REG_PORT%%", str(reg_port))
                .replace("%%REG_SECRET%%", reg_secret))
        (carrier_cfg / "asterisk" / template.name).write_text(text)
    carrier = ManagedPbx(load_settings(
        config_dir=carrier_cfg, state_dir=base / "carrier-state",
        ami={"port": free_port(), "secret": secrets.token_urlsafe(16)}, agi={"port": free_port()},
        pbx={"instance": f"carrier{os.getpid()}", "sip_port": carrier_sip, "agent_endpoints": 0, **_rtp(0)}))

    ours_cfg = base / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, ours_cfg)
    (ours_cfg / "trunks.yaml").write_text(trunks_yaml(carrier_sip, reg_port))
    for name, text in FLOWS.items():
        (ours_cfg / "ivr" / name).write_text(text)
    settings = load_settings(
        config_dir=ours_cfg, state_dir=base / "state",
        database_url="sqlite+aiosqlite:///" + str(base / "cti.db"),
        ami={"port": free_port(), "secret": "test-secret"}, agi={"port": free_port()},
        pbx={"instance": f"trunks{os.getpid()}", "sip_port": our_sip, "agent_endpoints": 3, **_rtp(30)},
        web={"port": free_port(), "session_secret": secrets.token_urlsafe(32)},
        sip={"auth_failure_threshold": 3})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(REG_USER_ENV, REG_USER)
        mp.setenv(REG_SECRET_ENV, reg_secret)
        ours = ManagedPbx(settings)
        try:
            carrier.up(progress=False)
            ours.up(progress=False)
            yield Rig(ours=ours, carrier=carrier, settings=settings)
        finally:
            ours.remove_instance()
            carrier.remove_instance()


@pytest.fixture
async def engine(rig: Rig, tmp_path: Any) -> AsyncIterator[tuple[Engine, list[Event]]]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    settings = engine_settings(rig.settings, tmp_path)
    subscribe = lambda eng: eng.bus.subscribe(Event, record, name="test.recorder")  # noqa: E731
    async with running_engine(rig.ours, settings, before_start=subscribe, answer_after_s=0.5) as eng:
        yield eng, seen
    rig.carrier.cli("channel request hangup all")
