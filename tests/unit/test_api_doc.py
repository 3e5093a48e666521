"""docs/api.md names every REST path the app serves: a new route without documentation fails here."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from agent_console.supervisor.install import install_supervisor
from callcenter.engine import Engine
from cti.settings import PROJECT_ROOT, load_settings

DOC = PROJECT_ROOT / "docs" / "api.md"


def test_every_openapi_path_is_in_the_api_guide(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             web={"port": 8080, "session_secret": secrets.token_urlsafe(32)})
    engine = Engine(settings)  # built as the web tests build it; nothing is started
    assert engine.app is not None
    install_supervisor(engine.app, engine.supervisor_parts())  # idempotent
    paths = set(engine.app.openapi()["paths"])
    assert len([p for p in paths if p.startswith("/api/crm/")]) == 18
    documented = set(re.findall(r"`(/[^`\s]*)`", DOC.read_text(encoding="utf-8")))
    missing = sorted(paths - documented)
    assert not missing, f"routes missing from {DOC}: {missing}"
    stale = sorted(p for p in documented - paths if p.startswith(("/api/", "/healthz")) and "*" not in p)
    assert not stale, f"{DOC} documents routes the app does not serve: {stale}"


def test_docs_link_nothing_outside_the_repository() -> None:
    for doc in [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            resolved = (doc.parent / target).resolve()
            assert resolved.is_relative_to(PROJECT_ROOT), f"{doc.name}: link {target} leaves the repository"
            assert resolved.exists(), f"{doc.name}: link {target} points to nothing"
        assert "../shared" not in doc.read_text(encoding="utf-8"), doc.name
