"""Carrier trunks, the DIDs they deliver and the outbound routes, from ``config/trunks.yaml``.

    cfg = load_trunks(settings)            # raises ConfigError naming the file and each field
    route = cfg.route("013912345678", queue="support")
    route.context, route.exten             # where an Originate or Redirect sends the call

A trunk is reached by ``registration`` (we register to the carrier with a username and secret
taken from the environment, never from the file), by ``ip`` (the carrier's address identifies
it), or is the ``simulator`` (the dialplan's simulated far end, for development and tests).
Numbers are normalised to E.164 with ``phonenumbers`` before routing; the longest matching
prefix (E.164 digits without the ``+``) picks the trunk. The dialplan (``cti.pbx``) routes the
same way for calls that start in Asterisk (agent desk phones, IVR transfers).

Errors: ``ConfigError`` (the file), ``Unroutable`` (a number no route takes; a 422 naming the field).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from cti.config_problems import KeyLines, Problem, validate_all
from cti.errors import ConfigError, CtiError
from cti.settings import Settings, load_yaml
from cti.trunk_account import line_problem, user_part_problem

TRUNKS_FILE = "trunks.yaml"
CODECS = frozenset({"ulaw", "alaw", "gsm", "g722", "g729", "opus", "ilbc", "speex", "slin"})
# The context every call to a number outside the call centre enters (dialplan and engine alike).
EXTERNAL_CONTEXT = "cti-external"
log = logging.getLogger(__name__)


class Unroutable(CtiError):
    """A number that is not a phone number, or that no outbound route takes."""

    code = "trunk_unroutable"
    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Did(_Model):
    """A number the carrier delivers and the IVR entry (DNIS) that answers it."""

    number: str = Field(pattern=r"^\+?[0-9]{2,20}$")  # as the carrier sends it in the request URI
    dnis: str = Field(pattern=r"^[0-9+*#]{1,32}$")  # an entry of an IVR flow (config/ivr/*.yaml)
    flow: str | None = None  # the flow that DNIS opens (checked by `cti config check`)


class Trunk(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    kind: Literal["registration", "ip", "simulator"]
    host: str | None = None  # the carrier's SIP server (registration) or peer (ip)
    port: int = Field(5060, ge=1, le=65535)
    transport: Literal["udp", "tls"] = "udp"
    # ip: addresses or networks (optionally with :port) whose requests are this carrier's.
    match: tuple[str, ...] = ()
    # registration: names of the environment variables holding the account (never the values).
    username_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    secret_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    codecs: tuple[str, ...] = ("ulaw", "alaw")
    srtp: bool = False  # SDES-SRTP media (with transport tls)
    max_calls: int = Field(30, ge=1, le=10_000)  # concurrent outbound calls (GROUP_COUNT)
    # How the called number goes out: "+8613912345678" (e164), "8613912345678" (digits).
    dial_format: Literal["e164", "digits"] = "e164"
    dids: tuple[Did, ...] = ()
    # The numbers this deployment owns at this carrier: what a user may set as the caller ID of calls
    # (a campaign's); none listed: such calls present the default of outbound.caller_id only.
    caller_ids: tuple[str, ...] = ()

    @field_validator("codecs")
    @classmethod
    def _known_codecs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in CODECS]
        if unknown or not value:
            raise ValueError(f"unknown codec(s) {unknown} (known: {', '.join(sorted(CODECS))})" if unknown
                             else "at least one codec")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> Trunk:
        if self.kind != "simulator" and not self.host:
            raise ValueError(f"host: {'an' if self.kind == 'ip' else 'a'} {self.kind} trunk needs the carrier's host")
        if self.kind == "registration":
            if not self.username_env or not self.secret_env:
                raise ValueError("username_env and secret_env: a registration trunk names the environment "
                                 "variables that hold its account (the values never go in this file)")
        if self.srtp and self.transport != "tls":
            raise ValueError("srtp: SDES keys travel in the SDP, so srtp needs transport: tls")
        return self

    @property
    def context(self) -> str:
        """The dialplan context that places an outbound call on this trunk."""
        return f"cti-trunk-{self.name}"

    @property
    def matches(self) -> tuple[str, ...]:
        return self.match or ((f"{self.host}:{self.port}",) if self.host else ())


class CallerIds(_Model):
    """The number presented to the called party (E.164), per queue or campaign, else ``default``."""

    default: str | None = None
    queues: dict[str, str] = {}
    campaigns: dict[str, str] = {}


class Route(_Model):
    prefix: str = Field("", pattern=r"^[0-9]{0,15}$")  # E.164 digits after '+'; "" takes every number
    trunk: str


class Outbound(_Model):
    routes: tuple[Route, ...] = ()
    caller_id: CallerIds = CallerIds()
    dial_timeout_s: int = Field(30, ge=5, le=300)
    # Campaigns: how long a person who answered may wait (no message) for an agent to free up
    # before being dropped; at most 2 s, the usual "connected within 2 s of the greeting" rule.
    drop_grace_s: float = Field(2.0, ge=0, le=2)


class DialTarget(_Model):
    """Where a routed outbound call goes: ``Local/<exten>@<context>`` or an Originate's context/exten."""

    e164: str
    trunk: str
    context: str
    exten: str
    caller_id: str | None
    ring_s: int = 30  # how long it may ring unanswered: the trunks' dial_timeout_s (cti-trunk-<name>'s Dial)

    @property
    def local_channel(self) -> str:
        return f"Local/{self.exten}@{self.context}/n"


