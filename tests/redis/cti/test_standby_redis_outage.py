"""A standby node (``cti run`` waiting for the routing lease) outlives a Redis outage: it exited with
"error: lease acd-router: Error 111 ..." (the go-live trial; systemd's Restart=on-failure brought it
back). Now it says once that Redis is away, goes on waiting, and stops cleanly when asked. A real
redis-server, stopped under the running node; no Asterisk (the standby never reaches it)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

from cti.redis_lease import RedisLease, RoutingLease
from tests.redis.cti.restartable import Restartable
from tests.redis.cti.standby import waiting_standby
from tests.servers import free_port


async def _lines_for(proc: asyncio.subprocess.Process, seconds: float) -> list[str]:
    assert proc.stdout is not None
    out: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            while raw := await proc.stdout.readline():
                out.append(raw.decode(errors="replace"))
    except TimeoutError:
        pass
    return out


async def test_a_waiting_standby_outlives_a_redis_outage(tmp_path: Path) -> None:
    redis = Restartable()
    redis.start()
    tag = uuid.uuid4().hex[:6]
    holder = RedisLease(redis.url)
    assert await holder.try_acquire(RoutingLease.KEY, f"active-{tag}", 600_000)
    await holder.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")} | {
        "CTI_BUS": "redis", "CTI_REDIS_URL": redis.url, "CTI_NODE_ID": f"standby-{tag}",
        "CTI_ROUTING_STANDBY": "true", "CTI_PBX__MODE": "system",
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'standby.db'}",
        "CTI_STATE_DIR": str(tmp_path / "state"), "CTI_RECORDINGS__DIR": str(tmp_path / "recordings"),
        "CTI_AMI__PORT": str(free_port()), "CTI_AMI__SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "CTI_AGI__PORT": str(free_port()), "CTI_WEB__PORT": str(free_port()),
    }
    proc = None
    try:
        proc, seen = await waiting_standby(env, f"active-{tag}")  # killed if it never waits
        redis.stop()
        during = await _lines_for(proc, 4.0)
        out = "".join(seen + during)
        exited = proc.returncode is not None or "error: lease" in out or "engine stopped" in out
        assert not exited, f"the standby exited on the Redis outage:\n{out}"
        unavailable = [line for line in during if "Redis unavailable" in line]
        assert len(unavailable) == 1, "".join(during)
        assert len([line for line in during if " ERROR " in line]) == 1, "".join(during)  # once, not per attempt
        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 15)
        out += rest.decode(errors="replace")
        assert proc.returncode == 0, out
        assert out.rstrip().endswith("stopped.") and "Traceback" not in out, out
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        redis.remove()
