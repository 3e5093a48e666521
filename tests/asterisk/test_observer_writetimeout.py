"""Asterisk drops a manager session it cannot write to for ``writetimeout`` ms, a user's setting that
is 100 ms unless set. The engine's user had 2000 ms; the tests' and benches' read-only observer user
had the default, so an observer that a busy machine kept from reading for a moment was cut off mid-run.
Both users now have 2000 ms (cti.pbx_config.AMI_WRITE_TIMEOUT_MS). Asterisk says nothing of either,
neither in its log nor in ``manager show user``, so this is seen by what it does: a real Asterisk
sends the observer a burst of events (a dialplan loop of UserEvents) while it does not read for 1 s.
With the old manager.conf the session was closed after some 4,200 events; now every event arrives."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from cti.pbx import ManagedPbx
from cti.settings import load_settings
from tests.servers import free_port, rtp_range

EVENTS = 6000  # ~2 MB: more than the kernel buffers between Asterisk and a reader that stalls
STALL_S = 1.0  # past the 100 ms default, well within 2000 ms


def test_an_observer_that_stalls_for_a_second_is_not_dropped(tmp_path: Path) -> None:
    secret = os.urandom(12).hex()
    settings = load_settings(state_dir=tmp_path / "state", agi={"port": free_port()},
                             ami={"port": free_port(), "observer_secret": secret},
                             pbx={"instance": f"obswt{os.getpid()}", "sip_port": free_port(), **rtp_range("own"),
                                  "agent_endpoints": 1, "http_port": free_port()})
    pbx = ManagedPbx(settings)
    try:
        pbx.up(progress=False)
        # A loop of EVENTS UserEvents (the observer reads class user), each padded to ~400 bytes.
        for priority, app in enumerate(["Set(i=0)", f"UserEvent(Flood,Pad:{'p' * 300})", "Set(i=$[${i}+1])",
                                        f"GotoIf($[${{i}}<{EVENTS}]?2)", "Hangup()"], 1):
            assert "added" in pbx.cli(f"dialplan add extension flood,{priority},{app} into cti-test-flood")
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel's smallest, near enough
            sock.connect((settings.ami.host, settings.ami.port))
            sock.settimeout(10)
            sock.sendall(f"Action: Login\r\nUsername: {settings.ami.observer_username}\r\nSecret: {secret}\r\n"
                         "Events: on\r\n\r\n".encode())
            got = b""
            while b"Authentication accepted" not in got:
                chunk = sock.recv(65536)
                assert chunk, got
                got += chunk
            pbx.cli("channel originate Local/flood@cti-test-flood application Wait 1")
            time.sleep(STALL_S)  # not reading: Asterisk's writes to this session block
            seen, closed, deadline = 0, False, time.monotonic() + 60
            tail = b""
            while seen < EVENTS and time.monotonic() < deadline:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    closed = True
                    break
                tail += chunk
                end = tail.rfind(b"\r\n\r\n") + 4  # counted once whole: 3 when there is none yet
                if end > 3:
                    seen += tail[:end].count(b"Event: UserEvent\r\n")
                    tail = tail[end:]
            assert not closed, f"Asterisk closed the observer's session after {seen} of {EVENTS} events"
            assert seen == EVENTS, seen
    finally:
        pbx.remove_instance()
