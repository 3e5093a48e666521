"""A number an agent types or pastes to dial (click-to-dial, a wrap-up's callback number) as people
write them: spaces, dashes, dots and brackets dropped; anything else refused with a sentence, not
the regular expression the field is checked with."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent_console.protocol import DialFields, WrapUpFields, parse_client_frame


@pytest.mark.parametrize(("typed", "dialled"), [
    ("+1 (900) 555-1234", "+19005551234"), ("138.0013.8000", "13800138000"), (" 1001 ", "1001"),
    ("*97#", "*97#")])
def test_a_number_written_as_people_write_it_is_dialled(typed: str, dialled: str) -> None:
    assert DialFields(number=typed).number == dialled
    frame = parse_client_frame(f'{{"type":"dial","number":"{typed}"}}')
    assert frame.number == dialled


@pytest.mark.parametrize("typed", ["call me", "+1 900 555 12x4", "1001\r\nAction: Originate", "", "+" + "1" * 33])
def test_anything_else_is_refused_in_words(typed: str) -> None:
    with pytest.raises(ValidationError) as err:
        DialFields(number=typed)
    message = str(err.value)
    assert "not a phone number" in message and "[0-9" not in message, message


def test_a_wrap_ups_callback_number_reads_the_same_way() -> None:
    fields = {name: f for name, f in WrapUpFields.model_fields.items() if f.is_required()}
    base = {name: "info_given" if name == "disposition" else "" for name in fields}
    assert WrapUpFields(**base, callback_number="+86 138-0013-8000").callback_number == "+8613800138000"
    with pytest.raises(ValidationError, match="not a phone number"):
        WrapUpFields(**base, callback_number="tomorrow")
