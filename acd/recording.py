"""Recording and survey policies of a queue (``recording:`` and ``survey:`` in config/queues.yaml).

Pure: which calls are recorded and where their files go. The engine's recorder
(``crm_core.recorder``) carries the decisions out on the PBX.

    policy = RecordingPolicy(mode="percent", percent=25)
    policy.decide("1764744000.42")          # "record" | "on_demand" | "off"
    recording_path("1764744000.42", 1, started)  # "2026/12/03/06/1764744000.42-1.wav"
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

RecordingMode = Literal["all", "none", "percent", "on_demand"]
Decision = Literal["record", "on_demand", "off"]

_UNSAFE = re.compile(r"[^0-9A-Za-z._-]")


@dataclass(frozen=True, slots=True)
class RecordingPolicy:
    mode: RecordingMode = "none"
    percent: float = 0.0  # mode "percent": the share of calls recorded, 0..100

    def decide(self, linkedid: str) -> Decision:
        """Whether a call of this queue is recorded. The percentage is drawn from a hash of the
        linkedid, so a call keeps its decision when it is requeued or the engine restarts."""
        if self.mode == "all":
            return "record"
        if self.mode == "on_demand":
            return "on_demand"
        if self.mode == "percent":
            bucket = int.from_bytes(hashlib.sha256(linkedid.encode()).digest()[:4], "big") % 10_000
            return "record" if bucket < self.percent * 100 else "off"
        return "off"

    @property
    def announces(self) -> bool:
        """Whether callers of this queue may be recorded (and so must be told)."""
        return self.mode != "none" and not (self.mode == "percent" and self.percent <= 0)


@dataclass(frozen=True, slots=True)
class SurveyPolicy:
    """After the agent hangs up, the caller answers ``questions`` (prompt names) with 1-5."""

    questions: tuple[str, ...] = ("cti/survey_q1",)
    thanks: str = "cti/survey_thanks"
    timeout_ms: int = 5000


def safe_name(value: str) -> str:
    """A linkedid as a file-name part: only [0-9A-Za-z._-], never empty, never a dot name."""
    cleaned = _UNSAFE.sub("_", value).strip(".") or "call"
    return cleaned[:80]


def recording_path(linkedid: str, n: int, started: datetime) -> str:
    """The file's path relative to the recordings directory: ``YYYY/MM/DD/HH/<linkedid>-<n>.wav``
    (UTC). One directory per hour keeps directories small at millions of files (a busy centre's
    hour holds a few thousand) and makes retention a walk over whole old directories."""
    at = started.astimezone(UTC)
    return f"{at:%Y/%m/%d/%H}/{safe_name(linkedid)}-{int(n)}.wav"
