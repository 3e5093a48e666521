"""The managed Asterisk's logs as shipped (docs/observability.md, "Asterisk's log"): readable by its
user and group only (they hold callers' numbers; the messages file was 0644 in a 0755 directory,
and console.log 0644 too), at an operator's level (notices, warnings, errors: not every dialplan
step nor a heartbeat line a second), and with no ERROR at a start or a reload (some forty at every
start, from modules the engine does not use, before). A real Asterisk of its own, as shipped."""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

from cti.pbx import ManagedPbx
from cti.settings import load_settings
from tests.servers import free_port, rtp_range


def _others_may_read(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IRWXO)


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if " ERROR[" in line or line.startswith("ERROR")]


def test_asterisks_logs_are_private_quiet_and_free_of_errors(tmp_path: Path) -> None:
    # With the tests' and benches' observer user too. Asterisk ignores an unknown key of a user's section
    # without a word: its writetimeout is checked in the rendered file (tests/unit/cti/test_credentials.py)
    # and by what it does (tests/asterisk/test_observer_writetimeout.py).
    own = load_settings(state_dir=tmp_path / "state", agi={"port": free_port()},
                        ami={"port": free_port(), "observer_secret": secrets.token_urlsafe(24)},
                        pbx={"instance": f"logs{os.getpid()}", "sip_port": free_port(), **rtp_range("own"),
                             "agent_endpoints": 1, "http_port": free_port()})
    assert own.pbx.log_verbose == 0  # what ships
    pbx = ManagedPbx(own)
    try:
        pbx.up(progress=False)
        log_dir = pbx.log_file.parent
        assert stat.S_IMODE(log_dir.stat().st_mode) == 0o750
        assert not _others_may_read(pbx.log_file), oct(pbx.log_file.stat().st_mode)
        assert not _others_may_read(pbx.console_log), oct(pbx.console_log.stat().st_mode)
        queue_log = log_dir / "queue_log"
        assert not queue_log.exists() or not _others_may_read(queue_log)
        start = pbx.log_file.read_text(errors="replace")
        assert "modules will be loaded" in start, start  # notices are logged
        assert _errors(start) == [], "\n".join(_errors(start))
        assert _errors(pbx.console_log.read_text(errors="replace")) == []
        # Every setting of manager.conf is one Asterisk reads where it stands: writetimeout in
        # [general] was refused ("Invalid keyword <writetimeout> = <2000> in manager.conf [general]")
        # and the engine's user kept the 100 ms default the comment said it raised.
        unknown = [line for line in start.splitlines() if "Invalid keyword" in line]
        assert unknown == [], "\n".join(unknown)
        manager = (pbx.instance_dir / "etc" / "manager.conf").read_text()
        assert manager.count("\nwritetimeout = 2000\n") == 2, manager  # the engine's user and the observer

        # A verbose line (what every dialplan step and the heartbeat's Set() log) is not written.
        pbx.cli("dialplan set global CTI_TEST_MARK the-quiet-run")
        time.sleep(0.5)  # the logger thread
        assert "the-quiet-run" not in pbx.log_file.read_text(errors="replace")

        # `cti pbx up` on the running Asterisk (a reload) logs no ERROR either.
        before = pbx.log_file.stat().st_size
        pbx.up(progress=False)
        with open(pbx.log_file, "rb") as fh:
            fh.seek(before)
            reload = fh.read().decode(errors="replace")
        assert _errors(reload) == [], "\n".join(_errors(reload))

        # An older version's log (0644) kept as messages.previous at the next start: made private too.
        pbx.down()
        pbx.log_file.chmod(0o644)
        pbx.up(progress=False)
        previous = pbx.log_file.with_name("messages.previous")
        assert previous.exists() and not _others_may_read(previous), oct(previous.stat().st_mode)
        assert not _others_may_read(pbx.log_file)
    finally:
        pbx.remove_instance()


def test_a_developer_opts_in_to_asterisks_verbose_lines(tmp_path: Path) -> None:
    own = load_settings(state_dir=tmp_path / "state", ami={"port": free_port()}, agi={"port": free_port()},
                        pbx={"instance": f"verb{os.getpid()}", "sip_port": free_port(), **rtp_range("own"),
                             "agent_endpoints": 1, "http_port": free_port(), "log_verbose": 3})
    pbx = ManagedPbx(own)
    try:
        pbx.up(progress=False)
        pbx.cli("dialplan set global CTI_TEST_MARK the-verbose-run")
        time.sleep(0.5)
        assert "Setting global variable 'CTI_TEST_MARK' to 'the-verbose-run'" in pbx.log_file.read_text(
            errors="replace")
        assert not _others_may_read(pbx.log_file)
    finally:
        pbx.remove_instance()