class TrunksConfig(_Model):
    default_region: str = Field("CN", pattern=r"^[A-Z]{2}$")
    trunks: tuple[Trunk, ...] = ()
    outbound: Outbound = Outbound()

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (ISO 3166 code such as CN, FR, US)")
        return value

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> TrunksConfig:
        # Loading the file collects every one (context "problems"); elsewhere the first refuses the model.
        context = info.context or {}
        problems = self.reference_problems(context.get("declared", ()))
        collect = context.get("problems")
        if collect is not None:
            collect.extend(problems)
        elif problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, p.loc))}: {p.message}" for p in problems))
        return self

    def reference_problems(self, declared: Collection[str] = ()) -> list[Problem]:
        """What the file names that it does not have, or has twice (``declared``: trunk names the
        file has although their entries were set aside for their own problems)."""
        problems: list[Problem] = []
        names = [t.name for t in self.trunks]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(Problem(("trunks", names.index(name), "name"), f"the name {name!r} is used twice"))
        for i, route in enumerate(self.outbound.routes):
            if route.trunk not in names and route.trunk not in declared:
                problems.append(Problem(("outbound", "routes", i, "trunk"),
                                        f"{route.trunk!r} is not a trunk of this file"))
        prefixes = [r.prefix for r in self.outbound.routes]
        for prefix in sorted({p for p in prefixes if prefixes.count(p) > 1}):
            problems.append(Problem(("outbound", "routes", prefixes.index(prefix), "prefix"),
                                    f"the prefix {prefix!r} is routed twice"))
        dids = [(i, j, d.number.lstrip("+")) for i, t in enumerate(self.trunks) for j, d in enumerate(t.dids)]
        numbers = [n for _, _, n in dids]
        for i, j, did in dids:
            if numbers.count(did) > 1 and (i, j) != next((a, b) for a, b, n in dids if n == did):
                problems.append(Problem(("trunks", i, "dids", j, "number"),
                                        f"the DID {did!r} is delivered by two entries"))
        cids = self.outbound.caller_id
        for where, number in [(("default",), cids.default),
                              *((("queues", k), v) for k, v in cids.queues.items()),
                              *((("campaigns", k), v) for k, v in cids.campaigns.items())]:
            if number is not None and normalise(number, self.default_region) is None:
                problems.append(Problem(("outbound", "caller_id", *where), f"{number!r} is not a phone number"))
        for i, trunk in enumerate(self.trunks):
            for j, number in enumerate(trunk.caller_ids):
                if normalise(number, self.default_region) is None:
                    problems.append(Problem(("trunks", i, "caller_ids", j), f"{number!r} is not a phone number"))
        return problems

    def trunk(self, name: str) -> Trunk:
        return next(t for t in self.trunks if t.name == name)

    def caller_ids(self) -> tuple[str, ...]:
        """The numbers a user may give as a call's caller ID: every trunk's ``caller_ids`` (E.164)."""
        owned = (normalise(n, self.default_region) for t in self.trunks for n in t.caller_ids)
        return tuple(sorted({n for n in owned if n}))

    def caller_id_refusal(self, number: str) -> str | None:
        """Why ``number`` may not be given as a call's caller ID, else None (presenting a number the
        deployment does not own is caller-ID spoofing)."""
        e164 = normalise(number, self.default_region)
        if e164 is None:
            return f"{number!r} is not a phone number"
        if e164 not in self.caller_ids():
            owned = ", ".join(self.caller_ids()) or "none configured"
            return (f"{e164} is not a number of this call centre: a caller ID must be one of trunks[].caller_ids "
                    f"in config/trunks.yaml ({owned}), or empty for the default caller ID")
        return None

    def route(self, number: str, *, queue: str | None = None, campaign: str | None = None,
              field: str = "number", caller_id: str | None = None) -> DialTarget:
        """The trunk, dialplan context and extension for ``number``; raises Unroutable naming ``field``.
        ``caller_id`` (a user's choice, such as a campaign's) is presented only when the trunk the
        number leaves by lists it in ``caller_ids``; else the configured caller ID is."""
        e164 = normalise(number, self.default_region)
        if e164 is None:
            raise Unroutable(field, f"{number!r} is not a phone number (default region {self.default_region})")
        digits = e164[1:]
        best = max((r for r in self.outbound.routes if digits.startswith(r.prefix)),
                   key=lambda r: len(r.prefix), default=None)
        if best is None:
            raise Unroutable(field, f"no outbound route takes {e164} (config/trunks.yaml outbound.routes)")
        trunk = self.trunk(best.trunk)
        presented = self.caller_id(queue=queue, campaign=campaign)
        if caller_id:
            chosen = normalise(caller_id, self.default_region)
            if chosen is not None and chosen in {normalise(n, self.default_region) for n in trunk.caller_ids}:
                presented = chosen
            else:  # the trunk's list changed since it was accepted, or the number leaves by another trunk
                log.warning("caller ID %s is not one of trunk %s's caller_ids: the call presents %s instead",
                            caller_id, trunk.name, presented or "the channel's own")
        return DialTarget(e164=e164, trunk=trunk.name, context=trunk.context, exten=digits, caller_id=presented,
                          ring_s=self.outbound.dial_timeout_s)

    def caller_id(self, *, queue: str | None = None, campaign: str | None = None) -> str | None:
        cids = self.outbound.caller_id
        raw = (cids.campaigns.get(campaign or "") or cids.queues.get(queue or "") or cids.default)
        return normalise(raw, self.default_region) if raw else None


