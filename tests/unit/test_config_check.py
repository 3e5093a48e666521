import secrets
import shutil
from pathlib import Path

import pytest

from callcenter.config_check import check_all
from cti.settings import DEFAULT_CONFIG_DIR, load_settings


def _config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def test_shipped_configuration_is_valid() -> None:
    assert check_all(load_settings()) == []


def test_ivr_naming_an_unknown_queue_or_skill_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    flow = config / "ivr" / "demo.yaml"
    text = flow.read_text().replace("queue: billing\n", "queue: bilingg\n").replace(
        "language_skills: {zh: {zh: 1}}", "language_skills: {zh: {klingon: 1}}")
    flow.write_text(text)
    problems = check_all(load_settings(config_dir=config))
    assert any("node 'billing': queue: 'bilingg'" in p for p in problems), problems
    assert any("language_skills.zh.klingon" in p for p in problems), problems


@pytest.mark.parametrize("name", ["queues.yaml", "trunks.yaml", "alerts.yaml", "ivr/demo.yaml"])
def test_a_file_saved_in_another_encoding_is_a_problem_naming_it(tmp_path: Path, name: str) -> None:
    """Notepad on a Chinese Windows saves "ANSI", i.e. GBK: a traceback at `cti config check` and `cti
    run` (UnicodeDecodeError), where it must be a problem that names the file."""
    config = _config(tmp_path)
    path = config / name
    path.write_bytes((path.read_text(encoding="utf-8") + "\n# 备注\n").encode("gbk"))
    problems = check_all(load_settings(config_dir=config))
    assert any(p.startswith(f"{path}: ") and "not UTF-8 text" in p for p in problems), problems


def test_an_engine_yaml_in_another_encoding_is_a_config_error_naming_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cti.errors import ConfigError

    config = _config(tmp_path)
    path = config / "engine.yaml"
    path.write_bytes((path.read_text(encoding="utf-8") + "\n# 备注\n").encode("gbk"))
    monkeypatch.setenv("CTI_CONFIG_DIR", str(config))
    with pytest.raises(ConfigError, match=str(path)):
        load_settings()


@pytest.mark.parametrize("text", ["- support\n", "queues: [support, billing]\n", "queues: {support: 5}\n",
                                  "queues: {support: {}}\n# 备注\n"])
def test_the_pbx_rendering_leaves_a_queues_file_of_the_wrong_shape_to_its_own_check(tmp_path: Path,
                                                                                     text: str) -> None:
    """`cti run` renders the managed Asterisk's queues.conf before the engine reads queues.yaml: a file
    of the wrong shape was an AttributeError traceback there, before the engine's error naming the field."""
    from cti.errors import PbxError
    from cti.pbx_config import fallback_queues

    (tmp_path / "queues.yaml").write_bytes(text.encode("gbk"))
    try:
        fallback_queues(tmp_path)
    except PbxError as err:
        assert str(tmp_path / "queues.yaml") in str(err)


@pytest.mark.parametrize("text", ["queues: {support: [\n", "queues: {}\n# 备注\n"])
def test_the_demo_seed_reading_queues_yaml_says_which_file_is_bad(tmp_path: Path, text: str) -> None:
    """`cti run` seeds the demo company from queues.yaml before the engine checks that file."""
    from crm_core.seed import _queues
    from cti.errors import ConfigError

    (tmp_path / "queues.yaml").write_bytes(text.encode("gbk"))
    with pytest.raises(ConfigError, match=str(tmp_path / "queues.yaml")):
        _queues(tmp_path)


