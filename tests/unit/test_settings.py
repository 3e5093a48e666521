import pytest

from cti.credentials import describe
from cti.errors import ConfigError, UnsafeValue
from cti.safety import check_agi_argument, check_header_name, check_value
from cti.settings import load_settings


def test_env_overrides_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_AMI__PORT", "6038")
    monkeypatch.setenv("CTI_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    s = load_settings()
    assert s.ami.port == 6038
    assert s.database_url == "postgresql+asyncpg://u@h/db"


def test_bad_value_names_field_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_AMI__PORT", "99999")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "ami.port" in err.value.message
    assert "CTI_AMI__PORT" in err.value.message
    assert "engine.yaml" in err.value.message


def test_bad_yaml_names_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "engine.yaml").write_text("bus: carrier-pigeon\n")
    monkeypatch.setenv("CTI_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(tmp_path / "engine.yaml") in err.value.message
    assert "bus" in err.value.message


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_AMI__SECRET", "hunter2")
    s = load_settings()
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(describe(s))
    assert s.ami.secret.get_secret_value() == "hunter2"


@pytest.mark.parametrize("bad", ["1001\r\nAction: Hangup", "x\n", "a\x00b", "tab\there"])
def test_control_characters_refused(bad: str) -> None:
    with pytest.raises(UnsafeValue) as err:
        check_value("Exten", bad)
    assert err.value.field == "Exten"


def test_safe_values_pass() -> None:
    assert check_value("Exten", "+8613800138000") == "+8613800138000"
    assert check_header_name("CTI_QUEUE") == "CTI_QUEUE"
    with pytest.raises(UnsafeValue):
        check_header_name("Bad: header")
    with pytest.raises(UnsafeValue):
        check_agi_argument("file", 'x" 2')


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "", "../../etc/passwd", "UTC+8", "Asia/Shanghai\x00", "Asia",
                                 "/etc/localtime"])
