"""Logging for the whole engine: configured once by the composition root from settings.

    configure_logging(settings)             # cti run: timestamped lines on stderr (+ rotated file)
    with call_context("1718.42", agent="1001", queue="support"):
        log.info("...")                     # ... call=1718.42 agent=1001 queue=support

Every record carries the call (Asterisk linkedid), agent and queue it was made for, from context
variables set where work for a call starts (the bus's handler dispatch, the FastAGI session, the
ACD's ring task): nothing is threaded through arguments, and tasks started meanwhile inherit them.
Secrets never reach a handler: known secret values from settings, ``pin=``/``secret=``/``password=``
style pairs, passwords in URLs and digit runs that look like card numbers (13-19 digits, a card's
first digit, Luhn-valid) are masked in the formatted line, tracebacks included.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from io import TextIOWrapper
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, SecretStr

from cti.errors import ConfigError
from cti.files import private_file
from cti.settings import Settings

call_id_var: ContextVar[str | None] = ContextVar("cti_call_id", default=None)
agent_var: ContextVar[str | None] = ContextVar("cti_agent", default=None)
queue_var: ContextVar[str | None] = ContextVar("cti_queue", default=None)

MASK = "***"
_PAIRS = re.compile(r"(?i)\b(pin|secret|password|passwd|pwd|token|cvv|cvc)(\s*[=:]\s*|\"\s*:\s*\"|'\s*:\s*')"
                    r"([^\s,;&\"'}]+)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)([^@\s/]+)(@)")  # the user may be empty: redis://:pw@host
_ARGON2 = re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9$=,+/.]+")  # a password's or an IVR PIN's hash
_DIGIT_RUN = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?![\d.])")
_OURS = "_cti_handler"


def bind(call_id: str | None = None, *, agent: str | None = None, queue: str | None = None) -> None:
    """Set the context for the rest of this task (a task owns a copy: nothing leaks to others)."""
    call_id_var.set(call_id)
    agent_var.set(agent)
    queue_var.set(queue)


class call_context:  # lower case: callers use it like a function, ``with call_context(...)``
    """The context for one block of work, restored afterwards.

    A small class rather than ``@contextlib.contextmanager``: the bus enters one per event handled,
    and the generator-based form cost ~3x as much (~4 % of the console's CPU in a burst of offers).
    """

    __slots__ = ("_tokens", "agent", "call_id", "queue")

    def __init__(self, call_id: str | None = None, *, agent: str | None = None, queue: str | None = None) -> None:
        self.call_id, self.agent, self.queue = call_id, agent, queue

    def __enter__(self) -> None:
        self._tokens = (call_id_var.set(self.call_id), agent_var.set(self.agent), queue_var.set(self.queue))

    def __exit__(self, *exc: object) -> None:
        queue_var.reset(self._tokens[2])
        agent_var.reset(self._tokens[1])
        call_id_var.reset(self._tokens[0])


def event_context(ev: Any) -> call_context:
    """The context of a bus event: its call, and its agent and queue when it names them."""
    return call_context(ev.call_id, agent=getattr(ev, "agent_id", None), queue=getattr(ev, "queue", None) or None)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    # Cards start with 2-6 (Mastercard, Visa, Amex, Discover, UnionPay); E.164 numbers written
    # without '+' (8613912345678) start with a country code and are left readable.
    if digits[0] in "23456" and _luhn(digits):
        return MASK
    return match.group(0)


class Redactor:
    """Masks secrets in formatted log text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole; very short values would
        # mask ordinary words, so they are left to the pattern rules.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _PAIRS.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
        text = _ARGON2.sub(MASK, text)
        return _DIGIT_RUN.sub(_card, text)


def mask_url_password(url: str) -> str:
    """``url`` with its password (if any) replaced by the mask, for display."""
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), url)


def secrets_of(settings: BaseModel) -> list[str]:
    """Every SecretStr value in the settings, nested models included, plus URL passwords."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, str):
            m = _URL_PASSWORD.search(value)
            if m:
                found.append(m.group(2))

    walk(settings)
    return found


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """A rotated log file only the engine's user reads, the files started at each rotation too:
    the lines name callers' numbers, agents and customers."""

    def _open(self) -> TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


class ContextFilter(logging.Filter):
    """Copies the call, agent and queue of the current context onto the record, unless the record
    names its call itself (``extra={"call_id": ..., "agent": ..., "queue": ...}``): a line about
    another call than the one at hand (an agent freed from one call is offered the next)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "call_id" not in record.__dict__:
            record.call_id = call_id_var.get()
            record.agent = agent_var.get()
            record.queue = queue_var.get()
        return True


class TextFormatter(logging.Formatter):
    """``2025-06-01 12:00:00.123 INFO  cti.ami.manager: message [call=... agent=... queue=...]``."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = [f"{k}={v}" for k, v in (("call", getattr(record, "call_id", None)),
                                       ("agent", getattr(record, "agent", None)),
                                       ("queue", getattr(record, "queue", None))) if v]
        if ctx:
            head, nl, rest = line.partition("\n")  # after the message, before any traceback
            line = f"{head} [{' '.join(ctx)}]{nl}{rest}"
        return self.redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601, UTC), level, logger, msg, call_id, agent, queue, exc."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "msg": self.redact(record.getMessage()),
        }
        for key in ("call_id", "agent", "queue"):
            value = getattr(record, key, None)
            if value:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.redact(self.formatException(record.exc_info))
        # Redacted again as a whole: a secret may hide in a value json.dumps escaped.
        return self.redact(json.dumps(doc, ensure_ascii=False, default=str))


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> logging.Logger:
    """Install the engine's handlers on the root logger (idempotent: earlier ones are replaced)."""
    redact = Redactor(secrets_of(settings))
    formatter: logging.Formatter = (JsonFormatter(redact) if settings.log_format == "json"
                                    else TextFormatter(redact))
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if settings.log_file is not None:
        try:
            handlers.append(_PrivateRotatingFile(
                settings.log_file, maxBytes=settings.log_file_max_bytes, backupCount=settings.log_file_backups,
                encoding="utf-8"))
        except OSError as err:  # a directory, a path through a file, not the engine user's to write
            raise ConfigError(f"log_file (CTI_LOG_FILE): cannot write {settings.log_file}: "
                              f"{err.strerror or err}") from None
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    for h in handlers:
        setattr(h, _OURS, True)
        h.setFormatter(formatter)
        h.addFilter(ContextFilter())
        root.addHandler(h)
    root.setLevel(settings.log_level)
    # Alembic announces each of its plugins at INFO on every start (seven lines); its migrations
    # (alembic.runtime.migration) stay at the root's level. log_levels can still ask for them.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG (customers' data, password and
    # PIN hashes, twice per statement): not part of a root DEBUG; log_levels can still ask for it.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # httpx logs every request at INFO with its whole URL: one line per webhook delivery (per
    # event), and a receiver's URL often carries its own secret (a path part, ?token=).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name, level in settings.log_levels.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)  # warnings get timestamps and context too
    return root
