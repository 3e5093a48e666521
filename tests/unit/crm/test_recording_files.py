"""A filed recording is the engine's own file, whoever wrote it in the PBX's spool: a managed
Asterisk's user is a uid of its root file system (101 in Debian's), which on the host may be
another service's (postgres). A rename kept that owner; the engine copies instead."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from crm_core.recording_files import move_file, orphans


def test_a_filed_recording_belongs_to_the_engine_not_to_the_pbxs_uid(tmp_path: Path) -> None:
    spool, store = tmp_path / "spool", tmp_path / "store"
    source = spool / "2026/12/04/13/call-1.wav"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"RIFF" + os.urandom(4096))
    content = source.read_bytes()
    if os.geteuid() == 0:  # CI runs as root: give the file to a stranger, as the chroot's asterisk is
        os.chown(source, 12345, 12345)
    inode = source.stat().st_ino
    target = store / "2026/12/04/13/call-1.wav"
    move_file(source, target)
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert st.st_ino != inode and stat.S_IMODE(st.st_mode) == 0o640
    assert target.read_bytes() == content and not source.exists()
    assert [p.name for p in target.parent.iterdir()] == ["call-1.wav"]  # no part file left
    # The folders it made are as closed as the store (they were 0755 under the umask).
    made = [store / "2026", store / "2026/12", store / "2026/12/04", store / "2026/12/04/13"]
    assert [oct(stat.S_IMODE(d.stat().st_mode)) for d in made] == [oct(0o750)] * 4


def test_a_recording_already_in_the_store_stays(tmp_path: Path) -> None:
    path = tmp_path / "call-2.wav"  # a system Asterisk writes into the store itself
    path.write_bytes(b"RIFF")
    move_file(path, path)
    assert path.read_bytes() == b"RIFF" and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_link_planted_in_the_spool_files_nothing(tmp_path: Path) -> None:
    """Whoever holds the PBX's uid writes in its spool: a symbolic link named like a recording must
    not have the engine copy what it points at (its session secret) into a recording that whoever
    may listen downloads, nor change that file's mode."""
    secret = tmp_path / "var" / "session-secret"
    secret.parent.mkdir()
    secret.write_text("not-for-the-web")
    secret.chmod(0o600)
    spool, store = tmp_path / "spool", tmp_path / "store"
    link = spool / "2026/12/04/13/call-3.wav"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    assert orphans(spool, time.time() + 60) == []  # not filed as a recording left by an earlier engine
    with pytest.raises(OSError):
        move_file(link, store / "2026/12/04/13/call-3.wav")  # nor at its call's end
    assert not (store / "2026/12/04/13/call-3.wav").exists()
    in_store = tmp_path / "call-4.wav"  # a system Asterisk writes into the store itself
    in_store.symlink_to(secret)
    with pytest.raises(OSError):
        move_file(in_store, in_store)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
