"""Recording files: where they are (``RecordingStore``), and the file work of the recorder (waiting
for MixMonitor to close a file, moving it from the PBX's spool into the store as the engine's own,
finding files an earlier engine left, pruning emptied folders, reading a WAV's length)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import stat
import time
import wave
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# A file left in the spool this long after its last write belongs to no live call (an engine that
# stopped mid-call never filed it): ``Recorder.recover`` files it. Far longer than any hold (MixMonitor's b
# option writes nothing while the caller is on hold, so a live file can be quiet for minutes).
ORPHAN_AGE_S = 6 * 3600.0
# MixMonitor closes its file on its own thread after the channel hangs up: wait for the size to
# settle before moving it (a few hundred ms at most on a loaded machine).
_SETTLE_S = 0.3
_SETTLE_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class RecordingStore:
    """Where files are: ``pbx_dir`` as Asterisk names it, ``spool`` the same directory as this host
    sees it (inside the chroot for a managed Asterisk), ``store`` the recordings directory."""

    pbx_dir: str
    spool: Path
    store: Path



def prune_empty(store: Path, directory: Path) -> None:
    """Remove ``directory`` and its parents below ``store`` while they are empty: retention removes
    whole old hours (and their days, months, years), not only their files."""
    while directory != store and store in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty (another recording of that hour), or already gone
            return
        directory = directory.parent


async def settled(path: Path) -> bool:
    """Wait until the file's size stops changing; False when it never appears (MixMonitor with
    ``b`` creates no file for a caller who was never bridged)."""
    deadline = time.monotonic() + _SETTLE_MAX_S
    last = -1
    while time.monotonic() < deadline:
        size = size_of(path)
        if size >= 0 and size == last:
            return True
        last = size
        await asyncio.sleep(_SETTLE_S)
    return size_of(path) >= 0


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def orphans(spool: Path, cutoff: float) -> list[tuple[Path, float]]:
    if not spool.is_dir():
        return []
    found = []
    for path in spool.rglob("*.wav"):
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):  # a link planted by whoever holds the PBX's uid: not a recording
            log.warning("recorder: %s in the spool is not a regular file: not filed", path)
            continue
        mtime = st.st_mtime
        if mtime < cutoff:
            found.append((path, mtime))
    return sorted(found)


def move_file(source: Path, target: Path) -> None:
    """File ``source`` as ``target``, a file of the engine's own (mode 0640). A copy, then the source
    unlinked: a rename would keep the PBX's owner, and a managed Asterisk's user is a uid of its
    root file system that may belong to someone else on this host (Debian's asterisk is uid 101;
    on the machine this was found on, 101 is postgres). That uid may also plant a symbolic link
    (or a FIFO) where a recording is expected: OSError, rather than file (or chmod) what it points at."""
    if not stat.S_ISREG(source.lstat().st_mode):
        raise OSError(f"{source} is not a regular file (a symbolic link?), not a recording")
    for folder in reversed([target.parent, *target.parent.parents]):
        if not folder.exists():  # the day's and hour's folders, as closed as the store (0750)
            folder.mkdir(exist_ok=True)
            folder.chmod(0o750)  # whatever the umask
    if source.resolve() == target.resolve():  # a system Asterisk writes into the store itself
        target.chmod(0o640)
        return
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as src, \
                open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    source.unlink()


def wav_duration(path: Path) -> float:
    """Seconds of audio in a WAV file (0.0 when it is not one)."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (wave.Error, EOFError, OSError):
        return 0.0
