"""The ``cti`` command line, assembled from each package's own commands: ``cti pbx`` (the bridge),
``cti ivr``, ``cti db``, ``cti users``, ``cti staffing``, ``cti console-demo``, plus what only the
composition root can do: ``cti config`` (every package's files and the database checked together)
and ``cti run`` (the whole engine)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import typer

from acd import cli as acd_cli
from agent_console import cli as console_cli
from callcenter.config_check import check_all, check_database
from crm_core import cli as crm_cli
from crm_core import users_cli
from cti.cli import agents_app, fail, pbx_app, settings_or_exit
from cti.credentials import describe, secret_problems
from cti.errors import ConfigError, CtiError
from cti.settings import DEFAULT_CONFIG_DIR, Settings, load_settings
from ivr import cli as ivr_cli

# `cti run`'s probe of the database before anything starts: longer than `cti config check`'s 3 s (a
# server that answers does so in milliseconds; a slow link must not stop a start that would work),
# far shorter than asyncpg's 60 s of waiting on a host that never answers.
RUN_DATABASE_TIMEOUT_S = 10.0

app = typer.Typer(help="CTI engine: Asterisk bridge, IVR, ACD, agent console and CRM.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(pbx_app, name="pbx")
app.add_typer(agents_app, name="agents")
app.add_typer(ivr_cli.app, name="ivr")
app.add_typer(crm_cli.app, name="db")
app.add_typer(users_cli.app, name="users")
console_cli.register(app)
acd_cli.register(app)


@config_app.command("check")
def config_check(
    database: bool = typer.Option(True, "--database/--no-database",
                                  help="Also connect to the database and compare its schema with this release's, "
                                       "and with bus: redis ask Redis which node routes (--no-database: the "
                                       "files only, e.g. on another machine)."),
) -> None:
    """Validate engine settings and every shipped configuration file, whether the database answers
    and where its schema stands, and with ``bus: redis`` whether Redis answers; print every problem found."""
    problems: list[str] = []
    try:
        settings = load_settings()
    except ConfigError as err:
        # The other files are still checked, with the defaults in place of the broken settings,
        # so one run names every problem.
        problems.append(err.message)
        settings = Settings.model_construct(config_dir=Path(os.environ.get("CTI_CONFIG_DIR", DEFAULT_CONFIG_DIR)))
    else:
        problems += secret_problems(settings)  # what `cti run` would refuse to start with
        from callcenter.run import proxy_warnings

        # Settings that work but defeat their purpose (a trusted proxy never believed): said, not refused.
        for warning in proxy_warnings(settings.web) + settings.checkout_data_warnings():
            typer.echo(f"warning: {warning}", err=True)
        if database:  # only with settings that loaded: the URL is theirs
            severity, line = check_database(settings)
            if severity == "error":
                problems.append(line)
            elif severity == "warning":
                typer.echo(f"warning: {line}", err=True)
            else:
                typer.echo(line)
            if settings.bus == "redis" and settings.redis_url:  # what `cti run` asks first, said here too
                try:
                    typer.echo(redis_line(settings))
                except ConfigError as err:
                    problems.append(f"redis: {err.message}")
    problems += check_all(settings)
    if problems:
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        typer.echo(f"{len(problems)} problem(s)", err=True)
        raise typer.Exit(2)
    typer.echo("configuration OK")


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (secrets masked)."""
    import yaml

    typer.echo(yaml.safe_dump(describe(settings_or_exit()), sort_keys=False, allow_unicode=True))



def _routing_holder(settings: Settings) -> str | None:
    """The node that holds the routing lease on ``settings.redis_url`` now; a Redis that does not
    answer is a ConfigError naming the setting (never its password)."""
    import asyncio

    from cti.logs import mask_url_password
    from cti.redis_lease import routing_holder

    url = settings.redis_url or ""
    try:
        return asyncio.run(routing_holder(url))
    except CtiError as err:
        where = mask_url_password(url)
        raise ConfigError(f"redis_url (CTI_REDIS_URL) {where}: {err.message.rstrip('.')}; check the address and "
                          "password and that the Redis server runs") from None


def routing_elsewhere(settings: Settings) -> str | None:
    """The node that routes on this Redis when it is another one (bus: redis), else None. A Redis
    that does not answer is a ConfigError naming the setting, before anything starts."""
    if settings.bus != "redis" or not settings.redis_url:
        return None
    holder = _routing_holder(settings)
    return holder if holder not in (None, settings.node_id) else None


