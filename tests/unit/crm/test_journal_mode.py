"""The journals in var/ hold callers' numbers and customers' ids: owner-only (0600), also after a
compaction (which used to leave the journal 0644 under the usual umask), and one an older engine
left readable is tightened when it is opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from crm_core.outbox import Outbox


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_journal_stays_owner_only_through_compaction(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        outbox = Outbox(tmp_path / "feed-outbox.jsonl", sync="never")
        outbox.open()
        outbox.append('{"n": 1}')
        assert _mode(outbox.path) == 0o600
        await outbox.compact(['{"n": 1}'])
        assert _mode(outbox.path) == 0o600
        outbox.append('{"n": 2}')
        await outbox.close()
        assert outbox.path.read_text().splitlines() == ['{"n": 1}', '{"n": 2}']
    finally:
        os.umask(old)


async def test_a_readable_journal_is_tightened_on_open(tmp_path: Path) -> None:
    path = tmp_path / "supervisor-journal.jsonl"
    path.write_text('{"kind": "x"}\n')
    path.chmod(0o644)
    outbox = Outbox(path, sync="never")
    assert outbox.open() == [{"kind": "x"}]
    await outbox.close()
    assert _mode(path) == 0o600
