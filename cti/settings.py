"""Typed engine settings, loaded once from ``config/engine.yaml`` with ``CTI_`` environment overrides.

Precedence (highest first): keyword arguments, environment (``CTI_AMI__PORT=5039``), the YAML
file, defaults. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import typing
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from cti.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"


class AmiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "cti"
    # Empty: generated per installation into <state_dir>/ami-secret (cti.credentials).
    secret: SecretStr = SecretStr("")
    connect_timeout_s: float = Field(5.0, gt=0)
    ping_interval_s: float = Field(10.0, gt=0)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(15.0, gt=0)
    # A second, read-only manager user for tools that watch Asterisk beside the engine (the tests' and
    # benches' raw AMI taps): call, dtmf, agent, user and system events, no filter, no action. The
    # engine's own user is sent only the events it models. Empty secret (the default): a managed
    # Asterisk gets no such user. Only for pbx.mode managed (a system Asterisk has its own manager.conf).
    observer_username: str = Field("cti-observer", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    observer_secret: SecretStr = SecretStr("")

    @field_validator("observer_secret")
    @classmethod
    def _one_line(cls, value: SecretStr) -> SecretStr:
        if any(c in value.get_secret_value() for c in "\r\n;"):
            raise ValueError("must not contain a line break or ';' (it is written into manager.conf)")
        return value

    @model_validator(mode="after")
    def _distinct_users(self) -> AmiSettings:
        if self.observer_secret.get_secret_value() and self.observer_username == self.username:
            raise ValueError("observer_username must differ from username (the engine's own manager user)")
        return self


def _loopback() -> list[IPv4Network | IPv6Network]:
    return [IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]


class AgiSettings(BaseModel):
    """The FastAGI server. Anyone who can connect can drive the IVR's dialplan steps, so only
    ``allowed_clients`` (the Asterisk hosts; loopback by default) may; every other peer is closed
    at once."""

    host: str = "127.0.0.1"
    port: int = Field(4573, ge=1, le=65535)
    # Open connections at once; more are closed at accept (Asterisk's AGI() then fails with
    # AGISTATUS=FAILURE and the dialplan goes on). The benchmark holds 1,000 busy sessions.
    max_sessions: int = Field(2000, ge=1, le=100_000)
    # How long one reply line (and the agi_* header, capped at 5 s) may take to arrive, on top of
    # the command's own wait (GET DATA's digit timeouts). STREAM FILE answers only when the prompt
    # ends, so this must outlast the longest prompt.
    read_timeout_s: float = Field(120.0, gt=0, le=3600)
    allowed_clients: list[IPvAnyNetwork] = Field(default_factory=_loopback, min_length=1)


class PbxSettings(BaseModel):
    """The Asterisk the engine drives: ``managed`` (a chroot provisioned by ``cti pbx``) or
    ``system`` (an Asterisk already installed and configured on this machine)."""

    mode: Literal["managed", "system"] = "managed"
    rootfs: Path = Path.home() / ".cache" / "cti-engine" / "asterisk-rootfs"
    instance: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    sip_port: int = Field(5060, ge=1, le=65535)
    rtp_start: int = Field(20000, ge=1024, le=65000)
    rtp_end: int = Field(20999, ge=1024, le=65535)
    ready_timeout_s: float = Field(60.0, gt=0)
    agent_endpoints: int = Field(20, ge=0, le=2000)
    system_cli: str = "asterisk"
    # The browser softphone (docs/softphone.md): Asterisk's HTTP server carries SIP over WebSocket
    # (ws://host:http_port/ws); with tls, also wss://host:https_port/ws with a certificate the
    # engine generates under the instance. ice_permit (empty: no limit) limits the interfaces whose
    # addresses Asterisk offers as ICE candidates.
    http_host: str = "127.0.0.1"
    http_port: int = Field(8088, ge=1, le=65535)
    tls: bool = False
    https_port: int = Field(8089, ge=1, le=65535)
    ice_permit: list[str] = []
    # The address Asterisk binds the softphones' RTP to and offers as its ICE candidate (empty:
    # every interface). Loopback by default, like http_host: set both to a reachable address.
    webrtc_media_address: str = "127.0.0.1"
    # A softphone lost mid-call (page reloaded, network gone): its caller waits on music for the
    # same agent this long, then for any agent, ahead of later callers (acd/reconnect.py).
    softphone_requeue_s: float = Field(60.0, gt=0)
    # A softphone whose network went away sends no BYE and no more RTP: Asterisk ends its leg after
    # this many seconds without RTP (pjsip rtp_timeout; 0: never), and the above applies.
    softphone_media_timeout_s: int = Field(5, ge=0, le=300)
    # The managed Asterisk's log (<instance>/log/messages): 0 keeps notices, warnings and errors (an
    # operator's level); 3 adds Asterisk's verbose lines up to level 3, every dialplan step of every
    # call and a heartbeat line a second (developers: CTI_PBX__LOG_VERBOSE=3, docs/observability.md).
    log_verbose: int = Field(0, ge=0, le=5)


class SipSettings(BaseModel):
    """Where the managed Asterisk listens for SIP and how it is secured (docs/trunks.md). UDP and TCP
    stay on ``pbx.sip_port``; TLS, when on, has its own port and a certificate (a self-signed one is
    generated into ``<state_dir>/sip-tls/`` when none is configured)."""

    bind: str = "127.0.0.1"  # loopback unless carriers or desk phones on the network must reach it
    tls: bool = False
    tls_port: int = Field(5061, ge=1, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # SDES-SRTP for the agents' desk phones (trunks say it per trunk); needs tls.
    srtp: bool = False
    # An endpoint for sipp's load calls, identified by address (any request from 127.0.0.1 that
    # names no user is taken as a call from it): the benchmark only, never in production.
    loopback_test_trunk: bool = False
    # Authentication failures from one address within the window that raise an administrators' security alert.
    auth_failure_threshold: int = Field(5, ge=1, le=10_000)
    auth_failure_window_s: float = Field(60.0, gt=0, le=86_400)

    @field_validator("srtp")
    @classmethod
    def _srtp_needs_tls(cls, value: bool, info: Any) -> bool:
        if value and not info.data.get("tls"):
            raise ValueError("needs sip.tls: true (SDES keys travel in the SDP, readable on plain SIP)")
        return value


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Empty: generated per installation into <state_dir>/session-secret (cti.credentials).
    session_secret: SecretStr = SecretStr("")
    public_url: str | None = None
    trusted_proxies: list[str] = Field(default_factory=list)  # peers whose X-Forwarded-For is believed
    # A console or API session ends after this many minutes without a renewal (the console renews
    # while its user works or its agent is in queues: docs/security.md, "Session lifetime")...
    session_idle_min: float = Field(60.0, gt=0, le=24 * 60)
    # ...and, renewed or not, this many hours after its password login (a shift and its overtime).
    session_max_hours: float = Field(12.0, gt=0, le=7 * 24)

    @model_validator(mode="after")
    def _idle_within_max(self) -> WebSettings:
        if self.session_idle_min * 60 > self.session_max_hours * 3600:
            raise ValueError(f"session_idle_min ({self.session_idle_min:g} min) is longer than session_max_hours "
                             f"({self.session_max_hours:g} h): make the idle timeout the shorter one")
        return self

    @field_validator("public_url")
    @classmethod
    def _public_address(cls, value: str | None) -> str | None:
        """The address people type: its scheme and host are what browsers send as Origin (the
        console's websockets are refused without a match) and https marks the cookie Secure."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r}: give the console's address with its scheme, e.g. "
                             "https://console.example.com")
        return value.strip().rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        """Each an IP address, written as the server reports a peer's (they are compared as text):
        a typo or a network would match no peer, and every client would look like the proxy."""
        out = []
        for entry in value:
            try:
                out.append(str(ip_address(entry.strip())))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address (list each proxy's own address; "
                                 "networks are not supported)") from None
        return out


