import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from cti.cli import dialplan_status, pbx_app
from cti.pbx import ManagedPbx
from cti.pbx_ids import ids_by_name, taken_by_another
from cti.settings import load_settings
from tests.servers import free_port, rtp_range


def test_managed_pbx_runs_with_our_dialplan(pbx: ManagedPbx) -> None:
    st = pbx.status()
    assert st.running and st.ami_ready
    assert "Asterisk 22" in pbx.cli("core show version")
    assert "cti-inbound" in pbx.cli("dialplan show cti-inbound")
    out = pbx.cli("pjsip show endpoints")
    assert "1001" in out and "sipp-trunk" in out


def test_up_on_a_running_pbx_applies_new_configuration(pbx: ManagedPbx) -> None:
    assert "1006" not in pbx.cli("pjsip show endpoints")
    pid = pbx.pid()
    wider = pbx.settings.model_copy(update={"pbx": pbx.settings.pbx.model_copy(update={"agent_endpoints": 6})})
    ManagedPbx(wider).up(progress=False)
    assert pbx.pid() == pid  # reloaded in place, not restarted
    assert "1006" in pbx.cli("pjsip show endpoints")


def test_up_on_a_running_pbx_says_when_a_file_needs_a_restart(pbx: ManagedPbx, capsys: pytest.CaptureFixture[str],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """sorcery.conf (where the desk phone locks are read first) is read only when Asterisk starts: an
    upgrade that changes it must say a restart is needed, not reload in silence."""
    sorcery = pbx.instance_dir / "etc" / "sorcery.conf"
    sorcery.write_text(sorcery.read_text().replace("auth = astdb", "auth =astdb", 1))  # as an older release's
    pid = pbx.pid()
    pbx.up(progress=True)
    assert pbx.pid() == pid  # reloaded, not restarted: calls may be up
    assert "sorcery.conf changed, which a reload does not apply" in capsys.readouterr().out
    assert "cti pbx down && cti pbx up" in caplog.text
    caplog.clear()
    pbx.up(progress=True)  # nothing changed since: nothing said
    assert "reload does not apply" not in capsys.readouterr().out + caplog.text


def test_a_sip_call_costs_no_dns_lookup(pbx: ManagedPbx) -> None:
    """Asterisk looks its own host name up for each new RTP session, on PJSIP's one SIP-receiving
    thread. Without a hosts file in the chroot each lookup went to DNS and a slow resolver stalled
    every SIP call for seconds (bench/e2e_sipp.py lost half its calls to it)."""
    name = socket.gethostname()
    found = subprocess.run(["chroot", str(pbx.rootfs), "getent", "hosts", name],
                           capture_output=True, text=True, check=False)
    assert found.stdout.startswith("127.0.0.1"), f"{name} does not resolve in the chroot: {found}"
    # ICE is on for the browser softphones (docs/softphone.md): the call below must still cost no lookup.
    assert re.search(r"ICE support:\s+Yes", pbx.cli("rtp show settings"))
    assert shutil.which("sipp"), "sipp is missing: scripts/install-system-deps.sh installs sip-tester"
    start = pbx.log_file.stat().st_size
    # One real SIP INVITE with SDP (sipp's built-in caller) into the inbound context: Asterisk
    # answers with RTP; with no IVR listening the call then ends, which is all this needs.
    subprocess.run(["sipp", f"127.0.0.1:{pbx.settings.pbx.sip_port}", "-sn", "uac", "-s", "7999",
                    "-i", "127.0.0.1", "-p", "0", "-m", "1", "-timeout", "15s", "-nostdin",
                    "-timeout_error"], capture_output=True, check=False, timeout=30)
    with open(pbx.log_file, "rb") as fh:
        fh.seek(start)
        log = fh.read().decode(errors="replace")
    assert "cti-inbound" in log, "the SIP call did not reach the dialplan"
    assert "Unable to lookup" not in log and "getaddrinfo" not in log, log[-2000:]


def test_asterisk_runs_as_an_unprivileged_user(pbx: ManagedPbx) -> None:
    """Started as root (chroot needs it), Asterisk drops to the Debian package's user: real,
    effective, saved and file-system uid and gid all non-zero."""
    pid = pbx.pid()
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M)
    gids = re.search(r"^Gid:\s+(.*)$", status, re.M)
    assert uids and gids, status
    assert all(int(u) != 0 for u in uids.group(1).split()), uids.group(0)
    assert all(int(g) != 0 for g in gids.group(1).split()), gids.group(0)
    assert set(uids.group(1).split()) == {str(pbx.asterisk_ids()[0])}
    # ... and that uid and gid are no other account's on this host (101 was postgres's, and gid 101 _ssh's)
    host_users, host_groups = ids_by_name(Path("/etc/passwd").read_text()), ids_by_name(Path("/etc/group").read_text())
    assert not taken_by_another(host_users, "asterisk", int(uids.group(1).split()[0])), host_users
    assert not taken_by_another(host_groups, "asterisk", int(gids.group(1).split()[0])), host_groups
    # What it writes at run time is its own (a call, a voicemail, the astdb would fail otherwise).
    assert (pbx.instance_dir / "lib" / "astdb.sqlite3").stat().st_uid == pbx.asterisk_ids()[0]


