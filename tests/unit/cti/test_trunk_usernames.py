"""A registration trunk's username is written as the user part of SIP URIs in pjsip.conf (from_user,
client_uri's ``sip:<user>@host``, contact_user) and as the auth username. A username holding ``@``,
``:``, ``<``, ``>``, ``"``, a space or another character outside RFC 3261's user part rendered
nonsense URIs (``client_uri = sip:a@b@sip.example.net:5060``: found in the go-live trial). Such a
username is now a problem that `cti config check` and `cti run` name by its variable and the
character's class (a username is no secret); a secret keeps its own rules (it is no URI part)."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cti.errors import ConfigError
from cti.settings import DEFAULT_CONFIG_DIR, load_settings
from cti.trunk_render import pjsip_sections
from cti.trunks import TrunksConfig, check_trunks

TRUNKS = """
trunks:
  - {name: carrier, kind: registration, host: sip.example.net, username_env: C_USER, secret_env: C_SECRET}
outbound:
  routes: [{prefix: "", trunk: carrier}]
"""
CFG = TrunksConfig.model_validate({"trunks": [{"name": "carrier", "kind": "registration", "host": "sip.example.net",
                                               "username_env": "C_USER", "secret_env": "C_SECRET"}]})


@pytest.mark.parametrize(("bad", "named"), [
    ("acct@carrier", "'@' or ':' (which end a SIP URI's user part)"),
    ("acct:5060", "'@' or ':' (which end a SIP URI's user part)"),
    ("<acct>", "'<', '>' or '\"' (which delimit a SIP address)"),
    ('ac"ct', "'<', '>' or '\"' (which delimit a SIP address)"),
    ("ac ct", "whitespace"),
    ("ac\u00a0ct", "whitespace"),
    ("caf\u00e9", "a character outside ASCII"),
    ("100%", "a '%' not followed by two hexadecimal digits"),
    ("a%4", "a '%' not followed by two hexadecimal digits"),
    ("a#b", "'#'"),
    ("a[b]\\c", "'[', ']', '\\'"),
    ("a{b}|c^`", "'{', '}', '|', '^', '`'"),
])
def test_a_username_outside_the_sip_user_part_is_named_not_rendered(tmp_path: Path, bad: str, named: str) -> None:
    (tmp_path / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    problems = check_trunks(load_settings(config_dir=tmp_path), env={"C_USER": bad, "C_SECRET": "s3cret-from-env"})
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.startswith(f"{tmp_path / 'trunks.yaml'}: trunks.0.username_env: the environment variable C_USER "
                              f"holds {named}, "), problem
    assert "from_user, client_uri and contact_user" in problem and "RFC 3261" in problem, problem
    assert problem.endswith("(trunk 'carrier') (line 3)"), problem
    assert "s3cret-from-env" not in problem
    with pytest.raises(ConfigError) as err:
        pjsip_sections(CFG, {"C_USER": bad, "C_SECRET": "s3cret-from-env"}, tls_available=False)
    assert err.value.message.startswith(f"the environment variable C_USER holds {named}, "), err.value.message
    assert "s3cret-from-env" not in err.value.message


def test_several_classes_are_named_together_each_once(tmp_path: Path) -> None:
    (tmp_path / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    [problem] = check_trunks(load_settings(config_dir=tmp_path), env={"C_USER": "a b@c:d<e#f#", "C_SECRET": "s"})
    assert ("C_USER holds '@' or ':' (which end a SIP URI's user part), '<', '>' or '\"' (which delimit a SIP "
            "address), whitespace and '#', ") in problem, problem


@pytest.mark.parametrize("good", ["acct42", "+861058880000", "a-b_c.d!e~f*g'h(i)j", "a&b=c+d$e,f;g?h/i",
                                  "%41cct%2f", "ac;ct"])
def test_every_character_of_rfc_3261s_user_part_passes_and_is_rendered(tmp_path: Path, good: str) -> None:
    (tmp_path / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    assert check_trunks(load_settings(config_dir=tmp_path), env={"C_USER": good, "C_SECRET": "s"}) == []
    text = pjsip_sections(CFG, {"C_USER": good, "C_SECRET": "s"}, tls_available=False)
    assert f"client_uri = sip:{good.replace(';', chr(92) + ';')}@sip.example.net:5060" in text


@pytest.mark.parametrize("secret", ["p@ss:word", "<\"quoted\">", "in side", "caf\u00e9#%zz[]{}|^`"])
def test_a_secret_keeps_its_own_rules_it_is_no_uri_part(tmp_path: Path, secret: str) -> None:
    (tmp_path / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    assert check_trunks(load_settings(config_dir=tmp_path), env={"C_USER": "acct42", "C_SECRET": secret}) == []
    assert "password = " in pjsip_sections(CFG, {"C_USER": "acct42", "C_SECRET": secret}, tls_available=False)


def _config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    (target / "trunks.yaml").write_text(TRUNKS, encoding="utf-8")
    return target


def test_config_check_and_cti_run_refuse_such_a_username_before_starting_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import callcenter.run
    from callcenter.cli import app

    started: list[str] = []

    async def fake_run(*args: object, **kwargs: object) -> None:
        started.append("engine")

    monkeypatch.setattr(callcenter.run, "run", fake_run)
    monkeypatch.setattr("cti.pbx.ManagedPbx.up", lambda self, **kw: started.append("pbx"))
    config = _config(tmp_path)
    for name, value in (("CTI_CONFIG_DIR", str(config)), ("CTI_STATE_DIR", str(tmp_path / "var")),
                        ("CTI_WEB__SESSION_SECRET", secrets.token_urlsafe(32)),
                        ("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}"),
                        ("C_USER", "acct@carrier.example"), ("C_SECRET", "s3cret-from-env")):
        monkeypatch.setenv(name, value)
    expected = (f"error: {config / 'trunks.yaml'}: trunks.0.username_env: the environment variable C_USER holds "
                "'@' or ':' (which end a SIP URI's user part), ")
    check = CliRunner().invoke(app, ["config", "check", "--no-database"])
    assert check.exit_code == 2 and expected in check.output, check.output
    run = CliRunner().invoke(app, ["run", "--no-demo"])
    assert run.exit_code == 2 and expected in run.output and "nothing was started" in run.output, run.output
    assert started == [] and not (tmp_path / "cti.db").exists()
    assert "s3cret-from-env" not in check.output + run.output
