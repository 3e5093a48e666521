"""``cti ivr``: check flow files."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="IVR flows: validate them, make their prompts.", no_args_is_help=True)


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


@app.command("prompts")
def prompts(
    texts: Path | None = typer.Option(None, help="name<TAB>language<TAB>text file; default config/ivr/prompts.tsv."),
    sounds: Path | None = typer.Option(None, help="Asterisk sounds directory; default the managed Asterisk's."),
) -> None:
    """Speak the project's prompts (espeak-ng), convert them for Asterisk (sox) and install them."""
    from cti.cli import settings_or_exit
    from cti.errors import CtiError
    from ivr.config import sound_index
    from ivr.prompts import make_prompts, read_texts
    from ivr.sounds import SoundIndex

    settings = settings_or_exit()
    index = SoundIndex(sounds) if sounds else sound_index(settings)
    if index is None:
        typer.echo("error: no Asterisk sounds directory found (run `cti pbx up` first or pass --sounds)", err=True)
        raise typer.Exit(2)
    try:
        written = make_prompts(read_texts(texts or settings.config_dir / "ivr" / "prompts.tsv"), index)
    except CtiError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{len(written)} prompts written under {index.root}")