def _ami(pbx: ManagedPbx, *actions: str, observer: bool = False) -> list[str]:
    """Log in as the engine's AMI user (or the read-only observer user), send each action (with an
    ActionID), return each reply."""
    s = pbx.settings.ami
    user, secret = (s.observer_username, s.observer_secret) if observer else (s.username, s.secret)
    with socket.create_connection((s.host, s.port), timeout=10) as sock:
        f = sock.makefile("rwb")
        f.readline()  # banner
        replies = []
        for n, action in enumerate((f"Action: Login\r\nUsername: {user}\r\n"
                                    f"Secret: {secret.get_secret_value()}\r\nEvents: off", *actions)):
            f.write(f"{action}\r\nActionID: probe-{n}\r\n\r\n".encode())
            f.flush()
            while True:
                block = b""
                while (line := f.readline()) not in (b"\r\n", b""):
                    block += line
                if f"ActionID: probe-{n}".encode() in block and block.startswith(b"Response:"):
                    replies.append(block.decode(errors="replace"))
                    break
                assert line, "AMI closed the connection"
        return replies[1:] if "Success" in replies[0] else [f"login failed: {replies[0]}"]


def test_the_engines_ami_user_cannot_run_commands_or_shell(pbx: ManagedPbx) -> None:
    """manager.conf grants the classes the engine uses, not system/command: no CLI command over
    AMI, no Originate into System() (a shell as Asterisk's user), no module reloads."""
    command, shell, reload, ping, channels = _ami(
        pbx,
        "Action: Command\r\nCommand: core show version",
        "Action: Originate\r\nChannel: Local/s@cti-sim-caller\r\nApplication: System\r\nData: true",
        "Action: Reload\r\nModule: manager",
        "Action: Ping",
        "Action: CoreShowChannels",
    )
    assert "Response: Error" in command and "Permission denied" in command, command
    assert "Response: Error" in shell and "Forbidden" in shell, shell
    assert "Response: Error" in reload and "Permission denied" in reload, reload
    assert "Response: Success" in ping, ping
    assert "Response: Success" in channels, channels


def test_the_observer_ami_user_may_log_in_but_run_no_action(pbx: ManagedPbx) -> None:
    """The tests' raw AMI taps log in as ami.observer_username (the test PBX sets its secret): it reads
    events and nothing else, not even an Originate or a Hangup."""
    originate, hangup, setvar, ping = _ami(
        pbx,
        "Action: Originate\r\nChannel: Local/s@cti-sim-caller\r\nApplication: Wait\r\nData: 1",
        "Action: Hangup\r\nChannel: PJSIP/nobody-00000001",
        "Action: Setvar\r\nVariable: GLOBAL_X\r\nValue: 1",
        "Action: Ping",
        observer=True,
    )
    for reply in (originate, hangup, setvar):
        assert "Response: Error" in reply and "Permission denied" in reply, reply
    assert "Response: Success" in ping, ping