def normalise(number: str, region: str) -> str | None:
    """``number`` as E.164, or None when it is not a phone number.

    Digits without ``+`` or ``00`` are read as a national number of ``region`` when that is a
    valid number there; otherwise as an international number that lost its ``+`` (the agent
    console strips it) when that is possible; otherwise as a possible national number.
    """
    text = "".join(ch for ch in (number or "").strip() if ch not in " -().")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or not text.lstrip("+").isdigit() or text.count("+") > 1:
        return None
    candidates: list[phonenumbers.PhoneNumber] = []
    for raw, reg in ([(text, None)] if text.startswith("+") else [(text, region), ("+" + text, None)]):
        try:
            candidates.append(phonenumbers.parse(raw, reg))
        except phonenumbers.NumberParseException:
            continue
    chosen = (next((n for n in candidates if phonenumbers.is_valid_number(n)), None)
              or next((n for n in reversed(candidates) if phonenumbers.is_possible_number(n)), None))
    if chosen is None:
        return None
    return phonenumbers.format_number(chosen, phonenumbers.PhoneNumberFormat.E164)


# What a stranger's web form may have called back: never a number that costs the centre more than a
# call (premium-rate, shared-cost, universal access, personal, pager, voicemail access numbers).
_NOT_CALLED_BACK = frozenset({
    phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.UAN, phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.VOICEMAIL})


def public_callback_refusal(e164: str, regions: Collection[str]) -> str | None:
    """Why a number typed into a public web form must not be called back, else None: only numbers
    of ``regions`` (ISO codes), and none of the kinds toll fraud aims at. A number of a shared
    country code that phonenumbers cannot place (+1 876... is Jamaica, not the US) has no region."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "is not a phone number"
    region = phonenumbers.region_code_for_number(number)
    if region not in regions:
        return (f"is a number of {region or 'no known region'}: web callbacks call numbers of "
                f"{', '.join(sorted(regions))} only (callbacks.request_regions)")
    return toll_fraud_refusal(e164)


def toll_fraud_refusal(e164: str) -> str | None:
    """Why a number someone else chose must not be called back, else None: a premium-rate,
    shared-cost or other service number (``_NOT_CALLED_BACK``) costs the centre more than a call.
    For a web form's number and for a caller's own caller ID (virtual hold), which a caller sets
    at will on many trunks."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "is not a phone number"
    if phonenumbers.number_type(number) in _NOT_CALLED_BACK:
        return "is a premium-rate, shared-cost or service number: such numbers are not called back"
    return None


