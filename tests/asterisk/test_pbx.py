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
