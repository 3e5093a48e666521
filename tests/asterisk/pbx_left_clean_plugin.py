"""A pytest plugin for tests/asterisk/test_pbx_left_clean.py: in the teardown of the case named
``..._hangup_all_cannot_remove``, `channel request hangup all` does nothing (as it did nothing to the
Surrogate/... channel Asterisk once kept), so the clean-up check must restart Asterisk."""

from __future__ import annotations

import os

from cti.pbx import ManagedPbx

_cli = ManagedPbx.cli


def _cli_that_cannot_hang_up(self: ManagedPbx, command: str) -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    if command == "channel request hangup all" and "hangup_all_cannot_remove" in current \
            and current.endswith("(teardown)"):
        return ""
    return _cli(self, command)


ManagedPbx.cli = _cli_that_cannot_hang_up  # type: ignore[method-assign]
