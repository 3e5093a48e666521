"""`cti config check` asks the database too: whether it answers (one connection, a short timeout),
and where its schema stands against this release's migrations (behind: the upgrade command; ahead:
an older engine against a newer database). It said "configuration OK" for a database nobody could
reach. No password ever appears in what it prints. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from sqlalchemy import Connection, make_url, text
from typer.testing import CliRunner, Result

from callcenter.cli import app
from crm_core.db import Database
from crm_core.revisions import head_revision
from tests.servers import free_port

HEAD = head_revision()
OLDER = "0024_vhold_stay"  # two migrations before 0026_vhold_language


def _check(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    for name in ("CTI_WEB__SESSION_SECRET", "CTI_AMI__SECRET", "CTI_PBX__MODE", "CTI_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CTI_RECORDINGS__DIR", str(tmp_path / "recordings"))  # with the state, not the checkout's
    monkeypatch.setenv("CTI_DATABASE_URL", url)
    return CliRunner().invoke(app, ["config", "check", *args])


def _with_password(url: str, password: str) -> str:
    """The URL with a password (the tests' PostgreSQL trusts local logins: it is not needed, only shown)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


async def _set_revision(url: str, revision: str) -> None:
    def write(conn: Connection) -> None:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})

    db = Database(url)
    try:
        await db.run(write)
    finally:
        await db.dispose()


def test_a_database_at_the_head_is_fine(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password = secrets.token_urlsafe(12)
    result = _check(_with_password(db_url, password), tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert f"answers, its schema at this release's revision {HEAD!r}" in result.output, result.output
    assert "configuration OK" in result.output and password not in result.output
    where = "SQLite file" if db_url.startswith("sqlite") else f"PostgreSQL database {make_url(db_url).database!r}"
    assert f"database: {where}" in result.output, result.output


def test_a_database_behind_names_the_upgrade_command(db_url: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_set_revision(db_url, OLDER))
    result = _check(db_url, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output  # `cti run` migrates as it starts: said, not refused
    assert "warning: database: " in result.output
    assert (f"its schema at revision {OLDER!r}, 2 migration(s) behind this release's {HEAD!r}: run `cti db upgrade`"
            in result.output), result.output


def test_a_database_really_migrated_to_an_older_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"

    async def migrate() -> None:
        db = Database(url)
        try:
            await db.upgrade(OLDER)
        finally:
            await db.dispose()

    asyncio.run(migrate())
    result = _check(url, tmp_path, monkeypatch)
    assert result.exit_code == 0 and "2 migration(s) behind" in result.output, result.output


def test_a_database_a_newer_release_migrated_is_an_error(db_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_set_revision(db_url, "0099_from_a_newer_release"))
    result = _check(db_url, tmp_path, monkeypatch)
    assert result.exit_code == 2, result.output
    assert ("is at revision '0099_from_a_newer_release', which this release does not know (its newest is "
            f"{HEAD!r}): a newer release migrated it") in result.output, result.output
    assert "configuration OK" not in result.output


def test_an_unreachable_database_names_where_never_the_password(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    password = secrets.token_urlsafe(12)
    port = free_port()  # nothing listens on it
    result = _check(f"postgresql+asyncpg://cti:{password}@127.0.0.1:{port}/callcentre", tmp_path, monkeypatch)
    assert result.exit_code == 2, result.output
    assert (f"error: database: cannot connect to PostgreSQL database 'callcentre' on 127.0.0.1:{port} as user 'cti': "
            "connection refused") in result.output, result.output
    assert "check database_url (CTI_DATABASE_URL)" in result.output
    assert password not in result.output and "Traceback" not in result.output
    assert "configuration OK" not in result.output
    skipped = _check(f"postgresql+asyncpg://cti:{password}@127.0.0.1:{port}/callcentre", tmp_path, monkeypatch,
                     "--no-database")
    assert skipped.exit_code == 0 and "database" not in skipped.output, skipped.output


def test_a_refused_login_is_named(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password = secrets.token_urlsafe(12)
    url = make_url(postgres_url).set(database="nosuchdb", password=password).render_as_string(hide_password=False)
    result = _check(url, tmp_path, monkeypatch)
    assert result.exit_code == 2, result.output
    assert "PostgreSQL database 'nosuchdb'" in result.output and '"nosuchdb" does not exist' in result.output
    assert password not in result.output


def test_a_sqlite_file_not_made_yet_is_a_warning_and_is_not_created(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new" / "cti.db"
    result = _check(f"sqlite+aiosqlite:///{path}", tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert f"warning: database: no SQLite file {path} yet: `cti db upgrade`" in result.output, result.output
    assert not path.exists() and not path.parent.exists()


def test_a_server_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    """A port that accepts the connection and then says nothing (a firewall's proxy, a hung server):
    the check gives up after its timeout and says so, instead of hanging."""
    import socket

    from callcenter.config_check import check_database
    from cti.settings import load_settings

    password = secrets.token_urlsafe(12)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)  # the kernel completes the handshake; nobody ever reads or writes
        port = silent.getsockname()[1]
        settings = load_settings(database_url=f"postgresql+asyncpg://cti:{password}@127.0.0.1:{port}/cti",
                                 state_dir=tmp_path / "var")
        severity, line = check_database(settings, timeout_s=0.5)
    assert severity == "error", line
    assert f"cannot connect to PostgreSQL database 'cti' on 127.0.0.1:{port} as user 'cti': no answer within 0.5 s" \
        in line, line
    assert password not in line
