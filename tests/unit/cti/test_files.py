"""The engine's own directories and files that hold secrets or customer data are closed to the
host's other users: created so under the usual umask, tightened when an older engine or a checkout
left them open, and left alone when they belong to someone else. (The rotated log files:
tests/unit/cti/test_logs.py.)"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.credentials import installation_secret
from cti.files import private_dir, private_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)  # under which mkdir and open alone give 0755 and 0644
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_private_dir_and_file_are_their_owners_alone(tmp_path: Path) -> None:
    assert _mode(private_dir(tmp_path / "a" / "state")) == 0o700
    assert _mode(private_dir(tmp_path / "recordings", 0o750)) == 0o750
    path = private_file(tmp_path / "logs" / "engine.log")
    assert path.read_bytes() == b"" and _mode(path) == 0o600
    assert _mode(tmp_path / "logs") == 0o700  # a directory it made for the file lists its names to no one
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    private_file(shared / "cti.db")
    assert _mode(shared) == 0o755  # one that was there is the operator's choice


def test_what_others_could_read_is_tightened_and_the_content_kept(tmp_path: Path) -> None:
    old_dir = tmp_path / "var"
    old_dir.mkdir(mode=0o755)
    old_file = old_dir / "engine.log"
    old_file.write_text("kept\n")
    old_file.chmod(0o644)
    private_dir(old_dir)
    private_file(old_file)
    assert (_mode(old_dir), _mode(old_file)) == (0o750, 0o600)
    assert old_file.read_text() == "kept\n"


def test_a_directory_of_another_user_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "spool"
    shared.mkdir()
    shared.chmod(0o775)  # a system Asterisk's spool, shared on purpose
    monkeypatch.setattr(os, "geteuid", lambda: shared.stat().st_uid + 1)  # the engine runs as someone else
    private_dir(shared)
    assert _mode(shared) == 0o775


def test_a_file_of_another_user_open_to_others_is_left_but_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A database or log file someone else owns is not the engine's to change, but what it will
    write there (customers' data) should not be readable by everyone: the operator is told."""
    db = tmp_path / "crm.db"
    db.write_bytes(b"")
    db.chmod(0o644)
    monkeypatch.setattr(os, "geteuid", lambda: db.stat().st_uid + 1)
    private_file(db)
    assert _mode(db) == 0o644
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "chmod 0600" in caplog.text


def test_the_state_directory_made_for_a_secret_is_private(tmp_path: Path) -> None:
    installation_secret(tmp_path / "var", "session-secret")
    assert _mode(tmp_path / "var") == 0o700
    assert _mode(tmp_path / "var" / "session-secret") == 0o600

