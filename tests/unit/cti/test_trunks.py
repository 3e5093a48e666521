"""config/trunks.yaml: validation that names the file and the field, E.164 normalisation, and
longest-prefix routing with the presented caller ID."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.errors import ConfigError
from cti.settings import load_settings
from cti.trunks import TrunksConfig, Unroutable, check_trunks, load_trunks, normalise

CFG = TrunksConfig.model_validate({
    "default_region": "CN",
    "trunks": [
        {"name": "sim", "kind": "simulator"},
        {"name": "cn-carrier", "kind": "ip", "host": "192.0.2.10", "max_calls": 4},
        {"name": "intl", "kind": "registration", "host": "sip.example.net",
         "username_env": "INTL_USER", "secret_env": "INTL_SECRET"},
    ],
    "outbound": {
        "routes": [{"prefix": "", "trunk": "intl"}, {"prefix": "86", "trunk": "cn-carrier"},
                   {"prefix": "8699", "trunk": "sim"}],
        "caller_id": {"default": "01058880000", "queues": {"sales": "+861058880001"},
                      "campaigns": {"spring": "+861058880002"}},
    },
})


@pytest.mark.parametrize(("raw", "e164"), [
    ("013912345678", "+8613912345678"),      # national, trunk prefix 0
    ("13912345678", "+8613912345678"),       # national mobile
    ("8613912345678", "+8613912345678"),     # international without its + (the console strips it)
    ("+33 6 12 34 56 78", "+33612345678"),  # formatted international
    ("0033612345678", "+33612345678"),       # 00 international prefix
    ("86990001", "+86990001"),               # simulator test numbers keep their digits
])
def test_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert normalise(raw, "CN") == e164


@pytest.mark.parametrize("raw", ["", "abc", "12&34", "1001/2", "+", "++33612345678"])
def test_what_is_not_a_phone_number_normalises_to_none(raw: str) -> None:
    assert normalise(raw, "CN") is None


def test_longest_prefix_picks_the_trunk_and_caller_id_follows_queue_then_campaign() -> None:
    assert CFG.route("013912345678").trunk == "cn-carrier"
    assert CFG.route("86990001").trunk == "sim"
    fr = CFG.route("+33612345678")
    assert (fr.trunk, fr.context, fr.exten, fr.e164) == ("intl", "cti-trunk-intl", "33612345678", "+33612345678")
    assert fr.local_channel == "Local/33612345678@cti-trunk-intl/n"
    assert fr.caller_id == "+861058880000"  # default, normalised to E.164
    assert CFG.route("13912345678", queue="sales").caller_id == "+861058880001"
    assert CFG.route("13912345678", queue="sales", campaign="spring").caller_id == "+861058880002"


def test_an_unroutable_number_names_the_field() -> None:
    no_default = CFG.model_copy(update={"outbound": CFG.outbound.model_copy(
        update={"routes": CFG.outbound.routes[1:]})})
    with pytest.raises(Unroutable) as err:
        no_default.route("+33612345678", field="target")
    assert err.value.field == "target" and err.value.http_status == 422 and "+33612345678" in str(err.value)
    with pytest.raises(Unroutable, match="number: 'x1' is not a phone number"):
        CFG.route("x1")


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "trunks.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    cfg_dir = _write(tmp_path, """
trunks:
  - {name: carrier, kind: registration, host: sip.example.net}
  - {name: lan, kind: ip}
  - {name: odd, kind: simulator, codecs: [ulaw, speex2]}
outbound:
  routes: [{prefix: "", trunk: nowhere}]
""")
    problems = check_trunks(load_settings(config_dir=cfg_dir), env={})
    text = "\n".join(problems)
    assert all(p.startswith(f"{cfg_dir / 'trunks.yaml'}: ") for p in problems), problems
    assert "trunks.2.codecs" in text and "speex2" in text
    assert "trunks.0: username_env and secret_env" in text  # a registration trunk names its variables
    assert "trunks.1: host: an ip trunk needs the carrier's host" in text


def test_route_to_unknown_trunk_and_missing_credentials_are_reported(tmp_path: Path) -> None:
    cfg_dir = _write(tmp_path, """
