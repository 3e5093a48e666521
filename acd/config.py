"""Queues from ``config/queues.yaml``: ``load_queues`` for the engine, ``check_queues`` for ``cti check``.

Agents are not configured here (they come from the CRM users); the optional ``agents:`` section is
the demo company's roster, the one list ``cti db seed-demo`` creates its agent users from
(``demo_agents``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from acd.model import MAX_LEVEL, MIN_LEVEL, LimitKind, LimitSpec, QueueConfig, RoutingStep, Strategy
from acd.recording import RecordingPolicy, SurveyPolicy
from acd.virtual_hold import VirtualHoldPolicy, callback_allowance_s
from cti.config_problems import KeyLines, Loc, Problem, bracketed, validate_all
from cti.errors import ConfigError
from cti.settings import Settings, load_yaml

# The CTI_ACD entry separates fields with "|", the IVR's hand-off MSet splits on ",", and the
# fallback's app_queue queue is cti-fallback-<name>: a queue's name holds none of those.
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
FILE_NAME = "queues.yaml"
# Each position announcement redirects the caller into cti-announce anew, cutting off one still
# playing: the longest lasts about 22 s (Chinese: more than 20 callers ahead, a range of more than
# 20 minutes; an English one up to about 18 s), so a shorter period never lets a caller hear one
# whole (tests/asterisk/caller/test_announcement_length.py measures them on the sound files).
MIN_ANNOUNCE_EVERY_S = 25.0
# A hangup action's announcement goes to Playback() through a channel variable: a sound name only.
_SOUND = re.compile(r"[A-Za-z0-9_/\-]{1,128}")

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSpec(_Model):
    after_s: float = Field(0.0, ge=0)
    skills: dict[str, int] = {}
    call_skill_cap: int | None = Field(None, ge=0, le=MAX_LEVEL)


class LimitActionSpec(_Model):
    action: Literal["voicemail", "callback", "queue", "hangup"]
    target: str | None = None  # the queue for "queue"; the announcement for "hangup"


class OverflowSpec(_Model):
    after_s: float = Field(gt=0)
    to: str


class RecordingSpec(_Model):
    """``recording:`` of a queue: all | none | on_demand, or {percent: N}."""

    mode: Literal["all", "none", "percent", "on_demand"] = "none"
    percent: float = Field(0.0, ge=0, le=100)


class SurveySpec(_Model):
    """``survey:`` of a queue: the questions (prompt names) callers answer with 1-5."""

    questions: list[str] = Field(default_factory=lambda: ["cti/survey_q1"], min_length=1, max_length=2)
    thanks: str = "cti/survey_thanks"
    timeout_ms: int = Field(5000, ge=1000, le=30000)


def _recording_spec(value: Any) -> Any:
    if isinstance(value, str):
        return {"mode": value}
    if isinstance(value, dict) and "percent" in value and "mode" not in value:
        return {"mode": "percent", **value}
    return value


class VirtualHoldSpec(_Model):
    """``virtual_hold:`` of a queue: the waiting caller may press ``key`` to be called back at its
    turn (docs/callbacks.md)."""

    key: str = Field("*", pattern=r"^[0-9*#]$")
    prompt: str = Field("cti/vhold_offer", pattern=r"^[A-Za-z0-9_/\-]{1,128}$")
    accepted_prompt: str = Field("cti/thanks", pattern=r"^[A-Za-z0-9_/\-]{1,128}$")
    offer_after_s: float | None = Field(60.0, ge=0)
    offer_ewt_s: float | None = Field(120.0, ge=0)
    first_offer_s: float = Field(5.0, ge=0)
    reoffer_every_s: float | None = Field(60.0, gt=0)
    confirm: bool = False
    confirm_prompt: str = Field("cti/vhold_confirm", pattern=r"^[A-Za-z0-9_/\-]{1,128}$")
    confirm_timeout_s: float = Field(8.0, gt=0, le=60)
    max_attempts: int = Field(3, ge=1, le=20)
    retry_pause_s: float = Field(120.0, ge=0)
    ring_s: float = Field(30.0, gt=0, le=120)
    caller_id: str | None = Field(None, pattern=r"^\+?[0-9]{3,20}$")


class QueueSpec(_Model):
    strategy: Literal["longest_idle", "most_skilled", "round_robin"] = "longest_idle"
    steps: list[StepSpec] = Field(default_factory=lambda: [StepSpec.model_validate({})])
    wrap_up_s: float = Field(10.0, ge=0)
    ring_timeout_s: float = Field(15.0, gt=0)
    max_wait_s: float | None = Field(None, gt=0)
    max_wait_action: LimitActionSpec | None = None
    # While no engine runs: app_queue rings the agents' phones, or straight to voicemail.
    fallback: Literal["app_queue", "voicemail"] = "app_queue"
    max_length: int | None = Field(None, ge=1)
    max_length_action: LimitActionSpec | None = None
    no_agents_action: LimitActionSpec | None = None
    overflow: OverflowSpec | None = None
    announce_every_s: float | None = Field(None, gt=0)
    service_level_s: float | None = Field(None, gt=0)
    short_abandon_s: float = Field(5.0, ge=0)
    preferred_agent_s: float = Field(0.0, ge=0)
    recording: Annotated[RecordingSpec, BeforeValidator(_recording_spec)] = RecordingSpec()
    survey: SurveySpec | None = None
    virtual_hold: VirtualHoldSpec | None = None


class DemoAgentSpec(_Model):
    username: str | None = Field(None, pattern=r"^[a-z][a-z0-9_.\-]{1,63}$")  # default: agent<id>
    name: str = ""
    skills: dict[str, int] = {}
    queues: list[str] = []
    capacity: int = Field(1, ge=1)
    wrap_up_s: float | None = Field(None, ge=0)


class QueuesFile(_Model):
    skills: list[str]
    service_level_s: float = Field(20.0, gt=0)
    # Where a caller goes whose IVR was lost (no engine, or it died under the call): this queue's
    # music, then the engine routes it; unset: such a caller is hung up (docs/resilience.md).
    ivr_lost_queue: str | None = None
    queues: dict[str, QueueSpec]
    agents: dict[str, DemoAgentSpec] = {}


@dataclass(frozen=True, slots=True)
class DemoAgent:
    agent_id: str
    username: str
    name: str
    skills: dict[str, int]
    queues: tuple[str, ...]
    capacity: int
    wrap_up_s: float | None


@dataclass(frozen=True, slots=True)
class AcdConfig:
    skills: tuple[str, ...]
    queues: tuple[QueueConfig, ...]
    agents: tuple[DemoAgent, ...]
    # Per queue name (docs/recording.md); queues left out are not recorded and ask no survey.
    recording: dict[str, RecordingPolicy] = dataclasses.field(default_factory=dict)
    surveys: dict[str, SurveyPolicy] = dataclasses.field(default_factory=dict)
    virtual_hold: dict[str, VirtualHoldPolicy] = dataclasses.field(default_factory=dict)  # docs/callbacks.md
    # Queues whose callers app_queue serves while no engine runs (the others: voicemail).
    app_queue_fallback: frozenset[str] = frozenset()
    ivr_lost_queue: str | None = None  # see QueuesFile

    def queue(self, name: str) -> QueueConfig:
        return next(q for q in self.queues if q.name == name)


def queues_path(settings: Settings) -> Path:
    return settings.config_dir / FILE_NAME


def load_queues(settings: Settings) -> AcdConfig:
    """The queue configuration; ``ConfigError`` naming the file, queue and field when it is invalid."""
    path = queues_path(settings)
    spec, problems = _read(path)
    if spec is None or problems:
        raise ConfigError("\n".join(problems))
    return _build(spec)


def demo_agents(config_dir: Path) -> tuple[DemoAgent, ...]:
    """The ``agents:`` roster of ``<config_dir>/queues.yaml`` (none without the file); ``ConfigError``
    when the file is invalid."""
    path = config_dir / FILE_NAME
    if not path.exists():
        return ()
    spec, problems = _read(path)
    if spec is None or problems:
        raise ConfigError("\n".join(problems))
    return _build(spec).agents


def declared_names(settings: Settings) -> tuple[set[str], set[str]] | None:
    """The queue and skill names of the queue configuration, also when it has problems (what the
    other files name is checked against them); None when the file cannot be read at all."""
    path = queues_path(settings)
    spec, _ = _read(path)
    if spec is None:
        return None
    raw = load_yaml(path)
    declared = raw.get("queues") if isinstance(raw, dict) else None
    return set(spec.queues) | (set(map(str, declared)) if isinstance(declared, dict) else set()), set(spec.skills)


def read_queues(settings: Settings) -> QueuesFile | None:
    """The queue configuration less the parts that have problems (which ``check_queues`` reports);
    None when the file cannot be read at all."""
    return _read(queues_path(settings))[0]


def check_queues(settings: Settings) -> list[str]:
    """Every problem of the queue configuration, each naming the file, the queue and the field."""
    return _read(queues_path(settings))[1]


def _read(path: Path) -> tuple[QueuesFile | None, list[str]]:
    """The file's model (its broken parts set aside, when it has any) and every problem it has."""
    try:
        raw: Any = load_yaml(path)
    except FileNotFoundError:
        return None, [f"{path}: missing"]
    except yaml.YAMLError as err:
        return None, [f"{path}: not valid YAML: {err}"]
    checked = validate_all(QueuesFile, raw)
    spec, problems = checked.model, checked.problems
    if spec is not None:
        declared = raw.get("queues") if isinstance(raw, dict) else None
        # A queue set aside for its own problem is still a queue the others may name.
        names = set(spec.queues) | ({str(k) for k in declared} if isinstance(declared, dict) else set())
        problems += checked.unaffected(_cross_check(spec, names))
    if not problems:
        return spec, []
    problems = [dataclasses.replace(p, dotted=bracketed(p.loc)) for p in problems]
    lines = KeyLines.of(path)
    return spec, [p.render(path, lines) for p in sorted(problems, key=lambda p: lines.line(p.loc) or 0)]


