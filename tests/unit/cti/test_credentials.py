"""Safe defaults: no published secret is used silently. The console's session secret and the AMI
secret are generated per installation (state_dir, mode 0600) when none is configured; a known or
short session secret stops the engine unless development mode is set explicitly."""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

import pytest
import yaml

from callcenter.engine import Engine
from cti.errors import ConfigError
from cti.pbx import ManagedPbx
from cti.settings import DEFAULT_CONFIG_DIR, Settings, load_settings

STRONG = secrets.token_urlsafe(32)  # a generated one (a repeated character is refused)


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                         **overrides)


def test_the_shipped_configuration_publishes_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CTI_AMI__SECRET", "CTI_WEB__SESSION_SECRET", "CTI_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    shipped = yaml.safe_load((DEFAULT_CONFIG_DIR / "engine.yaml").read_text(encoding="utf-8"))
    assert "secret" not in shipped.get("ami", {})
    assert "session_secret" not in (shipped.get("web") or {})
    s = load_settings()
    assert s.ami.secret.get_secret_value() == "" and s.web.session_secret.get_secret_value() == ""
    assert s.dev_mode is False


@pytest.mark.parametrize("secret", ["dev-only-secret-change-me", "change-me", "cti-dev-secret", "s" * 31])
def test_the_engine_refuses_a_known_or_short_session_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError) as err:
        Engine(_settings(tmp_path, web={"session_secret": secret}))
    message = err.value.message
    assert "web.session_secret" in message and "CTI_WEB__SESSION_SECRET" in message
    assert "dev_mode" in message  # and how to accept it on a development machine
    assert secret not in message  # the secret itself is never printed


def test_development_mode_accepts_it_with_a_loud_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_DEV_MODE", "1")
    settings = _settings(tmp_path, web={"session_secret": "dev-only-secret-change-me"})
    assert settings.dev_mode is True
    with caplog.at_level(logging.WARNING):
        engine = Engine(settings)
    assert engine.settings.web.session_secret.get_secret_value() == "dev-only-secret-change-me"
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and "DEVELOPMENT MODE" in r.getMessage()]
    assert warned and "web.session_secret" in warned[0].getMessage()


def test_a_strong_configured_secret_is_used_as_is(tmp_path: Path) -> None:
    engine = Engine(_settings(tmp_path, web={"session_secret": STRONG}))
    assert engine.settings.web.session_secret.get_secret_value() == STRONG
    assert not (tmp_path / "state" / "session-secret").exists()


def test_without_a_configured_secret_one_is_generated_per_installation(tmp_path: Path) -> None:
    first = Engine(_settings(tmp_path)).settings.web.session_secret.get_secret_value()
    path = tmp_path / "state" / "session-secret"
    assert len(first.encode()) >= 32 and path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Engine(_settings(tmp_path)).settings.web.session_secret.get_secret_value() == first  # kept
    other = Engine(_settings(tmp_path / "other")).settings.web.session_secret.get_secret_value()
    assert other != first


def _fake_rootfs(tmp_path: Path) -> Path:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "asterisk:x:101:101:Asterisk PBX daemon:/var/lib/asterisk:/usr/sbin/nologin\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nasterisk:x:101:\n")
    return rootfs


def test_the_managed_asterisk_gets_the_generated_ami_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, pbx={"rootfs": _fake_rootfs(tmp_path), "instance": "unit"})
    pbx = ManagedPbx(settings)
    secret = pbx.settings.ami.secret.get_secret_value()
    path = tmp_path / "state" / "ami-secret"
    assert len(secret) >= 32 and path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pbx.write_config()
    manager = (pbx.instance_dir / "etc" / "manager.conf").read_text()
    assert f"secret = {secret}\n" in manager
    # The engine's AMI user gets the classes it uses, never "all" (which includes system and command).
    perms = {key: set(value.split(",")) for key, value in
             (line.split(" = ", 1) for line in manager.splitlines() if line.startswith(("read =", "write =")))}
    assert perms["write"] == {"originate", "call", "reporting", "agent"}  # agent: the fallback queues' members
    assert "all" not in perms["read"] and {"dialplan", "agi"}.isdisjoint(perms["read"])
    # Asterisk's own files are its user's (uid 101 in this root file system, renumbered on a host where
    # 101 is another account's), the secrets unreadable to others.
    uid, gid = pbx.asterisk_ids()
    assert uid != 0 and (uid == 101 or uid >= 70_000)
    conf = pbx.instance_dir / "etc" / "manager.conf"
    assert (conf.stat().st_uid, conf.stat().st_gid) == (uid, gid) and stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert all((pbx.instance_dir / d).stat().st_uid == uid for d in ("run", "log", "spool", "lib"))
    # The engine built from the same settings logs in with the same secret.
    assert Engine(_settings(tmp_path, web={"session_secret": STRONG}), web=False
                  ).settings.ami.secret.get_secret_value() == secret