trunks:
  - {name: carrier, kind: registration, host: sip.example.net, username_env: C_USER, secret_env: C_SECRET}
outbound:
  routes: [{prefix: "", trunk: nowhere}]
""")
    problems = check_trunks(load_settings(config_dir=cfg_dir), env={})
    assert any("outbound.routes.0.trunk: 'nowhere' is not a trunk" in p for p in problems), problems
    cfg_dir = _write(tmp_path, """
trunks:
  - {name: carrier, kind: registration, host: sip.example.net, username_env: C_USER, secret_env: C_SECRET}
""")
    problems = check_trunks(load_settings(config_dir=cfg_dir), env={"C_USER": "u"})
    assert problems == [f"{cfg_dir / 'trunks.yaml'}: trunks.0.secret_env: the environment variable C_SECRET is "
                        "not set (trunk 'carrier' cannot register) (line 3)"]
    assert check_trunks(load_settings(config_dir=cfg_dir), env={"C_USER": "u", "C_SECRET": "s"}) == []


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    cfg_dir = _write(tmp_path, "trunks:\n  - {name: c, kind: registration, host: h, username: u, password: p}\n")
    with pytest.raises(ConfigError, match=r"trunks\.0\.password"):
        load_trunks(load_settings(config_dir=cfg_dir))


def test_the_shipped_file_chooses_the_simulator_explicitly() -> None:
    cfg = load_trunks(load_settings())
    assert [t.kind for t in cfg.trunks] == ["simulator"]
    assert cfg.route("86990001").exten == "86990001"


def test_a_public_callback_goes_to_a_fixed_or_mobile_number_of_the_regions_only() -> None:
    """A web form anyone can post to must not make the centre call abroad or a premium-rate line."""
    from cti.trunks import public_callback_refusal

    assert public_callback_refusal("+8613912345678", {"CN"}) is None  # a mobile
    assert public_callback_refusal("+861012345678", {"CN"}) is None  # a Beijing fixed line
    assert "GB" in (public_callback_refusal("+442079460000", {"CN"}) or "")
    assert public_callback_refusal("+442079460000", {"CN", "GB"}) is None
    assert "premium-rate" in (public_callback_refusal("+449001234567", {"GB"}) or "")  # 0900: premium rate
    assert "JM" in (public_callback_refusal("+18765550123", {"US"}) or "")  # +1 876: Jamaica, not the US
    assert public_callback_refusal("+16175551234", {"US"}) is None
    assert public_callback_refusal("not a number", {"CN"}) == "is not a phone number"


def test_a_users_caller_id_is_presented_only_when_the_trunk_owns_it() -> None:
    """A campaign's caller ID goes out only on a trunk that lists it in caller_ids; else the configured
    caller ID does (caller-ID spoofing); caller_id_refusal names where the allowed numbers come from."""
    cfg = TrunksConfig.model_validate({
        "trunks": [{"name": "a", "kind": "simulator", "caller_ids": ["010 5888 0001"]},
                   {"name": "b", "kind": "simulator"}],
        "outbound": {"routes": [{"prefix": "", "trunk": "a"}, {"prefix": "1", "trunk": "b"}],
                     "caller_id": {"default": "+861058880000"}}})
    assert cfg.caller_ids() == ("+861058880001",)
    assert cfg.route("13912345678", caller_id="+861058880001").caller_id == "+861058880001"
    assert cfg.route("13912345678", caller_id="+8613800138000").caller_id == "+861058880000"
    assert cfg.route("+12125550100", caller_id="+861058880001").caller_id == "+861058880000"  # trunk b owns none
    assert cfg.caller_id_refusal("01058880001") is None
    refusal = cfg.caller_id_refusal("+8613800138000")
    assert refusal is not None and "trunks[].caller_ids in config/trunks.yaml (+861058880001)" in refusal
    assert "none configured" in (TrunksConfig().caller_id_refusal("+861058880001") or "")
