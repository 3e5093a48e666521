"""``cti ivr``: check flow files."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="IVR flows: validate them.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """IVR flows (config/ivr/*.yaml)."""


@app.command("check")
def check(file: Path | None = typer.Argument(None, help="A flow file; default: every config/ivr/*.yaml.")) -> None:
    """Validate IVR flows; print each problem with file, node and field; exit 2 if any."""
    from cti.cli import settings_or_exit
    from ivr.config import check_flows, check_paths, sound_index

    settings = settings_or_exit()
    problems = check_paths([file], sound_index(settings)) if file else check_flows(settings)
    if problems:
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        raise typer.Exit(2)
    typer.echo(f"IVR flows OK ({file or 'config/ivr'})")
