"""An existing SQLite database this user cannot write: `cti config check` said it answered (it is
readable) and `cti run` started the managed Asterisk, then failed as SQLite made its -wal and -shm
files (a traceback for a -shm that is a folder). Now `cti config check`, `cti run` and `cti db
upgrade` print one line naming the path and why (crm_core.db.sqlite_file_problem), before anything
starts, and change nothing. Root writes anywhere a mode allows, so the real cases here are ones root
cannot write either (a folder where a file must be); a folder or file without write permission is
os.access's answer for another user, monkeypatched."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.db.crm.test_run_database_errors import _error_lines, _invoke
from tests.db.crm.test_run_database_errors import nothing_else_starts as nothing_else_starts  # the fixture

pytestmark = pytest.mark.db


def _migrated(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    result = _invoke(url, tmp_path, monkeypatch, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert not path.with_name(path.name + "-shm").exists()  # SQLite removed them as the last connection closed
    return url


def _denied(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """os.access says no to writing ``denied``, as for a user who may not (the tests run as root)."""
    real: Callable[..., bool] = os.access

    def access(path: object, mode: int, **kw: object) -> bool:
        if Path(str(path)).absolute() == denied and mode & os.W_OK:
            return False
        return real(path, mode, **kw)

    monkeypatch.setattr(os, "access", access)


CASES = {
    "its -shm is a folder": (lambda p, mp: p.with_name("cti.db-shm").mkdir(),
                             lambda p: f"cannot write its shared-memory index {p}-shm: a folder is there"),
    "its -wal is a folder": (lambda p, mp: p.with_name("cti.db-wal").mkdir(),
                             lambda p: f"cannot write its write-ahead log {p}-wal: a folder is there"),
    "its folder is not writable": (lambda p, mp: _denied(mp, p.parent),
                                   lambda p: f"cannot write its folder {p.parent} (SQLite makes its -wal and -shm "
                                             "files there): permission denied"),
    "it is not writable": (lambda p, mp: _denied(mp, p), lambda p: "cannot write it: permission denied"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_existing_sqlite_file_this_user_cannot_write_stops_check_and_run_with_one_line(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_else_starts: list[str]) -> None:
    path = tmp_path / "db" / "cti.db"
    url = _migrated(path, tmp_path, monkeypatch)
    spoil, why = CASES[case]
    spoil(path, monkeypatch)
    before = sorted(p.name for p in path.parent.iterdir())
    line = f"error: database: SQLite file {path}: {why(path)}; check database_url (CTI_DATABASE_URL)"
    check = _invoke(url, tmp_path, monkeypatch, "config", "check")
    run = _invoke(url, tmp_path, monkeypatch, "run", "--no-demo")
    upgrade = _invoke(url, tmp_path, monkeypatch, "db", "upgrade")
    assert check.exit_code == 2, check.output
    assert run.exit_code == 1, run.output
    assert upgrade.exit_code == 1, upgrade.output
    assert _error_lines(check) == _error_lines(run) == _error_lines(upgrade) == [line], (
        check.output, run.output, upgrade.output)
    assert "Traceback" not in run.output + upgrade.output
    assert nothing_else_starts == []
    assert sorted(p.name for p in path.parent.iterdir()) == before  # nothing made or removed


def test_a_database_path_that_is_a_folder_is_named_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      nothing_else_starts: list[str]) -> None:
    """It said "cannot connect to SQLite file ...: unable to open database file; ... that the server runs"."""
    path = tmp_path / "cti.db"
    path.mkdir()
    url = f"sqlite+aiosqlite:///{path}"
    line = f"error: database: SQLite file {path}: it is a folder, not a file; check database_url (CTI_DATABASE_URL)"
    check = _invoke(url, tmp_path, monkeypatch, "config", "check")
    run = _invoke(url, tmp_path, monkeypatch, "run", "--no-demo")
    assert _error_lines(check) == _error_lines(run) == [line], (check.output, run.output)
    assert nothing_else_starts == []


def test_a_writable_database_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cti.db"
    url = _migrated(path, tmp_path, monkeypatch)
    check = _invoke(url, tmp_path, monkeypatch, "config", "check")
    assert check.exit_code == 0 and f"database: SQLite file {path} answers" in check.output, check.output


