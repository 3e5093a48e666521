"""The schema of an IVR flow file (``config/ivr/*.yaml``): entries, prompts, hours and nodes.

A node is one of: play, menu, collect, lookup, branch, set (they move the call along) or queue,
voicemail, callback, transfer, hangup (they end the IVR). Node ids are the keys of ``nodes``.
Templates ``{var}`` in say items, set values and attributes are filled from the session's vars.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ivr.language import for_language

NODE_ID = r"^[a-z][a-z0-9_]*$"
# Sound names travel into AGI commands: letters, digits, '_', '-', '.', '/' only (no spaces, quotes).
SOUND = r"^[A-Za-z0-9_][A-Za-z0-9_./\-]*$"
VAR = r"^[a-z][a-z0-9_]*$"
DIGITS_KEY = r"^[0-9*#]{1,4}$"
DEFAULT_MAX_VISITS = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Say(_Model):
    """Say a variable's value: exactly one of digits, number or date (a ``{var}`` template)."""

    digits: str | None = None
    number: str | None = None
    date: str | None = None  # epoch seconds

    @model_validator(mode="after")
    def _one(self) -> Say:
        if sum(v is not None for v in (self.digits, self.number, self.date)) != 1:
            raise ValueError("a say item holds exactly one of digits, number, date")
        return self


def _prompt_item(value: Any) -> str | Say:
    if isinstance(value, str):
        if not re.match(SOUND, value):
            raise ValueError(f"sound name {value!r} may only hold letters, digits and _ . / - "
                             "(it goes into an AGI command)")
        return value
    if isinstance(value, Say):
        return value
    if isinstance(value, dict):
        try:
            return Say.model_validate(value)
        except ValidationError as err:
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())) from None
    raise ValueError("a prompt item is a sound name or {digits|number|date: '{var}'}")


def _candidates(value: Any) -> Any:
    """``sound`` | ``[sound | [sound, ...], ...]`` -> a list of candidates, each a list of sounds."""
    if isinstance(value, str):
        return [[value]]
    if isinstance(value, list):
        return [[c] if isinstance(c, str) else c for c in value]
    return value


# One plain validator instead of a str | Say union: pydantic would report a bad item once per
# union member, with internal names in the error location.
PromptItem = Annotated[str | Say, PlainValidator(_prompt_item)]


class Entry(_Model):
    """A number (DNIS) or dialplan context that reaches this flow, with optional start values."""

    dnis: str | None = Field(None, pattern=r"^[0-9+*#]{1,32}$")
    context: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    language: str | None = Field(None, pattern=r"^[a-z]{2}(_[A-Z]{2})?$")
    vars: dict[Annotated[str, Field(pattern=VAR)], str] = {}

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        if isinstance(data, str | int):
            return {"dnis": str(data)}
        return data

    @model_validator(mode="after")
    def _one(self) -> Entry:
        if (self.dnis is None) == (self.context is None):
            raise ValueError("an entry names exactly one of dnis or context")
        return self


