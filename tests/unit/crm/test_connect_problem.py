"""connect_problem's line for a database that did not answer takes the failure from
DatabaseUnavailable.why (data), not by stripping the message's "database unavailable: " prefix."""

from __future__ import annotations

from crm_core import db, errors
from crm_core.db import connect_problem
from crm_core.errors import DatabaseUnavailable, LoginRefused

URL = "postgresql+asyncpg://cti:secret-pw@db.example:5433/cti"
WHERE = "PostgreSQL database 'cti' on db.example:5433 as user 'cti'"


def test_the_failure_in_a_few_words_is_carried_as_data() -> None:
    err = DatabaseUnavailable.because("connection refused (nothing listens there)")
    assert err.message == "database unavailable: connection refused (nothing listens there)"
    assert err.why == "connection refused (nothing listens there)"
    assert connect_problem(URL, err) == (
        f"database: cannot connect to {WHERE}: connection refused (nothing listens there); check database_url "
        "(CTI_DATABASE_URL) and that the server runs")


def test_one_without_a_why_is_said_whole() -> None:
    assert DatabaseUnavailable("database unavailable: test").why is None
    assert connect_problem(URL, DatabaseUnavailable("database unavailable: test")) == (
        f"database: cannot connect to {WHERE}: database unavailable: test; check database_url (CTI_DATABASE_URL) "
        "and that the server runs")


def test_a_refused_login_lives_in_the_error_tree_and_is_still_importable_from_db() -> None:
    assert db.LoginRefused is errors.LoginRefused
    line = connect_problem(URL, LoginRefused("the database server refused the login: x"))
    assert line == f"database: {WHERE}: the database server refused the login: x"
    assert "secret-pw" not in line
