"""crm_core.db.sqlite_folder_problem: why a SQLite file not made yet could not be made, found without
making anything (`cti config check` and `cti run`'s probe; the CLI test covers a path under a file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crm_core.db import sqlite_folder_problem


def test_a_folder_that_exists_or_can_be_made_is_no_problem(tmp_path: Path) -> None:
    assert sqlite_folder_problem(tmp_path / "cti.db") is None
    assert sqlite_folder_problem(tmp_path / "var" / "db" / "cti.db") is None
    assert not (tmp_path / "var").exists()


def test_a_path_through_a_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    assert sqlite_folder_problem(tmp_path / "a_file" / "x" / "cti.db") == (
        f"cannot create its folder {tmp_path / 'a_file' / 'x'}: {tmp_path / 'a_file'} is a file, not a folder")


def test_a_relative_path_is_named_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("var").write_text("")
    assert sqlite_folder_problem(Path("var/cti.db")) == (
        f"cannot create its folder {tmp_path / 'var'}: {tmp_path / 'var'} is a file, not a folder")


def test_a_folder_not_writable_by_this_user_says_permission_denied(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests run as root, whom a read-only folder does not stop: os.access answers as for another user.
    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path / "ro")
    assert sqlite_folder_problem(tmp_path / "ro" / "cti.db") == (
        f"cannot create it in {tmp_path / 'ro'}: permission denied")
    assert sqlite_folder_problem(tmp_path / "ro" / "db" / "cti.db") == (
        f"cannot create its folder {tmp_path / 'ro' / 'db'}: permission denied in {tmp_path / 'ro'}")
