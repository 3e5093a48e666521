"""What a campaign is allowed to do, without I/O: its settings, the calling windows in the
customer's own time zone, the retry rules by outcome, and the validation of uploaded contacts.

    spec = CampaignIn.model_validate(body)               # 422 naming the field on bad input
    within_window(spec.windows, "Asia/Shanghai", now)    # may this contact be called now?
    rows, errors = parse_contacts(csv_text)              # errors name the row and the field
    after_attempt("busy", attempts=1, spec=spec)         # -> ("retry", 600.0) | ("done", 0) | ("failed", 0)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_serializer, field_validator, model_validator

from acd.model import MAX_LEVEL, MIN_LEVEL
from acd.pacing import DialMode
from crm_core.schemas import MAX_ID
from cti.trunks import normalise

MAX_CONTACTS_PER_UPLOAD = 50_000
_SOUND = r"^[a-z0-9][a-z0-9/_-]{0,119}$"  # an Asterisk sound name (no extension, no ..)
RETRY_OUTCOMES = ("no_answer", "busy", "machine", "failed", "dropped")
DEFAULT_RETRY: dict[str, float | None] = {"no_answer": 3600.0, "busy": 600.0, "machine": 7200.0,
                                          "failed": 1800.0, "dropped": 3600.0}


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone (IANA name such as Asia/Shanghai, Europe/Paris)") from None


END_OF_DAY = time.max  # what an end of "24:00" is held as: the window runs to midnight


class Window(BaseModel):
    """Days (0 Monday ... 6 Sunday) and the local hours [start, end) a customer may be called; an
    end of "24:00" runs to midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: time = time(9, 0)
    end: time = time(20, 0)

    @field_validator("end", mode="before")
    @classmethod
    def _midnight(cls, value: Any) -> Any:
        return END_OF_DAY if isinstance(value, str) and value in ("24:00", "24:00:00") else value

    @field_serializer("end")
    def _end(self, value: time) -> time | str:
        return "24:00:00" if value == END_OF_DAY else value

    def covers(self, local: datetime) -> bool:
        """Whether the local wall-clock moment ``local`` falls in this window."""
        now = local.time().replace(tzinfo=None)
        return local.weekday() in self.days and self.start <= now and (now < self.end or self.end == END_OF_DAY)

    @model_validator(mode="after")
    def _order(self) -> Window:
        if not self.days or any(d not in range(7) for d in self.days):
            raise ValueError("days: give day numbers 0 (Monday) to 6 (Sunday)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start, end: local wall-clock times without an offset (the customer's own zone applies)")
        if self.end <= self.start:
            raise ValueError("end: must be after start (a window does not cross midnight; use two)")
        return self


class CampaignIn(BaseModel):
    """A campaign as created over REST (docs/outbound.md)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    queue: str = Field(min_length=1, max_length=64)
    skills: dict[str, int] = {}
    mode: DialMode = DialMode.PROGRESSIVE
    script: str = Field("", max_length=20_000)
    timezone: str = "UTC"
    region: str = Field("CN", pattern=r"^[A-Z]{2}$")
    # After region, which reads it. Presented to the called party: creating the campaign also
    # checks it is a number the trunks own (crm_core.campaigns.create_campaign).
    caller_id: str | None = Field(None, max_length=40)
    windows: tuple[Window, ...] = Field((Window(),), min_length=1)  # none: it would never dial
    retry: dict[str, float | None] = Field(default_factory=lambda: dict(DEFAULT_RETRY))
    max_attempts: int = Field(3, ge=1, le=20)
    machine_action: Literal["message", "retry"] = "retry"
    machine_message: str = Field("", pattern=r"^$|" + _SOUND)
    drop_message: str = Field("cti/campaign-drop", pattern=_SOUND)
    drop_cap: float = Field(0.03, gt=0.0, le=0.2)
    max_lines_per_agent: float = Field(3.0, ge=1.0, le=10.0)

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        bad = next((name for name, level in value.items() if not MIN_LEVEL <= level <= MAX_LEVEL), None)
        if bad is not None:  # a level no agent has: the campaign would find nobody to dial for
            raise ValueError(f"{bad}: proficiency is a whole number {MIN_LEVEL}..{MAX_LEVEL}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows")
        return value

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None  # empty: the trunk's default caller ID
        e164 = normalise(value, info.data.get("region") or "CN")
        if e164 is None:
            raise ValueError(f"{value!r} is not a phone number")
        return e164

    @field_validator("retry")
    @classmethod
    def _retry(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        for key, delay in value.items():
            if key not in RETRY_OUTCOMES:
                raise ValueError(f"{key!r} is not an outcome that can be retried ({', '.join(RETRY_OUTCOMES)})")
            if delay is not None and not 0 <= delay <= 30 * 86400:
                raise ValueError(f"{key}: the delay is seconds between 0 and 30 days, or null for never")
        return {**DEFAULT_RETRY, **value}

    @model_validator(mode="after")
    def _consistent(self) -> CampaignIn:
        if self.machine_action == "message" and not self.machine_message:
            raise ValueError("machine_message: a sound to leave is needed when machine_action is message")
        return self


def within_window(windows: Iterable[Window | Mapping[str, Any]], tz: str, now: datetime) -> bool:
    """Whether ``now`` (aware) falls in one of ``windows`` in the time zone ``tz``."""
    local = now.astimezone(zone(tz))
    for w in windows:
        win = w if isinstance(w, Window) else Window.model_validate(w)
        if win.covers(local):
            return True
    return False


def next_window_start(windows: Sequence[Window | Mapping[str, Any]], tz: str, now: datetime) -> datetime:
    """The next moment (aware, UTC offset of ``now``) a window opens for ``tz``; ``now`` if open."""
    if within_window(windows, tz, now):
        return now
    wins = [w if isinstance(w, Window) else Window.model_validate(w) for w in windows]
    local = now.astimezone(zone(tz))
    for day in range(8):
        date = (local + timedelta(days=day)).date()
        starts = sorted(datetime.combine(date, w.start, tzinfo=local.tzinfo) for w in wins
                        if date.weekday() in w.days)
        for start in starts:
            if start > local:
                return start.astimezone(now.tzinfo)
    return now + timedelta(days=7)


def contact_zone(e164: str, given: str | None, default: str) -> str:
    """The customer's time zone: the one given, else the number's when it has exactly one, else the
    campaign's."""
    if given:
        return given
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        zones = ()
    real = [z for z in zones if z != "Etc/Unknown"]
    return real[0] if len(real) == 1 else default


