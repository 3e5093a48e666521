"""Typed engine settings, loaded once from ``config/engine.yaml`` with ``CTI_`` environment overrides.

Precedence (highest first): keyword arguments, environment (``CTI_AMI__PORT=5039``), the YAML
file, defaults. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cti.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"


class AmiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "cti"
    secret: SecretStr = SecretStr("change-me")
    connect_timeout_s: float = Field(5.0, gt=0)
    ping_interval_s: float = Field(10.0, gt=0)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(15.0, gt=0)


class AgiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(4573, ge=1, le=65535)


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


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    session_secret: SecretStr = SecretStr("dev-only-secret-change-me")
    public_url: str | None = None


class CallbackSettings(BaseModel):
    """Preview callbacks: when a missed callback is tried again, how many tries, how long a claim holds,
    how long a placed call may go without its wrap-up before the callback goes back to the list."""

    retry_delay_min: float = Field(15.0, gt=0, le=7 * 24 * 60)
    max_attempts: int = Field(3, ge=1, le=20)
    claim_timeout_min: float = Field(5.0, gt=0, le=24 * 60)
    call_timeout_min: float = Field(120.0, ge=10, le=7 * 24 * 60)


class Settings(BaseSettings):
    """Everything the composition root needs, loaded once."""

    model_config = SettingsConfigDict(
        env_prefix="CTI_", env_nested_delimiter="__", extra="forbid", validate_default=True
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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    ami: AmiSettings = AmiSettings()
    agi: AgiSettings = AgiSettings()
    pbx: PbxSettings = PbxSettings()
    web: WebSettings = WebSettings()
    callbacks: CallbackSettings = CallbackSettings()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
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


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def load_settings(**overrides: Any) -> Settings:
    """Load and validate settings; errors name the file and each bad field."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        lines = [f"{config_file()} (or CTI_* environment): {err.error_count()} invalid setting(s)"]
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
            env = "CTI_" + "__".join(str(p).upper() for p in e["loc"])
            lines.append(f"  - {loc} [{env}]: {e['msg']}")
        raise ConfigError("\n".join(lines)) from None


def describe(settings: Settings) -> dict[str, Any]:
    """Settings as a plain dict with every secret masked, for display."""
    return settings.model_dump(mode="json")  # SecretStr dumps as '**********'
