"""Languages match by their primary subtag (zh-CN, zh-Hans-CN, ZH -> zh) wherever two are compared:
the seeded CRM customers (zh-CN) reach an agent with the zh skill of ``language_skills: {zh: ...}``,
hear the zh prompts, and ``cti ivr check`` refuses a language_skills key that is no language tag."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from crm_core.seed import _customers
from ivr import stepper as s
from ivr.cli import app
from ivr.directory import CallerIdentity
from ivr.language import for_language, is_language_tag, primary, same_language, sound_language
from ivr.validate import parse, validate
from tests.unit.ivr.test_validate import BASE
from tests.unit.ivr.walk import OPEN, demo, walk

FLOW = demo()
CALLER = {"caller_number": "+8613800000001"}


@pytest.mark.parametrize(("tag", "expected"), [
    ("zh-CN", "zh"), ("zh-Hans-CN", "zh"), ("ZH", "zh"), ("zh_CN", "zh"), ("en-US", "en"), ("en", "en"),
    ("yue-HK", "yue"),
])
def test_primary_subtag(tag: str, expected: str) -> None:
    assert primary(tag) == expected


@pytest.mark.parametrize(("tag", "ok"), [
    ("zh", True), ("zh-CN", True), ("zh-Hans-CN", True), ("ZH", True), ("en_GB", True), ("es-419", True),
    ("de-CH-1996", True), ("x-klingon", True), ("", False), ("chinese", False), ("zh-", False), ("z", False),
    ("zh CN", False), ("1zh", False), ("zh-CN-", False), ("en--US", False),
])
def test_is_language_tag(tag: str, ok: bool) -> None:
    assert is_language_tag(tag) is ok


def test_same_language_and_lookup() -> None:
    assert same_language("zh-CN", "zh") and same_language("ZH", "zh-Hans-CN") and same_language("en-US", "en")
    assert not same_language("zh-CN", "en") and not same_language(None, "zh") and not same_language("", "")
    table = {"zh": 1, "en-GB": 2}
    assert (for_language(table, "zh-CN"), for_language(table, "en"), for_language(table, "fr")) == (1, 2, None)
    assert for_language({"zh": 1, "zh-TW": 3}, "zh-TW") == 3  # the exact key wins
    assert (sound_language("zh-CN"), sound_language("zh"), sound_language("en_GB")) == ("zh", "zh", "en_GB")


def zh_cn(customer_id: int = 7) -> CallerIdentity:
    """A customer as the CRM directory reports one of the seeded Chinese-speaking customers."""
    return CallerIdentity(customer_id=customer_id, name="张伟", tier="standard", language="zh-CN")


def test_crm_language_zh_cn_gets_the_zh_skill_and_zh_prompts() -> None:
    state, actions = walk(FLOW, [zh_cn(), "2"], OPEN, CALLER)
    final = state.final
    assert isinstance(final, s.Handoff)
    assert final.skills == {"billing": 2, "zh": 1}
    assert final.language == "zh-CN"
    # Asterisk's sound directory is "zh": the channel is switched once, to that.
    assert [a for a in actions if isinstance(a, s.SetVar)] == [s.SetVar("CHANNEL(language)", "zh")]


@pytest.mark.parametrize("tag", ["zh-Hans-CN", "ZH", "zh_CN"])
def test_other_spellings_of_chinese_get_the_zh_skill(tag: str) -> None:
    who = CallerIdentity(customer_id=7, name="x", language=tag)
    state, _ = walk(FLOW, [who, "1"], OPEN, CALLER)
    assert isinstance(state.final, s.Handoff) and state.final.skills.get("zh") == 1


def test_en_us_caller_on_an_english_flow_switches_nothing() -> None:
    who = CallerIdentity(customer_id=8, name="Emma", language="en-US")
    state, actions = walk(FLOW, [who, "3"], OPEN, CALLER)
    assert isinstance(state.final, s.Handoff) and state.final.skills == {"sales": 1}
    assert not [a for a in actions if isinstance(a, s.SetVar)]


def test_zh_cn_caller_on_the_chinese_line_hears_zh_prompts() -> None:
    flow = FLOW.model_copy(update={"prompts": {**FLOW.prompts, "main_menu": {"en": [["en-menu"]],
                                                                             "zh": [["zh-menu"]]}}})
    _, actions = walk(flow, [zh_cn(), "1"], OPEN, CALLER, language="zh")
    collects = [a for a in actions if isinstance(a, s.Collect)]
    assert collects[-1].prompt == ("zh-menu",)
    assert not [a for a in actions if isinstance(a, s.SetVar) and a.value != "zh"]


def test_every_seeded_customer_language_has_its_skills() -> None:
    """The seed's languages against the demo flow: each is the flow's own or has language_skills."""
    languages = {c.language for c in _customers(random.Random(20240601))}
    assert "zh-CN" in languages
    for lang in languages:
        assert same_language(lang, FLOW.language) or for_language(FLOW.language_skills, lang), lang


@pytest.mark.parametrize(("key", "fragment"), [
    ("chinese!", "field 'language_skills.chinese!': not a language tag"),
    ("zh CN", "field 'language_skills.zh CN': not a language tag"),
])
def test_check_refuses_a_language_skills_key_that_is_not_a_tag(key: str, fragment: str) -> None:
    data = copy.deepcopy(BASE)
    data["language_skills"] = {key: {"zh": 1}}
    flow, errs = parse(data, "t.yaml")
    assert flow is not None, errs
    assert any(p.startswith("t.yaml: ") and fragment in p for p in validate(flow, "t.yaml")), validate(flow, "t.yaml")


def test_check_refuses_two_keys_for_one_language() -> None:
    data = copy.deepcopy(BASE)
    data["language_skills"] = {"zh": {"zh": 1}, "zh-CN": {"zh": 2}}
    flow, _ = parse(data, "t.yaml")
    assert flow is not None
    assert any("field 'language_skills.zh-CN': the same language as 'zh'" in p for p in validate(flow, "t.yaml"))


def test_cli_check_names_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = copy.deepcopy(BASE)
    data["language_skills"] = {"zh": {"zh": 1}, "mandarin chinese": {"zh": 1}}
    path = tmp_path / "lang.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CTI_PBX__ROOTFS", str(tmp_path / "none"))
    res = CliRunner().invoke(app, ["check", str(path)])
    assert res.exit_code == 2
    assert f"error: {path}: field 'language_skills.mandarin chinese': not a language tag" in res.output