Verdict = Literal["done", "retry", "failed"]


def after_attempt(outcome: str, *, attempts: int, max_attempts: int, retry: Mapping[str, float | None],
                  machine_action: str) -> tuple[Verdict, float]:
    """What becomes of a contact after an attempt: done, retried after a delay, or failed."""
    if outcome == "human" or (outcome == "machine" and machine_action == "message"):
        return "done", 0.0
    delay = retry.get(outcome)
    if delay is None or attempts >= max_attempts:
        return "failed", 0.0
    return "retry", float(delay)


@dataclass(frozen=True, slots=True)
class ContactRow:
    row: int
    number: str  # E.164
    name: str
    timezone: str | None
    customer_id: int | None
    data: dict[str, str]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


_KNOWN = ("number", "name", "timezone", "customer_id")
_DATA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_ -]{0,39}$")


def _is_id(text: str) -> bool:
    """ASCII digits of a database id (``"²".isdigit()`` is true, and int() refuses it)."""
    return text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= MAX_ID


def validate_contacts(rows: Iterable[tuple[int, Mapping[str, Any]]], *, region: str
                      ) -> tuple[list[ContactRow], list[RowError]]:
    """Check each ``(row number, fields)``: a phone number (normalised to E.164), a known time zone,
    a numeric customer id; other fields (short names, text values) travel to the agent's screen."""
    good: list[ContactRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for row, fields in rows:
        bad = len(errors)
        raw = str(fields.get("number") or "").strip()
        e164 = normalise(raw, region) if raw else None
        if not raw:
            errors.append(RowError(row, "number", "is missing"))
        elif e164 is None:
            errors.append(RowError(row, "number", f"{raw!r} is not a phone number (region {region})"))
        elif e164 in seen:
            errors.append(RowError(row, "number", f"{e164} is already on row {seen[e164]}"))
        tz = str(fields.get("timezone") or "").strip() or None
        if tz is not None:
            try:
                zone(tz)
            except ValueError as err:
                errors.append(RowError(row, "timezone", str(err)))
        cid_raw = str(fields.get("customer_id") or "").strip()
        if cid_raw and not _is_id(cid_raw):
            errors.append(RowError(row, "customer_id", f"{cid_raw!r} is not a customer id"))
        name = str(fields.get("name") or "").strip()
        if len(name) > 120:
            errors.append(RowError(row, "name", "is longer than 120 characters"))
        data: dict[str, str] = {}
        for key, value in fields.items():
            if key in _KNOWN or value in (None, ""):
                continue
            if not _DATA_KEY.match(str(key)):
                errors.append(RowError(row, str(key)[:40], "is not a usable column name"))
            elif len(str(value)) > 500:
                errors.append(RowError(row, str(key), "is longer than 500 characters"))
            else:
                data[str(key)] = str(value)
        if len(errors) == bad and e164 is not None:
            seen[e164] = row
            good.append(ContactRow(row, e164, name, tz, int(cid_raw) if cid_raw else None, data))
    return good, errors


def csv_text(raw: bytes) -> str:
    """An uploaded file's text: UTF-8, with or without a byte-order mark; ValueError naming the line
    of the first byte that is not."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ValueError(f"line {line}: the file is not UTF-8 text (in Excel: Save As \"CSV UTF-8\")") from None


def parse_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """CSV with a header line naming the columns (``number`` required): ``(line number, fields)``
    per data line, numbered as a spreadsheet shows them (the header is line 1). Lines may end in
    LF, CRLF or CR; ValueError names what is wrong with the file."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _rows(reader)
    except csv.Error as err:  # a cell over the reader's limit, a NUL...: the file's fault, not ours
        raise ValueError(f"line {reader.line_num + 1}: {err}") from None


def _rows(reader: csv.DictReader[str]) -> list[tuple[int, dict[str, str]]]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "number" not in header:
        raise ValueError("the first line must name the columns, one of them 'number'")
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:  # a dict keeps one of them: the other column's cells would be dropped unseen
        raise ValueError(f"line 1: the column {twice[0]!r} is named twice")
    reader.fieldnames = header
    out: list[tuple[int, dict[str, str]]] = []
    for rec in reader:
        i = reader.line_num  # DictReader skips blank lines: count the file's own lines
        if len(out) >= MAX_CONTACTS_PER_UPLOAD:
            raise ValueError(f"more than {MAX_CONTACTS_PER_UPLOAD} contacts in one upload")
        if None in rec:
            raise ValueError(f"row {i}: more cells than the header has columns")
        if not any((v or "").strip() for v in rec.values()):
            continue  # a line of empty cells
        out.append((i, {k: (v or "").strip() for k, v in rec.items()}))
    return out
