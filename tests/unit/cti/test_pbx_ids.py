"""The managed Asterisk's user is renumbered when a host account has its uid or gid (on this kind
of host 101 is ``postgres`` and gid 101 ``_ssh``: Asterisk and PostgreSQL were one account)."""

from __future__ import annotations

import os
from pathlib import Path

from cti.pbx_ids import free_id, ids_by_name, own_ids, renumber, subordinate_ranges

PASSWD = "root:x:0:0:root:/root:/bin/bash\nasterisk:x:101:101:Asterisk PBX daemon:/var/lib/asterisk:/usr/sbin/nologin\n"
GROUP = "root:x:0:\naudio:x:29:asterisk\nasterisk:x:101:\n"


def test_the_first_free_id_skips_taken_ids_and_subordinate_ranges() -> None:
    assert free_id({70_000, 70_001}, []) == 70_002
    assert free_id(set(), [range(70_000, 135_536)]) == 135_536
    assert free_id({135_536}, [range(60_000, 135_536)]) == 135_537
    assert subordinate_ranges("alice:100000:65536\nbad line\nbob:x:1\n") == [range(100_000, 165_536)]


def test_renumbering_changes_only_the_named_accounts_id_and_primary_group() -> None:
    out = renumber(PASSWD, "asterisk", 70_000, gid_field=70_000)
    assert ids_by_name(out) == {"root": 0, "asterisk": 70_000}
    assert out.splitlines()[1] == "asterisk:x:70000:70000:Asterisk PBX daemon:/var/lib/asterisk:/usr/sbin/nologin"
    assert renumber(GROUP, "asterisk", 70_000).splitlines() == ["root:x:0:", "audio:x:29:asterisk",
                                                                "asterisk:x:70000:"]


def _rootfs(tmp_path: Path) -> tuple[Path, Path]:
    rootfs, host = tmp_path / "rootfs", tmp_path / "host"
    for d in (rootfs / "etc", rootfs / "var/lib/asterisk", host):
        d.mkdir(parents=True)
    (rootfs / "etc/passwd").write_text(PASSWD)
    (rootfs / "etc/group").write_text(GROUP)
    return rootfs, host


def test_an_asterisk_uid_another_host_account_has_is_renumbered_with_its_files(tmp_path: Path) -> None:
    rootfs, host = _rootfs(tmp_path)
    (host / "passwd").write_text("root:x:0:0::/root:/bin/bash\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n")
    (host / "group").write_text("root:x:0:\n_ssh:x:101:\npostgres:x:104:\n")
    (host / "subuid").write_text("dev:70000:65536\n")
    mine, theirs, link = rootfs / "var/lib/asterisk/astdb", rootfs / "etc/hostname", rootfs / "var/lib/asterisk/l"
    mine.write_text("x")
    theirs.write_text("h")
    os.chown(mine, 101, 101)
    os.chown(rootfs / "var/lib/asterisk", 101, 0)
    link.symlink_to(host / "passwd")
    os.lchown(link, 101, 101)
    assert own_ids(rootfs, host) == (135_536, 135_536)
    assert (mine.stat().st_uid, mine.stat().st_gid) == (135_536, 135_536)
    assert ((rootfs / "var/lib/asterisk").stat().st_uid, (rootfs / "var/lib/asterisk").stat().st_gid) == (135_536, 0)
    assert (link.lstat().st_uid, (host / "passwd").stat().st_uid) == (135_536, os.geteuid())  # link itself only
    assert theirs.stat().st_uid == os.geteuid()
    assert ids_by_name((rootfs / "etc/passwd").read_text())["asterisk"] == 135_536
    assert ids_by_name((rootfs / "etc/group").read_text())["asterisk"] == 135_536
    assert own_ids(rootfs, host) == (135_536, 135_536)  # once: nothing to do the next time


def test_ids_no_host_account_has_are_kept(tmp_path: Path) -> None:
    rootfs, host = _rootfs(tmp_path)
    (host / "passwd").write_text("root:x:0:0::/root:/bin/bash\nasterisk:x:101:101::/var/lib/asterisk:/bin/false\n")
    (host / "group").write_text("root:x:0:\nasterisk:x:101:\n")
    assert own_ids(rootfs, host) == (101, 101)  # the host's own asterisk account: the same one
    assert (rootfs / "etc/passwd").read_text() == PASSWD
    (rootfs / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    assert own_ids(rootfs, host) is None
