"""Real servers for the test tiers: Asterisk (via cti.pbx), redis-server and PostgreSQL.

Each starts on free loopback ports in its own directory and is stopped by the fixture that
started it. A server that cannot start fails the test loudly; nothing here ever skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The session's own TCP ports (the test Asterisk's AMI, SIP and HTTP, the engines' FastAGI and web)
# are held for a whole run but bound only while something listens (an engine's FastAGI port between
# tests is free): picked with free_port() in the ephemeral range, such a port could be handed by the
# kernel to another worker's bind(0) meanwhile (a Chromium's DevTools port, held for its session) and
# every later engine of this worker failed "port in use". These come from a block of their own per
# run slot, above that range (ip_local_port_range's default ends at 60999).
_SESSION_FIRST, _SESSION_LAST, _SESSION_BLOCK = 61_000, 65_535, 8


def session_port(n: int) -> int:
    """Port ``n`` (0-7) of this run slot's block above the ephemeral range; a free ephemeral port if
    another program holds it."""
    assert 0 <= n < _SESSION_BLOCK
    port = _SESSION_FIRST + run_slot((_SESSION_LAST - _SESSION_FIRST) // _SESSION_BLOCK) * _SESSION_BLOCK + n
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def run_slot(slots: int) -> int:
    """A number below ``slots`` that picks a private block of fixed-range resources (RTP ports):
    different for each pytest-xdist worker of one run, and (by the run's pid) most likely different
    from other runs on this machine."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return os.getpid() % slots
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    index = int(worker.removeprefix("gw")) % count
    return (os.getppid() % max(1, slots // count)) * count + index  # the parent: the run's controller


# Every Asterisk the tests start takes its RTP ports from one block per run slot, below Linux's
# ephemeral range (32768-60999), where free_port() and the kernel pick the SIP, AMI and sipp ports:
# a UDP port held for RTP there could be handed out as another instance's SIP port.
_RTP_FIRST, _RTP_LAST = 10_000, 32_000
_RTP_BLOCK = 400
_RTP_PARTS = {  # (offset in the slot's block, ports)
    "pbx": (0, 100),       # the session's Asterisk (tests/conftest.py)
    "wss": (100, 50),      # the browser tier's TLS/WSS instance
    "carrier": (150, 30),  # the trunk rig's carrier ...
    "trunks": (180, 30),   # ... and ours
    "tls": (210, 20),      # the TLS/SRTP trunk test
    "own": (230, 100),     # a test's own instance beside the session's (AMI bridge restarts)
    "run": (330, 70),      # `cti run` managing its own Asterisk
}


def rtp_range(part: str) -> dict[str, int]:
    """``rtp_start``/``rtp_end`` for one of the test instances (``_RTP_PARTS``), in this run's block."""
    offset, size = _RTP_PARTS[part]
    start = _RTP_FIRST + run_slot((_RTP_LAST - _RTP_FIRST) // _RTP_BLOCK) * _RTP_BLOCK + offset
    return {"rtp_start": start, "rtp_end": start + size - 1}


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout} s")


@contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/install-system-deps.sh)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cti-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _pg_bin() -> Path:
    base = Path("/usr/lib/postgresql")
    versions = sorted(base.glob("*/bin/pg_ctl")) if base.exists() else []
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (scripts/install-system-deps.sh)")
    return versions[-1].parent


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster run as the 'postgres' user; yields an asyncpg URL."""
    bindir = _pg_bin()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="cti-pg-"))
    os.chmod(workdir, 0o777)
    data = workdir / "data"
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "cti",
                    "--no-sync"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(workdir / "log"),
                    "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "cti",
                        "cti"], check=True)
        yield f"postgresql+asyncpg://cti@127.0.0.1:{port}/cti"
    finally:
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)
