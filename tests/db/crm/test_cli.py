"""`cti db upgrade` and `cti db stats` from another working directory, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from callcenter.cli import app
from crm_core.revisions import alembic_config


def test_upgrade_and_stats(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # alembic finds its scripts from the package, not the cwd
    runner = CliRunner()
    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and f"revision {head}" in up.output
    # An older revision: alembic does nothing, and the operator is told so (it printed only the
    # revision, as if the database were now at the older one's schema).
    older = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    back = runner.invoke(app, ["db", "upgrade", str(older)])
    assert back.exit_code == 0, back.output
    assert f"database at revision {head}, past {older}: nothing done" in back.output, back.output
    stats = runner.invoke(app, ["db", "stats"])
    assert stats.exit_code == 0, stats.output
    assert "interactions" in stats.output and "customers" in stats.output
    assert not any(p.name.endswith(".ini") for p in tmp_path.iterdir())
    assert os.getcwd() == str(tmp_path)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "stats"],
                                     ["users", "create-admin", "root", "--generate"]])
def test_unreachable_database_is_an_error_line_not_a_traceback(
        command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator's wrong database URL (nothing listens there) gets one line naming the database
    and a non-zero exit, never a traceback; `cti db upgrade` used to print the asyncpg traceback."""
    from tests.servers import free_port

    port = free_port()  # nothing listens on it
    monkeypatch.setenv("CTI_DATABASE_URL", f"postgresql+asyncpg://cti:hunter2-secret@127.0.0.1:{port}/cti")
    result = CliRunner().invoke(app, command)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert "error: database unavailable" in result.output
    assert "Traceback" not in result.output
    assert "hunter2" not in result.output


def test_a_sqlite_database_where_no_directory_can_be_made_is_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'afile' / 'db' / 'cti.db'}")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    # The line `cti config check` and `cti run` print for it (crm_core.db.sqlite_problem_line), one message.
    db = tmp_path / "afile" / "db"
    assert (f"error: database: SQLite file {db / 'cti.db'}: cannot create its folder {db}: {tmp_path / 'afile'} is a "
            "file, not a folder; check database_url (CTI_DATABASE_URL)") in result.output


def test_an_unknown_revision_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cti db upgrade foo`, and a database a newer release migrated (an operator rolling the
    software back), ended in alembic's CommandError traceback."""
    import sqlite3

    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")
    runner = CliRunner()
    typo = runner.invoke(app, ["db", "upgrade", "foo"])
    assert isinstance(typo.exception, SystemExit) and typo.exit_code == 1, repr(typo.exception)
    assert "error: revision 'foo' is not one of this release's migrations" in typo.output, typo.output
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    with sqlite3.connect(tmp_path / "cti.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'")
    conn.close()
    newer = runner.invoke(app, ["db", "upgrade"])
    assert isinstance(newer.exception, SystemExit) and newer.exit_code == 1, repr(newer.exception)
    assert ("error: the database is at revision '0099_from_a_newer_release', which this release does not "
            "know: it was migrated by a newer release") in newer.output, newer.output


def test_stats_on_a_database_not_migrated_yet_says_to_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cti db stats` before `cti db upgrade` (a new PostgreSQL database, a wrong SQLite path)
    printed SQLAlchemy's 'no such table' traceback."""
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    result = CliRunner().invoke(app, ["db", "stats"])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, repr(result.exception)
    assert "error: the database has no tables yet (no migration applied): run `cti db upgrade`" in result.output


@pytest.mark.parametrize("name", ["", "bad name", "x" * 65, ".dot"])
def test_create_admin_refuses_a_username_nobody_could_log_in_with(name: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`cti users create-admin ""` (or a name with a space, or longer than the login form takes)
    created an administrator nobody could log in as, and printed its password as if all was well;
    /api/admin/users refuses these names (422)."""
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")
    result = CliRunner().invoke(app, ["users", "create-admin", name, "--generate"])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, repr(result.exception)
    assert "error: username: 2-64 characters" in result.output, result.output
    assert "password:" not in result.output


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "stats"],
                                     ["users", "create-admin", "root", "--generate"], ["users", "deactivate-demo"],
                                     ["users", "reset-password", "root", "--generate"]])
@pytest.mark.parametrize("where", ["database", "user"])
def test_a_login_the_server_refuses_is_an_error_line_naming_it(where: str, command: list[str], postgres_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong database name, user or password in database_url printed asyncpg's traceback
    (seen in the go-live trial: `password authentication failed for user "cti"`); then a line of
    its own that did not say which server or database had refused: now `cti config check`'s line
    (crm_core.db.connect_problem), engine, host, port, database and user."""
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    url = url.set(database="nosuchdb") if where == "database" else url.set(username="nosuchuser")
    monkeypatch.setenv("CTI_DATABASE_URL", url.set(password="hunter2-secret").render_as_string(hide_password=False))
    result = CliRunner().invoke(app, command)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    check = CliRunner().invoke(app, ["config", "check"])
    [line] = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert line in check.output.splitlines(), (result.output, check.output)
    expected = '"nosuchdb" does not exist' if where == "database" else '"nosuchuser" does not exist'
    assert line.startswith(f"error: database: PostgreSQL database {url.database!r} on {url.host}:{url.port} as user "
                           f"{url.username!r}: the database server refused the login: "), line
    assert expected in line and line.endswith("check database_url (CTI_DATABASE_URL): its user, password and "
                                              "database name"), line
    assert "Traceback" not in result.output and "hunter2" not in result.output + check.output, result.output
