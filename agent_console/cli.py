"""``cti console-demo``: the agent console on in-memory fakes, with a button that offers a call."""

from __future__ import annotations

import typer

from agent_console.demo import DEMO_AGENTS, DEMO_PASSWORD
from agent_console.hub import PER_MESSAGE_DEFLATE


def register(app: typer.Typer) -> None:
    @app.command("console-demo")
    def console_demo(host: str = typer.Option(None, help="Bind address (default: settings.web.host)."),
                     port: int = typer.Option(None, help="Port (default: settings.web.port)."),
                     answer_after: float = typer.Option(1.5, help="The simulated phone answers after this many s.")
                     ) -> None:
        """Serve the agent console on in-memory fakes (log in as alice or bob, password demo-pass-1).
        Agents only: the supervisor pages need the engine (`cti run`)."""
        import uvicorn

        from agent_console.demo import build_demo
        from cti.cli import settings_or_exit
        from cti.credentials import with_installation_secrets
        from cti.loop import run as run_loop

        # No session secret configured: the installation's generated one, never an empty key.
        settings = with_installation_secrets(settings_or_exit())
        h, p = host or settings.web.host, port or settings.web.port
        # No supervisor: the fakes serve no supervisor pages (/wallboard ...), where one's login lands.
        demo = build_demo(settings, answer_after_s=answer_after, supervisor=False)
        users = ", ".join(u for u, _, _ in DEMO_AGENTS)
        typer.echo(f"console demo on http://{h}:{p}/  users: {users} (agents); password {DEMO_PASSWORD}; "
                   "the supervisor pages need the engine: cti run")

        # uvicorn handles SIGINT/SIGTERM itself and returns from serve(): a clean stop.
        config = uvicorn.Config(demo.app, host=h, port=p, ws="websockets-sansio", ws_max_size=1024 * 1024,
                                ws_per_message_deflate=PER_MESSAGE_DEFLATE, lifespan="on", log_level="info",
                                proxy_headers=False)
        run_loop(uvicorn.Server(config).serve())
