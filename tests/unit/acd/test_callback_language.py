"""The virtual-hold callback speaks the language the caller was offered it in: the offer's channel
language (the IVR's, e.g. zh for a Chinese-speaking customer) goes with the entry, and the callback's
answered leg is given it before its question ("press 1"), which a Chinese-speaking caller heard in
English (tests/asterisk/caller/test_callback_caller.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from acd.virtual_hold import MemoryVirtualHoldStore, VirtualHoldPolicy, callback_language
from acd.virtual_hold_calls import ID_VAR
from acd.virtual_hold_pbx import VirtualHold
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

POLICY = VirtualHoldPolicy(offer_after_s=10, offer_ewt_s=None, first_offer_s=1, reoffer_every_s=None, confirm=True)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


class Session:
    """An AGI conversation on a fake channel: its env, its variables, the keys its caller presses."""

    def __init__(self, env: dict[str, str], variables: dict[str, str], keys: str = "") -> None:
        self._env, self.vars, self.keys = env, variables, list(keys)
        self.set: dict[str, str] = {}
        self.played: list[tuple[str, str]] = []  # (sound, the channel's language then)

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def set_variables(self, values: Mapping[str, str], *, last: bool = False) -> None:
        self.set.update(values)

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        self.played.append((sound, self.set.get("CHANNEL(language)", self._env.get("language", ""))))
        return self.keys.pop(0) if self.keys else ""

    async def wait_for_digit(self, timeout_ms: int) -> str:
        return self.keys.pop(0) if self.keys else ""

    async def hangup(self) -> None:
        pass


@asynccontextmanager
async def virtual_hold(policy: VirtualHoldPolicy) -> AsyncIterator[VirtualHold]:
    """Virtual hold for ``support`` on a fake PBX, its clock at 100 s."""
    bus = InProcessBus()
    await bus.start()
    acd = AcdService(Router((QueueConfig("support", ring_timeout_s=15, callback_ring_s=5),)), FakeCallControl(), bus,
                     clock=Clock())
    yield VirtualHold(acd, {"support": policy}, MemoryVirtualHoldStore(), far_end_wait_s=0)
    await bus.stop()


@pytest.fixture
async def vh() -> AsyncIterator[VirtualHold]:
    async with virtual_hold(POLICY) as v:
        yield v


def test_a_channel_language_is_kept_only_when_it_is_a_sound_directory_name() -> None:
    assert callback_language("zh") == "zh" and callback_language("en_GB") == "en_GB"
    assert callback_language(None) is None and callback_language("") is None
    assert callback_language("zh\r\nAction: Originate") is None and callback_language("../../etc") is None


async def test_the_callback_asks_its_question_in_the_language_of_the_offer(vh: VirtualHold) -> None:
    await vh.acd.enqueue(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support"))
    offer = Session({"channel": "PJSIP/x-1", "language": "zh"}, {ID_VAR: "c1", "CTI_VH_KEY": "*"}, keys="*")
    await vh.routes()["vhold-offer"](offer)
    assert vh.entries["c1"].language == "zh"
    # The callback's leg: a Local channel of the trunk, in the PBX's default language.
    answer = Session({"channel": "Local/8613900000001@cti-external-0001;1", "language": "en"},
                     {ID_VAR: "c1", "CTI_VH_CONFIRM": "1", "CTI_VH_PROMPT": "cti/vhold_confirm"}, keys="1")
    await vh.routes()["vhold-answer"](answer)
    assert answer.played == [("cti/vhold_confirm", "zh")]
    assert answer.set == {"CHANNEL(language)": "zh"}


async def test_an_entry_with_no_language_leaves_the_callback_s_channel_as_it_is(vh: VirtualHold) -> None:
    entry = await vh.request("+8613900000001", "support")  # a web request: no offer, no language
    assert entry.language is None
    answer = Session({"channel": "Local/x;1", "language": "en"}, {ID_VAR: entry.entry_id, "CTI_VH_CONFIRM": ""})
    await vh.routes()["vhold-answer"](answer)
    assert answer.set == {}


def test_the_store_s_journal_entry_record_does_not_carry_the_language() -> None:
    """A journal line of an entry with it could not be read back by a release without it (after a
    downgrade): the language is a record of its own (tests/db/crm/test_virtual_hold_language.py)."""
    from acd.virtual_hold import VirtualEntry
    from crm_core.virtual_holds import _fields

    fields = _fields(VirtualEntry("c1", "+8613900000001", "support", 100.0, language="zh"))
    assert "language" not in fields and VirtualEntry(**fields).language is None
