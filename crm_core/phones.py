"""Phone numbers normalised to E.164 with libphonenumber; the default region is China."""

from __future__ import annotations

import functools

import phonenumbers

from crm_core.errors import InvalidField

DEFAULT_REGION = "CN"


def to_e164(raw: str, *, region: str = DEFAULT_REGION, field: str = "phone") -> str:
    """Return ``raw`` as E.164 (``+8613800138000``) or raise InvalidField naming ``field``."""
    text = (raw or "").strip()
    if not text:
        raise InvalidField(field, "is empty")
    # Asterisk hands over international numbers with a 00 prefix as often as with '+'.
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as err:
        raise InvalidField(field, f"{raw!r} is not a phone number ({err})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidField(field, f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: str | None, *, region: str = DEFAULT_REGION) -> str | None:
    """Like ``to_e164`` but returns None for anything that is not a phone number (extensions...)."""
    if not raw:
        return None
    try:
        return to_e164(raw, region=region)
    except InvalidField:
        return None


@functools.lru_cache(maxsize=16384)
def known_e164(raw: str) -> str | None:
    """``try_e164`` remembered, for numbers the engine meets again and again (callers calling back:
    the IVR's caller look-up, the call logger's customer match); libphonenumber takes ~50 us a number."""
    return try_e164(raw)
