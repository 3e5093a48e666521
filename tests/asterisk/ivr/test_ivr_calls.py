"""The demo IVR against a real Asterisk 22: Local-channel calls into cti-inbound run the flow over
FastAGI; the caller's keys are AMI PlayDTMF on the ;1 half of the Local channel.

The flow's clock is injected (a Wednesday 10:00 in Shanghai plus the real elapsed time), so the
business-hours branch never depends on the wall clock. Timeouts are shortened in a copy of the
demo flow to keep the tier fast; the nodes and paths are the shipped ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_core.callback_intake import CallbackIntake
from crm_core.db import Database
from crm_core.models import Callback, Customer
from tests.asterisk.ivr.rig import KNOWN, MENU_PROMPT, UNKNOWN, Rig, parked_in_queue, until
from tests.leaks import shows
from tests.unit.ivr.walk import EVENING


async def test_account_and_pin_then_billing_reaches_the_queue(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    chan, linkedid = await rig.call(UNKNOWN)
    await rig.prompt("dir-pls-enter")
    await rig.keys(chan, "123456")
    await rig.prompt("vm-password")
    await rig.keys(chan, "9731")
    await rig.prompt(MENU_PROMPT)
    await rig.keys(chan, "2")
    done = await rig.result(linkedid)
    assert done.outcome == "queue" and done.queue == "billing" and done.flow == "demo"
    assert done.skills == {"billing": 2} and done.priority == 5 and done.customer_id == 42
    assert done.attributes == {"customer": "Li Wei", "account": "123456", "identified_by": "account",
                               "topic": "billing"}
    assert done.caller_number == UNKNOWN and done.channel.endswith(";2")
    steps = [(p["node"], p["input"], p["choice"]) for p in done.path]
    assert steps == [
        ("identify_by_number", None, "not_found"), ("greeting", None, None), ("ask_account", "123456", "ok"),
        ("ask_pin", "****", "ok"), ("verify", None, "found"), ("identified", None, None),
        ("open_check", None, "main_menu"), ("main_menu", "2", "billing"), ("billing", None, "queue"),
    ]
    assert not shows("9731", repr(done))
    assert not shows("9731", caplog.text)  # the PIN is in no log line either
    arrived = next(a for a in rig.arrived if a.linkedid == linkedid)
    assert arrived.dnis == "5000" and arrived.caller_number == UNKNOWN
    # The dialplan read CTI_NEXT=queue: the caller now hears music in cti-queue.
    await until(lambda: parked_in_queue(rig.pbx))


async def test_known_number_wrong_key_and_timeout_then_sales(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    await rig.playing("vm-press")
    await rig.keys(chan, "7")  # cuts the menu prompt short
    await rig.playing("invalid")  # "invalid" then the menu again, nothing pressed
    await rig.prompt(MENU_PROMPT)
    rig.forget_streams()
    t = time.monotonic()
    # The 1 s timeout ran out: "we did not hear a choice" (the menu's timeout_prompt; stock sounds
    # here: "I'm sorry. Please try again."), then the menu is asked a third time.
    await rig.playing("im-sorry")
    assert time.monotonic() - t >= 1.0
    await rig.playing("please-try-again")
    await rig.playing("vm-press")
    await rig.keys(chan, "3")
    done = await rig.result(linkedid)
    assert (done.outcome, done.queue, done.skills, done.priority) == ("queue", "sales", {"sales": 1}, 5)
    menu = [(p["input"], p["choice"]) for p in done.path if p["node"] == "main_menu"]
    assert menu == [("7", "invalid"), ("", "timeout"), ("3", "sales")]


async def test_three_wrong_keys_reach_the_operator(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    await rig.playing("vm-press")
    await rig.keys(chan, "7")
    await rig.playing("invalid")
    await rig.keys(chan, "8")
    await rig.playing("invalid")
    await rig.keys(chan, "6")
    done = await rig.result(linkedid)
    assert done.outcome == "queue" and done.queue == "general"
    assert [p["choice"] for p in done.path if p["node"] == "main_menu"] == [
        "invalid", "invalid", "invalid", "retries_exhausted"]
    assert rig.prompts.empty()  # every key came in while a prompt played


async def test_wrong_pin_goes_back_to_the_account_prompt(rig: Rig) -> None:
    chan, linkedid = await rig.call(UNKNOWN)
    await rig.prompt("dir-pls-enter")
    await rig.keys(chan, "123456")
    await rig.prompt("vm-password")
    await rig.keys(chan, "0000")
    await rig.prompt("dir-pls-enter", timeout_s=20)  # after "login incorrect"
    await rig.keys(chan, "123456")
    await rig.prompt("vm-password")
    await rig.keys(chan, "9731")
    await rig.playing("vm-press")
    await rig.keys(chan, "1")
    done = await rig.result(linkedid)
    assert done.queue == "support" and done.skills == {"support": 2}
    assert [p["choice"] for p in done.path if p["node"] == "verify"] == ["not_found", "found"]
    assert [p["input"] for p in done.path if p["node"] == "ask_pin"] == ["****", "****"]


async def test_hangup_mid_menu_is_recorded_as_an_ivr_abandon(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    await rig.playing("vm-press")
    await asyncio.sleep(0.3)
    await rig.bridge.control.hangup(chan)
    done = await rig.result(linkedid)
    assert done.outcome == "abandoned" and done.queue is None and done.customer_id == 42
    assert done.path[-1]["node"] == "main_menu" and done.path[-1]["choice"] == "hangup"
    await until(lambda: "0 active channels" in rig.pbx.cli("core show channels"))


async def test_a_key_during_the_menu_prompt_chooses_at_once(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    sound = await asyncio.wait_for(rig.streams.get(), 15)
    assert sound == "vm-press"  # the first sound of the menu prompt is playing
    await rig.keys(chan, "3")
    done = await rig.result(linkedid)
    assert done.queue == "sales"
    assert rig.prompts.empty()  # no GET DATA was needed: the key cut the prompt short


async def test_after_hours_a_caller_asks_to_be_called_back_and_the_crm_lists_it(rig: Rig, tmp_path: Path) -> None:
    """Press 2 on the after-hours menu: the flow thanks and hangs up, and the request becomes a
    pending callback for the support queue in the CRM (the intake on the same bus)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    await db.upgrade()
    async with db.session() as s:  # the customer the test directory knows the caller as
        s.add(Customer(id=42, name="Li Wei", account_number="123456"))
    CallbackIntake(db).subscribe(rig.bus)
    try:
        rig.set_time(EVENING)
        chan, linkedid = await rig.call(KNOWN)
        await rig.prompt("vm-tocallback")  # the after-hours menu: 1 a message, 2 a callback
        await rig.keys(chan, "2")
        done = await rig.result(linkedid)
        assert (done.outcome, done.queue, done.customer_id) == ("callback", "support", 42)
        assert [p["node"] for p in done.path][-3:] == ["after_hours", "number_to_call", "call_me_back"]
        await until(lambda: "0 active channels" in rig.pbx.cli("core show channels"))  # thanked, hung up
        rows: list[Callback] = []
        for _ in range(50):
            async with db.session() as s:
                rows = list((await s.scalars(select(Callback))).all())
            if rows:
                break
            await asyncio.sleep(0.1)
        assert [(c.number, c.queue, c.customer_id, c.state, c.origin_linkedid) for c in rows] == [
            (KNOWN, "support", 42, "pending", linkedid)]
    finally:
        await db.dispose()
