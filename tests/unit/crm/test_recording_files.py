"""A filed recording is the engine's own file, whoever wrote it in the PBX's spool: a managed
Asterisk's user is a uid of its root file system (101 in Debian's), which on the host may be
another service's (postgres). A rename kept that owner; the engine copies instead."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from crm_core.recorder import _move


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
    _move(source, target)
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert st.st_ino != inode and stat.S_IMODE(st.st_mode) == 0o640
    assert target.read_bytes() == content and not source.exists()
    assert [p.name for p in target.parent.iterdir()] == ["call-1.wav"]  # no part file left


def test_a_recording_already_in_the_store_stays(tmp_path: Path) -> None:
    path = tmp_path / "call-2.wav"  # a system Asterisk writes into the store itself
    path.write_bytes(b"RIFF")
    _move(path, path)
    assert path.read_bytes() == b"RIFF" and stat.S_IMODE(path.stat().st_mode) == 0o640
