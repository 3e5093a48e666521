"""`cti config check` validates config/trunks.yaml: its own fields, and what it names elsewhere
(each DID's IVR entry and flow, the queues given a caller ID)."""

from __future__ import annotations

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
