"""Small pure rules of the CRM: phone normalisation, case transitions, search terms, the outbox file."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_core.cases import TRANSITIONS, next_status
from crm_core.catalog import search_terms
from crm_core.customers import like_pattern
from crm_core.errors import IllegalCaseStep, InvalidField
from crm_core.outbox import Outbox
from crm_core.phones import to_e164, try_e164


@pytest.mark.parametrize(("raw", "e164"), [
    ("13800138000", "+8613800138000"), ("+86 138 0013 8000", "+8613800138000"), ("008613800138000", "+8613800138000"),
    ("010-6552-9988", "+861065529988"), ("(021) 6552 9988", "+862165529988"), ("+1 415 555 2671", "+14155552671"),
    ("+44 20 7946 0958", "+442079460958")])
def test_phone_numbers_become_e164(raw: str, e164: str) -> None:
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "abc", "12", "+999 1234"])
def test_bad_phone_numbers_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidField) as err:
        to_e164(raw, field="phones[0].number")
    assert err.value.field == "phones[0].number"
    assert try_e164(raw) is None


def test_case_transition_table() -> None:
    for current, allowed in TRANSITIONS.items():
        for wanted in TRANSITIONS:
            if wanted == current or wanted in allowed:
                assert next_status(current, wanted) == wanted
            else:
                with pytest.raises(IllegalCaseStep):
                    next_status(current, wanted)


def test_search_terms_and_like_escaping() -> None:
    assert search_terms("退款流程 Refund, policy!") == ["退款", "款流", "流程", "refund", "policy"]
    assert search_terms("%' OR 1=1 --") == ["or"]
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


async def test_outbox_survives_a_torn_last_line(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.jsonl")
    assert box.open() == []
    box.append('{"type":"call.ended","data":{"ts":1.0,"linkedid":"a"}}')
    await box.sync()
    await box.close()
    with (tmp_path / "o.jsonl").open("a") as fh:
        fh.write('{"type":"call.ended","da')  # the engine died in the middle of a write
    again = Outbox(tmp_path / "o.jsonl")
    assert again.open() == [{"type": "call.ended", "data": {"ts": 1.0, "linkedid": "a"}}]
    await again.compact(['{"x":1}'])
    again.append('{"x":2}')
    await again.close()
    assert (tmp_path / "o.jsonl").read_text() == '{"x":1}\n{"x":2}\n'


async def test_outbox_interval_policy_flushes_in_the_background(tmp_path: Path) -> None:
    import asyncio

    box = Outbox(tmp_path / "o.jsonl", sync="interval", interval_s=0.01)
    box.open()
    box.append('{"x":1}')
    box.append('{"x":2}')
    assert box._synced_at == 0
    for _ in range(100):
        await asyncio.sleep(0.01)
        if box._synced_at == 2:
            break
    assert box._synced_at == 2
    await box.close()