def redis_line(settings: Settings) -> str:
    """`cti config check`'s line for the Redis of ``bus: redis``: it answers, and which node routes."""
    from cti.logs import mask_url_password

    holder = _routing_holder(settings)
    where = f"redis: {mask_url_password(settings.redis_url or '')} answers"
    if holder is None:
        return f"{where}; no node routes calls on it now (this node, {settings.node_id!r}, would route)"
    if holder == settings.node_id:
        return f"{where}; this node, {holder!r}, routes calls on it"
    return f"{where}; node {holder!r} routes calls on it (this node, {settings.node_id!r}, would wait as its standby)"


def _line_buffered_stdout() -> None:
    """Without a terminal (a service manager's journal, ``cti run > log``) Python buffers stdout in
    blocks: every status line of ``cti run`` is printed with ``flush=True``, and line buffering makes
    any other line (a library's print) arrive when it is written too, not a few kB later."""
    if isinstance(sys.stdout, io.TextIOWrapper) and not sys.stdout.line_buffering:
        sys.stdout.reconfigure(line_buffering=True)


@app.command("run")
def run_command(
    demo: bool = typer.Option(False, help="The demo (development only; `make run` asks for it): demo company and "
                                          "users with PUBLISHED passwords, callers, bots."),
    rate: float = typer.Option(6.0, "--rate", help="Demo callers per minute."),
    bots: int = typer.Option(6, "--bots", help="How many demo agents are bots (1001...)."),
    duration: float | None = typer.Option(None, help="Stop after this many seconds (default: until Ctrl-C)."),
    keep_pbx: bool = typer.Option(False, "--keep-pbx", help="Leave the managed Asterisk running when this stops."),
) -> None:
    """Start the PBX (if managed), the database (with the demo company and its published logins only
    with the demo), the engine and the console; Ctrl-C stops them all (the managed Asterisk too,
    unless --keep-pbx)."""

    from callcenter.run import run
    from cti.credentials import check_secrets, with_installation_secrets

    _line_buffered_stdout()
    from cti.listen import check_free
    from cti.loop import run as run_loop
    from cti.pbx import ManagedPbx

    try:
        # Unset secrets are generated (state_dir) and unsafe ones refused before anything starts;
        # in dev_mode the engine itself warns (once) and goes on.
        settings = with_installation_secrets(settings_or_exit())
        if not settings.dev_mode:
            check_secrets(settings)
    except CtiError as err:
        raise fail(err) from None
    # The configuration files before anything starts: a typo in queues.yaml was found only after
    # Asterisk had started and the database was migrated (what `cti config check` prints).
    if problems := check_all(settings):
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        typer.echo(f"{len(problems)} problem(s) in the configuration: nothing was started", err=True)
        raise typer.Exit(2)
    # A node of several (bus: redis) that another node routes for waits as a standby: the routing
    # node's Asterisk is not rewritten (this node's AMI secret, SIP passwords and FastAGI address
    # would cut the routing node off), and the FastAGI port is the routing node's until the takeover.
    try:
        routing = routing_elsewhere(settings)
    except CtiError as err:
        raise fail(err) from None
    if routing is not None:
        typer.echo(f"node {routing} routes calls on this Redis: this node leaves its Asterisk alone (no `cti pbx "
                   f"up`) and takes agi.port {settings.agi.port} over with the routing")
    # Its ports before the PBX: a second engine started by mistake reconfigured the first one's
    # running Asterisk, failed on the taken port and then stopped that Asterisk on its way out.
    try:
        check_free([(settings.web.host, settings.web.port, "web.port (CTI_WEB__PORT)")]
                   + ([(settings.agi.host, settings.agi.port, "agi.port (CTI_AGI__PORT)")] if routing is None else [])
                   + ([(settings.metrics.host, settings.metrics.port, "metrics.port (CTI_METRICS__PORT)")]
                      if settings.metrics.port is not None else []))
    except CtiError as err:
        raise fail(err) from None
    # The database before the PBX: a wrong database_url (or a server that does not answer) started
    # the managed Asterisk, and the operator waited for it to be stopped again before the error.
    severity, line = check_database(settings, timeout_s=RUN_DATABASE_TIMEOUT_S)
    if severity == "error":
        typer.echo(f"error: {line}", err=True)
        raise typer.Exit(1)
    pbx = ManagedPbx(settings) if settings.pbx.mode == "managed" and routing is None else None
    try:
        if pbx is not None:
            pbx.up()
        run_loop(run(settings, demo=demo, callers_per_minute=rate, bot_agents=bots, duration_s=duration))
    except CtiError as err:
        raise fail(err) from None
    finally:
        if pbx is not None and not keep_pbx and pbx.down():
            typer.echo(f"pbx: Asterisk instance '{settings.pbx.instance}' stopped")
