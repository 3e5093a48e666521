import re
import shutil
import socket
import subprocess

from cti.pbx import ManagedPbx


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
