"""`cti console-demo` offers only what it serves: every user its banner names logs in and lands on a
page the demo has (a supervisor was sent to /wallboard, which the console on fakes does not serve)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from agent_console import demo as demo_module
from agent_console.demo import DEMO_PASSWORD
from callcenter.cli import app


async def test_every_user_the_banner_names_lands_on_a_page_the_demo_serves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path))
    built: list[Any] = []
    real_build = demo_module.build_demo

    def build(*args: Any, **kw: Any) -> Any:
        built.append(real_build(*args, **kw))
        return built[-1]

    monkeypatch.setattr(demo_module, "build_demo", build)
    monkeypatch.setattr("cti.loop.run", lambda main: main.close())  # built, not served
    r = CliRunner().invoke(app, ["console-demo", "--port", "18080"])
    assert r.exit_code == 0, r.output
    demo = built[0]
    banner = r.output.splitlines()[0]
    named = set(re.findall(r"\b([a-z]+)\b", banner.split("users:", 1)[1])) & set(demo.users.users)
    assert named == set(demo.users.users), banner  # each user it has, no other
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=demo.app), base_url="http://demo") as c:
        for username in sorted(named):
            login = await c.post("/api/auth/login", json={"username": username, "password": DEMO_PASSWORD})
            assert login.status_code == 200, (username, login.text)
            page = await c.get(login.json()["redirect"])
            assert page.status_code == 200, (username, login.json()["redirect"], page.status_code)
