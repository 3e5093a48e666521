"""What a registration trunk's account (username and secret, read from the environment) may hold to
be written into pjsip.conf: no control character and no space at either end (Asterisk's parser would
end the line, or strip it) and, for the username, only what RFC 3261 allows in a SIP URI's user part,
since it is written as one (``from_user``, ``client_uri = sip:<user>@host``, ``contact_user``).
A ``;`` is fine in both: the renderer escapes it (``cti.trunk_render.config_value``)."""

from __future__ import annotations

import re

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


def user_part_problem(value: str) -> str | None:
    """Why ``value`` is not a SIP URI user part, naming the classes of the characters that are not
    (a username is no secret, so a stray character is shown; the value itself never is), else None."""
    classes: dict[str, list[str]] = {}
    rest = _ESCAPED.sub("", value)
    for ch in rest:
        if ch in _USER_CHARS:
            continue
        if ch in "@:":
            key = "'@' or ':' (which end a SIP URI's user part)"
        elif ch in '<>"':
            key = "'<', '>' or '\"' (which delimit a SIP address)"
        elif ch.isspace():
            key = "whitespace"
        elif not ch.isascii():
            key = "a character outside ASCII"
        elif ch == "%":
            key = "a '%' not followed by two hexadecimal digits"
        else:
            key = "other"
        chars = classes.setdefault(key, [])
        if ch not in chars:
            chars.append(ch)
    if not classes:
        return None
    order = ["'@' or ':' (which end a SIP URI's user part)", "'<', '>' or '\"' (which delimit a SIP address)",
             "whitespace", "a character outside ASCII", "a '%' not followed by two hexadecimal digits"]
    named = [key for key in order if key in classes]
    if "other" in classes:
        named.append(", ".join(f"'{ch}'" for ch in classes["other"]))
    held = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"holds {held}, which {USER_PART_RULE}"
