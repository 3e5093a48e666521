"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis): in-process against the real app
(an Engine, not started: no PBX) on a seeded SQLite CRM, every operation with generated input, as
each role. No answer may be a 5xx, except 502/503 naming the telephony that this test has not got.

About 50 s in all, in five groups of routes (the tier's hang guard is 25 s a test)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.python.asgi import _get_portal, get_client, shutdown_lifespans

from callcenter.engine import Engine
from cti.settings import load_settings
from tests.web.engines import seeded_db
from tests.web.security.conftest import password_of

USERS = {"agent": "agent1", "supervisor": "sup1", "admin": "admin"}
NO_TELEPHONY = {"ami_unavailable", "desk_unavailable", "ami_action_failed"}


@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    settings_ = load_settings(database_url=f"sqlite+aiosqlite:///{tmp / 'crm.db'}", state_dir=tmp / "state",
                              web={"session_secret": secrets.token_urlsafe(32)})
    asyncio.run(seeded_db(Path(tmp / "crm.db"), settings_.config_dir))
    engine = Engine(settings_)
    assert engine.app is not None
    engine.app.state.console_auth.throttle.per_address_per_min = 10_000  # the fuzzer logs in a lot
    engine.app.state.console_auth.throttle.global_per_min = 10_000
    with get_client(engine.app) as client:
        tokens = {}
        for role, user in USERS.items():
            r = client.post("/api/auth/login", json={"username": user, "password": password_of(user)})
            assert r.status_code == 200, r.text
            tokens[role] = r.json()["token"]
        yield engine.app, client, tokens
    # The app's lifespan (wallboard loop, journals) runs in schemathesis's process-wide portal until
    # stopped, and its pooled SQLite connections belong to that loop: stop and close them there, or
    # a later test meets them as "deleted before being closed" warnings.
    shutdown_lifespans()
    _get_portal().call(engine.db.dispose)


GROUPS = {  # each under the tier's hang guard
    "crm-records": r"^/api/crm/(customers|interactions|cases)",
    "crm-catalog": r"^/api/crm/(dispositions|scripts|articles|screenpop)",
    "supervisor": r"^/api/supervisor/",
    "console": r"^/(api/(auth|me|agent|calls|callbacks|customers|preview)|healthz)",
    # Last: an administrator's generated changes may end the fuzzer's own sessions (401s after).
    "admin-outbound": r"^/api/(admin|campaigns|callback-requests|recordings|phone|webhooks|events)",
}


@pytest.mark.parametrize("group", GROUPS)
def test_no_server_errors(fuzz_site: tuple[Any, Any, dict[str, str]], group: str) -> None:
    app, client, tokens = fuzz_site
    # Left out: logout (it would end the run's sessions). Staffing is in: acd.staffing bounds its
    # inputs (422 past them), so its Erlang C takes at most ~0.1 s.
    schema = (schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/api/auth/logout")
              .include(path_regex=GROUPS[group]))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            for role, token in tokens.items():
                response = case.call(session=client, headers={"Authorization": f"Bearer {token}"})
                if response.status_code >= 500 and not (response.status_code in (502, 503)
                                                        and _code_of(response) in NO_TELEPHONY):
                    failures.append(f"{role}: {case.method} {case.formatted_path} {case.query or ''} "
                                    f"{str(case.body)[:200]} -> {response.status_code} {response.text[:200]}")

        run()
    assert operations >= 5
    assert failures == [], "\n".join(dict.fromkeys(failures))


def _code_of(response: Any) -> str | None:
    try:
        return response.json()["detail"]["code"]  # type: ignore[no-any-return]
    except (ValueError, KeyError, TypeError):
        return None
