"""A standby node (``cti run`` waiting for the routing lease another node holds) is visible to
monitoring: its web port answers ``/healthz`` with 503 and a body naming its role (a load balancer
sends no console user to it), and ``/metrics`` (behind the token, on the web port and on
``metrics.port``) carries ``cti_routing`` 0 and the process's own figures, but none of the routing
node's (``cti_ami_connected`` 0 would page for a healthy standby). Once it holds the lease its gauge
is 1 and its role "starting" until its start is done. Before, it served nothing: a healthy standby
and a dead node looked the same. A real redis-server; no Asterisk answers this node's AMI, so after
the takeover it stays in its start (the asterisk tier's test_standby_metrics.py goes on from there)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import uuid
from pathlib import Path

import httpx

from cti.redis_lease import RedisLease, RoutingLease
from tests.helpers import until
from tests.redis.cti.standby import waiting_standby
from tests.servers import free_port


def _get(url: str, token: str | None = None) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=5)


def _gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def test_a_waiting_standby_serves_healthz_as_not_serving_and_metrics_with_its_role(
        redis_url: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    active = RoutingLease(RedisLease(redis_url), f"active-{tag}")
    await active.acquire()
    token = secrets.token_urlsafe(32)
    web, metrics = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")} | {
        "CTI_BUS": "redis", "CTI_REDIS_URL": redis_url, "CTI_NODE_ID": f"standby-{tag}",
        "CTI_ROUTING_STANDBY": "true", "CTI_PBX__MODE": "system",
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'standby.db'}",
        "CTI_STATE_DIR": str(tmp_path / "state"), "CTI_RECORDINGS__DIR": str(tmp_path / "recordings"),
        "CTI_AMI__PORT": str(free_port()), "CTI_AMI__SECRET": secrets.token_urlsafe(32),
        "CTI_AMI__CONNECT_TIMEOUT_S": "60",  # nothing answers: it stays in its start while the test looks
        "CTI_AGI__PORT": str(free_port()), "CTI_WEB__PORT": str(web),
        "CTI_METRICS__TOKEN": token, "CTI_METRICS__PORT": str(metrics),
    }
    proc = None
    released = False
    try:
        proc, seen = await waiting_standby(env, f"active-{tag}")  # killed if it never waits
        base = f"http://127.0.0.1:{web}"
        health = _get(f"{base}/healthz")
        assert health.status_code == 503, health.text
        assert health.json() == {"role": "standby", "node": f"standby-{tag}", "routing_node": f"active-{tag}",
                                 "status": "not_serving"}
        page = _get(f"{base}/")
        assert page.status_code == 503 and f"node active-{tag} routes calls" in page.text, page.text
        assert _get(f"{base}/metrics").status_code == 401
        for url in (f"{base}/metrics", f"http://127.0.0.1:{metrics}/metrics"):
            scraped = _get(url, token)
            assert scraped.status_code == 200, (url, scraped.text)
            assert _gauge(scraped.text, "cti_routing") == 0.0, scraped.text
            assert (_gauge(scraped.text, "process_resident_memory_bytes") or 0) > 0, scraped.text
            assert "cti_ami_connected" not in scraped.text and "cti_queue_calls" not in scraped.text, scraped.text

        # The routing node stops: the standby takes the lease, and says so while it starts.
        await active.release()
        released = True
        await until(lambda: _gauge(_get(f"{base}/metrics", token).text, "cti_routing") == 1.0, timeout_s=10,
                    what="cti_routing 1 on the node that took the lease")
        health = _get(f"{base}/healthz")
        assert health.status_code == 503 and health.json()["role"] == "starting", health.text
        assert _gauge(_get(f"http://127.0.0.1:{metrics}/metrics", token).text, "cti_routing") == 1.0

        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        out = "".join(seen) + rest.decode(errors="replace")
        assert proc.returncode == 0, out
        assert "Traceback" not in out, out
        assert f"standby: 127.0.0.1:{web} answers /healthz with 503" in out, out
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        if not released:
            await active.release()
