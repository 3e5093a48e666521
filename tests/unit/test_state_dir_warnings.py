"""``CTI_STATE_DIR`` moves the engine's secrets and journals, not the SQLite database nor the
recordings: with it set (deployment.md, "Several nodes", or a state directory under /var/lib) and
``database_url`` left as shipped, `cti db upgrade`, `cti users create-admin` and `cti run` wrote the
database into the checkout's ``var/`` (found in the go-live trial: the state directory stayed empty,
the database sat in /opt/cti-engine/var). ``cti config check`` now says so, naming both settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.cli import app
from cti.settings import PROJECT_ROOT


def _check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name in ("CTI_WEB__SESSION_SECRET", "CTI_AMI__SECRET", "CTI_PBX__MODE", "CTI_DEV_MODE", "CTI_DATABASE_URL",
                 "CTI_RECORDINGS__DIR", "CTI_STATE_DIR", "CTI_BUS", "CTI_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["config", "check", "--no-database"])
    assert result.exit_code == 0, result.output  # a warning: the check passes
    return result.output


def test_a_moved_state_dir_names_the_database_and_recordings_left_in_the_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    out = _check(tmp_path, monkeypatch, CTI_STATE_DIR=str(state))
    assert (f"warning: database_url (CTI_DATABASE_URL): the SQLite database is {PROJECT_ROOT / 'var' / 'cti.db'}, "
            f"in the checkout's var/, not in state_dir {state}") in out, out
    assert f"sqlite+aiosqlite:///{state / 'cti.db'}" in out, out
    assert (f"warning: recordings.dir (CTI_RECORDINGS__DIR) is {PROJECT_ROOT / 'var' / 'recordings'}, in the "
            f"checkout's var/, not in state_dir {state}") in out, out
    assert "configuration OK" in out


def test_settings_that_follow_the_state_dir_say_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    out = _check(tmp_path, monkeypatch, CTI_STATE_DIR=str(state),
                 CTI_DATABASE_URL=f"sqlite+aiosqlite:///{state / 'cti.db'}", CTI_RECORDINGS__DIR=str(tmp_path / "rec"))
    assert "warning: database_url" not in out and "warning: recordings.dir" not in out, out
    # PostgreSQL, and the shipped state_dir: nothing to say either.
    out = _check(tmp_path, monkeypatch, CTI_STATE_DIR=str(state), CTI_DATABASE_URL="postgresql://cti@db.example/cti",
                 CTI_RECORDINGS__DIR="/srv/recordings")
    assert "warning: database_url" not in out and "warning: recordings.dir" not in out, out
    out = _check(tmp_path, monkeypatch)
    assert "warning: database_url" not in out and "warning: recordings.dir" not in out, out
