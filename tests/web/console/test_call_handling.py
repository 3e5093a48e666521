"""The console's call-handling messages over the websocket: warm transfer note, cancel consultation,
conference, and the agent's tags and attributes on the call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.web.console.conftest import Console, recv, send
from tests.web.console.test_websocket import live_call, ready_agent


async def test_consult_then_cancel_then_conference_and_attributes(console: Console) -> None:
    ws = await ready_agent(console)
    call_id = await live_call(console, "a1001")
    await send(ws, type="transfer", call_id=call_id, kind="attended", target_kind="number", target="8610555",
               note="  asks about the refund  ", ref="t")
    assert (await recv(ws, "ack"))["action"] == "transfer"
    assert ("transfer", "a1001", {"call_id": call_id, "kind": "attended", "target_kind": "number",
                                  "target": "8610555", "note": "asks about the refund"}) in console.demo.desk.actions
    await send(ws, type="cancel_consult", call_id=call_id, ref="c")
    assert (await recv(ws, "ack"))["action"] == "cancel_consult"
    while (await recv(ws, "call"))["call"]["status"] != "talking":
        pass
    await send(ws, type="cancel_consult", call_id=call_id, ref="again")
    err = await recv(ws, "error")
    assert err["ref"] == "again" and "consultation" in err["message"]
    await send(ws, type="transfer", call_id=call_id, kind="attended", target_kind="number", target="8610555",
               ref="t2")
    assert (await recv(ws, "ack"))["ref"] == "t2"
    await send(ws, type="conference", call_id=call_id, ref="conf")
    assert (await recv(ws, "ack"))["ref"] == "conf"
    while (await recv(ws, "call"))["call"]["status"] != "conference":
        pass
    await send(ws, type="call_attributes", call_id=call_id, tags=["vip"], values={"order": "A-17"}, ref="a")
    assert (await recv(ws, "ack"))["action"] == "call_attributes"
    call = (await recv(ws, "call"))["call"]
    assert call["detail"]["tags"] == ["vip"] and call["detail"]["attributes"]["order"] == "A-17"


async def test_attribute_values_are_checked(console: Console) -> None:
    ws = await ready_agent(console)
    call_id = await live_call(console, "a1001")
    await send(ws, type="call_attributes", call_id=call_id, values={"Bad Key": "x"}, ref="k")
    err = await recv(ws, "error")
    assert err["code"] == "invalid_field" and err["ref"] == "k"
    await send(ws, type="call_attributes", call_id=call_id, values={"note": "two\nlines"}, ref="v")
    assert (await recv(ws, "error"))["field"] == "values"


async def test_back_to_caller_is_answered_while_the_consult_request_still_waits(
        console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    """An attended transfer to a number is answered only once the number answers (up to the dial's
    30 s): the agent's Back to caller, sent meanwhile on the same socket, is carried out at once (it
    waited behind the transfer, to be refused once the ring had given up)."""
    ws = await ready_agent(console)
    call_id = await live_call(console, "a1001")
    desk = console.demo.desk
    rang, answered = asyncio.Event(), asyncio.Event()
    consult = desk.transfer

    async def ringing(*args: Any, **kwargs: Any) -> None:
        await consult(*args, **kwargs)  # the call shows "consulting"
        rang.set()
        await answered.wait()

    monkeypatch.setattr(desk, "transfer", ringing)
    await send(ws, type="transfer", call_id=call_id, kind="attended", target_kind="number", target="8610555",
               ref="t")
    try:
        await asyncio.wait_for(rang.wait(), 5.0)
        await send(ws, type="cancel_consult", call_id=call_id, ref="c")
        ack = await recv(ws, "ack")  # it waited behind the transfer's answer
        assert (ack["ref"], ack["action"]) == ("c", "cancel_consult")
    finally:
        answered.set()  # else the server's reader would wait for it for good
    assert (await recv(ws, "ack"))["ref"] == "t"


@pytest.mark.parametrize(("target_kind", "target"), [("number", "8610555"), ("queue", "billing")])
async def test_a_blind_transfer_s_ended_call_says_where_the_call_went(
        console: Console, target_kind: str, target: str) -> None:
    """The ``call`` frame ending the agent's part (status ``ended``) carries ``detail.transferred``,
    and so does a reconnecting console's ``hello`` during the wrap-up (the demo's fake desk, shaped as
    acd.calls.call_detail shapes it: tests/unit/acd/test_blind_transfer_hold.py)."""
    ws = await ready_agent(console)
    call_id = await live_call(console, "a1001")
    await send(ws, type="hold", call_id=call_id, ref="h")
    assert (await recv(ws, "ack"))["action"] == "hold"
    await send(ws, type="transfer", call_id=call_id, kind="blind", target_kind=target_kind, target=target, ref="t")
    ack = await recv(ws, "ack")
    assert ack["ref"] == "t", ack
    while (call := (await recv(ws, "call"))["call"])["status"] != "ended":
        pass
    assert call["detail"]["transferred"] == {"kind": "blind", "target_kind": target_kind, "target": target}
    again = await console.ws(await console.login("alice"))
    hello = await recv(again, "hello")
    assert [c["detail"]["transferred"]["target"] for c in hello["calls"] if c["call_id"] == call_id] == [target]
