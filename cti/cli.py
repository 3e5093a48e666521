"""The ``cti`` command line. Each package owns its own sub-commands; this module assembles them."""

from __future__ import annotations

import sys

import typer

from cti.errors import CtiError
from cti.settings import Settings, describe, load_settings

app = typer.Typer(help="CTI engine: Asterisk bridge, IVR, ACD, agent console and CRM.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)
pbx_app = typer.Typer(help="Provision and run the real Asterisk 22 used by the engine.",
                      no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(pbx_app, name="pbx")


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except CtiError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(2) from None


def fail(err: CtiError) -> typer.Exit:
    typer.echo(f"error: {err.message}", err=True)
    return typer.Exit(1)


@config_app.command("check")
def config_check() -> None:
    """Validate engine settings and every shipped configuration file; print what is wrong."""
    from cti.config_check import check_all

    settings = settings_or_exit()
    problems = check_all(settings)
    if problems:
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        raise typer.Exit(2)
    typer.echo("configuration OK")


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (secrets masked)."""
    import yaml

    typer.echo(yaml.safe_dump(describe(settings_or_exit()), sort_keys=False, allow_unicode=True))


@pbx_app.command("up")
def pbx_up() -> None:
    """Build the Asterisk root file system if needed, write its config and start it."""
    from cti.pbx import ManagedPbx

    try:
        st = ManagedPbx(settings_or_exit()).up()
    except CtiError as err:
        raise fail(err) from None
    typer.echo(f"pbx: running (pid {st.pid}), AMI ready: {st.ami_ready}")


@pbx_app.command("down")
def pbx_down() -> None:
    """Stop the managed Asterisk."""
    from cti.pbx import ManagedPbx

    stopped = ManagedPbx(settings_or_exit()).down()
    typer.echo("pbx: stopped" if stopped else "pbx: was not running")


@pbx_app.command("status")
def pbx_status() -> None:
    """Say whether Asterisk runs and AMI answers; exit 1 if not."""
    from cti.pbx import ManagedPbx

    st = ManagedPbx(settings_or_exit()).status()
    typer.echo(f"pbx: {'running' if st.running else 'stopped'} pid={st.pid} "
               f"ami_ready={st.ami_ready} ({st.detail})")
    if not st.ami_ready:
        raise typer.Exit(1)


@pbx_app.command("logs")
def pbx_logs(lines: int = typer.Option(100, "--lines", "-n", help="How many lines.")) -> None:
    """Print the end of Asterisk's log."""
    from cti.pbx import ManagedPbx

    typer.echo(ManagedPbx(settings_or_exit()).logs(lines))


@pbx_app.command("cli")
def pbx_cli(command: str = typer.Argument(..., help='An Asterisk CLI command, e.g. "core show channels".')) -> None:
    """Run one Asterisk CLI command and print its output."""
    from cti.pbx import ManagedPbx

    try:
        typer.echo(ManagedPbx(settings_or_exit()).cli(command), nl=False)
    except CtiError as err:
        raise fail(err) from None


@app.command("run")
def run_command(
    demo: bool = typer.Option(True, help="Demo callers and bot agents."),
    rate: float = typer.Option(6.0, "--rate", help="Demo callers per minute."),
    bots: int = typer.Option(6, "--bots", help="How many demo agents are bots (1001...)."),
    duration: float | None = typer.Option(None, help="Stop after this many seconds (default: until Ctrl-C)."),
    keep_pbx: bool = typer.Option(False, "--keep-pbx", help="Leave the managed Asterisk running when this stops."),
) -> None:
    """Start the PBX (if managed), the database with the demo company, the engine and the console;
    Ctrl-C stops them all (the managed Asterisk too, unless --keep-pbx)."""
    import asyncio

    from cti.pbx import ManagedPbx
    from cti.run import run

    settings = settings_or_exit()
    pbx = ManagedPbx(settings) if settings.pbx.mode == "managed" else None
    try:
        if pbx is not None:
            pbx.up()
        asyncio.run(run(settings, demo=demo, callers_per_minute=rate, bot_agents=bots, duration_s=duration))
    except CtiError as err:
        raise fail(err) from None
    finally:
        if pbx is not None and not keep_pbx and pbx.down():
            typer.echo(f"pbx: Asterisk instance '{settings.pbx.instance}' stopped")


def _register_package_commands() -> None:
    """Sub-commands owned by the other packages (each defines ``app`` in its ``cli`` module)."""
    import importlib

    for module, name in (("ivr.cli", "ivr"), ("crm_core.cli", "db"), ("agent_console.cli", None),
                         ("acd.cli", None)):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name == module:
                continue
            raise
        if name is None:
            mod.register(app)
        else:
            app.add_typer(mod.app, name=name)


_register_package_commands()


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
