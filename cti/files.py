"""Directories and files of the engine's own that hold customer data or secrets (the state
directory, a SQLite database, the recordings): never open to other users of the host.

Created with the given mode; one that already exists and is the engine's own loses what other
users could do with it (an older engine, or a checkout, left ``var/`` at 0755). One owned by
someone else (a system Asterisk's spool, a directory an administrator shared on purpose) is
left as it is."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cti.errors import ConfigError

log = logging.getLogger(__name__)


def private_dir(path: Path, mode: int = 0o700, *, setting: str | None = None) -> Path:
    """``path`` as a directory (parents created as usual) that other users cannot enter or list.
    With ``setting`` (e.g. ``state_dir (CTI_STATE_DIR)``), one that cannot be made is a
    ``ConfigError`` naming it: an operator's path through a file, or a directory not theirs."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as err:
        if setting is None:
            raise
        raise _cannot(setting, path, err) from None
    _close(path, 0o007)
    return path


def private_file(path: Path, *, setting: str | None = None) -> Path:
    """``path`` as a file only its owner reads and writes (created empty if it does not exist; a
    directory it needs made for it is its owner's alone, one that exists is left as it is);
    ``setting`` as for ``private_dir``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as err:
        if setting is None:
            raise
        raise _cannot(setting, path, err) from None
    _close(path, 0o077, foreign="a file of someone else's")
    return path


def _cannot(setting: str, path: Path, err: OSError) -> ConfigError:
    where = f" ({err.filename})" if err.filename and str(err.filename) != str(path) else ""
    return ConfigError(f"{setting}: cannot create {path}: {err.strerror or err}{where}")


def _close(path: Path, others: int, *, foreign: str | None = None) -> None:
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    if not mode & others:
        return
    if st.st_uid == os.geteuid():
        path.chmod(mode & ~others)
        log.info("%s was open to other users (mode %04o): now %04o", path, mode, mode & ~others)
    elif foreign is not None:  # a shared directory is someone's choice; a file the engine writes secrets to is not
        log.warning("%s is open to other users (mode %04o), %s: chmod %04o it", path, mode, foreign,
                    mode & ~others)
