"""The schema's migrations (alembic, ``crm_core/migrations``): the configuration, the database's
revision, an upgrade that names what the operator did wrong, and how far a revision is behind this
release's head (``cti config check``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cti.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def run_upgrade(sync_conn: Any, revision: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config(sync_conn)
    script = ScriptDirectory.from_config(cfg)
    current = current_revision(sync_conn)
    # Alembic's own error for these is a traceback's last line: say what the operator did.
    if current is not None and not known(script, current):
        raise ConfigError(f"the database is at revision {current!r}, which this release does not know: it was "
                          "migrated by a newer release. Run that release, or restore a backup taken before "
                          "the upgrade")
    if revision != "head" and not known(script, revision):
        raise ConfigError(f"revision {revision!r} is not one of this release's migrations (the newest is "
                          f"{script.get_current_head()!r})")
    command.upgrade(cfg, revision)


def known(script: Any, revision: str) -> bool:
    from alembic.util.exc import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:  # alembic's ResolutionError is one
        return False


def current_revision(sync_conn: Any) -> str | None:
    """The database's revision, without alembic's "Context impl" lines (the upgrade after this
    look-up logs them: once a start, not twice)."""
    from alembic.runtime.migration import MigrationContext

    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        return MigrationContext.configure(sync_conn).get_current_revision()
    finally:
        quiet.setLevel(level)


def migrations_behind(revision: str | None) -> int | None:
    """How many of this release's migrations a database at ``revision`` lacks (0: at the head, all of
    them for None); None when this release does not know ``revision`` (a newer release migrated it)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if revision is not None and not known(script, revision):
        return None
    return len(list(script.iterate_revisions(script.get_current_head(), revision or "base")))


def head_revision() -> str:
    """The newest migration of this release."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())
