"""Classic (process) AGI: Asterisk starts a program per call and talks over its stdin/stdout.
The only module that imports pyst2 (``asterisk.agi``).

pyst2 reads the agi_* environment block and handles Asterisk's SIGHUP on hangup; its reply
parsing loses GET DATA's "(timeout)" and cannot read the ``HANGUP`` line, so replies go through
the shared parser in ``cti.agi.protocol`` (the same one FastAGI uses). pyst2 is blocking: each
write and read runs in a worker thread so the event loop stays free.

Run a handler for one call: ``python -m cti.agi.classic package.module:handler`` in the dialplan
(``AGI(/path/to/script)``). stdout IS the AGI channel: logs go to stderr, never print().
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import IO, Any

from asterisk.agi import AGI, AGISIGHUPHangup

from cti.agi.protocol import AgiConversation, Outcome, parse_env, run_route
from cti.agi.session import AgiSession
from cti.errors import AgiHangup

log = logging.getLogger(__name__)

Route = Callable[[AgiSession], Awaitable[None]]


class _DebugLog(io.TextIOBase):
    """pyst2 narrates every command and reply on ``stderr``. Replies carry what the caller keyed
    (GET DATA returns a PIN as ``result=1234``), so that narration is dropped, never logged; our own
    protocol layer logs commands with sensitive input masked."""

    def write(self, text: str) -> int:
        return len(text)


class ClassicAgiSession(AgiConversation):
    """One call's classic-AGI conversation over pyst2's stdin/stdout."""

    def __init__(self, agi: AGI, previous_sighup: Any = None) -> None:
        super().__init__(parse_env([f"{k}: {v}" for k, v in agi.env.items()]))
        self._agi = agi
        self._previous_sighup = previous_sighup

    @classmethod
    def open(cls, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> ClassicAgiSession:
        """Read the agi_* block (Asterisk writes it at once) and take over SIGHUP.

        Must run in the main thread: pyst2 installs its SIGHUP handler there.
        """
        previous = signal.getsignal(signal.SIGHUP)
        agi = AGI(stdin=stdin, stdout=stdout, stderr=_DebugLog())
        return cls(agi, previous)

    def close(self) -> None:
        """Give SIGHUP back to whoever had it before pyst2 (matters when not a one-call process)."""
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None

    async def _write(self, line: bytes) -> None:
        await asyncio.to_thread(self._send, line.decode().rstrip("\n"))

    def _send(self, command: str) -> None:
        try:
            # Asterisk signals a hangup to a process AGI with SIGHUP (no HANGUP line).
            self._agi.test_hangup()
        except AGISIGHUPHangup as err:
            raise AgiHangup(f"SIGHUP from Asterisk ({self.describe()})") from err
        self._agi.send_command(command)

    async def _readline(self) -> str | None:
        raw: str | bytes = await asyncio.to_thread(self._agi.stdin.readline)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not text.endswith("\n"):
            return None  # EOF: Asterisk (or the relay) closed our stdin
        return text.rstrip("\r\n")


async def run_classic(route: Route, session: ClassicAgiSession, name: str) -> Outcome:
    """Run ``route`` on one classic-AGI call; hangups end it cleanly, errors are logged."""
    try:
        return await run_route(route, session, name)
    finally:
        session.close()


def load_route(spec: str) -> Route:
    """``package.module:function`` to the handler it names."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"route must look like package.module:function, not {spec!r}")
    handler = getattr(importlib.import_module(module_name), attr, None)
    if not callable(handler):
        raise SystemExit(f"{spec}: no callable {attr!r} in {module_name}")
    return handler  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    """Console entry: run one route handler for the call on stdin/stdout; exit 0 unless it failed."""
    parser = argparse.ArgumentParser(prog="cti-agi", description=__doc__.splitlines()[0])
    parser.add_argument("route", help="handler as package.module:function")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level,
                        format="cti-agi %(levelname)s %(name)s: %(message)s")
    route = load_route(args.route)
    session = ClassicAgiSession.open(sys.stdin, sys.stdout)
    outcome = asyncio.run(run_classic(route, session, args.route))
    return 1 if outcome == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
