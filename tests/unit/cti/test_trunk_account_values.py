"""A registration trunk's account comes from the environment and is written into pjsip.conf: a value
with a line break wrote lines of its own into it ([evil] sections: found in the go-live trial with
`cti pbx render`). Such a value is a problem that `cti config check` (and so `cti run`) names by its
variable, never showing it, and the renderer refuses it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from cti.errors import ConfigError
from cti.settings import load_settings
from cti.trunk_render import pjsip_sections
from cti.trunks import TrunksConfig, check_trunks

TRUNKS = """
trunks:
  - {name: carrier, kind: registration, host: sip.example.net, username_env: C_USER, secret_env: C_SECRET}
"""


@pytest.mark.parametrize("bad", ["s\n[evil]\ntype=endpoint", "s\r\nx", "a\x00b", "tab\there", "del\x7f"])
@pytest.mark.parametrize("var", ["C_USER", "C_SECRET"])
def test_a_control_character_in_the_account_is_named_not_rendered(tmp_path: Path, bad: str, var: str) -> None:
    (tmp_path / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    env = {"C_USER": "acct42", "C_SECRET": "s3cret-from-env"} | {var: bad}
    problems = check_trunks(load_settings(config_dir=tmp_path), env=env)
    attr = "username_env" if var == "C_USER" else "secret_env"
    assert problems == [f"{tmp_path / 'trunks.yaml'}: trunks.0.{attr}: the environment variable {var} holds a "
                        "control character (a line break, a tab...), which would end its line of pjsip.conf "
                        "(trunk 'carrier') (line 3)"], problems
    assert not any(bad in p for p in problems)
    cfg = TrunksConfig.model_validate({"trunks": [{"name": "carrier", "kind": "registration",
                                                   "host": "sip.example.net", "username_env": "C_USER",
                                                   "secret_env": "C_SECRET"}]})
    with pytest.raises(ConfigError) as err:
        pjsip_sections(cfg, env, tls_available=False)
    assert var in err.value.message and bad not in err.value.message


def test_an_ordinary_account_passes(tmp_path: Path) -> None:
    (tmp_path / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    env = {"C_USER": "acct42", "C_SECRET": secrets.token_urlsafe(16) + ".!"}  # punctuation passes
    assert check_trunks(load_settings(config_dir=tmp_path), env=env) == []


@pytest.mark.parametrize("bad", [" leading", "trailing ", " both "])
@pytest.mark.parametrize("var", ["C_USER", "C_SECRET"])
def test_a_space_at_either_end_of_the_account_is_named_not_rendered(tmp_path: Path, bad: str, var: str) -> None:
    """Asterisk's configuration parser strips a value (main/config.c, ast_strip): ``password =  pw `` is
    ``pw``, and the trunk would register with another secret than the carrier's."""
    (tmp_path / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    env = {"C_USER": "acct42", "C_SECRET": "s3cret-from-env"} | {var: bad}
    problems = check_trunks(load_settings(config_dir=tmp_path), env=env)
    attr = "username_env" if var == "C_USER" else "secret_env"
    assert problems == [f"{tmp_path / 'trunks.yaml'}: trunks.0.{attr}: the environment variable {var} begins or "
                        "ends with a space, which Asterisk's configuration parser drops from its line of pjsip.conf "
                        "(trunk 'carrier') (line 3)"], problems
    cfg = TrunksConfig.model_validate({"trunks": [{"name": "carrier", "kind": "registration",
                                                   "host": "sip.example.net", "username_env": "C_USER",
                                                   "secret_env": "C_SECRET"}]})
    with pytest.raises(ConfigError) as err:
        pjsip_sections(cfg, env, tls_available=False)
    assert var in err.value.message and bad.strip() not in err.value.message
