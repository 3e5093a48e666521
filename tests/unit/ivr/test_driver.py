"""The async driver over a scripted in-memory AgiSession: dialplan variables, bus events, hang-ups."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from cti.agi.protocol import AgiCommandError
from cti.agi.session import AgiReply, Digits
from cti.bus import InProcessBus
from cti.errors import AgiHangup
from cti.events import Event, from_wire, to_wire
from cti.journey import CallArrived, CallbackRequested, IvrFinished
from ivr.directory import InMemoryDirectory
from ivr.driver import IvrOutcome, make_ivr_route, run_ivr
from tests.unit.ivr.walk import GOLD, OPEN, SATURDAY, demo

FLOW = demo()


class ScriptedSession:
    """Answers GET DATA from a script; 'HANGUP' in the script means the caller hung up there."""

    def __init__(self, keys: list[str], *, extension: str = "5000", callerid: str = "+8613800000001",
                 linkedid: str | None = "1700000000.11", hang_on_play: str | None = None,
                 press_during: dict[str, str] | None = None) -> None:
        self._env = {"channel": "Local/5000@cti-inbound-00000001;2", "uniqueid": "1700000000.12",
                     "callerid": callerid, "calleridname": "unknown", "extension": extension,
                     "context": "cti-inbound", "network_script": "ivr"}
        self.keys = list(keys)
        self.linkedid = linkedid
        self.hang_on_play = hang_on_play
        self.press_during = dict(press_during or {})  # sound -> key pressed while it plays
        self.broken: set[str] = set()  # sounds Asterisk cannot open
        self.log: list[tuple[str, ...]] = []
        self.vars: dict[str, str] = {}

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    async def command(self, *words: str) -> AgiReply:
        self.log.append(("command", *words))
        if words[0] == "GET VARIABLE" and words[1] == "CHANNEL(linkedid)":
            return AgiReply(200, "1", self.linkedid) if self.linkedid else AgiReply(200, "0")
        if words[0] == "SET VARIABLE":
            self.vars[words[1]] = words[2]
            return AgiReply(200, "1")
        raise AssertionError(words)

    async def answer(self) -> None:
        self.log.append(("answer",))

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        self.log.append(("stream_file", sound, escape_digits))
        if sound == self.hang_on_play:
            raise AgiHangup("gone")
        key = self.press_during.pop(sound, "")
        return key if key in escape_digits else ""

    async def get_data(self, sound: str, timeout_ms: int, max_digits: int) -> Digits:
        self.log.append(("get_data", sound, str(timeout_ms), str(max_digits)))
        if sound in self.broken:
            raise AgiCommandError(f"GET DATA failed (result=-1) on a live channel: {sound}")
        key = self.keys.pop(0)
        if key == "HANGUP":
            raise AgiHangup("caller hung up")
        return Digits(key, key == "")

    async def wait_for_digit(self, timeout_ms: int) -> str:
        raise AssertionError("not used")

    async def say_digits(self, digits: str, escape_digits: str = "") -> str:
        self.log.append(("say_digits", digits))
        return ""

    async def say_number(self, number: int, escape_digits: str = "") -> str:
        self.log.append(("say_number", str(number)))
        return ""

    async def set_variable(self, name: str, value: str) -> None:
        self.log.append(("set_variable", name, value))
        self.vars[name] = value

    async def set_variables(self, values: Mapping[str, str], *, last: bool = False) -> None:
        for name, value in values.items():
            await self.set_variable(name, value)

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def exec(self, application: str, *args: str) -> AgiReply:
        self.log.append(("exec", application, *args))
        return AgiReply(200, "0")

    async def hangup(self) -> None:
        self.log.append(("hangup",))


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


@pytest.fixture
async def bus() -> Any:
    b = InProcessBus()
    seen: list[Event] = []

    async def keep(ev: Event) -> None:
        seen.append(ev)

    b.subscribe(Event, keep, name="test")
    await b.start()
    b.seen = seen  # type: ignore[attr-defined]
    yield b
    await b.stop()


def directory() -> InMemoryDirectory:
    return InMemoryDirectory(numbers={"+8613800000002": GOLD}, accounts={"123456": ("1234", GOLD)})


async def test_account_and_pin_to_billing(bus: Any) -> None:
    session = ScriptedSession(["123456", "1234", "2"])
    d = directory()
    out = await run_ivr(session, FLOW, d, bus, Clock(OPEN))
    await bus.drain()
    assert session.vars == {"CTI_QUEUE": "billing", "CTI_PRIORITY": "5", "CTI_NEXT": "queue"}
    assert ("get_data", "dir-pls-enter", "6000", "6") in session.log
    assert ("get_data", "vm-password", "6000", "4") in session.log
    assert session.log[-1] == ("set_variable", "CTI_NEXT", "queue")  # set last: the dialplan reads it next
    assert d.calls == [("lookup_by_number", "+8613800000001"), ("verify_account", "123456")]
    arrived, finished = bus.seen
    assert isinstance(arrived, CallArrived) and isinstance(finished, IvrFinished)
    assert (arrived.linkedid, arrived.caller_number, arrived.dnis, arrived.caller_name) == \
        ("1700000000.11", "+8613800000001", "5000", "")
    assert finished.linkedid == "1700000000.11" and finished.outcome == "queue" and finished.queue == "billing"
    assert finished.skills == {"billing": 2} and finished.priority == 5 and finished.customer_id == 42
    assert finished.attributes == {"customer": "Li Wei", "account": "123456", "identified_by": "account",
                                   "topic": "billing"}
    assert finished.channel == "Local/5000@cti-inbound-00000001;2" and finished.flow == "demo"
    assert finished.started_at == OPEN + 0.5
    pin = next(p for p in finished.path if p["node"] == "ask_pin")
    assert pin["input"] == "****"
    assert all(p["input"] != "1234" for p in finished.path)
    assert out.queue == "billing" and out.outcome == "queue" and out.path == finished.path
    assert from_wire(to_wire(finished)) == finished  # travels over the Redis bus as it is


async def test_known_number_voicemail_after_hours(bus: Any) -> None:
    session = ScriptedSession(["1"], callerid="+8613800000002")
    out = await run_ivr(session, FLOW, directory(), bus, Clock(SATURDAY))
    assert session.vars == {"CTI_MAILBOX": "8000@cti", "CTI_NEXT": "voicemail"}
    assert out.outcome == "voicemail" and out.customer_id == 42 and out.mailbox == "8000@cti"
    keys = "0123456789*#"
    i = session.log.index(("stream_file", "vm-nobodyavail", keys))
    assert session.log[i:i + 3] == [("stream_file", "vm-nobodyavail", keys), ("stream_file", "vm-leavemsg", keys),
                                    ("get_data", "vm-tocallback", "5000", "1")]


async def test_hangup_mid_menu_is_an_abandon(bus: Any) -> None:
    session = ScriptedSession(["HANGUP"], callerid="+8613800000002")
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    await bus.drain()
    assert out.outcome == "abandoned" and out.queue is None
    assert "CTI_NEXT" not in session.vars  # nothing is sent to a dead channel
    finished = bus.seen[-1]
    assert isinstance(finished, IvrFinished) and finished.outcome == "abandoned"
    assert finished.path[-1]["node"] == "main_menu" and finished.path[-1]["choice"] == "hangup"
    assert finished.customer_id == 42 and finished.skills is None


async def test_hangup_during_the_final_prompt_is_an_abandon(bus: Any) -> None:
    session = ScriptedSession(["1"], callerid="+8613800000002", hang_on_play="pls-hold-while-try")
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    assert out.outcome == "abandoned" and out.path[-1]["choice"] == "hangup"


async def test_language_switch_sets_channel_language(bus: Any) -> None:
    session = ScriptedSession(["9", "1"], callerid="+8613800000002")
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    assert ("command", "SET VARIABLE", "CHANNEL(language)", "zh") in session.log
    assert out.language == "zh" and out.skills == {"support": 2, "zh": 1}


async def test_linkedid_falls_back_to_uniqueid(bus: Any) -> None:
    session = ScriptedSession(["0"], callerid="+8613800000002", linkedid=None)
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    assert out.linkedid == "1700000000.12" and out.queue == "general"


@pytest.mark.parametrize(("arg", "asked"), [("1700000000.11", False), ("pbx-a-1700000000.11", False),
                                            ("", True), ("1700000000.11 EXEC", True)])
async def test_linkedid_from_the_agi_argument_saves_a_round_trip(bus: Any, arg: str, asked: bool) -> None:
    session = ScriptedSession(["0"], callerid="+8613800000002")
    session._env["arg_1"] = arg  # extensions.conf: AGI(${CTI_AGI}/ivr,${CHANNEL(linkedid)})
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    assert out.linkedid == (arg if not asked else "1700000000.11")
    assert (("command", "GET VARIABLE", "CHANNEL(linkedid)") in session.log) is asked


async def test_route_picks_the_flow_by_dnis_and_entry_vars(bus: Any) -> None:
    got = []

    async def keep(outcome: Any) -> None:
        got.append(outcome)

    flows = {"5000": FLOW, "5002": FLOW}
    route = make_ivr_route(flows, directory(), bus, Clock(SATURDAY), on_outcome=keep)
    await route(ScriptedSession(["3"], extension="5002", callerid="+8613800000002"))  # always-open line
    assert got[0].queue == "sales"
    session = ScriptedSession([], extension="7777")
    await route(session)
    assert session.vars == {"CTI_QUEUE": "general", "CTI_NEXT": "queue"}
    assert len(got) == 1


async def test_chinese_line_starts_in_zh(bus: Any) -> None:
    route = make_ivr_route({"5001": FLOW}, directory(), bus, Clock(OPEN))
    session = ScriptedSession(["2"], extension="5001", callerid="+8613800000002")
    await route(session)
    await bus.drain()
    finished = bus.seen[-1]
    assert finished.language == "zh" and finished.skills == {"billing": 2, "zh": 1}
    assert session.log[1] == ("command", "SET VARIABLE", "CHANNEL(language)", "zh")


async def test_a_key_during_the_menu_prompt_is_the_choice(bus: Any) -> None:
    session = ScriptedSession([], callerid="+8613800000002", press_during={"digits/2": "2"})
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    assert out.queue == "billing"
    assert not any(entry[0] == "get_data" for entry in session.log)
    assert ("stream_file", "vm-press", "0123456789*#") in session.log


async def test_a_key_during_a_long_prompt_starts_the_digits(bus: Any) -> None:
    flow = FLOW.model_copy(update={"nodes": {**FLOW.nodes, "ask_account": FLOW.nodes["ask_account"].model_copy(
        update={"prompt": ["beep", "dir-pls-enter"]})}})
    session = ScriptedSession(["23456", "1234", "3"], press_during={"beep": "1"})
    out = await run_ivr(session, flow, directory(), bus, Clock(OPEN))
    assert out.queue == "sales" and out.customer_id == 42
    assert ("get_data", "silence/1", "6000", "5") in session.log


async def test_pound_during_the_prompt_is_an_empty_entry(bus: Any) -> None:
    session = ScriptedSession(["7", "0"], callerid="+8613800000002", press_during={"vm-press": "#"})
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    assert [p["choice"] for p in out.path if p["node"] == "main_menu"] == ["timeout", "invalid", "operator"]


async def test_transfer_and_context_routing(bus: Any) -> None:
    from tests.unit.ivr.test_nodes import flow as misc_flow

    route = make_ivr_route({"@from-trunk": misc_flow()}, directory(), bus, Clock(0.0))
    session = ScriptedSession(["9912"], extension="s")
    session._env["context"] = "from-trunk"
    await route(session)
    await bus.drain()
    assert session.vars == {"CTI_TRANSFER_TO": "+4930123456", "CTI_NEXT": "transfer"}
    assert ("say_digits", "9912") in session.log and ("say_number", "9912") in session.log
    finished = bus.seen[-1]
    assert finished.outcome == "transfer" and finished.transfer_to == "+4930123456" and finished.flow == "misc"


async def test_callback_outcome_carries_the_number(bus: Any) -> None:
    from tests.unit.ivr.walk import EVENING

    session = ScriptedSession(["2"], callerid="+8613800000002")
    out = await run_ivr(session, FLOW, directory(), bus, Clock(EVENING))
    await bus.drain()
    assert session.vars == {"CTI_NEXT": "hangup"}
    assert out.outcome == "callback" and out.callback_number == "+8613800000002" and out.queue == "support"
    finished, requested = bus.seen[-2:]
    assert finished.outcome == "callback" and finished.attributes["callback_number"] == "+8613800000002"
    # ... and asks for the callback itself, so that it reaches the agents' list
    assert isinstance(requested, CallbackRequested)
    assert (requested.linkedid, requested.number, requested.queue) == (finished.linkedid, "+8613800000002", "support")


async def test_hanging_up_on_the_callback_thanks_keeps_the_callback(bus: Any) -> None:
    from tests.unit.ivr.walk import EVENING

    session = ScriptedSession(["2"], callerid="+8613800000002", hang_on_play="auth-thankyou")
    out = await run_ivr(session, FLOW, directory(), bus, Clock(EVENING))
    await bus.drain()
    assert out.outcome == "callback" and out.callback_number == "+8613800000002"
    assert ("stream_file", "auth-thankyou", "") in session.log  # it did hang up on the thanks
    assert [type(e).__name__ for e in bus.seen[-2:]] == ["IvrFinished", "CallbackRequested"]


async def test_a_caller_without_a_number_to_call_back_leaves_a_message(bus: Any) -> None:
    from tests.unit.ivr.walk import EVENING

    session = ScriptedSession(["123456", "1234", "2"], callerid="unknown")  # identified by account and PIN
    out = await run_ivr(session, FLOW, directory(), bus, Clock(EVENING))
    await bus.drain()
    assert out.outcome == "voicemail" and out.mailbox == "8000@cti"
    assert [p["node"] for p in out.path][-3:] == ["after_hours", "number_to_call", "leave_message"]
    assert not any(isinstance(e, CallbackRequested) for e in bus.seen)


async def test_a_caller_who_hangs_up_in_the_menu_asks_for_no_callback(bus: Any) -> None:
    from tests.unit.ivr.walk import EVENING

    session = ScriptedSession(["HANGUP"], callerid="+8613800000002")
    out = await run_ivr(session, FLOW, directory(), bus, Clock(EVENING))
    await bus.drain()
    assert out.outcome == "abandoned"
    assert not any(isinstance(e, CallbackRequested) for e in bus.seen)


async def test_a_missing_prompt_does_not_lose_the_caller(bus: Any, caplog: pytest.LogCaptureFixture) -> None:
    session = ScriptedSession(["123456", "9731", "1"])
    session.broken = {"dir-pls-enter"}
    d = InMemoryDirectory(accounts={"123456": ("9731", GOLD)})
    out = await run_ivr(session, FLOW, d, bus, Clock(OPEN))
    assert out.queue == "support"
    assert ("get_data", "silence/1", "6000", "6") in session.log
    assert "GET DATA dir-pls-enter failed" in caplog.text
    assert "9731" not in caplog.text


class BrokenDirectory:
    async def lookup_by_number(self, e164_or_raw: str) -> Any:
        raise ConnectionError("CRM down")

    async def verify_account(self, account_number: str, pin: str) -> Any:
        await asyncio.sleep(10)  # slower than the lookup timeout


async def test_crm_failures_leave_the_caller_unidentified(bus: Any, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("ivr.driver.LOOKUP_TIMEOUT_S", 0.05)
    session = ScriptedSession(["123456", "9731", "", "", ""], callerid="+8613800000002")
    out = await run_ivr(session, FLOW, BrokenDirectory(), bus, Clock(OPEN))  # type: ignore[arg-type]
    assert out.customer_id is None
    assert [p["choice"] for p in out.path if p["node"] in ("identify_by_number", "verify")] == \
        ["not_found", "not_found"]
    assert "lookup failed: ConnectionError: CRM down" in caplog.text and "lookup took over" in caplog.text
    assert "9731" not in caplog.text


async def test_an_ivr_fault_hands_the_caller_to_the_operator(bus: Any, caplog: pytest.LogCaptureFixture) -> None:
    session = ScriptedSession(["1"], callerid="+8613800000002")

    async def boom(sound: str, timeout_ms: int, max_digits: int) -> Digits:
        raise RuntimeError("bug")

    session.get_data = boom  # type: ignore[method-assign]
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN))
    await bus.drain()
    assert session.vars == {"CTI_QUEUE": "general", "CTI_PRIORITY": "5", "CTI_NEXT": "queue"}
    assert out.outcome == "queue" and out.path[-1]["choice"] == "error" and out.customer_id == 42
    assert bus.seen[-1].outcome == "queue" and "failed at node main_menu" in caplog.text


class _Sets(ScriptedSession):
    """Records each set_variables call as one entry: what one AGI command (MSet) carries."""

    def __init__(self, keys: list[str], **kw: Any) -> None:
        super().__init__(keys, **kw)
        self.sets: list[tuple[dict[str, str], bool]] = []

    async def set_variables(self, values: Mapping[str, str], *, last: bool = False) -> None:
        self.sets.append((dict(values), last))
        await super().set_variables(values, last=last)


async def test_a_hand_off_carries_the_composition_root_s_variables_in_its_last_set(bus: Any) -> None:
    asked: list[IvrOutcome] = []

    def handoff(outcome: IvrOutcome) -> Mapping[str, str]:
        asked.append(outcome)
        return {"CTI_ACD": f"entry-of-{outcome.linkedid}"}

    session = _Sets(["123456", "1234", "2"])
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN), handoff_vars=handoff)
    # One set, the last: the dialplan's variables and the ACD's entry together, CTI_NEXT last.
    assert session.sets == [({"CTI_QUEUE": "billing", "CTI_PRIORITY": "5", "CTI_ACD": "entry-of-1700000000.11",
                              "CTI_NEXT": "queue"}, True)]
    assert list(session.sets[0][0])[-1] == "CTI_NEXT"
    (seen,) = asked
    assert (seen.linkedid, seen.queue, seen.priority, seen.customer_id, dict(seen.skills), seen.caller_number) == \
        (out.linkedid, "billing", 5, 42, {"billing": 2}, "+8613800000001")
    # Not asked when the call goes anywhere but a queue.
    voicemail = _Sets(["1"], callerid="+8613800000002")
    await run_ivr(voicemail, FLOW, directory(), bus, Clock(SATURDAY), handoff_vars=handoff)
    assert len(asked) == 1 and voicemail.sets == [({"CTI_MAILBOX": "8000@cti", "CTI_NEXT": "voicemail"}, True)]


async def test_failing_hand_off_variables_never_cost_the_caller_the_queue(bus: Any,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    def broken(outcome: IvrOutcome) -> Mapping[str, str]:
        raise RuntimeError("bug")

    session = _Sets(["123456", "1234", "2"])
    out = await run_ivr(session, FLOW, directory(), bus, Clock(OPEN), handoff_vars=broken)
    assert out.outcome == "queue" and out.queue == "billing"
    assert session.sets == [({"CTI_QUEUE": "billing", "CTI_PRIORITY": "5", "CTI_NEXT": "queue"}, True)]
    assert "hand-off variables failed" in caplog.text


async def test_a_held_hand_off_sets_without_ending_and_waits_for_the_hold(bus: Any) -> None:
    """With ``hold`` the hand-off's set is not the last command; the hold is asked before
    IvrFinished is out (so the ACD, acting on IvrFinished, finds the session held) and the session
    ends only when the hold is done."""
    order: list[str] = []
    release: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def hold(session: Any, outcome: IvrOutcome) -> asyncio.Future[bool]:
        order.append(f"hold {outcome.queue}")
        return release

    bus.observe(IvrFinished, lambda ev: order.append("IvrFinished"), name="test.order")  # as published

    session = _Sets(["123456", "1234", "2"])
    run = asyncio.create_task(run_ivr(session, FLOW, directory(), bus, Clock(OPEN), hold=hold))
    await until_true(lambda: bool(order))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not run.done()  # held
    assert order == ["hold billing", "IvrFinished"]
    assert session.sets == [({"CTI_QUEUE": "billing", "CTI_PRIORITY": "5", "CTI_NEXT": "queue"}, False)]
    release.set_result(False)
    out = await run
    assert out.outcome == "queue"
    # Not held when the call goes anywhere but a queue: the set is the last command.
    voicemail = _Sets(["1"], callerid="+8613800000002")
    await run_ivr(voicemail, FLOW, directory(), bus, Clock(SATURDAY), hold=hold)
    assert order.count("hold billing") == 1
    assert voicemail.sets == [({"CTI_MAILBOX": "8000@cti", "CTI_NEXT": "voicemail"}, True)]


async def test_a_failing_hold_never_keeps_the_caller_from_the_queue(bus: Any, caplog: pytest.LogCaptureFixture) -> None:
    def broken(session: Any, outcome: IvrOutcome) -> None:
        raise RuntimeError("bug")

    out = await run_ivr(_Sets(["123456", "1234", "2"]), FLOW, directory(), bus, Clock(OPEN), hold=broken)
    assert out.outcome == "queue" and "holding the session after the hand-off failed" in caplog.text


async def until_true(predicate: Any) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("not reached")