def test_a_system_asterisk_needs_its_ami_secret_configured(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        Engine(_settings(tmp_path, pbx={"mode": "system"}, web={"session_secret": STRONG}))
    assert "ami.secret" in err.value.message and "CTI_AMI__SECRET" in err.value.message


def _manager_users(manager: str) -> dict[str, dict[str, str]]:
    """manager.conf's sections (users, and [general]) as {name: {key: value}}."""
    users: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in manager.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = users.setdefault(line[1:-1], {})
        elif " =" in line and not line.startswith((";", "eventfilter")):
            key, _, value = line.partition(" =")
            current[key] = value.strip()
    return users


def test_no_observer_manager_user_unless_its_secret_is_set(tmp_path: Path) -> None:
    pbx = ManagedPbx(_settings(tmp_path, pbx={"rootfs": _fake_rootfs(tmp_path), "instance": "unit"}))
    pbx.write_config()
    users = _manager_users((pbx.instance_dir / "etc" / "manager.conf").read_text())
    assert set(users) == {"general", "cti"}
    assert "@@" not in (pbx.instance_dir / "etc" / "manager.conf").read_text()


def test_the_observer_manager_user_reads_unfiltered_events_and_may_run_no_action(tmp_path: Path) -> None:
    secret = "o" * 32
    pbx = ManagedPbx(_settings(tmp_path, pbx={"rootfs": _fake_rootfs(tmp_path), "instance": "unit"},
                               ami={"observer_username": "watcher", "observer_secret": secret}))
    pbx.write_config()
    manager = (pbx.instance_dir / "etc" / "manager.conf").read_text()
    users = _manager_users(manager)
    assert set(users) == {"general", "cti", "watcher"}
    watcher = users["watcher"]
    assert watcher["secret"] == secret and watcher["write"] == ""
    assert set(watcher["read"].split(",")) == {"system", "call", "dtmf", "agent", "user"}
    assert watcher["permit"] == "127.0.0.0/255.0.0.0"
    # The engine's user is not sent what only observers wait on, and cannot read DTMF at all.
    engine_part = manager[manager.index("[cti]"):manager.index("[watcher]")]
    assert "dtmf" not in users["cti"]["read"].split(",")
    for name in ("DTMFEnd", "MusicOnHoldStart", "MusicOnHoldStop", "DialBegin", "BridgeCreate", "BridgeDestroy"):
        assert f"name({name})" not in engine_part
    assert "eventfilter" not in manager[manager.index("[watcher]"):]
    # Asterisk drops a session that does not read for writetimeout ms (100 by default, a user's setting):
    # an observer on a busy test or bench machine was dropped mid-run; it gets the engine user's 2000.
    assert users["cti"]["writetimeout"] == "2000"
    assert watcher["writetimeout"] == users["cti"]["writetimeout"], watcher
    assert "writetimeout" not in users["general"]  # Asterisk refuses it there ("Invalid keyword")


@pytest.mark.parametrize(("ami", "problem"), [
    ({"observer_username": "cti", "observer_secret": "s" * 20}, "must differ"),
    ({"observer_secret": "abc\nwrite = all"}, "line break"),
    ({"observer_username": "a b"}, "pattern")])
def test_an_observer_user_that_would_break_manager_conf_is_refused(tmp_path: Path, ami: dict[str, str],
                                                                    problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, ami=ami)
    assert problem in err.value.message


def test_the_webhook_key_is_generated_per_installation_unless_configured(tmp_path: Path) -> None:
    from cti.credentials import WEBHOOK_KEY_FILE, webhook_keys

    generated, old = webhook_keys(_settings(tmp_path))
    path = tmp_path / "state" / WEBHOOK_KEY_FILE
    assert len(generated) >= 32 and old == [] and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert webhook_keys(_settings(tmp_path))[0] == generated  # read back, not made again
    assert webhook_keys(_settings(tmp_path / "other"))[0] != generated  # another installation
    configured = _settings(tmp_path, feed={"webhook_key": "k" * 40, "webhook_old_keys": [generated]})
    assert webhook_keys(configured) == ("k" * 40, [generated])
    with pytest.raises(ConfigError, match="webhook_key"):
        _settings(tmp_path, feed={"webhook_key": "short"})


def test_cti_run_seeds_the_demos_published_logins_only_when_asked(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``cti run`` on a production database must not create admin / admin-demo-1 and the other demo
    logins because ``--no-demo`` was forgotten: the demo is opt-in (``make run`` asks for it)."""
    from typer.testing import CliRunner

    import callcenter.run
    from callcenter.cli import app

    asked: list[bool] = []

    async def fake_run(settings: Settings, *, demo: bool, **_: object) -> None:
        asked.append(demo)

    monkeypatch.setattr(callcenter.run, "run", fake_run)
    for name, value in (("CTI_PBX__MODE", "system"), ("CTI_AMI__SECRET", STRONG), ("CTI_STATE_DIR", str(tmp_path)),
                        ("CTI_WEB__SESSION_SECRET", STRONG)):
        monkeypatch.setenv(name, value)
    for args in (["run"], ["run", "--demo"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    assert asked == [False, True]


def test_cti_run_with_a_state_dir_it_cannot_create_is_one_error_line(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A state_dir through a file (or not the engine user's to create) ended `cti run` in a
    NotADirectoryError traceback; it names the setting, before any PBX or database is touched."""
    from typer.testing import CliRunner

    from callcenter.cli import app

    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "afile" / "var"))
    monkeypatch.delenv("CTI_WEB__SESSION_SECRET", raising=False)
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")
    result = CliRunner().invoke(app, ["run", "--no-demo"])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, repr(result.exception)
    assert f"error: state_dir (CTI_STATE_DIR): cannot create {tmp_path / 'afile' / 'var'}: Not a directory" \
        in result.output, result.output
    assert not (tmp_path / "cti.db").exists()
