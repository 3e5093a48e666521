"""Asterisk killed with SIGKILL under a running engine process: ``ManagedPbx.up()`` from that same
process starts a new Asterisk (the killed one is a zombie child whose pid file looks alive), and
the AMI client is back within a second of the new Asterisk answering."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from pathlib import Path

from cti.ami.manager import AmiClient
from cti.pbx import ManagedPbx


def _kill9(pbx: ManagedPbx) -> int:
    pid = pbx.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    # The killed Asterisk is our child: until someone reaps it, it is a zombie.
    while "State:\tZ" not in Path(f"/proc/{pid}/status").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    return pid


def test_up_restarts_an_asterisk_killed_with_sigkill(pbx: ManagedPbx) -> None:
    old = _kill9(pbx)
    assert pbx.pid() is None, "a zombie Asterisk must not count as running"
    st = pbx.up(progress=False)
    assert st.running and st.ami_ready and st.pid is not None and st.pid != old


def _first_listen(host: str, port: int, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=0.2):
                out.append(time.time())
                return
        except OSError:
            time.sleep(0.01)


async def test_ami_reconnects_within_a_second_of_a_restarted_asterisk(pbx: ManagedPbx) -> None:
    client = AmiClient(pbx.settings.ami, lambda evs: None)
    await client.start()
    try:
        await client.wait_connected(10)
        _kill9(pbx)
        await asyncio.sleep(8.0)  # an outage of seconds: the backoff has had time to grow
        listened: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=_first_listen, args=(pbx.settings.ami.host, pbx.settings.ami.port,
                                                              stop, listened))
        probe.start()
        connects = client.connects
        await asyncio.to_thread(pbx.up, progress=False)
        deadline = time.monotonic() + 20
        while client.connects == connects and time.monotonic() < deadline:  # noqa: ASYNC110 (a counter)
            await asyncio.sleep(0.01)
        back = time.time()
        stop.set()
        probe.join()
        assert listened and client.connects > connects and client.logged_in_at is not None
        # Asterisk accepts AMI connections before it has loaded every module; the engine logs in at
        # once and is ready when Asterisk says FullyBooted (that part is Asterisk's boot, not ours).
        took = client.logged_in_at - listened[0]
        print(f"AMI logged in {took:.2f} s after the restarted Asterisk listened; ready after "
              f"{back - listened[0]:.2f} s (FullyBooted)")
        assert took < 1.5, f"login took {took:.2f} s after AMI listened"
        assert client.restarts == 1
    finally:
        await client.stop()
