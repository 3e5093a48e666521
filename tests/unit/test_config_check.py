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


@pytest.mark.parametrize("name", ["queues.yaml", "trunks.yaml", "alerts.yaml", "ivr/demo.yaml"])
def test_a_file_saved_in_another_encoding_is_a_problem_naming_it(tmp_path: Path, name: str) -> None:
    """Notepad on a Chinese Windows saves "ANSI", i.e. GBK: a traceback at `cti config check` and `cti
    run` (UnicodeDecodeError), where it must be a problem that names the file."""
    config = _config(tmp_path)
    path = config / name
    path.write_bytes((path.read_text(encoding="utf-8") + "\n# 备注\n").encode("gbk"))
    problems = check_all(load_settings(config_dir=config))
    assert any(p.startswith(f"{path}: ") and "not UTF-8 text" in p for p in problems), problems


def test_an_engine_yaml_in_another_encoding_is_a_config_error_naming_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cti.errors import ConfigError

    config = _config(tmp_path)
    path = config / "engine.yaml"
    path.write_bytes((path.read_text(encoding="utf-8") + "\n# 备注\n").encode("gbk"))
    monkeypatch.setenv("CTI_CONFIG_DIR", str(config))
    with pytest.raises(ConfigError, match=str(path)):
        load_settings()


@pytest.mark.parametrize("text", ["- support\n", "queues: [support, billing]\n", "queues: {support: 5}\n",
                                  "queues: {support: {}}\n# 备注\n"])
def test_the_pbx_rendering_leaves_a_queues_file_of_the_wrong_shape_to_its_own_check(tmp_path: Path,
                                                                                     text: str) -> None:
    """`cti run` renders the managed Asterisk's queues.conf before the engine reads queues.yaml: a file
    of the wrong shape was an AttributeError traceback there, before the engine's error naming the field."""
    from cti.errors import PbxError
    from cti.pbx_config import fallback_queues

    (tmp_path / "queues.yaml").write_bytes(text.encode("gbk"))
    try:
        fallback_queues(tmp_path)
    except PbxError as err:
        assert str(tmp_path / "queues.yaml") in str(err)


@pytest.mark.parametrize("text", ["queues: {support: [\n", "queues: {}\n# 备注\n"])
def test_the_demo_seed_reading_queues_yaml_says_which_file_is_bad(tmp_path: Path, text: str) -> None:
    """`cti run` seeds the demo company from queues.yaml before the engine checks that file."""
    from crm_core.seed import _queues
    from cti.errors import ConfigError

    (tmp_path / "queues.yaml").write_bytes(text.encode("gbk"))
    with pytest.raises(ConfigError, match=str(tmp_path / "queues.yaml")):
        _queues(tmp_path)
