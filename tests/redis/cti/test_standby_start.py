"""A second node started with ``cti run`` while another routes (docs/deployment.md, "Several
nodes") waits as a standby and leaves the routing node's Asterisk alone: it neither fails on the
FastAGI port the routing node listens on (the dialplan's one address, which the standby takes over)
nor rewrites and reloads the managed Asterisk's configuration (its own AMI secret, SIP passwords and
FastAGI address would cut the routing node off and send every new caller's IVR to a port nobody
serves). A real redis-server; the managed Asterisk's root file system here is an empty stand-in, so
nothing that touches it can succeed unnoticed."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import uuid
from pathlib import Path

from cti.redis_lease import RedisLease, RoutingLease
from cti.settings import PROJECT_ROOT
from tests.helpers import until
from tests.redis.cti.standby import CTI, waiting_standby
from tests.servers import free_port


async def test_a_standby_leaves_the_routing_nodes_asterisk_and_fastagi_port_alone(redis_url: str,
                                                                                   tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    active = RoutingLease(RedisLease(redis_url), f"active-{tag}")
    await active.acquire()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / ".cti-rootfs-ok").touch()  # "built": a pbx up would write its instance here and fail to start it
    agi = socket.create_server(("127.0.0.1", 0))  # the routing node's FastAGI listener
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")} | {
        "CTI_BUS": "redis", "CTI_REDIS_URL": redis_url, "CTI_NODE_ID": f"standby-{tag}",
        "CTI_PBX__MODE": "managed", "CTI_PBX__ROOTFS": str(rootfs), "CTI_PBX__INSTANCE": f"standby{tag}",
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'standby.db'}",
        "CTI_STATE_DIR": str(tmp_path / "state"), "CTI_RECORDINGS__DIR": str(tmp_path / "recordings"),
        "CTI_AMI__PORT": str(free_port()), "CTI_AGI__PORT": str(agi.getsockname()[1]),
        "CTI_WEB__PORT": str(free_port()),
    }
    proc = None
    try:
        proc, seen = await waiting_standby(env, f"active-{tag}")  # killed if it never waits
        out = "".join(seen)
        assert f"node active-{tag} routes calls on this Redis: this node leaves its Asterisk alone" in out, out
        assert not (rootfs / "srv").exists(), "the standby wrote the routing node's Asterisk configuration"
        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 15)
        out += rest.decode(errors="replace")
        assert proc.returncode == 0, out
        assert "Traceback" not in out, out
        assert not (rootfs / "srv").exists()
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        agi.close()
        await active.release()


async def test_a_redis_that_does_not_answer_is_named_before_anything_starts(tmp_path: Path) -> None:
    """Before, the node went on: `cti pbx up` on the shared Asterisk, then an error about the FastAGI
    port the routing node holds, or a bare "lease acd-router: ..." once the engine started."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / ".cti-rootfs-ok").touch()
    agi = socket.create_server(("127.0.0.1", 0))
    url = f"redis://:a-Password-9@127.0.0.1:{free_port()}/0"  # nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")} | {
        "CTI_BUS": "redis", "CTI_REDIS_URL": url, "CTI_PBX__MODE": "managed", "CTI_PBX__ROOTFS": str(rootfs),
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'node.db'}", "CTI_STATE_DIR": str(tmp_path / "state"),
        "CTI_AMI__PORT": str(free_port()), "CTI_AGI__PORT": str(agi.getsockname()[1]),
        "CTI_WEB__PORT": str(free_port()),
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            *CTI, "run", "--no-demo", env=env, cwd=PROJECT_ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        raw, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        agi.close()
    out = raw.decode(errors="replace")
    assert proc.returncode == 1, out
    assert "error: redis_url (CTI_REDIS_URL) redis://:***@127.0.0.1:" in out, out
    assert "a-Password-9" not in out and "agi.port" not in out and "Traceback" not in out, out
    assert not (rootfs / "srv").exists()


async def test_cti_runs_lines_reach_a_file_while_it_runs(redis_url: str, tmp_path: Path) -> None:
    """Under a service manager, or ``cti run > log``, stdout is a file, which Python buffers in blocks:
    a status line must be in the file while the node runs, not when it exits. A standby that waits
    prints its line and then runs on, so the file is read while it waits."""
    tag = uuid.uuid4().hex[:6]
    active = RoutingLease(RedisLease(redis_url), f"active-{tag}")
    await active.acquire()
    # As a service manager starts it: no PYTHONUNBUFFERED (a developer's shell, or CI, may set it).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_") and k != "PYTHONUNBUFFERED"} | {
        "CTI_BUS": "redis", "CTI_REDIS_URL": redis_url, "CTI_NODE_ID": f"standby-{tag}", "CTI_PBX__MODE": "system",
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'standby.db'}", "CTI_STATE_DIR": str(tmp_path / "state"),
        "CTI_AMI__PORT": str(free_port()), "CTI_AMI__SECRET": secrets.token_urlsafe(32),
        "CTI_AGI__PORT": str(free_port()), "CTI_WEB__PORT": str(free_port()),
    }
    out_file, err_file = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out_file.open("wb") as out, err_file.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(*CTI, "run", "--no-demo", env=env, cwd=PROJECT_ROOT,
                                                    stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        await until(lambda: f"standby: node active-{tag} routes calls" in err_file.read_text(errors="replace"),
                    timeout_s=120, what="the standby waiting (its log line on stderr)")
        await asyncio.sleep(1.0)
        assert proc.returncode is None, err_file.read_text(errors="replace")
        assert "database: applying migrations" in out_file.read_text(), out_file.read_text()
        assert f"node active-{tag} routes calls on this Redis" in out_file.read_text(), out_file.read_text()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, err_file.read_text(errors="replace")
        assert out_file.read_text().rstrip().endswith("stopped."), out_file.read_text()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await active.release()