def test_pbx_status_names_the_dialplan_contexts_asterisk_lacks(pbx: ManagedPbx,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``cti pbx status`` also asks Asterisk (over AMI) for every context of extensions.conf: an
    Asterisk configured by hand may run an older dialplan."""
    monkeypatch.setattr("cti.cli.settings_or_exit", lambda: pbx.settings)
    ok = CliRunner().invoke(pbx_app, ["status"])
    assert ok.exit_code == 0, ok.output
    assert re.search(r"dialplan: all \d+ contexts of config/asterisk/extensions.conf loaded", ok.output), ok.output
    pbx.cli("dialplan remove context cti-agent-gone")
    try:
        stale = CliRunner().invoke(pbx_app, ["status"])
        assert stale.exit_code == 1, stale.output
        assert "dialplan: Asterisk lacks 1 of the" in stale.output and "cti-agent-gone" in stale.output
    finally:
        pbx.cli("dialplan reload")
    assert dialplan_status(pbx.settings) == []


def test_pbx_render_writes_what_up_gives_asterisk_and_status_checks_the_trunks_contexts(
        pbx: ManagedPbx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cti pbx render`` is how an Asterisk of one's own (pbx.mode system) gets the engine's
    dialplan: the shipped extensions.conf is a template (the FastAGI address, the trunks' contexts
    rendered from config/trunks.yaml). ``cti pbx status`` checks the rendered trunk contexts too."""
    monkeypatch.setattr("cti.cli.settings_or_exit", lambda: pbx.settings)
    out = tmp_path / "rendered"
    done = CliRunner().invoke(pbx_app, ["render", str(out)])
    assert done.exit_code == 0, done.output
    assert (out.stat().st_mode & 0o777) == 0o700
    files = sorted(out.glob("*.conf"))
    assert {f.name for f in files} == {f.name for f in (pbx.settings.config_dir / "asterisk").glob("*.conf")}
    assert all((f.stat().st_mode & 0o777) == 0o600 and "@@" not in f.read_text() for f in files)
    dialplan = (out / "extensions.conf").read_text()
    assert dialplan == (pbx.instance_dir / "etc" / "extensions.conf").read_text()
    assert "[cti-trunk-sim]" in dialplan and f"agi://{pbx.settings.agi.host}:{pbx.settings.agi.port}" in dialplan
    pbx.cli("dialplan remove context cti-trunk-sim")
    try:
        stale = CliRunner().invoke(pbx_app, ["status"])
        assert stale.exit_code == 1 and "cti-trunk-sim" in stale.output, stale.output
    finally:
        pbx.cli("dialplan reload")
    assert dialplan_status(pbx.settings) == []


def test_pbx_status_logs_in_with_the_generated_ami_secret(pbx: ManagedPbx, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``make run``'s Asterisk has the AMI secret generated into the state directory, not set in
    the settings: ``cti pbx status`` must log in with it (it logged in with an empty secret, exited
    1 on a healthy Asterisk, and each attempt counted as a failed login)."""
    from cti.credentials import AMI_SECRET_FILE

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / AMI_SECRET_FILE).write_text(pbx.settings.ami.secret.get_secret_value())
    (state / AMI_SECRET_FILE).chmod(0o600)
    generated = pbx.settings.model_copy(update={
        "state_dir": state, "ami": pbx.settings.ami.model_copy(update={"secret": SecretStr("")})})
    monkeypatch.setattr("cti.cli.settings_or_exit", lambda: generated)
    ok = CliRunner().invoke(pbx_app, ["status"])
    assert ok.exit_code == 0, ok.output
    assert "ami_ready=True" in ok.output and "contexts of config/asterisk/extensions.conf loaded" in ok.output


def test_pbx_status_with_a_wrong_ami_secret_and_render_onto_a_file_are_one_error_line(
        pbx: ManagedPbx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator's system Asterisk with another manager secret: `cti pbx status` ended in a
    PbxError traceback; `cti pbx render` onto an existing file in a FileExistsError one."""
    wrong = pbx.settings.model_copy(update={
        "pbx": pbx.settings.pbx.model_copy(update={"mode": "system"}),
        "ami": pbx.settings.ami.model_copy(update={"secret": SecretStr("not-the-manager-secret-0123456789")})})
    monkeypatch.setattr("cti.cli.settings_or_exit", lambda: wrong)
    refused = CliRunner().invoke(pbx_app, ["status"])
    assert isinstance(refused.exception, SystemExit) and refused.exit_code == 1, repr(refused.exception)
    assert "error: AMI refused the configured username/secret" in refused.output, refused.output
    monkeypatch.setattr("cti.cli.settings_or_exit", lambda: pbx.settings)
    (tmp_path / "afile").write_text("")
    onto_file = CliRunner().invoke(pbx_app, ["render", str(tmp_path / "afile")])
    assert isinstance(onto_file.exception, SystemExit) and onto_file.exit_code == 1, repr(onto_file.exception)
    assert f"error: {tmp_path / 'afile'}: cannot write the configuration there" in onto_file.output, onto_file.output


def test_a_restart_keeps_the_previous_asterisk_log(tmp_path: Path) -> None:
    """`cti pbx down && cti pbx up` after a crash deleted the crashed Asterisk's log, the evidence an
    administrator restarts it to read: it is kept beside the new one as messages.previous."""
    own = load_settings(state_dir=tmp_path / "state", ami={"port": free_port()}, agi={"port": free_port()},
                        pbx={"instance": f"logkeep{os.getpid()}", "sip_port": free_port(), **rtp_range("own"),
                             "agent_endpoints": 1, "http_port": free_port(), "log_verbose": 3})
    pbx = ManagedPbx(own)
    try:
        pbx.up(progress=False)
        pbx.cli("dialplan set global CTI_TEST_MARK the-first-run-was-here")  # logged: only this run has it
        pbx.down()
        assert "the-first-run-was-here" in pbx.log_file.read_text()
        pbx.up(progress=False)
        previous = pbx.log_file.with_name("messages.previous")
        assert "the-first-run-was-here" in previous.read_text()
        assert "the-first-run-was-here" not in pbx.log_file.read_text()
    finally:
        pbx.remove_instance()
