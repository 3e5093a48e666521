"""Cases for tests/asterisk/test_pbx_left_clean.py, run by it in a pytest session of their own (not
collected by the suite: the name does not start with test_)."""

from __future__ import annotations

from cti.pbx import ManagedPbx
from tests.helpers import channels


def test_leaves_a_call_up(pbx: ManagedPbx) -> None:
    pbx.cli("channel originate Local/1001@cti-sim-phone extension s@cti-sim-caller")


def test_leaves_a_call_hangup_all_cannot_remove(pbx: ManagedPbx) -> None:
    """pbx_left_clean_plugin makes `channel request hangup all` do nothing in this test's teardown,
    as it did nothing to the Surrogate/... channel Asterisk once kept."""
    pbx.cli("channel originate Local/1002@cti-sim-phone extension s@cti-sim-caller")


def test_the_next_test_finds_the_asterisk_empty(pbx: ManagedPbx) -> None:
    assert channels(pbx) == []
    assert pbx.pid() is not None
