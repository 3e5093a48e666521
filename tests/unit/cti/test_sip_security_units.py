"""SIP credentials shown once; AMI security events typed; repeated failures become one alarm per window."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.cli import app
from cti.ami.events import SecurityFailure
from cti.ami.translate import WANTED, translate
from cti.security import AuthFailureWatch
from cti.sip_credentials import AlreadyShown, IssuedByConsole, issued, passwords, reveal


def test_credentials_are_shown_once_and_rotate_on_request(tmp_path: Path) -> None:
    before = passwords(tmp_path, ["1001"])["1001"]
    shown = reveal(tmp_path, "1001")
    assert (shown.username, shown.password) == ("1001", before)
    with pytest.raises(AlreadyShown):
        reveal(tmp_path, "1001")
    rotated = reveal(tmp_path, "1001", rotate=True)
    assert rotated.password != before and passwords(tmp_path, ["1001"])["1001"] == rotated.password


def test_a_password_the_console_issued_is_rendered_and_not_rotated_behind_its_back(tmp_path: Path) -> None:
    """The console's new desk password lives in AstDB, which shadows pjsip.conf: a --rotate would
    write a password Asterisk never asks for, so it is refused, naming where to go instead."""
    passwords(tmp_path, ["1001"])
    issued(tmp_path, "1001", "console-issued-password-1")
    assert passwords(tmp_path, ["1001"])["1001"] == "console-issued-password-1"  # what pjsip.conf gets
    for rotate in (False, True):
        with pytest.raises(IssuedByConsole) as refused:
            reveal(tmp_path, "1001", rotate=rotate)
        assert "desk-password" in str(refused.value) and "console-issued" not in str(refused.value)


def test_cli_shows_the_credentials_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path))
    first = CliRunner().invoke(app, ["agents", "sip-credentials", "1002"])
    assert first.exit_code == 0 and "username: 1002" in first.stdout and "password: " in first.stdout
    again = CliRunner().invoke(app, ["agents", "sip-credentials", "1002"])
    assert again.exit_code == 1 and "already shown" in again.output
    bad = CliRunner().invoke(app, ["agents", "sip-credentials", "99"])
    assert bad.exit_code == 2 and "agent: '99'" in bad.output


def test_ami_security_failures_are_typed() -> None:
    msg = {"Event": "ChallengeResponseFailed", "Privilege": "security,all", "Service": "PJSIP",
           "AccountID": "1001", "RemoteAddress": "IPV4/UDP/192.0.2.7/5099", "Timestamp": "100.5",
           "Response": "abc", "ExpectedResponse": "def"}
    ev = translate(msg, 0.0)
    assert ev == SecurityFailure(ts=100.5, kind="ChallengeResponseFailed", service="PJSIP", account="1001",
                                 remote_address="192.0.2.7", remote_port=5099)
    assert {"InvalidAccountID", "InvalidPassword", "ChallengeResponseFailed", "FailedACL"} <= WANTED
    assert translate({"Event": "SuccessfulAuth", "Service": "PJSIP"}, 0.0) is None


def _fail(ts: float, address: str = "192.0.2.7", account: str = "1001") -> SecurityFailure:
    return SecurityFailure(ts=ts, kind="InvalidPassword", service="PJSIP", account=account, remote_address=address)


def test_threshold_within_the_window_raises_one_alarm_per_window() -> None:
    watch = AuthFailureWatch(threshold=3, window_s=60)
    assert watch.failure(_fail(0)) is None and watch.failure(_fail(30, account="1002")) is None
    assert watch.failure(_fail(10, address="198.51.100.1")) is None  # another address counts apart
    alarm = watch.failure(_fail(59))
    assert alarm is not None and (alarm.count, alarm.accounts) == (3, ("1001", "1002"))
    assert watch.failure(_fail(70)) is None  # already alarmed within this window
    assert watch.failure(_fail(200)) is None  # the old failures expired: 1 in the window
    assert watch.failure(_fail(201)) is None
    assert watch.failure(_fail(202)) is not None


def test_only_wrong_passwords_of_the_phones_we_locked_are_expected() -> None:
    from cti.security import locked_out

    def ev(kind: str, account: str, service: str = "PJSIP") -> SecurityFailure:
        return SecurityFailure(ts=1.0, kind=kind, service=service, account=account, remote_address="192.0.2.7")

    locked = frozenset({"1001"})
    assert locked_out(ev("ChallengeResponseFailed", "1001"), locked)
    assert locked_out(ev("InvalidPassword", "1001"), locked)
    assert not locked_out(ev("ChallengeResponseFailed", "1002"), locked)  # another phone: counted
    assert not locked_out(ev("FailedACL", "1001"), locked)  # not the lock's doing
    assert not locked_out(ev("InvalidAccountID", "1001"), locked)
    assert not locked_out(ev("InvalidPassword", "1001", service="AMI"), locked)
