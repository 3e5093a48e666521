"""`cti run` against a database that refuses the login (a wrong database name, user or password in
database_url) or does not answer printed "the database server refused the login: ..." (or "database
unavailable: OSError") without saying which server or database it had tried; `cti config check`
names them. Both now print the same line, from one function (crm_core.db.connect_problem): engine,
host, port, database and user, never the password. The tests' PostgreSQL trusts local logins, so a
wrong password cannot be refused here: a wrong database or user takes the same path (asyncpg's
InvalidCatalogNameError / InvalidAuthorizationSpecificationError, both "... does not exist").

`cti run` also started the managed Asterisk before it opened the database, and stopped it again on
the way out: the database is now probed first (as `cti config check` probes it), and a database
that refuses the login, does not answer or was migrated by a newer release stops `cti run` before
anything starts."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner, Result

from callcenter.cli import app
from tests.servers import free_port


def _invoke(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    for name in ("CTI_AMI__SECRET", "CTI_PBX__MODE", "CTI_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CTI_RECORDINGS__DIR", str(tmp_path / "recordings"))
    monkeypatch.setenv("CTI_WEB__SESSION_SECRET", secrets.token_urlsafe(32))
    monkeypatch.setenv("CTI_DATABASE_URL", url)
    return CliRunner().invoke(app, list(args))


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: database")]


@pytest.fixture
def nothing_else_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`cti run` up to its database: no Asterisk, no port check, the test's own logging kept."""
    started: list[str] = []
    monkeypatch.setattr("cti.pbx.ManagedPbx.up", lambda self, **kw: started.append("pbx"))
    monkeypatch.setattr("cti.pbx.ManagedPbx.down", lambda self, **kw: False)
    monkeypatch.setattr("cti.listen.check_free", lambda ports: None)
    monkeypatch.setattr("callcenter.run.configure_logging", lambda settings: None)
    monkeypatch.setattr("callcenter.engine.Engine.start", lambda self: started.append("engine"))
    return started


@pytest.mark.parametrize("wrong", ["database", "user"])
def test_cti_run_names_the_database_that_refused_the_login_as_config_check_does(
        wrong: str, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        nothing_else_starts: list[str]) -> None:
    password = secrets.token_urlsafe(12)
    base = make_url(postgres_url)
    bad = base.set(database="nosuchdb") if wrong == "database" else base.set(username="nosuchuser")
    url = bad.set(password=password).render_as_string(hide_password=False)
    check = _invoke(url, tmp_path, monkeypatch, "config", "check")
    run = _invoke(url, tmp_path, monkeypatch, "run", "--no-demo")
    assert run.exit_code == 1, run.output
    where = (f"PostgreSQL database {bad.database!r} on {bad.host}:{bad.port} as user {bad.username!r}: the database "
             "server refused the login: ")
    assert _error_lines(run) == _error_lines(check), (run.output, check.output)
    [line] = _error_lines(run)
    assert line.startswith(f"error: database: {where}"), line
    assert f'"{"nosuchdb" if wrong == "database" else "nosuchuser"}" does not exist' in line, line
    assert line.endswith("check database_url (CTI_DATABASE_URL): its user, password and database name"), line
    assert password not in run.output + check.output and "Traceback" not in run.output
    assert nothing_else_starts == []  # the managed Asterisk was started (then stopped) first


def test_cti_run_names_a_database_that_does_not_answer_as_config_check_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_else_starts: list[str]) -> None:
    password = secrets.token_urlsafe(12)
    port = free_port()  # nothing listens on it
    url = f"postgresql+asyncpg://cti:{password}@127.0.0.1:{port}/callcentre"
    check = _invoke(url, tmp_path, monkeypatch, "config", "check")
    run = _invoke(url, tmp_path, monkeypatch, "run", "--no-demo")
    assert run.exit_code == 1, run.output
    assert _error_lines(run) == _error_lines(check) == [
        f"error: database: cannot connect to PostgreSQL database 'callcentre' on 127.0.0.1:{port} as user 'cti': "
        "connection refused (nothing listens there); check database_url (CTI_DATABASE_URL) and that the server "
        "runs"], (run.output, check.output)
    assert password not in run.output + check.output and "Traceback" not in run.output
    assert nothing_else_starts == []


def test_cti_run_on_a_database_a_newer_release_migrated_starts_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_else_starts: list[str]) -> None:
    import sqlite3

    url = f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}"
    assert _invoke(url, tmp_path, monkeypatch, "db", "upgrade").exit_code == 0
    with sqlite3.connect(tmp_path / "cti.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'")
    conn.close()
    check = _invoke(url, tmp_path, monkeypatch, "config", "check")
    run = _invoke(url, tmp_path, monkeypatch, "run", "--no-demo")
    assert run.exit_code == 1, run.output
    assert _error_lines(run) == _error_lines(check), (run.output, check.output)
    [line] = _error_lines(run)
    assert line.startswith(f"error: database: SQLite file {tmp_path / 'cti.db'} is at revision "
                           "'0099_from_a_newer_release', which this release does not know"), line
    assert nothing_else_starts == []


@pytest.mark.parametrize("under", ["a_file", "a_file/sub"])
def test_a_sqlite_file_whose_folder_cannot_be_made_stops_cti_run_before_anything_starts(
        under: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_else_starts: list[str]) -> None:
    """A SQLite path under a file: `cti config check` called it "not made yet" (a warning), and `cti run`
    started the managed Asterisk before Database() failed to make the folder. Both now name the path and
    why, before anything starts, and nothing is created."""
    (tmp_path / "a_file").write_text("not a folder\n")
    path = tmp_path / under / "cti.db"
    url = f"sqlite+aiosqlite:///{path}"
    check = _invoke(url, tmp_path, monkeypatch, "config", "check")
    run = _invoke(url, tmp_path, monkeypatch, "run", "--no-demo")
    assert check.exit_code == 2, check.output
    assert run.exit_code == 1, run.output
    assert _error_lines(run) == _error_lines(check) == [
        f"error: database: SQLite file {path}: cannot create its folder {path.parent}: {tmp_path / 'a_file'} is a "
        "file, not a folder; check database_url (CTI_DATABASE_URL)"], (run.output, check.output)
    assert "Traceback" not in run.output
    assert nothing_else_starts == []  # the managed Asterisk was started first, and stopped again
    assert (tmp_path / "a_file").read_text() == "not a folder\n"
