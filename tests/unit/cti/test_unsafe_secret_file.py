"""The refusal of an unsafe secret told the operator to "remove it from config/engine.yaml" even when
CTI_CONFIG_DIR pointed elsewhere (/etc/cti in a deployment): the file named is now the one the
settings were read from, by `cti run` and `cti config check` alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cti.credentials import check_secrets, secret_problems
from cti.errors import ConfigError
from cti.settings import DEFAULT_CONFIG_DIR, load_settings


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "etc-cti"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    with (config / "engine.yaml").open("a", encoding="utf-8") as out:
        out.write("\nami:\n  secret: secret\n")  # a published one, in this file
    for name in ("CTI_AMI__SECRET", "CTI_WEB__SESSION_SECRET", "CTI_DEV_MODE", "CTI_PBX__MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTI_CONFIG_DIR", str(config))
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    return config


def test_the_refusal_names_the_engine_yaml_actually_read(elsewhere: Path) -> None:
    settings = load_settings()
    assert settings.ami.secret.get_secret_value() == "secret"  # read from that file
    with pytest.raises(ConfigError) as err:
        check_secrets(settings, web=False)
    assert f"fix: remove it from {elsewhere / 'engine.yaml'} and the environment" in err.value.message, \
        err.value.message
    assert "config/engine.yaml" not in err.value.message
    [problem] = secret_problems(settings)
    assert f"remove it from {elsewhere / 'engine.yaml'}" in problem, problem


def test_config_check_names_it_too(elsewhere: Path) -> None:
    from callcenter.cli import app

    result = CliRunner().invoke(app, ["config", "check", "--no-database"])
    assert result.exit_code == 2, result.output
    assert "ami.secret [CTI_AMI__SECRET] is a published default" in result.output, result.output
    assert f"remove it from {elsewhere / 'engine.yaml'}" in result.output, result.output
