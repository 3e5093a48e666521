"""A ``cti run`` node started as a subprocess that waits as a standby while another node routes."""

from __future__ import annotations

import asyncio
import re
import sys
from asyncio.subprocess import Process

from cti.settings import PROJECT_ROOT

CTI = (sys.executable, "-c", "from callcenter.cli import app; app()")


async def waiting_standby(env: dict[str, str], active: str) -> tuple[Process, list[str]]:
    """``cti run --no-demo`` under ``env``, once it says node ``active`` routes and it waits, plus
    a second of polling the lease; its output so far. Killed if it never gets there."""
    proc = await asyncio.create_subprocess_exec(
        *CTI, "run", "--no-demo", env=env, cwd=PROJECT_ROOT, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []

    async def waiting() -> None:
        assert proc.stdout is not None
        while not re.search(rf"standby: node {active} routes calls", "".join(seen)):
            raw = await proc.stdout.readline()
            if not raw:
                raise AssertionError("the standby ended before waiting:\n" + "".join(seen))
            seen.append(raw.decode(errors="replace"))

    try:
        await asyncio.wait_for(waiting(), 120)
        await asyncio.sleep(1.0)  # a few polls of the lease: what comes next lands between or inside them
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    return proc, seen
