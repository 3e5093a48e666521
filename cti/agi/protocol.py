"""The AGI wire protocol shared by both adapters: command lines out, reply lines in, and every
``AgiSession`` method built on one round trip, so FastAGI and classic AGI behave identically.

Errors (besides ``cti.errors.AgiHangup`` and ``UnsafeValue``)::

    CtiError
    ├── AgiCommandError   Asterisk refused a command (510/520) or it failed on a live channel
    └── AgiHangup (cti.errors)
        └── AgiTimeout    the peer sent no complete reply line (or read nothing) in time: the
                          connection is given up like a hangup

A transport only supplies ``_write(line)`` and ``_readline()``; everything else lives here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Literal

from cti.agi.session import AgiReply, AgiSession, Digits
from cti.errors import AgiHangup, CtiError, UnsafeValue
from cti.safety import MAX_VALUE_LENGTH, check_agi_argument, check_header_name, check_variable_name

log = logging.getLogger(__name__)

_VERB = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")  # fullmatch: "$" would let a trailing "\n" through
_PLAIN_WORD = re.compile(rf'[^\x00-\x20\x7f"\\]{{1,{MAX_VALUE_LENGTH}}}')
_APPLICATION = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REPLY = re.compile(r"^(\d{3})(?:[ -](.*))?$")
# "result=" may be empty ("200 result= (timeout)" from GET DATA with no digits); the data in
# parentheses may itself hold parentheses (a variable's value), so it runs to the last ')'.
_RESULT = re.compile(r"result=(\S*)(?:\s+\((.*)\))?")


class AgiCommandError(CtiError):
    code = "agi_command_failed"
    http_status = 502


class AgiTimeout(AgiHangup):
    code = "agi_timeout"
    http_status = 504


def quote_word(field: str, word: object) -> str:
    """One argument, checked; quoted when empty or holding blanks; backslashes doubled because
    Asterisk's parse_args treats ``\\`` as an escape even inside quotes."""
    text = check_agi_argument(field, word).replace("\\", "\\\\")
    if text == "" or " " in text:
        return f'"{text}"'
    return text


def build_command(words: tuple[object, ...]) -> bytes:
    """``words[0]`` is the command name (``"STREAM FILE"``), the rest its arguments."""
    if not words:
        raise UnsafeValue("command", "is empty")
    verb = words[0]
    if not (type(verb) is str and _VERB.fullmatch(verb)):
        verb = check_agi_argument("command", verb)  # names the bad character, if that is the fault
        raise UnsafeValue("command", f"{verb!r} is not an AGI command name")
    parts = [verb]
    for n, word in enumerate(words[1:], 1):
        # Most words are plain (no blank, quote, backslash or control character, not empty, short):
        # they go as they are; any other goes through the full check, which names the field.
        if type(word) is str and _PLAIN_WORD.fullmatch(word):
            parts.append(word)
        else:
            parts.append(quote_word(f"{verb.lower()} argument {n}", word))
    return (" ".join(parts) + "\n").encode()


def parse_reply(line: str) -> AgiReply:
    """Parse one final reply line (not 100, not the 520 usage block)."""
    if line == "HANGUP":
        raise AgiHangup("the channel hung up (HANGUP from Asterisk)")
    m = _REPLY.match(line)
    if m is None:
        raise AgiCommandError(f"unreadable AGI reply {line!r}")
    code, rest = int(m.group(1)), m.group(2) or ""
    if code == 200:
        r = _RESULT.search(rest)
        if r is None:
            raise AgiCommandError(f"AGI reply without result: {line!r}")
        return AgiReply(200, r.group(1), r.group(2) or "")
    if code == 511:
        # "511 Command Not Permitted on a dead channel or intercept routine"
        raise AgiHangup(f"the channel is gone: {rest}")
    raise AgiCommandError(f"Asterisk answered {line!r}")


def parse_env(lines: list[str]) -> dict[str, str]:
    """``agi_channel: PJSIP/1001-0001`` lines to ``{"channel": "PJSIP/1001-0001"}``."""
    env: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.startswith("agi_"):
            env[key[4:]] = value.strip()
    return env


