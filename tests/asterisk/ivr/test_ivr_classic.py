"""The same IVR over classic (process) AGI through pyst2.

Asterisk runs in a chroot without our Python, so the AGI program it starts is a socat relay that
joins its stdin/stdout to a socket accepted here; ``ClassicAgiSession`` then sees exactly what a
process AGI sees.
"""

from __future__ import annotations

import asyncio
import select
import socket

from cti.agi.classic import ClassicAgiSession, run_classic
from tests.asterisk.ivr.rig import KNOWN, Rig

CONTEXT = "cti-test-ivr-classic"


def _wait_readable(listener: socket.socket) -> None:
    ready, _, _ = select.select([listener], [], [], 15)
    assert ready, "the AGI relay never connected"


async def test_menu_choice_over_classic_agi(rig: Rig) -> None:
    pbx = rig.pbx
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(15)
    script = pbx.instance_dir / "ivr-relay.sh"
    script.write_text(f"#!/bin/sh\nexec socat STDIO TCP:127.0.0.1:{listener.getsockname()[1]}\n")
    script.chmod(0o755)
    for prio, app in ((1, "Answer"), (2, f"AGI,{pbx.instance_path}/ivr-relay.sh"), (3, "Wait,30")):
        await asyncio.to_thread(pbx.cli, f"dialplan add extension 5000,{prio},{app} into {CONTEXT} replace")
    try:
        chan, linkedid = await rig.call(KNOWN, context=CONTEXT)
        await asyncio.to_thread(_wait_readable, listener)
        conn, _ = listener.accept()
        with conn, conn.makefile("r", encoding="utf-8", newline="\n") as stdin, \
                conn.makefile("w", encoding="utf-8", newline="\n") as stdout:
            session = ClassicAgiSession.open(stdin, stdout)  # main thread: pyst2 installs SIGHUP
            task = asyncio.create_task(run_classic(rig.route, session, "ivr"))
            await rig.playing("vm-press")
            await rig.keys(chan, "2")
            outcome = await asyncio.wait_for(task, 20)
        assert outcome == "done"
        done = await rig.result(linkedid)
        assert (done.outcome, done.queue, done.skills, done.priority, done.customer_id) == \
            ("queue", "billing", {"billing": 2}, 5, 42)
        assert await rig.bridge.control.get_var(chan[:-1] + "2", "CTI_NEXT") == "queue"
        assert await rig.bridge.control.get_var(chan[:-1] + "2", "CTI_QUEUE") == "billing"
    finally:
        listener.close()
