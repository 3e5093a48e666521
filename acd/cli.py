"""ACD commands of ``cti``: ``cti staffing`` (Erlang C)."""

from __future__ import annotations

import json
import math

import typer

from acd.errors import InvalidRequest
from acd.staffing import StaffingResult, staff

_FLAGS = {"calls": "--calls", "interval_s": "--interval-s", "aht_s": "--aht-s", "sl_target": "--sl-target",
          "sl_seconds": "--sl-seconds", "shrinkage": "--shrinkage", "agents": "--agents",
          "max_occupancy": "--max-occupancy"}


def _human(r: StaffingResult) -> str:
    asa = "unbounded (agents <= traffic)" if math.isinf(r.asa_s) else f"{r.asa_s:.1f} s"
    how = "given" if r.agents_given else f"smallest meeting {r.sl_target:.0%} in {r.sl_seconds:g} s"
    if r.max_occupancy is not None and not r.agents_given:
        how += f" at <= {r.max_occupancy:.0%} occupancy"
    lines = [
        f"traffic        {r.traffic_erlangs:.2f} erlangs ({r.calls:g} calls / {r.interval_s:g} s, AHT {r.aht_s:g} s)",
        f"agents         {r.agents} ({how})",
        f"service level  {r.service_level:.1%} answered within {r.sl_seconds:g} s (target {r.sl_target:.0%})",
        f"ASA            {asa}",
        f"occupancy      {r.occupancy:.1%}",
        f"P(wait)        {r.pw:.1%}",
        f"positions      {r.positions} (shrinkage {r.shrinkage:.0%})",
    ]
    if r.agents_given and not r.meets_target:
        lines.append("warning: these agents do not meet the target")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the ACD's top-level commands to ``app``."""

    @app.command("staffing")
    def staffing(
        calls: float = typer.Option(..., "--calls", help="Forecast calls in the interval."),
        interval_s: float = typer.Option(1800.0, "--interval-s", help="Interval length in seconds."),
        aht_s: float = typer.Option(..., "--aht-s", help="Average handle time in seconds."),
        sl_target: float = typer.Option(0.8, "--sl-target", help="Service-level target, a fraction in (0, 1]."),
        sl_seconds: float = typer.Option(20.0, "--sl-seconds", help="Service-level threshold T in seconds."),
        shrinkage: float = typer.Option(0.0, "--shrinkage", help="Fraction of paid time off the phones, [0, 1)."),
        agents: int | None = typer.Option(None, "--agents", help="Predict for this many agents instead."),
        max_occupancy: float | None = typer.Option(None, "--max-occupancy", help="Also cap occupancy (0, 1]."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Erlang C: agents needed for a forecast, with predicted SL, ASA, occupancy and positions."""
        try:
            result = staff(calls=calls, interval_s=interval_s, aht_s=aht_s, sl_target=sl_target,
                           sl_seconds=sl_seconds, shrinkage=shrinkage, agents=agents, max_occupancy=max_occupancy)
        except InvalidRequest as err:
            reason = err.message.split(": ", 1)[-1]
            typer.echo(f"error: {_FLAGS.get(err.field, err.field)}: {reason}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(json.dumps(result.to_dict(), allow_nan=False))
        else:
            typer.echo(_human(result))
