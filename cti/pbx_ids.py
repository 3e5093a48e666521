"""The managed Asterisk's user must be nobody else on the host.

The root file system's ``asterisk`` user gets whatever uid and gid the Debian package picked in
the chroot (101 in the current build). The chroot has its own ``/etc/passwd``, but the kernel only
knows numbers: on a host where 101 is ``postgres`` (Debian gives its first system account 100 or
101), Asterisk and PostgreSQL were one account. Asterisk could signal PostgreSQL's processes, and
PostgreSQL's account (a superuser's ``COPY ... FROM PROGRAM``) could read the instance's AMI secret
and SIP passwords and write in Asterisk's spool and configuration. The gid had the same problem
(101 is ``_ssh`` on Debian hosts).

So before an instance starts, ``own_ids`` checks the host's ``/etc/passwd`` and ``/etc/group``;
when another host account has Asterisk's uid or gid, it renumbers the root file system's
``asterisk`` user and group to ids no host account, no host group and no subordinate id range
(``/etc/subuid``, ``/etc/subgid``) uses, and gives them the files the old ids owned. Ids start at
``FIRST_ID``: above what the host's account tools hand out (system accounts stop at 999, users at
59999; 60000-65535 are Debian's own and reserved). It runs once per root file system (under a
lock: several instances start side by side), and never while an Asterisk of that root file system
runs with the old ids (it would lose its own files): it then warns and keeps them until the next
start.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

FIRST_ID = 70_000
RUN_USER = "asterisk"


def ids_by_name(text: str) -> dict[str, int]:
    """name -> id of a passwd or group file's lines."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            out.setdefault(fields[0], int(fields[2]))
    return out


def subordinate_ranges(text: str) -> list[range]:
    """The ranges of an ``/etc/subuid`` or ``/etc/subgid`` file (``name:start:count``)."""
    out = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            out.append(range(int(fields[1]), int(fields[1]) + int(fields[2])))
    return out


def taken_by_another(ids: dict[str, int], name: str, wanted: int) -> bool:
    """True when an account other than ``name`` has the id ``wanted``."""
    return any(i == wanted and n != name for n, i in ids.items())


def free_id(taken: Iterable[int], ranges: Iterable[range], start: int = FIRST_ID) -> int:
    """The first id from ``start`` that is neither taken nor in a subordinate range."""
    used, spans = set(taken), list(ranges)
    candidate = start
    while True:
        span = next((r for r in spans if candidate in r), None)
        if span is not None:
            candidate = span.stop
        elif candidate in used:
            candidate += 1
        else:
            return candidate


def renumber(text: str, name: str, new_id: int, *, gid_field: int | None = None) -> str:
    """The passwd or group file with ``name``'s id (and, in passwd, its primary gid) changed."""
    out = []
    for line in text.splitlines(keepends=True):
        fields = line.rstrip("\n").split(":")
        if len(fields) >= 3 and fields[0] == name:
            fields[2] = str(new_id)
            if gid_field is not None and len(fields) >= 4:
                fields[3] = str(gid_field)
            line = ":".join(fields) + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".cti-new")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)


def _running_in(rootfs: Path) -> list[int]:
    """Pids of processes whose root directory is ``rootfs`` (an Asterisk of this root file system)."""
    target, pids = os.path.realpath(rootfs), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == target:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _give(rootfs: Path, old: tuple[int, int], new: tuple[int, int]) -> int:
    """lchown every file of the root file system (one file system, links not followed) that the
    old uid or gid owned; the number of files changed."""
    changed = 0
    device = rootfs.stat().st_dev
    for top, dirs, files in os.walk(rootfs):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(top, d)).st_dev == device]
        for name in (*dirs, *files):
            path = os.path.join(top, name)
            st = os.lstat(path)
            uid = new[0] if st.st_uid == old[0] else -1
            gid = new[1] if st.st_gid == old[1] else -1
            if uid != -1 or gid != -1:
                os.lchown(path, uid, gid)
                changed += 1
    return changed


@contextmanager
def held(rootfs: Path, host_etc: Path = Path("/etc")) -> Iterator[tuple[int, int] | None]:
    """Asterisk's (uid, gid) in the root file system, renumbered first when a host account has
    either (None when the root file system has no such user or group), with the root file system's
    id lock held: files given to these ids meanwhile cannot be missed by a renumbering."""
    with open(rootfs / ".cti-ids.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield _own(rootfs, host_etc)


def own_ids(rootfs: Path, host_etc: Path = Path("/etc")) -> tuple[int, int] | None:
    with held(rootfs, host_etc) as ids:
        return ids


def _own(rootfs: Path, host_etc: Path) -> tuple[int, int] | None:
    passwd, group = rootfs / "etc" / "passwd", rootfs / "etc" / "group"
    users, groups = ids_by_name(_read(passwd)), ids_by_name(_read(group))
    uid, gid = users.get(RUN_USER), groups.get(RUN_USER)
    if uid is None or gid is None:
        return None
    host_users, host_groups = ids_by_name(_read(host_etc / "passwd")), ids_by_name(_read(host_etc / "group"))
    if not taken_by_another(host_users, RUN_USER, uid) and not taken_by_another(host_groups, RUN_USER, gid):
        return uid, gid
    running = _running_in(rootfs)
    if running:
        log.warning("Asterisk's uid %d or gid %d in %s belongs to another account on this host; not renumbered "
                    "while processes %s run in it: stop them (cti pbx down) and start again", uid, gid,
                    rootfs, running)
        return uid, gid
    taken = {*host_users.values(), *host_groups.values(), *users.values(), *groups.values()}
    ranges = [*subordinate_ranges(_read(host_etc / "subuid")), *subordinate_ranges(_read(host_etc / "subgid"))]
    new = free_id(taken, ranges)  # one number for both: easier to recognise
    changed = _give(rootfs, (uid, gid), (new, new))
    _replace(group, renumber(_read(group), RUN_USER, new))
    _replace(passwd, renumber(_read(passwd), RUN_USER, new, gid_field=new))
    log.warning("Asterisk's uid %d / gid %d in %s belonged to another account on this host: renumbered to %d "
                "(%d files)", uid, gid, rootfs, new, changed)
    return new, new
