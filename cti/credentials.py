"""Per-installation secrets and the refusal of published ones.

    web.session_secret  signs console tokens     generated into <state_dir>/session-secret
    ami.secret          the engine's AMI login    generated into <state_dir>/ami-secret (managed PBX)
    feed.webhook_key    seals webhook secrets     generated into <state_dir>/webhook-key

A secret left empty in the settings is generated once per installation (mode 0600, never
printed) and read back by every process that needs it: ``cti pbx up`` writes the AMI one into the
managed Asterisk's manager.conf, ``cti run`` logs in with it. A known (published) or short
session secret lets anyone sign an administrator's token: the engine refuses it unless
``dev_mode`` (``CTI_DEV_MODE=1``) is set, and then says so loudly.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cti.errors import ConfigError
from cti.files import private_dir
from cti.logs import mask_url_password
from cti.settings import Settings, config_file

log = logging.getLogger(__name__)

SESSION_SECRET_FILE = "session-secret"
AMI_SECRET_FILE = "ami-secret"
WEBHOOK_KEY_FILE = "webhook-key"
MIN_SESSION_SECRET_BYTES = 32
# Values this project (or its templates) ever published; never acceptable outside development mode.
KNOWN_SECRETS = frozenset({"dev-only-secret-change-me", "change-me", "changeme", "cti-dev-secret", "secret",
                           "password",
                           # The fixed values the tests still spell out (those that run an engine generate
                           # theirs): published too. tests/unit/cti/test_published_secrets.py finds them.
                           "test-secret", "test-secret-0123456789", "browser-test-secret-0123", "s3cret",
                           "s3cret-from-env", "other", "short", "ami-Secret-42", "sess-Secret-0123456789",
                           "never-Shown-1", "hunter2-hunter2", "legacy-secret"})
# A session secret of fewer different characters than this ("s" * 40) is no secret, whatever its length.
MIN_SESSION_SECRET_CHARS = 8


def installation_secret(state_dir: Path, name: str) -> str:
    """The secret kept in ``state_dir/name``, generated (256 random bits, mode 0600) on first use."""
    path = state_dir / name
    if path.exists():
        return _read(path)
    private_dir(state_dir, setting="state_dir (CTI_STATE_DIR)")
    # Written aside, then linked into place: a concurrent reader sees the whole secret or no file,
    # and of two processes generating at once the first link wins and both use its value.
    tmp = state_dir / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read(path)


def _read(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ConfigError(f"{path} is empty: delete it and a new secret is generated")
    return value


def with_installation_secrets(settings: Settings, *, session: bool = True) -> Settings:
    """``settings`` with each empty secret filled from its per-installation file (created if needed).
    The AMI secret is only generated for a managed Asterisk: a system one has its own manager.conf."""
    web, ami = settings.web, settings.ami
    if session and not web.session_secret.get_secret_value():
        web = web.model_copy(update={"session_secret": SecretStr(
            installation_secret(settings.state_dir, SESSION_SECRET_FILE))})
    if not ami.secret.get_secret_value() and settings.pbx.mode == "managed":
        ami = ami.model_copy(update={"secret": SecretStr(installation_secret(settings.state_dir, AMI_SECRET_FILE))})
    if web is settings.web and ami is settings.ami:
        return settings
    return settings.model_copy(update={"web": web, "ami": ami})


def webhook_keys(settings: Settings) -> tuple[str, list[str]]:
    """The key that seals webhook secrets (``feed.webhook_key``, else this installation's generated
    one) and the old keys that still open them."""
    fs = settings.feed
    key = fs.webhook_key.get_secret_value() or installation_secret(settings.state_dir, WEBHOOK_KEY_FILE)
    return key, [k.get_secret_value() for k in fs.webhook_old_keys]


def check_secrets(settings: Settings, *, web: bool = True) -> None:
    """Refuse a published or short session secret (and a published AMI secret) unless dev_mode."""
    weak: list[str] = []
    if web:
        session = settings.web.session_secret.get_secret_value()
        if (session in KNOWN_SECRETS or len(session.encode()) < MIN_SESSION_SECRET_BYTES
                or len(set(session)) < MIN_SESSION_SECRET_CHARS):
            weak.append(f"web.session_secret [CTI_WEB__SESSION_SECRET] is a published default, shorter than "
                        f"{MIN_SESSION_SECRET_BYTES} bytes or made of fewer than {MIN_SESSION_SECRET_CHARS} different "
                        "characters: anyone could sign an administrator's token")
    ami = settings.ami.secret.get_secret_value()
    if not ami:
        raise ConfigError("ami.secret [CTI_AMI__SECRET] is not set: with pbx.mode 'system' set it to the secret "
                          f"of the manager user '{settings.ami.username}' in your Asterisk's manager.conf")
    if ami in KNOWN_SECRETS:
        weak.append("ami.secret [CTI_AMI__SECRET] is a published default")
    if not weak:
        return
    if settings.dev_mode:
        for problem in weak:
            log.warning("DEVELOPMENT MODE (dev_mode / CTI_DEV_MODE): accepting an unsafe secret: %s. "
                        "Never run a reachable engine like this.", problem)
        return
    raise ConfigError(
        "refusing to start with an unsafe secret:\n" + "\n".join(f"  - {p}" for p in weak)
        + f"\nfix: remove it from {config_file()} and the environment (a random one is then generated into "
          f"{settings.state_dir}), or set a random value of at least {MIN_SESSION_SECRET_BYTES} bytes, e.g. "
          "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`; "
          "on a development machine only, dev_mode: true (CTI_DEV_MODE=1) accepts it with a warning")


def secret_problems(settings: Settings) -> list[str]:
    """What ``check_secrets`` would refuse at ``cti run``, for ``cti config check``: an empty secret
    the start would generate stands in as a good one (nothing is written while checking)."""
    stand_in = SecretStr(secrets.token_urlsafe(32))
    web, ami = settings.web, settings.ami
    if not web.session_secret.get_secret_value():
        web = web.model_copy(update={"session_secret": stand_in})
    if not ami.secret.get_secret_value() and settings.pbx.mode == "managed":
        ami = ami.model_copy(update={"secret": stand_in})
    try:
        check_secrets(settings.model_copy(update={"web": web, "ami": ami}))
    except ConfigError as err:
        return [err.message]
    return []


def describe(settings: Settings) -> dict[str, Any]:
    """Settings as a plain dict for display: every secret set is masked, and each one left empty says
    where its value comes from instead (the installation's generated file)."""
    out = settings.model_dump(mode="json")  # SecretStr dumps as '**********' ('' when empty)
    for name in ("database_url", "redis_url"):  # plain strings, with the server's password in them
        if out.get(name):
            out[name] = mask_url_password(out[name])

    def generated(name: str) -> str:
        path = settings.state_dir / name
        return f"(generated per installation into {path}{'' if path.exists() else ' at first use'}; not shown)"

    if not settings.web.session_secret.get_secret_value():
        out["web"]["session_secret"] = generated(SESSION_SECRET_FILE)
    if not settings.ami.secret.get_secret_value():
        out["ami"]["secret"] = generated(AMI_SECRET_FILE) if settings.pbx.mode == "managed" else (
            "(not set: with pbx.mode 'system' it must be the secret of the engine's user in Asterisk's manager.conf)")
    if not settings.ami.observer_secret.get_secret_value():
        out["ami"]["observer_secret"] = "(not set: no observer manager user)"
    if not settings.feed.webhook_key.get_secret_value():
        out["feed"]["webhook_key"] = generated(WEBHOOK_KEY_FILE)
    return out
