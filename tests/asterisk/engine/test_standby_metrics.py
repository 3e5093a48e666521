"""Two nodes on one Redis and the session's real Asterisk, scraped by a real Prometheus: the routing
node (an engine in this process) exports ``cti_routing`` 1, the standby (``cti run`` in a process of
its own, waiting for the routing lease) answers the scrape too, with ``cti_routing`` 0, and
``/healthz`` 503 naming its role; the shipped alerts stay quiet. The routing node stops: the standby
takes over, its gauge turns 1 in Prometheus and its web port, which its standby listener held,
serves the console's own app (``/healthz`` 200 as ever) with no port clash. Before, a waiting standby
served nothing, so Prometheus could not tell it from a dead node."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
import uuid
from pathlib import Path

import httpx

from callcenter.engine import Engine
from cti.pbx import ManagedPbx
from cti.redis_lease import routing_holder
from cti.settings import MetricsSettings, Settings
from tests.asterisk.engine.test_prometheus import alerts, eventually, prometheus_server
from tests.helpers import engine_settings, hang_up_all, seed, until
from tests.redis.cti.standby import waiting_standby
from tests.servers import free_port


def _standby_env(pbx_settings: Settings, tmp: Path, node: str, redis_url: str, web: int, token: str) -> dict[str, str]:
    """``cti run``'s environment for a second node beside the routing one: the same Asterisk (managed,
    left alone while another node routes), its AMI user and FastAGI address; its own web port."""
    s = pbx_settings
    return {k: v for k, v in os.environ.items() if not k.startswith("CTI_")} | {
        "CTI_BUS": "redis", "CTI_REDIS_URL": redis_url, "CTI_NODE_ID": node, "CTI_ROUTING_STANDBY": "true",
        "CTI_PBX__MODE": "managed", "CTI_PBX__INSTANCE": s.pbx.instance, "CTI_PBX__ROOTFS": str(s.pbx.rootfs),
        "CTI_PBX__SIP_PORT": str(s.pbx.sip_port), "CTI_PBX__HTTP_PORT": str(s.pbx.http_port),
        "CTI_PBX__AGENT_ENDPOINTS": str(s.pbx.agent_endpoints),
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'standby.db'}",
        "CTI_STATE_DIR": str(tmp / "state"), "CTI_RECORDINGS__DIR": str(tmp / "recordings"),
        "CTI_AMI__PORT": str(s.ami.port), "CTI_AMI__SECRET": s.ami.secret.get_secret_value(),
        "CTI_AGI__PORT": str(s.agi.port), "CTI_WEB__PORT": str(web),
        "CTI_WEB__SESSION_SECRET": secrets.token_urlsafe(32), "CTI_METRICS__TOKEN": token,
    }


def _health(address: str) -> httpx.Response:
    return httpx.get(f"http://{address}/healthz", timeout=5)


async def quiet(http: httpx.AsyncClient, *names: str, timeout_s: float = 15.0) -> None:
    """The named alerts inactive (a rule may go pending for an evaluation while the first scrapes of
    the two targets, or a takeover's, land: Prometheus evaluates every second here)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = await alerts(http)
        if all(state[n] == "inactive" for n in names):
            return
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.5)


async def test_prometheus_tells_the_routing_node_from_a_standby_and_sees_the_takeover(
        pbx: ManagedPbx, pbx_settings: Settings, redis_url: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    token = secrets.token_urlsafe(32)
    settings = engine_settings(pbx_settings, tmp_path / "a").model_copy(update={
        "bus": "redis", "redis_url": redis_url, "node_id": f"a-{tag}", "metrics": MetricsSettings(token=token)})
    await seed(settings)
    active = Engine(settings)
    await active.start()
    active_stopped = False
    standby_web = free_port()
    proc = None
    try:
        proc, seen = await waiting_standby(
            _standby_env(pbx_settings, tmp_path, f"b-{tag}", redis_url, standby_web, token), f"a-{tag}")
        a, b = f"127.0.0.1:{settings.web.port}", f"127.0.0.1:{standby_web}"
        health = _health(b)
        assert health.status_code == 503, health.text
        assert health.json()["role"] == "standby" and health.json()["routing_node"] == f"a-{tag}", health.text
        with prometheus_server(tmp_path, [a, b], token) as prom:
            async with httpx.AsyncClient(base_url=prom, timeout=5) as http:
                await eventually(http, 'sum(up{job="cti"})', lambda v: v == 2)
                assert await eventually(http, f'cti_routing{{instance="{a}"}}', lambda v: v == 1) == 1
                assert await eventually(http, f'cti_routing{{instance="{b}"}}', lambda v: v == 0) == 0
                await eventually(http, f'process_resident_memory_bytes{{instance="{b}"}}', lambda v: v > 0)
                await eventually(http, f'cti_ami_connected{{instance="{a}"}}', lambda v: v == 1)
                # The standby exports no AMI link of its own: CtiAmiDown does not fire for it.
                assert await eventually(http, f'count(cti_ami_connected{{instance="{b}"}}) or vector(0)',
                                        lambda v: True) == 0
                await quiet(http, "CtiEngineDown", "CtiNoNodeRoutes", "CtiNodeDown", "CtiAmiDown")

                # The routing node stops (its lease released): the standby takes over and starts.
                await hang_up_all(pbx, active.ami.model)
                await active.stop()
                active_stopped = True
                await eventually(http, f'cti_routing{{instance="{b}"}}', lambda v: v == 1, timeout_s=60)
                await until(lambda: _health(b).status_code == 200, timeout_s=60,
                            what="the console's own app on the standby's web port")
                health = _health(b)
                assert health.json()["status"] == "ok", health.text
                assert await routing_holder(redis_url) == f"b-{tag}"
                await eventually(http, f'cti_ami_connected{{instance="{b}"}}', lambda v: v == 1, timeout_s=30)
                # Pending during the takeover's gap (no node routed for a moment), quiet again once it routes.
                await quiet(http, "CtiNoNodeRoutes", "CtiEngineDown", "CtiAmiDown")
        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
        out = "".join(seen) + rest.decode(errors="replace")
        assert proc.returncode == 0, out
        assert "Traceback" not in out and "in use" not in out, out
        assert f"routing lease acd-router taken over by b-{tag} from a-{tag}" in out, out
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        if not active_stopped:
            await hang_up_all(pbx, active.ami.model)
            await active.stop()
