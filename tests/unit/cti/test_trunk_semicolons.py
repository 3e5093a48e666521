"""A registration trunk's account value holding ``;`` was written into pjsip.conf as it is, and
Asterisk's configuration parser (main/config.c) reads an unescaped ``;`` as the start of a comment:
``password = ab;cd`` registered with ``ab`` (found in the go-live trial). The renderer now writes
``\\;``, which the parser turns back into ``;`` (it drops the one backslash before a ``;`` and
leaves every other backslash alone, so a backslash needs no escape of its own)."""

from __future__ import annotations

import pytest

from cti.trunk_render import config_value, pjsip_sections
from cti.trunks import TrunksConfig

CFG = TrunksConfig.model_validate({"trunks": [
    {"name": "reg", "kind": "registration", "host": "sip.example.net", "username_env": "U", "secret_env": "S"}]})


def _asterisk_reads(line: str) -> str:
    """The value of ``name = value`` as main/config.c reads it: an unescaped ';' starts a comment
    (';--' a block comment: gone to the end of this line too), '\\;' is a ';', and the value is stripped."""
    out, i = [], 0
    while i < len(line):
        ch = line[i]
        if ch == ";":
            if out and out[-1] == "\\" and i > 0 and line[i - 1] == "\\":
                out[-1] = ";"
                i += 1
                continue
            break
        out.append(ch)
        i += 1
    return "".join(out).split("=", 1)[1].strip()


def _line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"{key} = "))


@pytest.mark.parametrize("secret", ["ab;cd", ";leading", "trailing;", "two;;in;a;row", "x\\;y", "back\\slash",
                                    "ends\\", "block;--comment", "end--;of", "\\\\;"])
def test_a_secret_holding_a_semicolon_is_read_whole(secret: str) -> None:
    text = pjsip_sections(CFG, {"U": "acct42", "S": secret}, tls_available=False)
    assert _asterisk_reads(_line(text, "password")) == secret, _line(text, "password")


def test_a_username_holding_a_semicolon_is_read_whole_everywhere_it_is_written() -> None:
    text = pjsip_sections(CFG, {"U": "ac;ct", "S": "s3cret"}, tls_available=False)
    assert _asterisk_reads(_line(text, "username")) == "ac;ct"
    assert _asterisk_reads(_line(text, "from_user")) == "ac;ct"
    assert _asterisk_reads(_line(text, "contact_user")) == "ac;ct"
    assert _asterisk_reads(_line(text, "client_uri")) == "sip:ac;ct@sip.example.net:5060"


def test_config_value_escapes_only_semicolons() -> None:
    assert config_value("a;b\\c") == "a\\;b\\c"
    assert config_value("plain") == "plain"
