"""Logging as ``cti run`` configures it: timestamped lines (or JSON), per-logger levels, a rotated
file, the call/agent/queue context of the bus, and secrets that never reach the output."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from acd.model import QueueConfig
from acd.routing import Router
from cti.bus import InProcessBus
from cti.journey import CallConnected
from cti.logs import Redactor, bind, call_context, configure_logging, secrets_of
from cti.settings import Settings, load_settings

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR)\s+\S+: ")
ROOT = Path(__file__).resolve().parents[3]


def _configure(**overrides: object) -> tuple[Settings, io.StringIO]:
    settings = load_settings(ami={"secret": "ami-Secret-42"}, web={"session_secret": "sess-Secret-0123456789"},
                             **overrides)
    buf = io.StringIO()
    configure_logging(settings, stream=buf)
    return settings, buf


def test_text_lines_have_timestamps_level_logger_and_call_context(restore_logging: None) -> None:
    _, buf = _configure()
    log = logging.getLogger("cti.ami.manager")
    log.info("AMI connected to %s", "127.0.0.1:5038")
    with call_context("1718000000.42", agent="1001", queue="support"):
        logging.getLogger("acd.delivery").warning("ring failed")
    lines = buf.getvalue().splitlines()
    assert all(TIMESTAMPED.match(line) for line in lines), lines
    assert lines[0].endswith("cti.ami.manager: AMI connected to 127.0.0.1:5038")
    assert lines[1].endswith("acd.delivery: ring failed [call=1718000000.42 agent=1001 queue=support]")


def test_json_lines_carry_the_context(restore_logging: None) -> None:
    _, buf = _configure(log_format="json")
    with call_context("1718000000.7", queue="sales"):
        logging.getLogger("ivr.driver").info("caller chose %s", "sales")
    doc = json.loads(buf.getvalue().splitlines()[-1])
    assert doc["msg"] == "caller chose sales" and doc["logger"] == "ivr.driver" and doc["level"] == "INFO"
    assert doc["call_id"] == "1718000000.7" and doc["queue"] == "sales" and "agent" not in doc
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", doc["ts"])


def test_levels_per_logger(restore_logging: None) -> None:
    _, buf = _configure(log_level="WARNING", log_levels={"cti.ami": "DEBUG"})
    logging.getLogger("cti.ami.manager").debug("frame parsed")
    logging.getLogger("acd.delivery").info("not shown")
    out = buf.getvalue()
    assert "frame parsed" in out and "not shown" not in out


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_pins_and_card_numbers_never_appear(restore_logging: None, fmt: str) -> None:
    _, buf = _configure(log_format=fmt)
    log = logging.getLogger("ivr.driver")
    log.info("login secret ami-Secret-42 with session sess-Secret-0123456789")
    log.info("caller entered pin=4711 and PIN: 9922, password=hunter2x")
    log.info("card 4111 1111 1111 1111 then 5500-0000-0000-0004 and 4012888888881881")
    log.info("db postgresql+asyncpg://cti:pg-Pass-9@db/cti, header Authorization: Bearer abc.def-123")
    try:
        raise ValueError("secret=topsecret7 in a traceback")
    except ValueError:
        log.exception("failed")
    out = buf.getvalue()
    for leaked in ("ami-Secret-42", "sess-Secret-0123456789", "4711", "9922", "hunter2x", "4111 1111 1111 1111",
                   "5500-0000-0000-0004", "4012888888881881", "pg-Pass-9", "abc.def-123", "topsecret7"):
        assert leaked not in out, (leaked, out)
    assert "***" in out


def test_phone_numbers_and_call_ids_stay_readable() -> None:
    redact = Redactor()
    # E.164 without '+' (country code first), a linkedid, a 16-digit run failing Luhn.
    text = "caller 8613912345678 call 1718000000.123 ref 4111111111111112, behind the bearer token"
    assert redact(text) == text


def test_secrets_of_finds_every_secret_and_url_password() -> None:
    settings = load_settings(ami={"secret": "ami-Secret-42"}, database_url="postgresql+asyncpg://u:pw-777@h/db",
                             metrics={"token": "metrics-token-0123456789"})
    found = secrets_of(settings)
    assert {"ami-Secret-42", "pw-777", "metrics-token-0123456789"} <= set(found)


def test_a_url_password_without_a_user_name_is_masked_too() -> None:
    """Redis URLs carry a password with no user (redis://:pw@host): the pattern wanted a user name,
    so neither the redactor nor secrets_of found the password."""
    redact = Redactor([])
    assert redact("bus at redis://:RedisPw123@r.example:6379/0 down") == "bus at redis://:***@r.example:6379/0 down"
    settings = load_settings(bus="redis", redis_url="redis://:RedisPw123@r.example:6379/0")
    assert "RedisPw123" in secrets_of(settings)


def test_rotating_log_file(restore_logging: None, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "engine.log"
    old = os.umask(0o022)  # the usual umask, under which open() alone gives 0644
    try:
        _configure(log_file=path, log_file_max_bytes=4096, log_file_backups=2)
        log = logging.getLogger("cti.bus")
        for i in range(200):
            log.warning("line %03d %s", i, "x" * 60)
    finally:
        os.umask(old)
    assert path.exists() and (tmp_path / "logs" / "engine.log.1").exists()
    assert not (tmp_path / "logs" / "engine.log.3").exists()
    assert TIMESTAMPED.match(path.read_text().splitlines()[0])
    # The lines name callers, agents and customers: every file, rotated ones included, is the owner's alone.
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["engine.log", "engine.log.1", "engine.log.2"]
    assert {n: stat.S_IMODE((path.parent / n).stat().st_mode) for n in files} == dict.fromkeys(files, 0o600)


def test_a_log_file_that_cannot_be_written_is_a_config_error_naming_the_setting(restore_logging: None,
                                                                               tmp_path: Path) -> None:
    """`log_file` pointing at a directory (or a place the engine's user may not write) ended
    `cti run` in an IsADirectoryError traceback; it is a ConfigError naming the setting, the
    handlers already installed left as they were."""
    from cti.errors import ConfigError

    _, before = _configure()
    (tmp_path / "plain").write_text("")
    for bad in (tmp_path, tmp_path / "plain" / "engine.log"):
        with pytest.raises(ConfigError) as caught:
            _configure(log_file=bad)
        assert caught.value.message.startswith(f"log_file (CTI_LOG_FILE): cannot write {bad}: "), caught.value.message
    logging.getLogger("cti").warning("still here")
    assert "still here" in before.getvalue()


def test_configure_twice_replaces_its_handlers(restore_logging: None) -> None:
    _configure()
    _, buf = _configure()
    logging.getLogger("cti").warning("once")
    assert buf.getvalue().count("once") == 1
    assert sum(1 for h in logging.getLogger().handlers if getattr(h, "_cti_handler", False)) == 1


async def test_bus_handlers_log_with_the_events_call_agent_and_queue(restore_logging: None) -> None:
    _, buf = _configure()
    bus = InProcessBus()
    log = logging.getLogger("crm_core.calllog")

    async def handler(ev: CallConnected) -> None:
        log.info("connected")

    bus.subscribe(CallConnected, handler, name="test")
    await bus.start()
    bind("outer")  # the publisher's own context is not the handler's
    await bus.publish(CallConnected(ts=1.0, linkedid="1718000000.9", agent_id="1003", queue="billing"))
    await bus.drain()
    await bus.stop()
    assert buf.getvalue().rstrip().endswith("connected [call=1718000000.9 agent=1003 queue=billing]")


def test_cti_run_style_configuration_prints_timestamped_engine_lines(tmp_path: Path) -> None:
    """What ``cti run`` does (configure_logging from settings, then the engine logs): here the AMI
    client against a closed port, in a fresh interpreter with nothing else configured."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when this block ends: nothing listens there
    script = textwrap.dedent(f"""
        import asyncio
        from cti.ami.manager import AmiClient
        from cti.logs import configure_logging
        from cti.settings import load_settings
        settings = load_settings(ami={{"port": {port}, "secret": "never-Shown-1", "reconnect_min_s": 0.1,
                                       "reconnect_max_s": 0.2}}, state_dir="{tmp_path}")
        configure_logging(settings)
        async def main():
            client = AmiClient(settings.ami, lambda events: None)
            await client.start()
            await asyncio.sleep(0.5)
            await client.stop()
        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "CTI_CONFIG_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and all(TIMESTAMPED.match(line) for line in lines), done.stderr
    assert any(f"WARNING cti.ami.manager: AMI 127.0.0.1:{port} unavailable" in line for line in lines), done.stderr
    assert "never-Shown-1" not in done.stderr


def test_an_offer_made_as_the_last_call_ends_names_the_offered_call(restore_logging: None) -> None:
    """The agent freed by the end of call c1 (that call's context) is offered c2 at once: the
    offer's line names c2 and its queue, not the call whose end set it off."""
    _, buf = _configure()
    r = Router([QueueConfig("support", wrap_up_s=0), QueueConfig("billing", wrap_up_s=0)])
    r.agent_login("1001", {}, 0.0, queues=["support", "billing"], ready=True)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "1001", 2.0)
    r.enqueue("c2", "billing", 3.0)
    with call_context("c1", agent="1001", queue="support"):
        r.call_ended("c1", 4.0)
    lines = buf.getvalue().splitlines()
    assert lines[-2].endswith("agent 1001: wrap_up -[wrap_done]-> available [call=c1 agent=1001 queue=support]")
    assert lines[-1].endswith("agent 1001: available -[offer]-> reserved [call=c2 agent=1001 queue=billing]"), lines


def test_ready_after_a_break_names_no_call(restore_logging: None) -> None:
    """The demo's bot wrapped up call c1 with a break, then made its agent ready from the same task
    (c1's context): the ready step read ``[call=c1 ...]``, taken for a new call. The steps about c1
    (its end, its wrap-up's end) keep naming it; the ready between calls names the agent alone."""
    _, buf = _configure()
    r = Router([QueueConfig("support", wrap_up_s=30)])
    r.agent_login("1004", {}, 0.0, queues=["support"], ready=True)
    r.enqueue("c1", "support", 1.0)
    with call_context("c1", agent="1004", queue="support"):
        r.offer_answered("c1", "1004", 2.0)
        r.call_ended("c1", 3.0)
        r.set_not_ready("1004", "break", 4.0)  # the wrap-up form's "not ready: break"
        r.set_ready("1004", 5.0)  # after the break, still in c1's task
    lines = buf.getvalue().splitlines()
    assert lines[-3].endswith("agent 1004: on_call -[end]-> wrap_up [call=c1 agent=1004 queue=support]"), lines
    assert lines[-2].endswith("agent 1004: wrap_up -[not_ready]-> not_ready [call=c1 agent=1004 queue=support]")
    assert lines[-1].endswith("agent 1004: not_ready -[ready]-> available [agent=1004]"), lines


def test_alembic_plugin_announcements_are_left_out(restore_logging: None) -> None:
    _, buf = _configure()
    logging.getLogger("alembic.runtime.plugins").info("setup plugin alembic.autogenerate.schemas")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
    assert "setup plugin" not in buf.getvalue() and "Running upgrade 0001 -> 0002" in buf.getvalue()
    _configure(log_levels={"alembic.runtime.plugins": "INFO"})  # still there for who asks
    assert logging.getLogger("alembic.runtime.plugins").getEffectiveLevel() == logging.INFO


def test_debug_logs_no_password_or_pin_hash(restore_logging: None) -> None:
    """At log_level DEBUG aiosqlite logged every statement with its parameters: users' password
    hashes and customers' IVR PIN hashes (a 4-digit PIN's argon2 hash is the PIN after 10,000
    guesses), with the customers' data. It stays at INFO unless log_levels asks for it, and the
    redactor masks any argon2 hash."""
    hashed = "$argon2id$v=19$m=19456,t=2,p=1$6cTzadlsBn75kq9K25TVLw$Yo9R/WoIA2SeLdH42kDhDZUn6wZHYQc72Qe/1XMUvhs"
    _, buf = _configure(log_level="DEBUG")
    logging.getLogger("aiosqlite").debug("executing INSERT INTO users VALUES (?) ('admin', %r)", hashed)
    logging.getLogger("cti.bus").debug("stored %s", hashed)
    out = buf.getvalue()
    assert "executing INSERT" not in out and "stored" in out
    assert "argon2id$v=19$m=19456,t=2,p=1$6cT" not in out and "Yo9R/WoIA2SeLdH42" not in out, out
    _, buf = _configure(log_level="DEBUG", log_levels={"aiosqlite": "DEBUG"})
    logging.getLogger("aiosqlite").debug("executing %r", hashed)
    assert "executing" in buf.getvalue() and "Yo9R/WoIA2SeLdH42" not in buf.getvalue()


def test_webhook_urls_are_not_logged_at_every_delivery(restore_logging: None) -> None:
    """httpx logged every request at INFO with its whole URL: each webhook delivery (one per event)
    wrote the subscriber's URL to the engine's log, and a receiver's URL often carries its own
    secret in the path or query (``https://hooks.example/T0/B0/<secret>``, ``?token=``). httpx stays
    at WARNING unless log_levels asks for it."""
    import asyncio

    import httpx

    url = "https://hooks.example/services/T000/B000/hook-Secret-in-path?token=q-Secret"

    async def deliver() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(204))) as client:
            await client.post(url, content=b"{}")

    _, buf = _configure()
    asyncio.run(deliver())
    assert "hook-Secret-in-path" not in buf.getvalue() and "q-Secret" not in buf.getvalue(), buf.getvalue()
    _, buf = _configure(log_levels={"httpx": "INFO"})  # still there for who asks
    asyncio.run(deliver())
    assert "HTTP Request" in buf.getvalue()