class CallbackSettings(BaseModel):
    """Preview callbacks: when a missed callback is tried again, how many tries, how long a claim holds,
    how long a placed call may go without its wrap-up before the callback goes back to the list."""

    retry_delay_min: float = Field(15.0, gt=0, le=7 * 24 * 60)
    max_attempts: int = Field(3, ge=1, le=20)
    claim_timeout_min: float = Field(5.0, gt=0, le=24 * 60)
    call_timeout_min: float = Field(120.0, ge=10, le=7 * 24 * 60)
    # The public web callback requests (POST /api/callback-requests, docs/callbacks.md): at most this
    # many per client address, and per number asked for, in any window; refused requests count too.
    requests_per_address: int = Field(10, ge=1, le=100_000)
    requests_per_number: int = Field(3, ge=1, le=1000)
    requests_window_min: float = Field(60.0, gt=0, le=7 * 24 * 60)
    # The regions (ISO 3166 codes) whose numbers a web request may have called back; empty: the
    # default_region of config/trunks.yaml. Premium-rate and other service numbers never are.
    request_regions: tuple[str, ...] = ()

    @field_validator("request_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import phonenumbers

        unknown = [r for r in value if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a region (ISO 3166 code such as CN, FR, US)")
        return value


class RecordingSettings(BaseModel):
    """Call recordings (docs/recording.md). Asterisk writes into ``pbx_dir`` (as Asterisk sees it;
    default: the managed instance's spool/monitor/cti inside the chroot), the engine moves each
    finished file into ``dir`` (relative paths are taken from the project root)."""

    dir: Path = Path("var/recordings")
    pbx_dir: str | None = None  # system mode: a directory Asterisk can write and the engine can read
    retention_days: float | None = Field(90.0, gt=0)  # None: keep forever
    retention_check_s: float = Field(3600.0, gt=0)


# -- observability: logs and /metrics (docs/observability.md) ---------------------------------
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class MetricsSettings(BaseModel):
    """``/metrics`` (Prometheus text format) is never open by default: it is served on the web port
    only behind ``token`` (``Authorization: Bearer <token>``), and on its own listener only when
    ``port`` is set (still behind ``token`` when there is one). Neither set: no endpoint at all."""

    token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)  # 0: any free port (tests)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (it guards the metrics endpoint)")
        return value


class ResilienceSettings(BaseModel):
    """Engine crash or restart (docs/resilience.md): the heartbeat the dialplan watches, and how long
    waiting callers wait for an absent engine before going to their queue's fallback (app_queue or voicemail)."""

    heartbeat_s: float = Field(1.0, gt=0, le=60)
    engine_timeout_s: float = Field(30.0, ge=2, le=3600)
    check_every_s: int = Field(5, ge=1, le=60)  # how often cti-queue and cti-hold look at the heartbeat


class FeedSettings(BaseModel):
    """The public event feed (docs/event-feed.md): retention, integration tokens, webhook retries."""

    retention_h: float = Field(72.0, ge=24, le=24 * 90)
    # Where events are kept: the database (one node), or a Redis stream shared by several nodes
    # (needs bus: redis). auto: the stream when bus is redis, else the database.
    store: Literal["auto", "database", "redis"] = "auto"
    stream_key: str = Field("cti:feed", min_length=1, max_length=100)
    integration_tokens: list[SecretStr] = []  # bearer tokens that may read the feed (role "integration")
    webhook_max_attempts: int = Field(8, ge=1, le=50)
    webhook_backoff_s: float = Field(1.0, gt=0)
    webhook_backoff_max_s: float = Field(300.0, gt=0)
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    # The only networks webhooks may reach (checked when configured and at every delivery, after
    # resolving the host name), e.g. ["10.20.0.0/16"]; unset: any address but link-local, multicast,
    # unspecified and reserved ones.
    webhook_networks: list[IPvAnyNetwork] | None = None
    # Seals the webhooks' signing secrets in the database (crm_core.sealed). Empty: generated once per
    # installation into <state_dir>/webhook-key (cti.credentials); several nodes must share one.
    webhook_key: SecretStr = SecretStr("")
    # Keys used before (after a rotation): what they sealed still opens, and is sealed again under webhook_key.
    webhook_old_keys: list[SecretStr] = []

    @field_validator("integration_tokens")
    @classmethod
    def _tokens_long_enough(cls, value: list[SecretStr]) -> list[SecretStr]:
        # Whoever holds one reads callers' numbers from the feed, and the feed is not throttled.
        if any(len(t.get_secret_value()) < 32 for t in value):
            raise ValueError("an integration token needs at least 32 characters of random text (python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("webhook_key", "webhook_old_keys")
    @classmethod
    def _long_enough(cls, value: SecretStr | list[SecretStr]) -> SecretStr | list[SecretStr]:
        keys = value if isinstance(value, list) else [value] if value.get_secret_value() else []
        if any(len(k.get_secret_value()) < 32 for k in keys):
            raise ValueError("a webhook key needs at least 32 characters of random text (python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))')")
        return value


class Settings(BaseSettings):
    """Everything the composition root needs, loaded once."""

    model_config = SettingsConfigDict(
        env_prefix="CTI_", env_nested_delimiter="__", extra="forbid", validate_default=True,
        env_parse_none_str="null",  # CTI_RECORDINGS__RETENTION_DAYS=null: what null means in engine.yaml
    )

    config_dir: Path = DEFAULT_CONFIG_DIR
    state_dir: Path = PROJECT_ROOT / "var"
    database_url: str = "sqlite+aiosqlite:///var/cti.db"
    redis_url: str | None = None
    bus: Literal["memory", "redis"] = "memory"
    node_id: str = "node-1"
    # Several nodes on one Redis: a node that finds another routing waits as a standby and takes
    # over when it stops or dies (false: refuse to start instead).
    routing_standby: bool = True
    timezone: str = "UTC"
    # -- observability (docs/observability.md) --
    log_level: LogLevel = "INFO"
    log_levels: dict[str, LogLevel] = {}  # per logger, e.g. {"cti.ami": "DEBUG"}
    log_format: Literal["text", "json"] = "text"
    log_file: Path | None = None  # also write here, rotated
    log_file_max_bytes: int = Field(10 << 20, ge=4096)
    log_file_backups: int = Field(5, ge=0, le=100)
    metrics: MetricsSettings = MetricsSettings()
    # -- end of observability --
    # Development only: accept published or short secrets (with a loud warning) instead of refusing.
    dev_mode: bool = False
    ami: AmiSettings = AmiSettings()
    agi: AgiSettings = AgiSettings()
    pbx: PbxSettings = PbxSettings()
    sip: SipSettings = SipSettings()
    web: WebSettings = WebSettings()
    callbacks: CallbackSettings = CallbackSettings()
    resilience: ResilienceSettings = ResilienceSettings()
    feed: FeedSettings = FeedSettings()
    recordings: RecordingSettings = RecordingSettings()

    @model_validator(mode="after")
    def _redis_bus_has_a_url(self) -> Settings:
        if self.bus == "redis" and not self.redis_url:
            raise ValueError("bus is 'redis': set redis_url (CTI_REDIS_URL) too")
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        # The engine drives asyncpg and aiosqlite: the driverless forms people write (psql's
        # postgresql://, Heroku's postgres://) get them; another driver is not installed.
        scheme, sep, rest = value.partition("://")
        scheme = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
                  "sqlite": "sqlite+aiosqlite"}.get(scheme, scheme)
        if not sep or scheme not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            raise ValueError(f"{value.partition('://')[0]!r}: must be a sqlite+aiosqlite:/// or postgresql+asyncpg:// "
                             "URL (the drivers the engine ships)")
        return f"{scheme}://{rest}"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # Checked here, at load, so `cti config check` reports it instead of the first report
        # or callback schedule failing at run time.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # ValueError: not a valid key ("../x", NUL...); OSError: a directory such as "Asia"
            raise ValueError(f"{value!r} is not an IANA time zone name (such as 'Europe/Paris' or 'UTC')") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    def checkout_data_warnings(self) -> list[str]:
        """What the shipped relative defaults keep in the checkout's ``var/`` while ``state_dir`` was
        moved elsewhere: ``CTI_STATE_DIR`` moves the secrets and journals only, not the SQLite
        database nor the recordings, which have settings of their own."""
        checkout = PROJECT_ROOT / "var"
        state = self.state_dir.resolve()
        if state == checkout.resolve():
            return []
        warnings = []
        prefix = "sqlite+aiosqlite:///"
        url = self.resolved_database_url()
        if url.startswith(prefix) and Path(url[len(prefix):]).resolve().is_relative_to(checkout.resolve()):
            warnings.append(f"database_url (CTI_DATABASE_URL): the SQLite database is {url[len(prefix):]}, in the "
                            f"checkout's var/, not in state_dir {self.state_dir} (CTI_STATE_DIR moves the secrets "
                            "and journals only): to keep it there, "
                            f"CTI_DATABASE_URL={prefix}{self.state_dir / 'cti.db'} (a database that already holds "
                            "data: `cti db backup` it, then `cti db restore` it "
                            "there)")
        recordings = self.recordings.dir if self.recordings.dir.is_absolute() else PROJECT_ROOT / self.recordings.dir
        if recordings.resolve().is_relative_to(checkout.resolve()):
            warnings.append(f"recordings.dir (CTI_RECORDINGS__DIR) is {recordings}, in the checkout's var/, not in "
                            f"state_dir {self.state_dir}: set it to where the recordings belong (docs/recording.md; "
                            "nodes of one machine that share the checkout's on purpose may leave it)")
        return warnings

    def resolved_database_url(self) -> str:
        """Relative SQLite paths are taken from the project root, so any working directory works."""
        prefix = "sqlite+aiosqlite:///"
        if self.database_url.startswith(prefix):
            path = self.database_url[len(prefix):]
            if path and path != ":memory:" and not path.startswith("/"):
                return prefix + str(PROJECT_ROOT / path)
        return self.database_url


class _YamlSource(PydanticBaseSettingsSource):
    """Reads ``engine.yaml`` from the config directory (``CTI_CONFIG_DIR`` may move it)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_file()
        if not path.exists():
            return {}
        return _read_yaml(path)


def config_file() -> Path:
    return Path(os.environ.get("CTI_CONFIG_DIR", DEFAULT_CONFIG_DIR)) / "engine.yaml"


def load_yaml(path: Path) -> Any:
    """A configuration file's YAML. Its text must be UTF-8 (a byte-order mark allowed): any other
    (Notepad's "ANSI" on a Chinese Windows is GBK) is a yaml.YAMLError naming the line, as a syntax
    error is, so every loader's own handling names the file."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise yaml.YAMLError(f"line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8") \
            from None
    return yaml.safe_load(text)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def _read_as_json(name: str) -> bool:
    """Whether pydantic-settings reads environment variable ``name`` as JSON: it names a list,
    mapping or settings-group field (CTI_WEB__TRUSTED_PROXIES), or no field this model knows."""
    model: type[BaseModel] = Settings
    for part in name.removeprefix("CTI_").lower().split("__"):
        field = model.model_fields.get(part)
        if field is None:
            return True
        kinds = [field.annotation, *typing.get_args(field.annotation)]
        groups = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if not groups:
            return any(typing.get_origin(k) in (list, dict, set, tuple, frozenset) or k in (list, dict)
                       for k in kinds)
        model = groups[0]
    return True  # a whole group (CTI_WEB) is a mapping


def _not_json(err: SettingsError) -> str:
    """Which CTI_ variable pydantic-settings could not parse: it names only the top-level field."""
    import json
    import re

    m = re.search(r'field "(\w+)"', str(err))
    prefix = f"CTI_{m.group(1).upper()}" if m else "CTI_"
    suspects = []
    for name in sorted(os.environ):
        if not _read_as_json(name):
            continue  # a plain-text setting (a URL, a host) is never parsed as JSON
        if name == prefix or name.startswith(prefix + "__") or (m is None and name.startswith(prefix)):
            try:
                json.loads(os.environ[name])
            except ValueError:
                suspects.append(name)
    which = suspects[0] if len(suspects) == 1 else "one of " + ", ".join(suspects) if suspects else prefix
    cause = f" ({err.__cause__})" if err.__cause__ is not None else ""
    return (f"{which}: not JSON{cause}; a variable holding a list or a mapping is written in JSON, "
            "e.g. CTI_LOG_LEVELS='{\"cti.ami\": \"DEBUG\"}', CTI_WEB__TRUSTED_PROXIES='[\"10.0.0.5\"]'")


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings; errors name the file and each bad field."""
    try:
        return Settings(**overrides)
    except SettingsError as err:  # a CTI_ variable of a list or mapping that is not JSON
        raise ConfigError(_not_json(err)) from None
    except ValidationError as err:
        lines = [f"{config_file()} (or CTI_* environment): {err.error_count()} invalid setting(s)"]
        for e in err.errors():
            if not e["loc"]:  # a rule between settings: its message names them
                lines.append(f"  - {e['msg']}")
                continue
            loc = ".".join(str(p) for p in e["loc"])
            env = "CTI_" + "__".join(str(p).upper() for p in e["loc"])
            lines.append(f"  - {loc} [{env}]: {e['msg']}")
        raise ConfigError("\n".join(lines)) from None
