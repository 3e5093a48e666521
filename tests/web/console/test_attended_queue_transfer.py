"""The demo desk (the console's fake ACD) does with an "attended" transfer to a queue what the engine
does (tests/unit/acd/test_attended_queue_transfer.py): a blind transfer, no consultation, the ended
call saying ``transferred.kind`` ``blind``."""

from __future__ import annotations

from tests.web.console.conftest import Console, recv, send
from tests.web.console.test_websocket import live_call, ready_agent


async def test_an_attended_transfer_to_a_queue_ends_the_call_as_a_blind_one(console: Console) -> None:
    ws = await ready_agent(console)
    call_id = await live_call(console, "a1001")
    await send(ws, type="transfer", call_id=call_id, kind="attended", target_kind="queue", target="billing", ref="t")
    assert (await recv(ws, "ack"))["action"] == "transfer"
    call = (await recv(ws, "call"))["call"]
    assert call["status"] == "ended"  # never "consulting": there was nobody to talk to
    assert call["detail"]["transferred"] == {"kind": "blind", "target_kind": "queue", "target": "billing"}