def test_unknown_time_zone_is_refused_at_load_naming_the_field(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(timezone=bad)
    assert "timezone [CTI_TIMEZONE]" in err.value.message
    assert "IANA time zone" in err.value.message


def test_known_time_zones_load() -> None:
    assert load_settings(timezone="Asia/Shanghai").timezone == "Asia/Shanghai"
    assert load_settings(timezone="UTC").timezone == "UTC"


def test_config_check_reports_a_bad_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from callcenter.cli import app

    monkeypatch.setenv("CTI_TIMEZONE", "Europe/Atlantis")
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code != 0
    assert "timezone" in result.output and "Europe/Atlantis" in result.output
    assert "configuration OK" not in result.output


def test_agi_limits_default_to_loopback_and_bad_networks_are_named() -> None:
    agi = load_settings().agi
    assert [str(n) for n in agi.allowed_clients] == ["127.0.0.0/8", "::1/128"]
    assert agi.max_sessions >= 1000 and agi.read_timeout_s > 0
    with pytest.raises(ConfigError) as err:
        load_settings(agi={"allowed_clients": ["10.0.0.0/8", "asterisk.example"]})
    assert "agi.allowed_clients.1" in err.value.message
    with pytest.raises(ConfigError) as err:
        load_settings(agi={"max_sessions": 0, "read_timeout_s": -1})
    assert "agi.max_sessions" in err.value.message and "agi.read_timeout_s" in err.value.message


@pytest.mark.parametrize("token", ["<long random token>", "crm-feed", "change-me"])
def test_a_short_or_placeholder_integration_token_is_refused(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An integration token reads callers' numbers from the feed, unthrottled: the docs' placeholder
    or a guessable word must not work (the metrics token needs 16 characters, a webhook key 32)."""
    monkeypatch.setenv("CTI_FEED__INTEGRATION_TOKENS", f'["{"x" * 40}", "{token}"]')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "feed.integration_tokens" in err.value.message and token not in err.value.message
    monkeypatch.setenv("CTI_FEED__INTEGRATION_TOKENS", f'["{"x" * 40}"]')
    assert len(load_settings().feed.integration_tokens) == 1


def test_trusted_proxies_are_addresses_checked_and_written_as_the_peer_is() -> None:
    """A typo or a network in web.trusted_proxies was accepted and never matched any peer: behind
    the proxy every client looked like the proxy (one login throttle for everyone), and `cti config
    check` said OK. Each entry is an IP address, written as the server reports the peer's."""
    assert load_settings(web={"trusted_proxies": ["10.0.0.5", "0:0:0:0:0:0:0:1"]}).web.trusted_proxies == [
        "10.0.0.5", "::1"]
    for bad in ("10.0.0.300", "10.0.0.0/24", "proxy.example"):
        with pytest.raises(ConfigError) as err:
            load_settings(web={"trusted_proxies": ["10.0.0.5", bad]})
        assert "web.trusted_proxies" in err.value.message and "CTI_WEB__TRUSTED_PROXIES" in err.value.message
        assert f"{bad!r} is not an IP address" in err.value.message, err.value.message


def test_a_malformed_json_variable_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """CTI_LOG_LEVELS='{cti.ami: DEBUG' (not JSON) ended every command in pydantic-settings'
    SettingsError traceback; `cti config check` names the variable instead."""
    from typer.testing import CliRunner

    from callcenter.cli import app

    monkeypatch.setenv("CTI_LOG_LEVELS", "{cti.ami: DEBUG")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message.startswith("CTI_LOG_LEVELS: not JSON"), err.value.message
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error: CTI_LOG_LEVELS: not JSON" in result.output and "Traceback" not in result.output


def test_a_malformed_list_variable_is_named_not_its_plain_text_neighbours(monkeypatch: pytest.MonkeyPatch) -> None:
    """An env file read by a shell turns CTI_WEB__TRUSTED_PROXIES=["127.0.0.1"] into [127.0.0.1]: the
    error named "one of CTI_WEB__PUBLIC_URL, CTI_WEB__TRUSTED_PROXIES", though a URL is plain text
    and never read as JSON. Only the variables of list or mapping settings are suspects."""
    monkeypatch.setenv("CTI_WEB__PUBLIC_URL", "https://console.example.com")
    monkeypatch.setenv("CTI_WEB__HOST", "127.0.0.1")
    monkeypatch.setenv("CTI_WEB__TRUSTED_PROXIES", "[127.0.0.1]")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message.startswith("CTI_WEB__TRUSTED_PROXIES: not JSON"), err.value.message
    assert "PUBLIC_URL" not in err.value.message.split(";")[0]


@pytest.mark.parametrize("bad", ["console.example.com", "ftp://console.example.com", "https://", "https:/x"])
def test_public_url_without_scheme_or_host_is_refused(bad: str) -> None:
    """web.public_url 'console.example.com' (no scheme) was accepted: no Origin then matched it, so
    behind the documented nginx (which passes its own Host) every console's websocket was refused
    as cross-origin, and the session cookie lost its Secure flag on an https site."""
    with pytest.raises(ConfigError) as err:
        load_settings(web={"public_url": bad})
    assert "web.public_url [CTI_WEB__PUBLIC_URL]" in err.value.message
    assert "https://console.example.com" in err.value.message
    assert load_settings(web={"public_url": "https://console.example.com/"}).web.public_url == \
        "https://console.example.com"


def test_config_check_names_a_redis_bus_without_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cti config check` said OK for bus: redis without redis_url, which `cti run` then refused
    (after starting the PBX and migrating the database); docs/deployment.md promises the check
    names every problem before the start."""
    from typer.testing import CliRunner

    from callcenter.cli import app

    monkeypatch.setenv("CTI_BUS", "redis")
    monkeypatch.delenv("CTI_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 2, result.output
    assert "bus is 'redis': set redis_url (CTI_REDIS_URL) too" in result.output
    assert "[CTI_]" not in result.output
    monkeypatch.setenv("CTI_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert load_settings().bus == "redis"


def test_null_in_the_environment_unsets_an_optional_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """recordings.retention_days: null keeps recordings forever (docs/recording.md), but an
    operator configuring through the environment (systemd's EnvironmentFile) could not say it:
    CTI_RECORDINGS__RETENTION_DAYS=null was 'unable to parse string as a number'."""
    monkeypatch.setenv("CTI_RECORDINGS__RETENTION_DAYS", "null")
    monkeypatch.setenv("CTI_LOG_FILE", "null")
    s = load_settings()
    assert s.recordings.retention_days is None and s.log_file is None


@pytest.mark.parametrize(("given", "used"), [
    ("postgresql://cti@db.example/cti", "postgresql+asyncpg://cti@db.example/cti"),
    ("postgres://cti@db.example:5433/cti", "postgresql+asyncpg://cti@db.example:5433/cti"),
    ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
    ("postgresql+asyncpg://cti@db.example/cti", "postgresql+asyncpg://cti@db.example/cti"),
])
def test_a_database_url_without_the_engines_driver_gets_it(given: str, used: str) -> None:
    """The usual `postgresql://` form (libpq's, psql's) was accepted by `cti config check` and then
    failed at start with `No module named 'psycopg'`: the engine drives asyncpg and aiosqlite."""
    assert load_settings(database_url=given).database_url == used


def test_a_database_driver_the_engine_does_not_ship_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"database_url.*psycopg2.*postgresql\+asyncpg://"):
        load_settings(database_url="postgresql+psycopg2://cti@db.example/cti")