class Hours(_Model):
    """Opening hours in a time zone: weekly ranges ``"09:00-18:00"`` plus closed dates."""

    timezone: str = "UTC"
    weekly: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                 list[Annotated[str, Field(pattern=r"^\d\d:\d\d-\d\d:\d\d$")]]] = {}
    holidays: list[Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\d$")]] = []


class Condition(_Model):
    """``{var: X, equals|in|not_in|matches|exists: ...}`` or ``{hours: open|closed}``."""

    var: str | None = Field(None, pattern=VAR)
    equals: str | None = None
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None
    matches: str | None = None
    exists: bool | None = None
    hours: Literal["open", "closed"] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        tests = [x for x in (self.equals, self.in_, self.not_in, self.matches, self.exists) if x is not None]
        if self.hours is not None:
            if self.var is not None or tests:
                raise ValueError("an hours condition takes no var test")
        elif self.var is None or len(tests) != 1:
            raise ValueError("a condition is {hours: open|closed} or a var with exactly one of "
                             "equals, in, not_in, matches, exists")
        return self


class Case(_Model):
    when: Condition
    goto: str


class _Node(_Model):
    # What the agent's screen pop shows for this step ("Main menu"); default: the id in words.
    label: str | None = Field(None, min_length=1, max_length=60)
    # Bounded visits: entering a node more than max_visits times sends the call to on_exhausted.
    max_visits: int | None = Field(None, ge=1, le=20)
    on_exhausted: str | None = None

    def visit_limit(self) -> int | None:
        return self.max_visits

    def exhausted_target(self) -> str | None:
        return self.on_exhausted


class _Asking(_Node):
    """Shared by menu and collect: a prompt, bounded retries, then the fallback."""

    prompt: list[PromptItem] = Field(min_length=1)
    timeout_ms: int = Field(5000, ge=500, le=60000)
    retries: int = Field(2, ge=0, le=5)
    invalid_prompt: list[PromptItem] = ["invalid"]
    timeout_prompt: list[PromptItem] = []
    fallback: str | None = None  # default: the flow's operator

    def visit_limit(self) -> int | None:
        return self.max_visits or DEFAULT_MAX_VISITS


class Play(_Node):
    type: Literal["play"]
    prompt: list[PromptItem] = Field(min_length=1)
    interruptible: bool = False
    next: str


class Menu(_Asking):
    type: Literal["menu"]
    options: dict[Annotated[str, Field(pattern=DIGITS_KEY)], str] = Field(min_length=1)
    # The key that reaches the flow's operator from this menu; null disables the automatic option
    # (the menu must then offer a queue hand-off among its own options).
    operator_key: str | None = Field("0", pattern=DIGITS_KEY)


class Collect(_Asking):
    type: Literal["collect"]
    var: str = Field(pattern=VAR)
    min: int = Field(1, ge=1, le=32)
    max: int = Field(1, ge=1, le=32)
    # AGI GET DATA always ends input on '#'; no other terminator can be honoured.
    terminator: Literal["#"] = "#"
    pattern: str | None = None
    sensitive: bool = False
    next: str

    @field_validator("max")
    @classmethod
    def _lengths(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min")
        if low is not None and low > value:
            raise ValueError(f"max ({value}) is less than min ({low})")
        return value


class Lookup(_Node):
    """Identify the caller: by caller id, or by account number plus PIN (both from collects)."""

    type: Literal["lookup"]
    by: Literal["caller_id", "account"]
    account_var: str = Field("account", pattern=VAR)
    pin_var: str = Field("pin", pattern=VAR)
    found: str
    not_found: str


class Branch(_Node):
    type: Literal["branch"]
    cases: list[Case] = Field(min_length=1)
    default: str


class SetNode(_Node):
    type: Literal["set"]
    vars: dict[Annotated[str, Field(pattern=VAR)], str] = {}
    language: str | None = Field(None, pattern=r"^[a-z]{2}(_[A-Z]{2})?$")
    skills: dict[str, Annotated[int, Field(ge=0, le=100)]] = {}
    priority: int | None = Field(None, ge=0, le=100)
    attributes: dict[str, str] = {}
    next: str


class _Final(_Node):
    prompt: list[PromptItem] = []


class Queue(_Final):
    type: Literal["queue"]
    queue: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$")
    skills: dict[str, Annotated[int, Field(ge=0, le=100)]] = {}
    priority: int | None = Field(None, ge=0, le=100)
    attributes: dict[str, str] = {}


class Voicemail(_Final):
    type: Literal["voicemail"]
    mailbox: str = Field("8000@cti", pattern=r"^[0-9A-Za-z_]+(@[A-Za-z0-9_\-]+)?$")


class Callback(_Final):
    type: Literal["callback"]
    number: str = "{caller_number}"
    queue: str | None = None


class Transfer(_Final):
    type: Literal["transfer"]
    number: str = Field(pattern=r"^[0-9+]{2,20}$")


class Hangup(_Final):
    type: Literal["hangup"]


Node = Annotated[Play | Menu | Collect | Lookup | Branch | SetNode | Queue | Voicemail | Callback | Transfer | Hangup,
                 Field(discriminator="type")]
FINAL_TYPES = (Queue, Voicemail, Callback, Transfer, Hangup)


class Flow(_Model):
    flow: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$")
    entries: list[Entry] = Field(min_length=1)
    language: str = Field("en", pattern=r"^[a-z]{2}(_[A-Z]{2})?$")
    start: str
    operator: str | None = None  # a queue node: the human every menu offers (operator_key)
    hours: Hours = Hours()
    priorities: dict[str, Annotated[int, Field(ge=0, le=100)]] = {}  # caller tier -> priority
    language_skills: dict[str, dict[str, int]] = {}  # language -> skills added at hand-off
    # alias -> {language: candidates}; a candidate is a sound or a list of sounds played in a row.
    # The first candidate this Asterisk has is used (``resolve_prompts``): e.g. the project's own
    # recording (cti/...), then stock sounds.
    prompts: dict[str, dict[str, Annotated[list[Annotated[list[Annotated[str, Field(pattern=SOUND)]],
                                                          Field(min_length=1)]],
                                           BeforeValidator(_candidates), Field(min_length=1)]]] = {}
    max_steps: int = Field(200, ge=10, le=10000)  # hard ceiling, defence in depth
    nodes: dict[Annotated[str, Field(pattern=NODE_ID)], Node] = Field(min_length=1)

    def menu_options(self, node: Menu) -> dict[str, str]:
        """A menu's options with the automatic operator key added."""
        opts = dict(node.options)
        if node.operator_key is not None and self.operator is not None:
            opts.setdefault(node.operator_key, self.operator)
        return opts

    def fallback_of(self, node: Menu | Collect) -> str | None:
        return node.fallback or self.operator

    def exhausted_of(self, node: _Node) -> str | None:
        if isinstance(node, Menu | Collect):
            return node.on_exhausted or self.fallback_of(node)
        return node.on_exhausted

    def label_of(self, node_id: str | None) -> str | None:
        """The human label of a step: the node's ``label``, else its id in words (main_menu -> Main menu)."""
        if node_id is None:
            return None
        node = self.nodes.get(node_id)
        if node is not None and node.label:
            return node.label
        return node_id.replace("_", " ").capitalize()

    def sound_for(self, name: str, language: str) -> tuple[str, ...]:
        """Resolve a prompt alias for ``language`` (falling back to the flow's language)."""
        alias = self.prompts.get(name)
        if alias is None:
            return (name,)
        return tuple((for_language(alias, language) or for_language(alias, self.language)
                      or next(iter(alias.values())))[0])

    def skills_for(self, language: str) -> dict[str, int]:
        """The skills ``language_skills`` adds at hand-off for a caller speaking ``language``."""
        return for_language(self.language_skills, language) or {}