def _check(config: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    from typer.testing import CliRunner

    from callcenter.cli import app

    monkeypatch.setenv("CTI_CONFIG_DIR", str(config))
    result = CliRunner().invoke(app, ["config", "check"])
    return result.exit_code, result.output.splitlines()


def test_config_check_reports_every_problem_of_queues_yaml_in_one_run(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema error hid the checks that need a validated file (a skill's level, an unknown skill or
    queue): each run showed one more problem. Now one run lists them all, with key and line."""
    config = _config(tmp_path)
    path = config / "queues.yaml"
    path.write_text("""skills: [support, billing]
queues:
  support:
    strategy: fastest
    steps:
      - {after_s: 0, skills: {support: 7}}
      - {after_s: soon, skills: {suport: 1}}
    overflow: {after_s: 60, to: nowhere}
  billing:
    wrap_up: 3
  sales: {}
  general: {}
agents:
  "1001": {skills: {billing: 9}, queues: [vip], capacity: 0}
""", encoding="utf-8")
    code, out = _check(config, monkeypatch)
    assert code == 2
    for expected in [
        f"error: {path}: queues.support.strategy: Input should be 'longest_idle'",
        f"error: {path}: queues.support.steps[0].skills.support: level 7 outside 1..5 (line 6)",
        f"error: {path}: queues.support.steps[1].after_s: Input should be a valid number",
        f"error: {path}: queues.support.steps[1].skills.suport: unknown skill (declare it under skills:) (line 7)",
        f"error: {path}: queues.support.overflow.to: unknown queue 'nowhere' (line 8)",
        f"error: {path}: queues.billing.wrap_up: Extra inputs are not permitted (line 10)",
        f"error: {path}: agents.1001.capacity: Input should be greater than or equal to 1 (line 14)",
        f"error: {path}: agents.1001.skills.billing: level 9 outside 1..5 (line 14)",
        f"error: {path}: agents.1001.queues: unknown queue 'vip' (line 14)",
    ]:
        assert any(line.startswith(expected) for line in out), (expected, out)
    # The step whose after_s was set aside is not also "not later than the step before".
    assert not any("steps[1].after_s: must be later" in line for line in out), out


def test_config_check_reports_a_bad_engine_yaml_and_the_other_files(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid engine.yaml stopped `cti config check` before any other file was read."""
    config = _config(tmp_path)
    with (config / "engine.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\ntimezone: Mars/Base\n")
    (config / "trunks.yaml").write_text("""trunks:
  - {name: lan, kind: ip, host: 192.0.2.10, max_calls: 0, caller_ids: ["+861058880000", "abc"]}
  - {name: lan, kind: simulator}
outbound:
  routes: [{prefix: "", trunk: lan}, {prefix: "86", trunk: wan}]
""", encoding="utf-8")
    code, out = _check(config, monkeypatch)
    text = "\n".join(out)
    path = config / "trunks.yaml"
    assert code == 2
    assert "timezone [CTI_TIMEZONE]" in text and "Mars/Base" in text
    for expected in [f"error: {path}: trunks.0.max_calls: Input should be greater than or equal to 1 (line 2)",
                     f"error: {path}: trunks.0.caller_ids.1: 'abc' is not a phone number (line 2)",
                     f"error: {path}: outbound.routes.1.trunk: 'wan' is not a trunk of this file (line 5)"]:
        assert expected in out, (expected, out)
    # The duplicate name is found although the first 'lan' has a problem of its own.
    assert any("the name 'lan' is used twice" in line for line in out), out


def test_the_engine_still_refuses_a_bad_queues_yaml_naming_every_problem(tmp_path: Path) -> None:
    from acd.config import load_queues
    from cti.errors import ConfigError

    (tmp_path / "queues.yaml").write_text("skills: [a]\nqueues:\n  q:\n    wrap_up: 3\n"
                                          "    steps: [{after_s: 0, skills: {a: 7}}]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_queues(load_settings(config_dir=tmp_path))
    assert "queues.q.wrap_up: Extra inputs are not permitted (line 4)" in err.value.message
    assert "queues.q.steps[0].skills.a: level 7 outside 1..5 (line 5)" in err.value.message


def test_config_check_reports_an_ivr_flows_schema_and_graph_problems_together(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A flow with a schema error in one node was only reported for that: its other nodes' problems
    (a target that does not exist) waited for the next run."""
    config = _config(tmp_path)
    (config / "ivr" / "extra.yaml").write_text("""flow: extra
entries: ["7100"]
start: hello
nodes:
  hello: {type: play, prompt: [hello], next: gone, volume: 11}
  bye: {type: hangup, after: 3}
  ask: {type: play, prompt: [hello], next: nowhere}
""", encoding="utf-8")
    code, out = _check(config, monkeypatch)
    path = config / "ivr" / "extra.yaml"
    assert code == 2
    assert f"error: {path}: node 'hello': field 'volume': Extra inputs are not permitted" in out, out
    assert f"error: {path}: node 'bye': field 'after': Extra inputs are not permitted" in out, out
    assert f"error: {path}: node 'ask': field 'next': unknown node 'nowhere'" in out, out
    # 'hello' was set aside: its own target is not checked, nor is it called unknown as the start.
    assert not any("'gone'" in line or "field 'start'" in line for line in out), out


@pytest.mark.parametrize(("env", "named"), [
    ({"CTI_WEB__SESSION_SECRET": "change-me"}, "web.session_secret [CTI_WEB__SESSION_SECRET] is a published default"),
    ({"CTI_PBX__MODE": "system"}, "ami.secret [CTI_AMI__SECRET] is not set: with pbx.mode 'system'"),
    ({"CTI_AMI__SECRET": "secret"}, "ami.secret [CTI_AMI__SECRET] is a published default"),
])
def test_config_check_names_the_secrets_cti_run_would_refuse(env: dict[str, str], named: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`cti config check` said OK where `cti run` then refused to start (a published session
    secret, a system Asterisk without the AMI secret); it writes no secret file while checking."""
    from typer.testing import CliRunner

    from callcenter.cli import app

    for name in ("CTI_WEB__SESSION_SECRET", "CTI_AMI__SECRET", "CTI_PBX__MODE", "CTI_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert not (tmp_path / "var").exists()
    monkeypatch.delenv(next(iter(env)))
    ok = CliRunner().invoke(app, ["config", "check"])
    assert ok.exit_code == 0, ok.output


def test_cti_run_refuses_a_broken_configuration_before_starting_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cti run` read queues.yaml and the other files only after it had started Asterisk and migrated
    the database: an operator's typo showed after the slow part, and left a PBX running. Now every
    problem is printed first (as `cti config check` does) and nothing starts."""
    from typer.testing import CliRunner

    import callcenter.run
    from callcenter.cli import app

    started: list[str] = []

    async def fake_run(*args: object, **kwargs: object) -> None:
        started.append("engine")

    monkeypatch.setattr(callcenter.run, "run", fake_run)
    monkeypatch.setattr("cti.pbx.ManagedPbx.up", lambda self, **kw: started.append("pbx"))
    config = _config(tmp_path)
    queues = config / "queues.yaml"
    queues.write_text(queues.read_text(encoding="utf-8").replace("wrap_up_s:", "wrap_up_seconds:", 1),
                      encoding="utf-8")
    for name, value in (("CTI_CONFIG_DIR", str(config)), ("CTI_STATE_DIR", str(tmp_path / "var")),
                        ("CTI_WEB__SESSION_SECRET", secrets.token_urlsafe(32)),
                        ("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")):
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["run", "--no-demo"])
    assert result.exit_code == 2, result.output
    assert f"error: {queues}: " in result.output and "nothing was started" in result.output, result.output
    assert started == [] and not (tmp_path / "cti.db").exists()


def test_each_flow_file_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """check_all read and validated every IVR flow file four times (its own check, then again for the
    trunks', the queues' and the queue sounds' cross-checks): now once, the flows passed along."""
    import ivr.config

    config = _config(tmp_path)
    reads: list[Path] = []
    check_file = ivr.config.check_file

    def counted(path: Path, sounds: object) -> object:
        reads.append(path)
        return check_file(path, sounds)  # type: ignore[arg-type]

    monkeypatch.setattr(ivr.config, "check_file", counted)
    assert check_all(load_settings(config_dir=config)) == []
    assert reads and sorted(reads) == sorted(set(reads)) == sorted((config / "ivr").glob("*.yaml"))
