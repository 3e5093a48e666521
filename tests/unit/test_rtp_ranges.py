"""The test instances' RTP ranges: one block per run slot, parts apart, all below the ephemeral range."""

from __future__ import annotations

import pytest

from tests import servers


def test_parts_fit_their_block_without_overlapping() -> None:
    spans = sorted(servers._RTP_PARTS.values())
    for (offset, size), (next_offset, _) in zip(spans, [*spans[1:], (servers._RTP_BLOCK, 0)], strict=True):
        assert size > 0 and offset + size <= next_offset


@pytest.mark.parametrize("slot", ["first", "last"])
def test_every_slot_stays_below_the_kernels_ephemeral_ports(slot: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "run_slot", lambda slots: 0 if slot == "first" else slots - 1)
    ranges = [servers.rtp_range(part) for part in servers._RTP_PARTS]
    assert all(1024 <= r["rtp_start"] <= r["rtp_end"] < 32768 for r in ranges)  # Linux: 32768-60999
