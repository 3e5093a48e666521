"""The bridge's own commands (``cti pbx ...``) and the helpers every package's CLI shares
(``settings_or_exit``, ``fail``). The ``cti`` command itself is assembled in ``callcenter.cli``."""

from __future__ import annotations

from pathlib import Path

import typer

from cti.endpoints import FIRST_EXTENSION, has_endpoint, last_extension
from cti.errors import CtiError
from cti.settings import Settings, load_settings

pbx_app = typer.Typer(help="Provision and run the real Asterisk 22 used by the engine.",
                      no_args_is_help=True)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except CtiError as err:
        typer.echo(f"error: {err.message}", err=True)
        raise typer.Exit(2) from None


def fail(err: CtiError) -> typer.Exit:
    typer.echo(f"error: {err.message}", err=True)
    return typer.Exit(1)


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
    """Say whether Asterisk runs, AMI answers and the dialplan has every context of
    config/asterisk/extensions.conf; exit 1 if not."""
    from cti.pbx import ManagedPbx

    pbx = ManagedPbx(settings_or_exit())
    settings = pbx.settings  # with the AMI secret generated for a managed Asterisk (var/ami-secret)
    try:
        st = pbx.status()
    except CtiError as err:  # AMI refused the login: another manager secret than Asterisk's
        raise fail(err) from None
    typer.echo(f"pbx: {'running' if st.running else 'stopped'} pid={st.pid} "
               f"ami_ready={st.ami_ready} ({st.detail})")
    if not st.ami_ready:
        raise typer.Exit(1)
    missing = dialplan_status(settings)
    if missing:
        raise typer.Exit(1)


def dialplan_status(settings: Settings) -> list[str]:
    """Print whether Asterisk has every context of config/asterisk/extensions.conf (with the trunks'
    contexts of config/trunks.yaml); the missing ones."""
    import asyncio

    from cti.ami.dialplan import missing_at
    from cti.pbx_config import dialplan_contexts

    try:
        expected = dialplan_contexts(settings)
    except OSError as err:  # no extensions.conf beside the configuration: nothing to compare with
        typer.echo(f"dialplan: not checked ({err})")
        return []
    except CtiError as err:  # a trunks.yaml that does not validate
        raise fail(err) from None
    try:
        missing = asyncio.run(missing_at(settings, expected))
    except CtiError as err:
        raise fail(err) from None
    if missing:
        typer.echo(f"dialplan: Asterisk lacks {len(missing)} of the {len(expected)} contexts of "
                   f"config/asterisk/extensions.conf: {', '.join(missing)} "
                   "(render it: cti pbx render DIR, then dialplan reload)")
    else:
        typer.echo(f"dialplan: all {len(expected)} contexts of config/asterisk/extensions.conf loaded")
    return missing


@pbx_app.command("render")
def pbx_render(directory: Path = typer.Argument(..., help="Where to write the rendered .conf files.")) -> None:
    """Write the Asterisk configuration the engine expects, rendered for these settings (trunks,
    AMI user, endpoints), into DIRECTORY: for an Asterisk of your own (pbx.mode system)."""
    from cti.pbx import render_config

    try:
        written = render_config(settings_or_exit(), directory)
    except CtiError as err:
        raise fail(err) from None
    typer.echo(f"pbx: wrote {len(written)} files into {directory} (they hold secrets: mode 0600)")
    typer.echo("pbx: an Asterisk of your own needs at least extensions.conf loaded (dialplan reload) and the "
               "engine's user of manager.conf; docs/deployment.md lists the rest")


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


agents_app = typer.Typer(help="Agents' SIP desk phone accounts.", no_args_is_help=True)


@agents_app.command("sip-credentials")
def sip_credentials(
    agent: str = typer.Argument(..., help="The agent's extension (1001...)."),
    rotate: bool = typer.Option(False, "--rotate", help="Issue a new password (apply it with `cti pbx up`)."),
) -> None:
    """Show an agent's SIP username and password, once (or a new one with --rotate)."""
    from cti.sip_credentials import reveal

    settings = settings_or_exit()
    if not has_endpoint(agent, settings.pbx.agent_endpoints):
        typer.echo(f"error: agent: {agent!r} is not one of the extensions "
                   f"{FIRST_EXTENSION}..{last_extension(settings.pbx.agent_endpoints)} "
                   "(pbx.agent_endpoints)", err=True)
        raise typer.Exit(2)
    try:
        creds = reveal(settings.state_dir, agent, rotate=rotate)
    except CtiError as err:
        raise fail(err) from None
    typer.echo(f"username: {creds.username}\npassword: {creds.password}")
    typer.echo("shown once: store it in the phone now" + (" and run `cti pbx up` to apply it" if rotate else ""),
               err=True)
