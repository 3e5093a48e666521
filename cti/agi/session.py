"""The session interface the IVR drives, whatever carries the AGI protocol underneath.

Adapters: ``cti.agi.fastagi`` (panoramisk FastAGI server) and ``cti.agi.classic`` (pyst2, process
AGI). Both check every argument for CR/LF and quotes before it reaches Asterisk
(``cti.safety.check_agi_argument``) and raise ``AgiHangup`` when the channel is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AgiReply:
    """A parsed AGI reply line: ``200 result=<result> (<data>)``."""

    code: int
    result: str
    data: str = ""


@dataclass(frozen=True, slots=True)
class Digits:
    """What the caller keyed: ``digits`` may be empty; ``timed_out`` when input stopped by timeout."""

    digits: str
    timed_out: bool


class AgiSession(Protocol):
    """One call's AGI conversation. ``env`` holds the agi_* variables Asterisk sent at start
    (without the ``agi_`` prefix: channel, uniqueid, callerid, calleridname, dnid, extension,
    context, network_script, arg_1...)."""

    @property
    def env(self) -> Mapping[str, str]: ...

    async def command(self, *words: str) -> AgiReply: ...

    async def answer(self) -> None: ...

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        """Play ``sound``; return the digit that interrupted it, or ''."""
        ...

    async def get_data(self, sound: str, timeout_ms: int, max_digits: int) -> Digits: ...

    async def wait_for_digit(self, timeout_ms: int) -> str: ...

    async def say_digits(self, digits: str, escape_digits: str = "") -> str: ...

    async def say_number(self, number: int, escape_digits: str = "") -> str: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def set_variables(self, values: Mapping[str, str], *, last: bool = False) -> None:
        """Set several channel variables, in one round trip where the values allow it. ``last``:
        these are the session's final commands (the IVR's hand-off): the adapter may send the last
        one without waiting for its reply and end the conversation (FastAGI does); any command after
        it fails."""
        ...

    async def get_variable(self, name: str) -> str | None: ...

    async def exec(self, application: str, *args: str) -> AgiReply: ...

    def exec_last_now(self, application: str, *args: str) -> bool:
        """Run ``application`` as the session's last command, written at once without waiting for
        Asterisk (FastAGI: the connection closes behind it; Asterisk runs it, then reads the end of
        the connection). False when the session cannot: over, hung up, or an adapter that cannot
        (classic AGI)."""
        ...

    async def hangup(self) -> None: ...
