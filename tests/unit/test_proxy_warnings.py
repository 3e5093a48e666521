"""The proxy settings an administrator gets wrong without a sound (found going live): the nginx
example runs the proxy on the engine's machine, which connects from 127.0.0.1, yet the docs listed
the proxy's own network address in ``web.trusted_proxies``; and an ``https://`` ``web.public_url``
(the engine serves plain HTTP, so a TLS proxy is in front) with no trusted proxy at all. Either way
``X-Forwarded-For`` is ignored and every client is the proxy's one address for the login throttle
and the callback-request limits. ``cti config check`` and ``cti run`` now say so (a warning: the
check still passes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.run import proxy_warnings
from cti.settings import WebSettings


@pytest.mark.parametrize(("web", "named"), [
    ({"trusted_proxies": ["10.0.0.5"]}, "10.0.0.5"),  # the old docs' example, proxy on this machine
    ({"host": "localhost", "trusted_proxies": ["127.0.0.1", "192.0.2.7"]}, "192.0.2.7"),
    ({"host": "::1", "trusted_proxies": ["2001:db8::5"]}, "2001:db8::5"),
    ({"public_url": "https://cc.example.com"}, "web.trusted_proxies is empty"),
    ({"host": "0.0.0.0", "public_url": "https://cc.example.com"}, "web.trusted_proxies is empty"),
])
def test_a_proxy_whose_forwarded_for_is_never_believed_is_named(web: dict[str, object], named: str) -> None:
    warnings = proxy_warnings(WebSettings.model_validate(web))
    assert len(warnings) == 1, warnings
    assert named in warnings[0], warnings
    assert "X-Forwarded-For" in warnings[0] and "docs/deployment.md" in warnings[0], warnings


@pytest.mark.parametrize("web", [
    {},                                                                   # no proxy: the console reached directly
    {"public_url": "http://10.1.2.3:8080", "host": "0.0.0.0"},            # plain http, no proxy
    {"public_url": "https://cc.example.com", "trusted_proxies": ["127.0.0.1"]},  # the example, right
    {"host": "0.0.0.0", "public_url": "https://cc.example.com", "trusted_proxies": ["10.0.0.5"]},
    {"host": "10.0.0.9", "trusted_proxies": ["10.0.0.5"]},
])
def test_settings_that_work_say_nothing(web: dict[str, object]) -> None:
    assert proxy_warnings(WebSettings.model_validate(web)) == []


def test_config_check_warns_and_still_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter.cli import app

    for name in ("CTI_WEB__SESSION_SECRET", "CTI_AMI__SECRET", "CTI_PBX__MODE", "CTI_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CTI_WEB__PUBLIC_URL", "https://cc.example.com")
    monkeypatch.setenv("CTI_WEB__TRUSTED_PROXIES", '["10.0.0.5"]')
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "warning: web.trusted_proxies lists 10.0.0.5" in result.output, result.output
    assert "configuration OK" in result.output, result.output


def test_the_deployment_guides_environment_file_draws_no_warning(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/deployment.md's example /etc/cti-engine/cti.env, read the way its shell line reads it
    (`set -a; . cti.env`), passes `cti config check` without a warning: it listed the remote proxy
    10.0.0.5 but left web.host at 127.0.0.1, which the check names as a proxy that cannot connect."""
    from callcenter.cli import app

    doc = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    block = doc.split("# /etc/cti-engine/cti.env\n", 1)[1].split("```", 1)[0]
    env: dict[str, str] = {}
    for line in block.splitlines():
        name, _, value = line.strip().partition("=")
        env[name] = value[1:-1] if value.startswith("'") else value
    assert {"CTI_WEB__PUBLIC_URL", "CTI_WEB__TRUSTED_PROXIES", "CTI_DATABASE_URL"} <= set(env), env
    for name in ("CTI_WEB__SESSION_SECRET", "CTI_AMI__SECRET", "CTI_PBX__MODE", "CTI_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    # The state directory is the test's own: so are the database and recordings (each would be named
    # as left in the checkout's var/ otherwise; the guide's file leaves state_dir where it is).
    monkeypatch.setenv("CTI_RECORDINGS__DIR", str(tmp_path / "recordings"))
    for name in ("CTI_WEB__PUBLIC_URL", "CTI_WEB__TRUSTED_PROXIES", "CTI_WEB__HOST", "CTI_DATABASE_URL"):
        if name in env:
            monkeypatch.setenv(name, env[name])
    result = CliRunner().invoke(app, ["config", "check", "--no-database"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output, result.output