def trunks_path(settings: Settings) -> Path:
    return settings.config_dir / TRUNKS_FILE


def load_trunks(settings: Settings) -> TrunksConfig:
    """The trunks of ``config/trunks.yaml`` (no file: no trunks, and every outbound number is unroutable)."""
    cfg, problems = _read(trunks_path(settings))
    if problems:
        raise ConfigError(f"{trunks_path(settings)}: {len(problems)} problem(s)\n"
                          + "\n".join(f"  - {p}" for p in problems))
    return cfg or TrunksConfig()


def _read(path: Path, env: Mapping[str, str] | None = None) -> tuple[TrunksConfig | None, list[str]]:
    """The file's model (None when it cannot be read) and every problem it has, each naming the key
    and line; with ``env``, also the registration accounts' variables that are not set."""
    if not path.exists():
        return TrunksConfig(), []
    try:
        data = load_yaml(path) or {}
    except yaml.YAMLError as err:
        return None, [f"not valid YAML: {err}"]
    collected: list[Problem] = []
    trunks = data.get("trunks") if isinstance(data, dict) else None
    declared = {t["name"] for t in trunks if isinstance(t, dict) and isinstance(t.get("name"), str)} \
        if isinstance(trunks, list) else set()
    checked = validate_all(TrunksConfig, data, context={"problems": collected, "declared": declared})
    problems = checked.problems + checked.unaffected(collected)
    for i, trunk in enumerate(trunks if env is not None and isinstance(trunks, list) else []):
        for attr in ("username_env", "secret_env"):
            var = trunk.get(attr) if isinstance(trunk, dict) else None
            if isinstance(var, str) and var and not env.get(var):  # type: ignore[union-attr]
                problems.append(Problem(("trunks", i, attr), f"the environment variable {var} is not set "
                                                             f"(trunk {trunk.get('name')!r} cannot register)"))
            elif isinstance(var, str) and var and (why := _unwritable(env.get(var, ""),  # type: ignore[union-attr]
                                                                      username=attr == "username_env")):
                problems.append(Problem(("trunks", i, attr), _value_problem(var, why, trunk.get("name"))))
    if not problems:
        return checked.model, []
    lines = KeyLines.of(path)
    ordered = sorted(problems, key=lambda p: lines.line(p.loc) or 0)
    return checked.model, [p.render("", lines).removeprefix(": ") for p in ordered]


def read_trunks(settings: Settings) -> TrunksConfig | None:
    """The trunks of ``config/trunks.yaml`` less the entries that have problems (which
    ``check_trunks`` reports); None when the file cannot be read at all."""
    return _read(trunks_path(settings))[0]


def check_trunks(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of ``config/trunks.yaml``, each naming the file, the key and the line."""
    path = trunks_path(settings)
    return [f"{path}: {p}" for p in _read(path, os.environ if env is None else env)[1]]


def _unwritable(value: str, *, username: bool) -> str | None:
    """Why an account value cannot be written into pjsip.conf as it is, else None (a ';' can: it is
    escaped, ``cti.trunk_render.config_value``); a username is also a SIP URI's user part."""
    return line_problem(value) or (user_part_problem(value) if username else None)


def _value_problem(var: str, why: str, trunk: object) -> str:
    return f"the environment variable {var} {why} (trunk {trunk!r})"


def account(trunk: Trunk, env: Mapping[str, str]) -> tuple[str, str]:
    """The registration trunk's username and secret, read from the environment."""
    values = [env.get(var or "", "") for var in (trunk.username_env, trunk.secret_env)]
    if not all(values):
        raise ConfigError(f"trunk {trunk.name!r}: set the environment variables {trunk.username_env} and "
                          f"{trunk.secret_env} (its carrier account)")
    for var, value, username in zip((trunk.username_env, trunk.secret_env), values, (True, False), strict=True):
        if why := _unwritable(value, username=username):
            raise ConfigError(_value_problem(var or "", why, trunk.name))
    return values[0], values[1]
