"""`cti config check` validates config/trunks.yaml: its own fields, and what it names elsewhere
(each DID's IVR entry and flow, the queues given a caller ID)."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.cli import app
from callcenter.config_check import check_all
from cti.settings import DEFAULT_CONFIG_DIR, load_settings


def _config(tmp_path: Path, trunks: str) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    (target / "trunks.yaml").write_text(trunks, encoding="utf-8")
    return target


def test_dids_must_open_an_existing_flow_and_caller_ids_name_real_queues(tmp_path: Path) -> None:
    config = _config(tmp_path, """
trunks:
  - name: lan
    kind: ip
    host: 192.0.2.10
    dids:
      - {number: "+861058880000", dnis: "5000", flow: demo}
      - {number: "+861058880001", dnis: "5999"}
      - {number: "+861058880002", dnis: "5001", flow: sales}
    caller_ids: ["+861058880000"]
outbound:
  routes: [{prefix: "", trunk: lan}]
  caller_id: {queues: {support: "+861058880000", nosuch: "+861058880000"}}
""")
    problems = check_all(load_settings(config_dir=config))
    path = config / "trunks.yaml"
    assert f"{path}: trunks.0.dids.1.dnis: '5999' is not an entry of any IVR flow in {config / 'ivr'}" in problems
    assert f"{path}: trunks.0.dids.2.flow: DNIS '5001' opens flow 'demo', not 'sales'" in problems
    assert any(p.startswith(f"{path}: outbound.caller_id.queues.nosuch: no such queue") for p in problems)
    assert len(problems) == 3, problems


def test_config_check_command_names_the_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, "trunks:\n  - {name: Bad Name, kind: ip, host: h, max_calls: 0}\n")
    monkeypatch.setenv("CTI_CONFIG_DIR", str(config))
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert f"error: {config / 'trunks.yaml'}: trunks.0.name" in result.output
    assert f"error: {config / 'trunks.yaml'}: trunks.0.max_calls" in result.output


def test_configured_caller_ids_must_be_numbers_a_trunk_owns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign may present only one of trunks[].caller_ids (caller-ID spoofing otherwise), but a
    caller ID an administrator set in config/trunks.yaml (outbound.caller_id) or on a queue's
    virtual_hold was presented as written. `cti config check` and `cti run`'s check before it starts
    anything now name each one no trunk owns, with its file, key and line, as a campaign's is refused."""
    config = _config(tmp_path, """
trunks:
  - {name: sim, kind: simulator, caller_ids: ["+861058880000", "01058880001"]}
outbound:
  routes: [{prefix: "", trunk: sim}]
  caller_id:
    default: "+861058889999"
    queues: {support: "01058880001", billing: "+33142000000"}
    campaigns: {spring: "+861058880000"}
""")
    queues = config / "queues.yaml"
    text = queues.read_text(encoding="utf-8")
    assert text.count('virtual_hold: {key: "*",') == 1  # billing's
    queues.write_text(text.replace('virtual_hold: {key: "*",', 'virtual_hold: {caller_id: "+861058887777", key: "*",'),
                      encoding="utf-8")
    path = config / "trunks.yaml"
    problems = check_all(load_settings(config_dir=config))
    unowned = [p for p in problems if "trunks[].caller_ids" in p]
    assert unowned == [
        f"{path}: outbound.caller_id.default: +861058889999 is not a number of this call centre: a caller ID "
        "must be one of trunks[].caller_ids in config/trunks.yaml (+861058880000, +861058880001), or empty "
        "for the default caller ID (line 7)",
        f"{path}: outbound.caller_id.queues.billing: +33142000000 is not a number of this call centre: a caller "
        "ID must be one of trunks[].caller_ids in config/trunks.yaml (+861058880000, +861058880001), or empty "
        "for the default caller ID (line 8)",
        f"{queues}: queues.billing.virtual_hold.caller_id: +861058887777 is not a number of this call centre: "
        "a caller ID must be one of trunks[].caller_ids in config/trunks.yaml (+861058880000, +861058880001), "
        "or empty for the default caller ID (line 52)",
    ], problems
    assert len(problems) == 3, problems  # the owned ones (national or E.164) pass
    import callcenter.run

    started: list[str] = []

    async def fake_run(*args: object, **kwargs: object) -> None:
        started.append("engine")

    monkeypatch.setattr(callcenter.run, "run", fake_run)
    monkeypatch.setattr("cti.pbx.ManagedPbx.up", lambda self, **kw: started.append("pbx"))
    for name, value in (("CTI_CONFIG_DIR", str(config)), ("CTI_STATE_DIR", str(tmp_path / "var")),
                        ("CTI_WEB__SESSION_SECRET", secrets.token_urlsafe(32)),
                        ("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")):
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["run", "--no-demo"])  # refused before anything starts
    assert result.exit_code == 2 and started == [], result.output
    assert f"error: {path}: outbound.caller_id.default: +861058889999 is not a number" in result.output
    assert "3 problem(s) in the configuration: nothing was started" in result.output
