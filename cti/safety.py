"""Checks for every value that reaches an AMI action header or an AGI command line."""

from __future__ import annotations

import re

from cti.errors import UnsafeValue

# CR and LF end an AMI header or an AGI command: a value holding one could smuggle a second
# header (e.g. "Application: System") or a second command. Other C0 controls and DEL have no
# business in a channel name, number or variable either.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
MAX_VALUE_LENGTH = 1024


def check_value(field: str, value: object) -> str:
    """Return ``value`` as a string, or raise UnsafeValue naming ``field``."""
    text = value if type(value) is str else str(value)
    if len(text) <= MAX_VALUE_LENGTH and text.isascii() and text.isprintable():
        return text  # printable ASCII: no control character, nothing else to check (most values)
    match = _CONTROL.search(text)
    if match:
        raise UnsafeValue(field, f"contains control character {match.group()!r}; CR/LF and other "
                          "control characters are refused")
    if len(text) > MAX_VALUE_LENGTH:
        raise UnsafeValue(field, f"is {len(text)} characters long (at most {MAX_VALUE_LENGTH})")
    return text


def check_header_name(name: str) -> str:
    """Header and variable names are restricted to letters, digits, '_' and '-'."""
    if not _HEADER_NAME.match(name):
        raise UnsafeValue(name, "is not a valid header or variable name")
    return name


# Dialplan functions an action may name where it names a channel variable (AGI's SET VARIABLE and
# MSet write through the function; AMI's Getvar reads through it). Named one by one, in full: others
# run commands or read and write files or AstDB (SHELL(), FILE(), DB()).
VARIABLE_FUNCTIONS = frozenset({"CHANNEL(language)"})


def check_variable_name(name: str) -> str:
    """A channel variable's name (letters, digits, '_' and '-') or one of ``VARIABLE_FUNCTIONS``."""
    if name in VARIABLE_FUNCTIONS or _HEADER_NAME.match(name):
        return name
    raise UnsafeValue("Variable", f"{name!r} is not a variable name (letters, digits, '_', '-') nor one of "
                      f"the dialplan functions {', '.join(sorted(VARIABLE_FUNCTIONS))}")


def check_agi_argument(field: str, value: object) -> str:
    """AGI arguments are space-separated and may be quoted; a quote inside breaks the framing."""
    text = check_value(field, value)
    if '"' in text:
        raise UnsafeValue(field, 'contains a double quote, which would break AGI argument quoting')
    return text


# What a caller ID's number may hold when the engine hands it to an Originate's CallerID ("<number>"):
# a carrier sets the inbound caller's number, so a '"', '<' or '>' in it could change the name the
# agent's phone shows (CallerID is parsed as '"name" <number>'). Dialable characters and the names
# carriers use ("anonymous") pass; the rest is dropped.
_NOT_CALLER_NUMBER = re.compile(r"[^0-9A-Za-z+*#._-]")


def number_caller_id(number: str | None) -> str | None:
    """``<number>`` for an Originate's CallerID with only a number's characters kept, or None."""
    kept = _NOT_CALLER_NUMBER.sub("", number or "")
    return f"<{kept}>" if kept else None
