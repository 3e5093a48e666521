"""What a registration trunk's account (username and secret, read from the environment) may hold to
be written into pjsip.conf: no control character and no space at either end (Asterisk's parser would
end the line, or strip it) and, for the username, only what RFC 3261 allows in a SIP URI's user part,
since it is written as one (``from_user``, ``client_uri = sip:<user>@host``, ``contact_user``).
A ``;`` is fine in both: the renderer escapes it (``cti.trunk_render.config_value``)."""

from __future__ import annotations

import re
from collections.abc import Callable

# A character that ends or breaks a line of pjsip.conf, where the account is written: a value holding
# one would write lines (sections) of its own into Asterisk's configuration.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 3261 25.1: user = 1*( unreserved / escaped / user-unreserved ); unreserved = alphanum / mark.
_USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-_.!~*'()"  # mark
                        "&=+$,;?/")  # user-unreserved
_ESCAPED = re.compile(r"%[0-9A-Fa-f]{2}")
USER_PART_RULE = ("a SIP URI's user part (RFC 3261) holds only letters, digits, - _ . ! ~ * ' ( ) & = + $ , ; ? / "
                  "and %XX escapes, and the trunk writes this username into from_user, client_uri and "
                  "contact_user of pjsip.conf")


def line_problem(value: str) -> str | None:
    """Why ``value`` cannot be written after ``name = `` in pjsip.conf as it is, else None."""
    if _CONTROL.search(value):
        return "holds a control character (a line break, a tab...), which would end its line of pjsip.conf"
    if value != value.strip(" "):  # Asterisk's parser strips a value (main/config.c): no quoting keeps a space
        return "begins or ends with a space, which Asterisk's configuration parser drops from its line of pjsip.conf"
    return None


# The classes of characters a user part cannot hold, in the order a refusal names them (the first
# that matches a character is its class; anything else is named itself).
_NOT_USER: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("'@' or ':' (which end a SIP URI's user part)", lambda ch: ch in "@:"),
    ("'<', '>' or '\"' (which delimit a SIP address)", lambda ch: ch in '<>"'),
    ("whitespace", str.isspace),
    ("a character outside ASCII", lambda ch: not ch.isascii()),
    ("a '%' not followed by two hexadecimal digits", lambda ch: ch == "%"),
)


def user_part_problem(value: str) -> str | None:
    """Why ``value`` is not a SIP URI user part, naming the classes of the characters that are not
    (a username is no secret, so a stray character is shown; the value itself never is), else None."""
    found: set[str] = set()
    others: list[str] = []
    for ch in _ESCAPED.sub("", value):
        if ch in _USER_CHARS:
            continue
        key = next((name for name, holds in _NOT_USER if holds(ch)), None)
        if key is not None:
            found.add(key)
        elif ch not in others:
            others.append(ch)
    named = [name for name, _ in _NOT_USER if name in found]
    if others:
        named.append(", ".join(f"'{ch}'" for ch in others))
    if not named:
        return None
    held = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"holds {held}, which {USER_PART_RULE}"