def _cross_check(spec: QueuesFile, queue_names: set[str]) -> list[Problem]:
    known = set(spec.skills)
    problems: list[Problem] = []

    def problem(loc: Loc, message: str) -> None:
        problems.append(Problem(loc, message))

    def skills(where: Loc, values: dict[str, int]) -> None:
        for skill, level in values.items():
            if skill not in known:
                problem((*where, skill), "unknown skill (declare it under skills:)")
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                problem((*where, skill), f"level {level} outside {MIN_LEVEL}..{MAX_LEVEL}")

    if not spec.queues:
        problem(("queues",), "at least one queue is needed")
    if spec.ivr_lost_queue is not None and spec.ivr_lost_queue not in queue_names:
        problem(("ivr_lost_queue",), f"unknown queue {spec.ivr_lost_queue!r}")
    for name, q in spec.queues.items():
        where: Loc = ("queues", name)
        if not _QUEUE_NAME.fullmatch(name):
            problem(where, "a queue's name is 1-64 letters, digits, '_' or '-' (it travels in "
                           "channel variables, AGI commands and app_queue's queue names)")
        if not q.steps:
            problem((*where, "steps"), "at least one step is needed")
        elif q.steps[0].after_s != 0:
            problem((*where, "steps", 0, "after_s"), "the first step starts at 0")
        for i, step in enumerate(q.steps):
            skills((*where, "steps", i, "skills"), step.skills)
            if i and step.after_s <= q.steps[i - 1].after_s:
                problem((*where, "steps", i, "after_s"), "must be later than the step before")
        if q.overflow is not None and q.overflow.to not in queue_names:
            problem((*where, "overflow", "to"), f"unknown queue {q.overflow.to!r}")
        if q.overflow is not None and q.overflow.to == name:
            problem((*where, "overflow", "to"), "a queue cannot overflow to itself")
        for field in ("max_wait_action", "max_length_action", "no_agents_action"):
            action: LimitActionSpec | None = getattr(q, field)
            if action is not None and action.action == "queue":
                if action.target not in queue_names or action.target == name:
                    problem((*where, field, "target"), f"needs another configured queue, got {action.target!r}")
            if action is not None and action.action == "hangup" and action.target is not None \
                    and not _SOUND.fullmatch(action.target):
                problem((*where, field, "target"), "a sound name: 1-128 letters, digits, '_', '/' or '-' "
                        f"(e.g. cti/queue_closing), got {action.target!r}")
        if q.announce_every_s is not None and q.announce_every_s < MIN_ANNOUNCE_EVERY_S:
            problem((*where, "announce_every_s"), f"at least {MIN_ANNOUNCE_EVERY_S:g} s: each announcement cuts "
                    "off the one still playing, and one lasts up to about 22 s (Chinese, a range of minutes)")
        if q.max_wait_s is not None and q.max_wait_action is None:
            problem((*where, "max_wait_action"), "needed when max_wait_s is set")
        if q.max_length is not None and q.max_length_action is None:
            problem((*where, "max_length_action"), "needed when max_length is set")
    logins: dict[str, str] = {}
    for agent_id, agent in spec.agents.items():
        login = _username(agent_id, agent)
        if login in logins:
            problem(("agents", agent_id, "username"), f"{login!r} is also agent {logins[login]}'s")
        logins.setdefault(login, agent_id)
        skills(("agents", agent_id, "skills"), agent.skills)
        for queue in agent.queues:
            if queue not in queue_names:
                problem(("agents", agent_id, "queues"), f"unknown queue {queue!r}")
    return problems


