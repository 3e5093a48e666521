"""The plain-data twins of the protocol models: the same validation, the same frame bytes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError, field_validator

from acd.events import AgentOffer
from agent_console import protocol as p
from agent_console.fakecrm import FakeCrm
from agent_console.plain import dumps, plain_validator
from agent_console.snapshots import offer_frame, offer_view, plain_offer_frame, plain_pop

POP = plain_validator(p.Pop)


def _both(data: Any) -> tuple[Any, Any]:
    """(plain result or where it is invalid, model_dump() or where it is invalid). The errors' types
    may be named differently (``dict_type`` for ``model_type``); where they are must be the same."""
    try:
        plain: Any = POP.validate_python(data)
    except ValidationError as err:
        plain = [e["loc"] for e in err.errors()]
    try:
        model: Any = p.Pop.model_validate(data).model_dump()
    except ValidationError as err:
        model = [e["loc"] for e in err.errors()]
    return plain, model


def _fake_pops() -> list[dict[str, Any]]:
    crm = FakeCrm(clock=lambda: 1_764_700_000.0)
    crm.ivr["c-ivr"] = {"flow": "main", "intent": "billing",
                        "path": [{"node": "menu", "label": "Main menu", "choice": "2", "at": 3.5, "extra": "x"}]}
    numbers = ["+8613800138000", "+441632960123", "+8613900001111", "+15550000000", ""]
    info = {"queue": "support", "waited_s": 8, "skills": {"general": "1"}, "direction": "inbound"}
    pops = [asyncio.run(crm.build_pop("c-ivr" if n == "" else f"c{i}", "a1", {**info, "caller_number": n}))
            for i, n in enumerate(numbers)]
    return [{**raw, "call_id": raw["call_id"], "complete": True} for raw in pops]


@pytest.mark.parametrize("raw", _fake_pops(), ids=lambda r: r["caller_number"] or "ivr")
def test_a_crm_pop_validates_and_dumps_exactly_like_the_model(raw: dict[str, Any]) -> None:
    plain = POP.validate_python(raw)
    model = p.Pop.model_validate(raw)
    assert plain == model.model_dump() and list(plain) == list(model.model_dump())
    assert dumps(plain) == model.model_dump_json().encode()
    if raw["customer"] is not None:  # fresh containers: the CRM's own records are not shared
        assert plain["customer"] is not raw["customer"] and plain["customer"]["tags"] is not raw["customer"]["tags"]


def test_defaults_are_filled_unknown_keys_dropped_and_types_coerced_at_every_level() -> None:
    raw = {"call_id": "c1", "waited_s": 3, "skills": {"en": "2"}, "surprise": 1,
           "customer": {"id": "7", "name": "Wei", "tags": ["vip"], "secret": "x"},
           "interactions": [{"id": 1, "at": 5, "note_typo": 1}, {"at": "yesterday"}],
           "transfer": {"from_agent": "a2"}}
    plain, model = _both(raw)
    assert plain == model
    assert plain["waited_s"] == 3.0 and isinstance(plain["waited_s"], float) and plain["skills"] == {"en": 2}
    assert plain["customer"]["id"] == 7 and "secret" not in plain["customer"] and "surprise" not in plain
    assert plain["interactions"][0]["at"] == 5.0 and plain["interactions"][1]["at"] == "yesterday"
    assert plain["transfer"] == {"from_agent": "a2", "note": "", "tags": [], "attributes": {}}
    assert plain["complete"] is True and plain["source"] == "crm" and plain["open_cases"] == []


@pytest.mark.parametrize("raw", [
    {},  # no call_id
    {"call_id": "c1", "interactions": [{}] * 6},  # more than 5
    {"call_id": "c1", "customer": {"id": "seven", "name": "x"}},
    {"call_id": "c1", "skills": {"en": "high"}},
    {"call_id": "c1", "waited_s": "long"},
    {"call_id": ["c1"]},
])
def test_what_the_model_refuses_the_plain_validator_refuses_the_same_way(raw: dict[str, Any]) -> None:
    plain, model = _both(raw)
    assert isinstance(plain, list) and plain == model


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
_CARD = st.fixed_dictionaries({"id": st.integers(1, 99) | st.text(max_size=3), "name": st.text(max_size=5)},
                              optional={"tags": st.lists(st.text(max_size=3), max_size=2), "tier": _JSONISH})
_POP_KEYS = st.fixed_dictionaries(
    {"call_id": st.text(max_size=6) | _JSONISH},
    optional={"customer": st.none() | _CARD | _JSONISH,
              "interactions": st.lists(st.dictionaries(st.sampled_from(["id", "at", "notes", "resolved", "x"]),
                                                       _JSONISH, max_size=3), max_size=6),
              "waited_s": _JSONISH, "skills": st.dictionaries(st.text(max_size=3), st.integers(0, 9) | _JSONISH,
                                                               max_size=2),
              "script": st.none() | st.fixed_dictionaries({"title": st.text(max_size=4), "body": _JSONISH}),
              "articles": st.lists(st.fixed_dictionaries({"id": _JSONISH, "title": st.text(max_size=4)}), max_size=2),
              "complete": _JSONISH, "unknown": _JSONISH})


@settings(max_examples=300, deadline=None)
@given(raw=_POP_KEYS)
def test_any_input_gives_what_the_model_gives_and_the_same_json(raw: dict[str, Any]) -> None:
    plain, model = _both(raw)
    assert plain == model or _nan_equal(plain, model)
    if isinstance(plain, dict):
        assert dumps(plain) == p.Pop.model_validate(raw).model_dump_json().encode()


def _nan_equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str).replace("NaN", "n") == \
        json.dumps(b, sort_keys=True, default=str).replace("NaN", "n")


def test_dumps_writes_nan_as_null_and_falls_back_for_integers_past_64_bits() -> None:
    pop = {"call_id": "c1", "waited_s": math.nan, "customer": {"id": 2**70, "name": "Big"}}
    plain = POP.validate_python(pop)
    assert dumps(plain) == p.Pop.model_validate(pop).model_dump_json().encode()
    assert json.loads(dumps(plain))["waited_s"] is None and json.loads(dumps(plain))["customer"]["id"] == 2**70


def test_the_offer_frame_from_plain_data_is_the_models_frame_byte_for_byte() -> None:
    for raw in _fake_pops():
        for ev in (AgentOffer(ts=time.time(), agent_id="a1", linkedid=raw["call_id"], queue="support",
                              caller_number="+8613800138000", waited_s=8.0, skills={"general": 1}),
                   AgentOffer(ts=1_764_700_000, agent_id="a1", linkedid=raw["call_id"], queue=None,
                              ring_timeout_s=15, direction="outbound")):  # ints where the view has floats
            pop = plain_pop(ev.linkedid, raw, ev.agent_id)
            assert plain_offer_frame(ev, pop) == offer_frame(offer_view(ev, p.Pop.model_validate(pop))).encode()
            assert p.SERVER_ADAPTER.validate_json(plain_offer_frame(ev, pop)).type == "offer"


def test_models_a_dict_cannot_copy_are_refused_when_the_validator_is_made() -> None:
    class WithValidator(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def _upper(cls, v: str) -> str:
            return v.upper()

    class WithAlias(BaseModel):
        name: str = Field(alias="Name")

    class WithDate(BaseModel):
        at: dt.datetime

    class Outer(BaseModel):
        inner: WithDate | None = None

    for model in (WithValidator, WithAlias, WithDate, Outer):
        with pytest.raises(TypeError, match="plain_validator"):
            plain_validator(model)
