"""`cti config check` with ``bus: redis`` asks Redis too, as it asks the database: whether it answers
and which node routes on it. It said "configuration OK" for a Redis nobody could reach (found in the
go-live trial: only `cti run` then named it). No password ever appears in what it prints."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from callcenter.cli import app
from cti.redis_lease import RedisLease, RoutingLease
from tests.servers import free_port


def _check(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    for name in ("CTI_WEB__SESSION_SECRET", "CTI_AMI__SECRET", "CTI_PBX__MODE", "CTI_DEV_MODE", "CTI_NODE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")
    monkeypatch.setenv("CTI_BUS", "redis")
    monkeypatch.setenv("CTI_REDIS_URL", redis_url)
    monkeypatch.setenv("CTI_NODE_ID", "node-b")
    return CliRunner().invoke(app, ["config", "check", *args])


def test_a_redis_that_does_not_answer_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"redis://:a-Password-9@127.0.0.1:{free_port()}/0"  # nothing listens there
    result = _check(url, tmp_path, monkeypatch)
    assert result.exit_code == 2, result.output
    assert "error: redis: redis_url (CTI_REDIS_URL) redis://:***@127.0.0.1:" in result.output, result.output
    assert "check the address and password and that the Redis server runs" in result.output, result.output
    assert "configuration OK" not in result.output and "a-Password-9" not in result.output, result.output
    assert "Traceback" not in result.output


def test_no_database_skips_redis_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = _check(url, tmp_path, monkeypatch, "--no-database")
    assert result.exit_code == 0, result.output
    assert "redis:" not in result.output and "CTI_REDIS_URL" not in result.output, result.output


async def test_a_redis_that_answers_names_the_node_that_routes(redis_url: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tag = uuid.uuid4().hex[:6]
    active = RoutingLease(RedisLease(redis_url), f"active-{tag}")
    await active.acquire(wait=True)
    try:
        result = await asyncio.to_thread(_check, redis_url, tmp_path, monkeypatch)
    finally:
        await active.release()
    assert result.exit_code == 0, result.output
    assert f"redis: {redis_url} answers; node 'active-{tag}' routes calls on it (this node, 'node-b', " \
           "would wait as its standby)" in result.output, result.output
    assert "configuration OK" in result.output
