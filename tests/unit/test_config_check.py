import shutil
from pathlib import Path

import pytest

from callcenter.config_check import check_all
from cti.settings import DEFAULT_CONFIG_DIR, load_settings


def _config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def test_shipped_configuration_is_valid() -> None:
    assert check_all(load_settings()) == []


def test_ivr_naming_an_unknown_queue_or_skill_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    flow = config / "ivr" / "demo.yaml"
    text = flow.read_text().replace("queue: billing\n", "queue: bilingg\n").replace(
        "language_skills: {zh: {zh: 1}}", "language_skills: {zh: {klingon: 1}}")
    flow.write_text(text)
    problems = check_all(load_settings(config_dir=config))
    assert any("node 'billing': queue: 'bilingg'" in p for p in problems), problems
    assert any("language_skills.zh.klingon" in p for p in problems), problems
