"""A standby node (``cti run`` waiting for the routing lease another node holds) stops cleanly
when the service manager asks: SIGTERM or Ctrl-C ends it with "stopped." and exit code 0, at once,
and the lease stays with the node that routes. A real redis-server; the standby never reaches
Asterisk, so none runs here."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import uuid
from pathlib import Path

import pytest

from cti.redis_lease import RedisLease, RoutingLease
from tests.redis.cti.standby import waiting_standby
from tests.servers import free_port


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
async def test_a_waiting_standby_stops_cleanly_on_a_signal(redis_url: str, tmp_path: Path, sig: int) -> None:
    tag = uuid.uuid4().hex[:6]
    active = RoutingLease(RedisLease(redis_url), f"active-{tag}")
    await active.acquire()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")} | {
        "CTI_BUS": "redis", "CTI_REDIS_URL": redis_url, "CTI_NODE_ID": f"standby-{tag}",
        "CTI_ROUTING_STANDBY": "true", "CTI_PBX__MODE": "system",
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'standby.db'}",
        "CTI_STATE_DIR": str(tmp_path / "state"), "CTI_RECORDINGS__DIR": str(tmp_path / "recordings"),
        "CTI_AMI__PORT": str(free_port()),
        "CTI_AMI__SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "CTI_AGI__PORT": str(free_port()), "CTI_WEB__PORT": str(free_port()),
    }
    proc = None
    try:
        proc, seen = await waiting_standby(env, f"active-{tag}")  # killed if it never waits
        proc.send_signal(sig)
        rest, _ = await asyncio.wait_for(proc.communicate(), 15)
        seen.append(rest.decode(errors="replace"))
        out = "".join(seen)
        assert proc.returncode == 0, out
        assert "stopping..." in out and out.rstrip().endswith("stopped."), out
        assert "Traceback" not in out, out
        after = out[out.index("stopping..."):]
        assert not re.search(r" (ERROR|CRITICAL) ", after), after  # stopping what never started is no fault
        # It issued no console phone password: nothing to revoke, and nothing to warn about.
        assert "phone credentials not revoked" not in after, after
        assert await active.lease.holder(RoutingLease.KEY) == f"active-{tag}"
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await active.release()
