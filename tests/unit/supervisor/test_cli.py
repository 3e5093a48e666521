"""``cti staffing`` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from acd.cli import register


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """cti"""

    register(app)
    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["staffing", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_for_the_first_published_vector(app: typer.Typer) -> None:
    code, out, _ = run(app, "--calls", "100", "--interval-s", "1800", "--aht-s", "180", "--sl-target", "0.8",
                       "--sl-seconds", "20", "--shrinkage", "0.3", "--json")
    assert code == 0
    data = json.loads(out)  # exactly one JSON object
    assert (data["agents"], data["positions"]) == (14, 20)
    assert round(data["service_level"], 7) == 0.8883500
    assert round(data["asa_s"], 3) == 7.836
    assert round(data["occupancy"], 3) == 0.714
    assert round(data["pw"], 7) == 0.1741319
    assert data["traffic_erlangs"] == pytest.approx(10.0)


def test_json_with_agents_given(app: typer.Typer) -> None:
    code, out, _ = run(app, "--calls", "360", "--aht-s", "240", "--sl-seconds", "15", "--agents", "55", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["agents"], data["agents_given"], data["meets_target"]) == (55, True, True)
    assert round(data["service_level"], 3) == 0.846 and round(data["asa_s"], 2) == 8.18


def test_json_for_an_overloaded_team_has_null_asa(app: typer.Typer) -> None:
    code, out, _ = run(app, "--calls", "100", "--aht-s", "180", "--agents", "9", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["asa_s"] is None and data["service_level"] == 0.0 and not data["meets_target"]


def test_human_output(app: typer.Typer) -> None:
    code, out, _ = run(app, "--calls", "360", "--aht-s", "240")
    assert code == 0
    assert "agents         54 (smallest meeting 80% in 20 s)" in out
    assert "traffic        48.00 erlangs" in out and "positions      54 (shrinkage 0%)" in out


@pytest.mark.parametrize(("args", "message"), [
    (("--calls", "-5", "--aht-s", "180"), "error: --calls: must be >= 0"),
    (("--calls", "5", "--aht-s", "180", "--sl-target", "1.5"), "error: --sl-target: must be in (0, 1]"),
    (("--calls", "5", "--aht-s", "180", "--sl-target", "0"), "error: --sl-target: must be in (0, 1]"),
    (("--calls", "5", "--aht-s", "0"), "error: --aht-s: must be > 0"),
    (("--calls", "5", "--aht-s", "180", "--shrinkage", "1"), "error: --shrinkage: must be in [0, 1)"),
    (("--calls", "5", "--aht-s", "180", "--interval-s", "-1"), "error: --interval-s: must be > 0"),
    (("--calls", "5", "--aht-s", "180", "--agents", "-1"), "error: --agents: must be >= 0"),
    # these ran forever (1e300) or for tens of seconds (1e8) before the bounds
    (("--calls", "1e300", "--aht-s", "180"), "error: --calls: must be at most 1000000 per interval"),
    (("--calls", "1e8", "--aht-s", "180"), "error: --calls: must be at most 1000000 per interval"),
    (("--calls", "900000", "--aht-s", "180"), "error: --calls: 900000 calls in 1800 s at 180 s AHT is 9e+04 erlangs"),
    (("--calls", "5", "--aht-s", "180", "--agents", "1000000000000"), "error: --agents: must be at most 100000"),
    (("--calls", "inf", "--aht-s", "180"), "error: --calls: must be a finite number"),
    (("--calls", "5", "--aht-s", "nan"), "error: --aht-s: must be a finite number"),
    (("--calls", "5", "--aht-s", "180", "--interval-s", "1e300"), "error: --interval-s: must be at most"),
])
def test_bad_input_is_refused_with_the_flag_named(app: typer.Typer, args: tuple[str, ...], message: str) -> None:
    code, out, err = run(app, *args)
    assert code == 2 and out == ""
    assert err.startswith(message)


def test_missing_required_option(app: typer.Typer) -> None:
    code, _, err = run(app, "--calls", "5")
    assert code == 2 and "--aht-s" in err
