"""The sounds config/queues.yaml has callers hear are looked for in the PBX's sounds, as the IVR's
are: a max-wait hangup's announcement that did not exist (``closing-announcement``) hung callers up
in silence, and nothing said so."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from acd.announce import announcement_sounds
from acd.config import read_queues
from callcenter.config_check import VOICEMAIL_INTRO, flow_languages, queue_sound_problems
from cti.settings import DEFAULT_CONFIG_DIR, load_settings
from ivr import flow as f
from ivr.prompts import read_texts
from ivr.sounds import SoundIndex

pytestmark = pytest.mark.unit


def _touch(root: Path, language: str, names: set[str] | frozenset[str], ext: str = "gsm") -> None:
    for name in names:
        path = root / language / f"{name}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def _sounds(root: Path) -> Path:
    """A sounds directory with everything the shipped configuration names (the project's prompts
    made from config/ivr/prompts.tsv, Asterisk's stock queue sounds in English)."""
    for text in read_texts(DEFAULT_CONFIG_DIR / "ivr" / "prompts.tsv"):
        _touch(root, text.language, {f"cti/{text.name}"}, "wav")
    _touch(root, "en", announcement_sounds("en") | {"vm-intro", "beep", "hello", "invalid"})
    return root


def _config(tmp_path: Path, **general: object) -> Path:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    data = yaml.safe_load((config / "queues.yaml").read_text(encoding="utf-8"))
    data["queues"]["general"].update(general)
    (config / "queues.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return config


def _problems(config: Path, sounds: Path) -> list[str]:
    queues = read_queues(load_settings(config_dir=config))
    assert queues is not None
    texts = {(f"cti/{t.name}", t.language) for t in read_texts(config / "ivr" / "prompts.tsv")}
    return queue_sound_problems(queues, config / "queues.yaml", ["en", "zh"], SoundIndex(sounds), texts)


def test_the_shipped_queues_name_only_sounds_that_exist(tmp_path: Path) -> None:
    assert _problems(_config(tmp_path), _sounds(tmp_path / "sounds")) == []


def test_a_max_wait_announcement_that_does_not_exist_is_named_with_queue_setting_and_languages(
        tmp_path: Path) -> None:
    sounds = _sounds(tmp_path / "sounds")
    config = _config(tmp_path, max_wait_action={"action": "hangup", "target": "closing-announcement"})
    problems = _problems(config, sounds)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{config}/queues.yaml: queues.general.max_wait_action.target: sound "
                                  f"'closing-announcement' not found in {sounds}/en or {sounds}/zh: "
                                  "callers of queue 'general' would hear silence there"), problems


def test_a_sound_missing_in_one_language_only_names_that_language_and_how_to_make_it(tmp_path: Path) -> None:
    sounds = _sounds(tmp_path / "sounds")
    (sounds / "zh" / "cti" / "queue_closing.wav").unlink()
    (sounds / "en" / "cti" / "queue_closing.wav").unlink()
    (sounds / "zh" / "cti" / "queue_thanks.wav").unlink()
    problems = _problems(_config(tmp_path), sounds)
    closing = [p for p in problems if "max_wait_action.target" in p]
    assert len(closing) == 1 and f"not found in {sounds}/en or {sounds}/zh" in closing[0], problems
    assert "config/ivr/prompts.tsv has its text (en, zh): `cti ivr prompts` makes it" in closing[0]
    # The Chinese announcement's thanks: every queue that announces says so, in zh only (the English
    # announcement is Asterisk's own sounds).
    announce = [p for p in problems if "announce_every_s" in p]
    assert [p.split(":")[1].strip() for p in announce] == [f"queues.{q}.announce_every_s"
                                                           for q in ("support", "billing", "sales", "general")]
    assert all(f"'cti/queue_thanks' not found in {sounds}/zh:" in p for p in announce), announce


@pytest.mark.parametrize(("missing", "field"), [
    ("cti/vhold_offer", "queues.billing.virtual_hold.prompt"),
    ("cti/thanks", "queues.billing.virtual_hold.accepted_prompt"),
    ("cti/vhold_confirm", "queues.billing.virtual_hold.confirm_prompt"),
    ("cti/survey_q2", "queues.billing.survey.questions[1]"),
    ("cti/survey_thanks", "queues.billing.survey.thanks"),
])
def test_the_virtual_hold_and_survey_prompts_are_looked_for(tmp_path: Path, missing: str, field: str) -> None:
    sounds = _sounds(tmp_path / "sounds")
    for lang in ("en", "zh"):
        (sounds / lang / f"{missing}.wav").unlink()
    problems = _problems(_config(tmp_path), sounds)
    assert [p for p in problems if f"'{missing}'" in p and p.split(": ")[1] == field], problems


def test_the_voicemail_intro_is_missing_only_when_neither_it_nor_the_stock_one_exists(tmp_path: Path) -> None:
    sounds = _sounds(tmp_path / "sounds")
    for lang in ("en", "zh"):
        (sounds / lang / "cti" / "leave_message.wav").unlink()
    config = _config(tmp_path)
    assert _problems(config, sounds) == []  # vm-intro, in English
    (sounds / "en" / "vm-intro.gsm").unlink()
    problems = _problems(config, sounds)
    assert any(p.startswith(f"{tmp_path}/config/queues.yaml: queues.sales.no_agents_action.action: none of "
                            f"{', '.join(repr(s) for s in VOICEMAIL_INTRO)} found in") for p in problems), problems


def test_cti_config_check_names_a_missing_queue_sound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the command: the error line, and exit 2 (as for a missing IVR sound)."""
    from typer.testing import CliRunner

    from callcenter.cli import app

    rootfs = tmp_path / "rootfs"
    sounds = _sounds(rootfs / "usr/share/asterisk/sounds")
    config = _config(tmp_path, max_wait_action={"action": "hangup", "target": "closing-announcement"})
    monkeypatch.setenv("CTI_CONFIG_DIR", str(config))
    monkeypatch.setenv("CTI_PBX__ROOTFS", str(rootfs))
    result = CliRunner().invoke(app, ["config", "check", "--no-database"])
    errors = [re.sub(r" \(line \d+\)$", "", line) for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {config}/queues.yaml: queues.general.max_wait_action.target: sound "
                      f"'closing-announcement' not found in {sounds}/en or {sounds}/zh: callers of queue "
                      "'general' would hear silence there"], result.output
    assert result.exit_code == 2


def test_the_survey_s_beep_is_looked_for(tmp_path: Path) -> None:
    """The survey says each question, then listens after Asterisk's stock ``beep`` (acd/survey.py):
    without it the caller waits for the key in silence."""
    sounds = _sounds(tmp_path / "sounds")
    (sounds / "en" / "beep.gsm").unlink()
    problems = _problems(_config(tmp_path), sounds)
    assert [re.sub(r" \(line \d+\)$", "", p).split(": ", 2)[1:] for p in problems if "'beep'" in p] == [
        ["queues.billing.survey", f"sound 'beep' not found in {sounds}/en or {sounds}/zh: callers of queue "
                                  "'billing' would hear silence there"]], problems


def _demo_flow(*, chinese_line: bool, lookup: bool) -> f.Flow:
    data = yaml.safe_load((DEFAULT_CONFIG_DIR / "ivr" / "demo.yaml").read_text(encoding="utf-8"))
    if not chinese_line:  # no entry and no node of its own sets zh: only a customer's language in the CRM does
        data["entries"] = [e for e in data["entries"] if not (isinstance(e, dict) and e.get("language"))]
        data["nodes"]["switch_to_zh"].pop("language")
    if not lookup:
        lookups = [k for k, n in data["nodes"].items() if n["type"] == "lookup"]
        for key in lookups:
            data["nodes"][key] = {"type": "set", "next": data["nodes"][key]["not_found"]}
    return f.Flow.model_validate(data)


def test_the_languages_a_customer_s_crm_record_gives_the_caller_are_checked() -> None:
    """A lookup gives the caller's channel the customer's language (the CRM's, free text of up to 8
    characters): the languages the flow declares it serves (``language_skills``, its prompts') stand
    for those, so a flow whose Chinese comes from the CRM alone has its Chinese sounds checked."""
    assert flow_languages(_demo_flow(chinese_line=True, lookup=True)) == {"en", "zh"}
    assert flow_languages(_demo_flow(chinese_line=False, lookup=True)) == {"en", "zh"}
    # No lookup: nothing but the flow gives the channel a language.
    assert flow_languages(_demo_flow(chinese_line=False, lookup=False)) == {"en"}
