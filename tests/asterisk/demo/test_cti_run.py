"""`cti run`, the command `make run` ends in, as a person starts it: its own process on the real
Asterisk (the tests' instance, which it finds running and brings up to date), a fresh database it
migrates and seeds, the URLs and demo logins printed, demo callers reaching bot agents in the live
summary, a person able to log in as one more agent, and Ctrl-C (SIGINT) stopping it cleanly with
no channel left up -- and, on an Asterisk instance of its own, stopping that Asterisk too."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cti.pbx import ManagedPbx
from cti.settings import PROJECT_ROOT, Settings, load_settings
from tests.servers import free_port, rtp_range

# `cti run` as `make run` starts it, from this checkout's code (the installed `cti` script may
# belong to another checkout of the project).
CTI = (sys.executable, "-c", "from callcenter.cli import app; app()")


def _env(settings: Settings, tmp_path: Path, web_port: int) -> dict[str, str]:
    """The tests' PBX instance and ports as `CTI_` overrides, with a database of its own."""
    pbx = settings.pbx
    secret = settings.ami.secret.get_secret_value()
    return {k: v for k, v in os.environ.items() if not k.startswith("CTI_")} | {
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "CTI_STATE_DIR": str(tmp_path / "state"), "CTI_RECORDINGS__DIR": str(tmp_path / "recordings"),
        "CTI_AMI__PORT": str(settings.ami.port), **({"CTI_AMI__SECRET": secret} if secret else {}),
        "CTI_AGI__PORT": str(settings.agi.port),
        "CTI_PBX__INSTANCE": pbx.instance, "CTI_PBX__SIP_PORT": str(pbx.sip_port),
        "CTI_PBX__RTP_START": str(pbx.rtp_start), "CTI_PBX__RTP_END": str(pbx.rtp_end),
        "CTI_PBX__AGENT_ENDPOINTS": str(pbx.agent_endpoints), "CTI_PBX__HTTP_PORT": str(pbx.http_port),
        "CTI_WEB__PORT": str(web_port),
        # `cti run` rewrites the running instance's configuration: keep the sipp trunk the other
        # tests on this instance call through (without it test_pbx.py failed when it ran after this).
        **({"CTI_SIP__LOOPBACK_TEST_TRUNK": "true"} if settings.sip.loopback_test_trunk else {}),
    }


@pytest.fixture
async def shared_pbx(pbx: ManagedPbx) -> AsyncIterator[ManagedPbx]:
    """The tests' Asterisk instance for a `cti run` of its own state directory: that run renders the
    instance's configuration with other agents' SIP passwords, so it gets its own back afterwards,
    or a later test on this instance cannot register a desk phone (a 401 on the right password)."""
    try:
        yield pbx
    finally:
        await asyncio.to_thread(pbx.up, progress=False)


async def _line(out: asyncio.StreamReader, seen: list[str], pattern: str, timeout_s: float) -> re.Match[str]:
    """Read output lines until one matches (all of them kept in ``seen`` for the failure message)."""
    async def scan() -> re.Match[str]:
        while True:
            raw = await out.readline()
            if not raw:
                raise AssertionError(f"`cti run` ended before printing {pattern!r}:\n" + "".join(seen[-40:]))
            seen.append(raw.decode(errors="replace"))
            if m := re.search(pattern, seen[-1]):
                return m
    try:
        return await asyncio.wait_for(scan(), timeout_s)
    except TimeoutError:
        raise AssertionError(f"no {pattern!r} from `cti run` in {timeout_s:g} s:\n" + "".join(seen[-40:])) from None


async def test_cti_run_serves_the_demo_and_stops_cleanly_on_ctrl_c(shared_pbx: ManagedPbx, pbx_settings: Settings,
                                                                    tmp_path: Path) -> None:
    pbx = shared_pbx
    web_port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *CTI, "run", "--demo", "--rate", "30", "--bots", "3", "--keep-pbx", env=_env(pbx_settings, tmp_path, web_port),
        cwd=PROJECT_ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        url = (await _line(proc.stdout, seen, r"console:\s+(http://\S+)/", 180)).group(1)
        assert url == f"http://127.0.0.1:{web_port}" or url.endswith(f":{web_port}")
        await _line(proc.stdout, seen, r"Ctrl-C stops everything", 10)
        printed = "".join(seen)
        assert "database: applying migrations" in printed
        for login in ("agent4 / agent4-demo", "sup1 / sup1-demo-1", "mgr1 / mgr1-demo-1", "admin / admin-demo-1",
                      "/wallboard"):
            assert login in printed
        assert "log in as agent4 or higher" in printed  # --bots 3: 1001..1003 are bots
        # No session secret configured: one was generated for this installation, private to it.
        secret = tmp_path / "state" / "session-secret"
        assert len(secret.read_text().strip()) >= 32 and stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700  # the state directory: the engine's alone

        async with httpx.AsyncClient(base_url=url, timeout=10) as web:
            page = await web.get("/")
            assert page.status_code == 200 and "Agent console" in page.text
            who = await web.post("/api/auth/login", json={"username": "agent4", "password": "agent4-demo"})
            assert who.status_code == 200, who.text
            assert (await web.get("/api/me")).json()["agent_id"] == "1004"
        async with httpx.AsyncClient(base_url=url, timeout=10) as sup:
            # The demo's preview campaign: the Next customer card has contacts (README's tour).
            r = await sup.post("/api/auth/login", json={"username": "sup1", "password": "sup1-demo-1"})
            assert r.status_code == 200, r.text
            [demo] = [c for c in (await sup.get("/api/campaigns")).json() if c["name"] == "demo-renewals"]
            assert (demo["mode"], demo["state"], demo["queue"]) == ("preview", "running", "general")
            progress = (await sup.get(f"/api/campaigns/{demo['id']}")).json()
            assert progress["total"] == 12 and progress["remaining"] == 12, progress

        # A demo caller went through the IVR on the real Asterisk and a bot agent took the call.
        await _line(proc.stdout, seen, r"\btalking=[1-9]", 90)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
        seen.append(rest.decode(errors="replace"))
    tail = "".join(seen[-40:])
    assert proc.returncode == 0, tail
    assert "stopping..." in tail and tail.rstrip().endswith("stopped."), tail
    assert "Traceback" not in "".join(seen), "".join(seen)
    assert re.search(r"^0 active channels", pbx.cli("core show channels count"), re.M), pbx.cli("core show channels")
    assert pbx.pid() is not None and "pbx:" not in tail  # --keep-pbx: the shared instance still runs


