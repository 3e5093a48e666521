from cti.pbx import ManagedPbx


def test_managed_pbx_runs_with_our_dialplan(pbx: ManagedPbx) -> None:
    st = pbx.status()
    assert st.running and st.ami_ready
    assert "Asterisk 22" in pbx.cli("core show version")
    assert "cti-inbound" in pbx.cli("dialplan show cti-inbound")
    out = pbx.cli("pjsip show endpoints")
    assert "1001" in out and "sipp-trunk" in out
