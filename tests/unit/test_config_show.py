"""`cti config show` says where each secret left empty comes from (generated per installation into
the state directory) instead of printing '' as if it were empty, and prints no secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from callcenter.cli import app


def _show(monkeypatch: pytest.MonkeyPatch, state: Path, **env: str) -> dict[str, object]:
    monkeypatch.setenv("CTI_STATE_DIR", str(state))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    r = CliRunner().invoke(app, ["config", "show"])
    assert r.exit_code == 0, r.output
    for secret_file in state.glob("*"):
        assert secret_file.read_text().strip() not in r.output
    return yaml.safe_load(r.output)


def test_generated_secrets_say_where_they_are_and_are_not_printed(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "var"
    state.mkdir()
    (state / "session-secret").write_text("the-generated-session-secret-0123456789\n")
    shown = _show(monkeypatch, state, CTI_PBX__MODE="managed")
    ami, web, feed = shown["ami"], shown["web"], shown["feed"]  # type: ignore[index]
    assert web["session_secret"] == f"(generated per installation into {state / 'session-secret'}; not shown)"
    assert ami["secret"] == f"(generated per installation into {state / 'ami-secret'} at first use; not shown)"
    assert feed["webhook_key"] == f"(generated per installation into {state / 'webhook-key'} at first use; not shown)"
    assert ami["observer_secret"] == "(not set: no observer manager user)"
    assert "" not in (ami["secret"], ami["observer_secret"], web["session_secret"], feed["webhook_key"])


def test_configured_secrets_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = _show(monkeypatch, tmp_path, CTI_AMI__SECRET="hunter2-hunter2", CTI_PBX__MODE="system",
                  CTI_WEB__SESSION_SECRET="s" * 40, CTI_FEED__WEBHOOK_KEY="k" * 40)
    assert shown["ami"]["secret"] == shown["web"]["session_secret"] == "**********"  # type: ignore[index]
    assert shown["feed"]["webhook_key"] == "**********"  # type: ignore[index]


def test_a_system_asterisks_secret_left_empty_says_it_must_be_set(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shown = _show(monkeypatch, tmp_path, CTI_PBX__MODE="system")
    assert "not set" in shown["ami"]["secret"] and "manager.conf" in shown["ami"]["secret"]  # type: ignore[index]


def test_passwords_in_the_database_and_redis_urls_are_masked(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The docs promise `cti config show` masks every secret; the database's and Redis's passwords
    were printed in clear in their URLs (found showing a PostgreSQL deployment's settings)."""
    shown = _show(monkeypatch, tmp_path / "var", CTI_DATABASE_URL="postgresql+asyncpg://cti:TopSecretPw@db.example/cti",
                  CTI_REDIS_URL="redis://:RedisPw123@r.example:6379/0")
    assert shown["database_url"] == "postgresql+asyncpg://cti:***@db.example/cti"
    assert shown["redis_url"] == "redis://:***@r.example:6379/0"