async def test_ctrl_c_stops_the_asterisk_cti_run_manages(tmp_path: Path) -> None:
    """Without --keep-pbx the managed Asterisk stops with the rest (here an instance of its own)."""
    own = load_settings(  # no AMI secret, as shipped: one is generated into the state directory
        state_dir=tmp_path / "state", ami={"port": free_port()}, agi={"port": free_port()},
        pbx={"instance": f"run{os.getpid()}", "sip_port": free_port(), **rtp_range("run"),
             "agent_endpoints": 2, "http_port": free_port()})
    pbx = ManagedPbx(own)
    proc = await asyncio.create_subprocess_exec(
        *CTI, "run", "--no-demo", env=_env(own, tmp_path, free_port()), cwd=PROJECT_ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await _line(proc.stdout, seen, r"Ctrl-C stops everything", 180)
        running = pbx.pid()
        assert running is not None, "".join(seen)
        generated = tmp_path / "state" / "ami-secret"
        assert stat.S_IMODE(generated.stat().st_mode) == 0o600
        secret = generated.read_text().strip()
        assert len(secret) >= 32 and pbx.settings.ami.secret.get_secret_value() == secret
        assert f"secret = {secret}\n" in (pbx.instance_dir / "etc" / "manager.conf").read_text()
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
        out = "".join(seen) + rest.decode(errors="replace")
        assert proc.returncode == 0, out
        assert f"pbx: Asterisk instance 'run{os.getpid()}' stopped" in out
        assert pbx.pid() is None
        # --no-demo: no demo company, so no user with a published password; the way to a first
        # administrator is printed instead of demo logins.
        assert "admin-demo-1" not in out and "agent1-demo" not in out
        assert "cti users create-admin" in out
        with sqlite3.connect(tmp_path / "run.db") as db:
            assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM customers").fetchone() == (0,)
        with pytest.raises(ProcessLookupError):
            os.kill(running, 0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        pbx.remove_instance()


@pytest.mark.parametrize("taken", ["web", "agi"])
async def test_a_port_in_use_is_one_error_line_naming_the_setting(taken: str, shared_pbx: ManagedPbx,
                                                                  pbx_settings: Settings, tmp_path: Path) -> None:
    """An operator starting a second engine, or one on a port another program holds: one line
    naming the port and its setting, exit code 1, no traceback (the FastAGI port printed a
    traceback, the web port uvicorn's own line and exit code 3, with no setting named). And the
    running Asterisk is left alone: the ports are checked before it is touched (a second `cti run`
    rewrote the first engine's Asterisk configuration, then stopped that Asterisk on its way out,
    hanging up every call)."""
    import socket

    web_port = free_port()
    env = _env(pbx_settings, tmp_path, web_port)
    pid = shared_pbx.pid()
    pjsip = (shared_pbx.instance_dir / "etc" / "pjsip.conf").read_text()
    holder = socket.socket()
    holder.bind(("127.0.0.1", web_port if taken == "web" else pbx_settings.agi.port))
    holder.listen()
    try:
        proc = await asyncio.create_subprocess_exec(  # no --keep-pbx: Ctrl-C would stop the Asterisk it runs
            *CTI, "run", "--no-demo", env=env, cwd=PROJECT_ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        holder.close()
    text = out.decode() + err.decode()
    setting = "web.port (CTI_WEB__PORT)" if taken == "web" else "agi.port (CTI_AGI__PORT)"
    port = web_port if taken == "web" else pbx_settings.agi.port
    assert proc.returncode == 1, text
    assert "Traceback" not in text, text
    assert f"error: {setting}: 127.0.0.1:{port} is in use" in err.decode(), text
    assert shared_pbx.pid() == pid, text  # the running Asterisk still runs
    assert (shared_pbx.instance_dir / "etc" / "pjsip.conf").read_text() == pjsip  # and its configuration is its own
    assert "pbx:" not in text, text