class AgiConversation:
    """All AgiSession methods over an abstract line transport."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = MappingProxyType(dict(env))
        self._dead = False
        self._ended = False  # the last command was sent without waiting for its reply
        self.commands = 0
        # Seconds the command in flight may legitimately keep the reply back on top of the
        # transport's read timeout (GET DATA / WAIT FOR DIGIT wait for the caller's keys).
        self._command_wait_s = 0.0

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    @property
    def hung_up(self) -> bool:
        return self._dead

    def describe(self) -> str:
        return f"channel {self._env.get('channel', '?')} uniqueid {self._env.get('uniqueid', '?')}"

    # -- transport ------------------------------------------------------------------------------
    async def _write(self, line: bytes) -> None:
        raise NotImplementedError

    async def _readline(self) -> str | None:
        """One line without its newline; None at end of stream. A transport with a read timeout
        adds ``self._command_wait_s`` to it and raises AgiTimeout when it passes."""
        raise NotImplementedError

    # -- protocol -------------------------------------------------------------------------------
    async def command(self, *words: str) -> AgiReply:
        return await self._command(words)

    async def _command(self, words: tuple[str, ...], wait_s: float = 0.0) -> AgiReply:
        line = build_command(words)  # refuses unsafe words before anything is written
        reply = await self._roundtrip(line, wait_s)
        if reply.result == "-1":
            await self._confirm_hangup(str(words[0]))
        return reply

    async def _roundtrip(self, line: bytes, wait_s: float = 0.0) -> AgiReply:
        if self._dead:
            raise AgiHangup(f"the channel already hung up ({self.describe()})")
        if self._ended:
            raise AgiCommandError(f"the AGI conversation has ended ({self.describe()})")
        self.commands += 1
        self._command_wait_s = wait_s
        try:
            await self._write(line)
            while True:
                raw = await self._readline()
                if raw is None:
                    raise AgiHangup(f"AGI connection closed ({self.describe()})")
                if raw.startswith("100"):  # "100 result=0 Trying..." precedes the real reply
                    continue
                if raw.startswith("520-"):
                    await self._usage_error(raw)
                return parse_reply(raw)
        except AgiHangup:
            self._dead = True
            raise
        except (ConnectionError, BrokenPipeError) as err:
            self._dead = True
            raise AgiHangup(f"AGI connection lost ({self.describe()}): {err}") from err

    async def _usage_error(self, first: str) -> None:
        usage = [first[4:]]
        while True:
            raw = await self._readline()
            if raw is None:
                raise AgiHangup(f"AGI connection closed ({self.describe()})")
            if raw.startswith("520 "):
                raise AgiCommandError("invalid command syntax: " + " ".join(usage))
            usage.append(raw.strip())

    async def _confirm_hangup(self, verb: str) -> None:
        """``result=-1`` means hangup, but STREAM FILE also answers -1 for a missing file on a
        live channel: CHANNEL STATUS tells them apart (refused with 511 or preceded by the
        HANGUP line on a dead channel), so a missing prompt is not counted as an abandon."""
        await self._roundtrip(b"CHANNEL STATUS\n")
        raise AgiCommandError(f"{verb} failed (result=-1) on a live channel ({self.describe()})")

    # -- AgiSession -----------------------------------------------------------------------------
    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        return _digit(await self.command("STREAM FILE", sound, escape_digits))

    async def get_data(self, sound: str, timeout_ms: int, max_digits: int) -> Digits:
        # Asterisk's timeout runs again for each digit (after the prompt, which the transport's
        # read timeout covers).
        wait_s = max(int(timeout_ms), 0) / 1000 * max(int(max_digits), 1)
        reply = await self._command(("GET DATA", sound, str(int(timeout_ms)), str(int(max_digits))), wait_s)
        return Digits(reply.result, reply.data == "timeout")

    async def wait_for_digit(self, timeout_ms: int) -> str:
        wait_s = max(int(timeout_ms), 0) / 1000  # -1 waits forever: the read timeout still applies
        return _digit(await self._command(("WAIT FOR DIGIT", str(int(timeout_ms))), wait_s))

    async def say_digits(self, digits: str, escape_digits: str = "") -> str:
        return _digit(await self.command("SAY DIGITS", digits, escape_digits))

    async def say_number(self, number: int, escape_digits: str = "") -> str:
        return _digit(await self.command("SAY NUMBER", str(int(number)), escape_digits))

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", check_header_name(name), value)

    async def set_variables(self, values: Mapping[str, str], *, last: bool = False) -> None:
        # One round trip (MSet) instead of one per variable: the IVR's hand-off to the queue waits
        # on it. MSet splits its argument on ',' with Asterisk's app-argument parser, which also keeps
        # a ',' inside parentheses (an unbalanced '(' would swallow the next pair) and strips
        # backslashes: a value holding any of these is set on its own, as it is.
        # A name may be one of the dialplan functions of cti.safety.VARIABLE_FUNCTIONS: MSet writes
        # through the function as SET VARIABLE does (pbx_builtin_setvar_helper takes a name ending
        # in ')' for one).
        checked = {check_variable_name(k): v for k, v in values.items()}
        batch = {k: v for k, v in checked.items() if not _MSET_UNSAFE.search(v)}
        if len(batch) <= 1:
            batch = {}
        commands: list[tuple[str, ...]] = []
        if batch:
            commands.append(_exec_words("MSet", *(f"{k}={v}" for k, v in batch.items())))
        commands += [("SET VARIABLE", name, value) for name, value in checked.items() if name not in batch]
        for n, words in enumerate(commands, 1):
            if last and n == len(commands):
                await self._last_command(words)
            else:
                await self._command(words)

    async def _last_command(self, words: tuple[str, ...]) -> None:
        """The session's final command. A transport that can end the conversation with it
        (``_write_last``: FastAGI) sends it without waiting for Asterisk's reply: Asterisk carries
        it out, then reads the end of the connection and goes on in the dialplan. Otherwise (classic
        AGI, or input already waiting, such as Asterisk's HANGUP line) it is an ordinary round trip,
        so a hang-up that came first is still reported."""
        line = build_command(words)  # refuses unsafe words before anything is written
        if self._dead:
            raise AgiHangup(f"the channel already hung up ({self.describe()})")
        if self._ended:
            raise AgiCommandError(f"the AGI conversation has ended ({self.describe()})")
        if await self._write_last(line):
            self.commands += 1
            self._ended = True
            return
        reply = await self._roundtrip(line)
        if reply.result == "-1":
            await self._confirm_hangup(str(words[0]))

    async def _write_last(self, line: bytes) -> bool:
        """Write ``line`` as the last command and end the conversation (True), or decline (False:
        the caller makes it a round trip). The default declines."""
        return False

    def exec_last_now(self, application: str, *args: str) -> bool:
        """Run ``application`` as the conversation's last command, written now, from the caller's
        own step (no await, no reply read): the ACD's ring from a caller's held session. False when
        it cannot be (the conversation is over, the peer has spoken, or the transport cannot end
        the conversation this way: classic AGI). Unsafe words raise ``UnsafeValue`` first."""
        line = build_command(_exec_words(application, *args))
        if self._dead or self._ended or not self._write_last_now(line):
            return False
        self.commands += 1
        self._ended = True
        return True

    def _write_last_now(self, line: bytes) -> bool:
        """``_write_last`` without a suspension point. The default declines."""
        return False

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command("GET VARIABLE", check_header_name(name))
        return reply.data if reply.result == "1" else None

    async def exec(self, application: str, *args: str) -> AgiReply:
        return await self.command(*_exec_words(application, *args))

    async def hangup(self) -> None:
        try:
            await self.command("HANGUP")
        finally:
            self._dead = True


_MSET_UNSAFE = re.compile(r"[,()\\]")  # see set_variables
def _exec_words(application: str, *args: str) -> tuple[str, ...]:
    """The words of ``EXEC application args``, checked."""
    if not _APPLICATION.match(application):
        raise UnsafeValue("application", f"{application!r} is not an application name")
    for n, arg in enumerate(args, 1):
        # EXEC passes one option string that the application splits on ','; a comma inside
        # one argument would smuggle in extra application arguments.
        if "," in check_agi_argument(f"{application} argument {n}", arg):
            raise UnsafeValue(f"{application} argument {n}", "contains ',' (application argument separator)")
    return ("EXEC", application, ",".join(args)) if args else ("EXEC", application)


def _digit(reply: AgiReply) -> str:
    """STREAM FILE & co answer the ASCII code of the key pressed, 0 for none."""
    try:
        code = int(reply.result)
    except ValueError:
        raise AgiCommandError(f"expected a digit code, got result={reply.result!r}") from None
    return chr(code) if code > 0 else ""


Outcome = Literal["done", "hangup", "failed"]


async def run_route(route: Callable[[AgiSession], Awaitable[None]], session: AgiConversation, name: str) -> Outcome:
    """Run one handler to its end: a hangup ends it cleanly, any other error is logged with the
    channel and uniqueid (never lost, never propagated into the server)."""
    try:
        await route(session)
    except AgiHangup as err:
        log.info("AGI route %s ended by hangup (%s): %s", name, session.describe(), err.message)
        return "hangup"
    except Exception:
        log.exception("AGI route %s failed (%s)", name, session.describe())
        return "failed"
    return "done"