def _username(agent_id: str, agent: DemoAgentSpec) -> str:
    return agent.username or f"agent{agent_id}"


def _limit(spec: LimitActionSpec | None) -> LimitSpec | None:
    return None if spec is None else LimitSpec(LimitKind(spec.action), spec.target)


def _vh_policy(spec: VirtualHoldSpec) -> VirtualHoldPolicy:
    return VirtualHoldPolicy(**spec.model_dump())


def _build(spec: QueuesFile) -> AcdConfig:
    queues = tuple(
        QueueConfig(
            name=name,
            steps=tuple(RoutingStep(s.after_s, dict(s.skills), s.call_skill_cap) for s in q.steps),
            strategy=Strategy(q.strategy),
            wrap_up_s=q.wrap_up_s,
            ring_timeout_s=q.ring_timeout_s,
            max_wait_s=q.max_wait_s,
            max_wait_action=_limit(q.max_wait_action),
            max_length=q.max_length,
            max_length_action=_limit(q.max_length_action),
            no_agents_action=_limit(q.no_agents_action),
            overflow_after_s=q.overflow.after_s if q.overflow else None,
            overflow_to=q.overflow.to if q.overflow else None,
            announce_every_s=q.announce_every_s,
            service_level_s=q.service_level_s if q.service_level_s is not None else spec.service_level_s,
            short_abandon_s=q.short_abandon_s,
            preferred_agent_s=q.preferred_agent_s,
            callback_ring_s=callback_allowance_s(_vh_policy(q.virtual_hold)) if q.virtual_hold else 30.0,
        )
        for name, q in spec.queues.items()
    )
    agents = tuple(
        DemoAgent(agent_id, _username(agent_id, a), a.name, dict(a.skills), tuple(a.queues), a.capacity,
                  a.wrap_up_s)
        for agent_id, a in spec.agents.items()
    )
    recording = {name: RecordingPolicy(q.recording.mode, q.recording.percent) for name, q in spec.queues.items()}
    surveys = {name: SurveyPolicy(tuple(q.survey.questions), q.survey.thanks, q.survey.timeout_ms)
               for name, q in spec.queues.items() if q.survey is not None}
    virtual_hold = {name: _vh_policy(q.virtual_hold) for name, q in spec.queues.items() if q.virtual_hold is not None}
    fallback = frozenset(name for name, q in spec.queues.items() if q.fallback == "app_queue")
    return AcdConfig(tuple(spec.skills), queues, agents, recording, surveys, virtual_hold, fallback,
                     spec.ivr_lost_queue)
