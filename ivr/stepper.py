"""The IVR flow stepper: pure and synchronous. ``step(flow, state, event, now)`` returns the actions
to carry out (as data) and the next state; no I/O, the time is passed in.

The session's phase is an explicit state machine (``Phase`` + ``_TRANSITIONS``): each phase accepts
one kind of event (plus ``HungUp``); anything else raises ``IllegalTransition``. Every transition is
logged ``old -[event]-> new``. Termination is guaranteed for flows the validator accepts (see
``ivr.validate``); ``Flow.max_steps`` is a second, independent ceiling.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ivr import flow as f
from ivr.actions import (
    FINAL_ACTIONS,
    Action,
    Callback,
    Collect,
    Digits,
    Event,
    Handoff,
    Hangup,
    HungUp,
    Lookup,
    LookupResult,
    Play,
    PromptDone,
    SayDate,
    SayDigits,
    SayNumber,
    SetVar,
    Started,
    Transfer,
    Voicemail,
)
from ivr.directory import CallerIdentity
from ivr.errors import IllegalTransition
from ivr.hours import is_open
from ivr.language import sound_language

__all__ = [
    "FINAL_ACTIONS",
    "MASK",
    "Action",
    "Callback",
    "Collect",
    "Digits",
    "Event",
    "Handoff",
    "Hangup",
    "HungUp",
    "IvrState",
    "Lookup",
    "LookupResult",
    "Phase",
    "Play",
    "PromptDone",
    "SayDate",
    "SayDigits",
    "SayNumber",
    "SetVar",
    "Started",
    "StepResult",
    "Transfer",
    "Voicemail",
    "start_state",
    "step",
]

log = logging.getLogger(__name__)
MASK = "****"
_TEMPLATE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


# -- state ------------------------------------------------------------------------------------
class Phase(Enum):
    # Members are singletons: hashed by identity (Enum's own __hash__ is a Python call per lookup,
    # and the step looks its phase up in _TRANSITIONS twice).
    __hash__ = object.__hash__

    NEW = "new"
    PLAYING = "playing"  # waiting for PromptDone
    COLLECTING = "collecting"  # waiting for Digits
    LOOKING_UP = "looking_up"  # waiting for LookupResult
    FINISHED = "finished"


_ANY = frozenset(Phase)
_TRANSITIONS: dict[tuple[Phase, type], frozenset[Phase]] = {
    (Phase.NEW, Started): _ANY - {Phase.NEW},
    (Phase.PLAYING, PromptDone): _ANY - {Phase.NEW},
    (Phase.COLLECTING, Digits): _ANY - {Phase.NEW},
    (Phase.LOOKING_UP, LookupResult): _ANY - {Phase.NEW},
    (Phase.NEW, HungUp): frozenset({Phase.FINISHED}),
    (Phase.PLAYING, HungUp): frozenset({Phase.FINISHED}),
    (Phase.COLLECTING, HungUp): frozenset({Phase.FINISHED}),
    (Phase.LOOKING_UP, HungUp): frozenset({Phase.FINISHED}),
}


@dataclass(frozen=True)
class IvrState:
    phase: Phase = Phase.NEW
    node: str | None = None
    attempts: int = 0  # failed inputs at the current menu/collect
    visits: Mapping[str, int] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict, repr=False)
    language: str = "en"
    skills: Mapping[str, int] = field(default_factory=dict)
    priority: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    path: tuple[dict[str, Any], ...] = ()
    steps: int = 0  # node entries
    emergency: bool = False  # max_steps was hit once
    identity: CallerIdentity | None = None
    outcome: str | None = None  # queue | voicemail | callback | transfer | hangup | abandoned
    final: Action | None = None


@dataclass(frozen=True, slots=True)
class StepResult:
    actions: tuple[Action, ...]
    state: IvrState


def start_state(flow: f.Flow) -> IvrState:
    return IvrState(language=flow.language)


# -- the step ---------------------------------------------------------------------------------
def step(flow: f.Flow, state: IvrState, event: Event, now: float) -> StepResult:
    """Apply ``event`` to ``state``; return the actions to run and the new state."""
    allowed = _TRANSITIONS.get((state.phase, type(event)))
    if allowed is None:
        raise IllegalTransition(f"IVR {flow.flow}: {type(event).__name__} is not accepted while "
                                f"{state.phase.value} (node {state.node})")
    w = _Work(flow, state, now)
    if isinstance(event, HungUp):
        w.record(state.node, None, "hangup")
        w.outcome = "abandoned"
        w.phase = Phase.FINISHED
    elif isinstance(event, Started):
        w.vars.update(event.vars)
        if event.language:
            w.set_language(event.language)
        w.run(flow.start)
    elif isinstance(event, PromptDone):
        node = w.current()
        assert isinstance(node, f.Play)
        w.run(node.next)
    elif isinstance(event, Digits):
        w.on_digits(event)
    else:
        w.on_lookup(event)
    new = w.freeze()
    if new.phase not in allowed:  # pragma: no cover - guarded by construction
        raise IllegalTransition(f"IVR {flow.flow}: {state.phase.value} -> {new.phase.value} not allowed")
    if log.isEnabledFor(logging.DEBUG):
        log.debug("ivr %s: %s -[%s]-> %s (node %s)", flow.flow, state.phase.value, type(event).__name__,
                  new.phase.value, new.node)
    return StepResult(tuple(w.actions), new)


class _Work:
    """A mutable working copy of the state for one step; frozen again at the end."""

    def __init__(self, flow: f.Flow, s: IvrState, now: float) -> None:
        self.flow, self.now, self.s = flow, now, s
        self.phase = s.phase
        self.node = s.node
        self.attempts = s.attempts
        self.visits = dict(s.visits)
        self.vars = dict(s.vars)
        self.language = s.language
        self.skills = dict(s.skills)
        self.priority = s.priority
        self.attributes = dict(s.attributes)
        self.path = list(s.path)
        self.steps = s.steps
        self.emergency = s.emergency
        self.identity = s.identity
        self.outcome = s.outcome
        self.final: Action | None = s.final
        self.actions: list[Action] = []

    def freeze(self) -> IvrState:
        # Every field given: the constructor directly (dataclasses.replace looks the fields up again).
        return IvrState(phase=self.phase, node=self.node, attempts=self.attempts, visits=self.visits,
                        vars=self.vars, language=self.language, skills=self.skills, priority=self.priority,
                        attributes=self.attributes, path=tuple(self.path), steps=self.steps,
                        emergency=self.emergency, identity=self.identity, outcome=self.outcome, final=self.final)

    def current(self) -> f.Node:
        assert self.node is not None
        return self.flow.nodes[self.node]

    def record(self, node: str | None, input_: str | None = None, choice: str | None = None,
               **extra: str) -> None:
        self.path.append({"node": node, "label": self.flow.label_of(node), "at": self.now, "input": input_,
                          "choice": choice, **extra})

    def intent(self, attributes: Mapping[str, str]) -> str | None:
        """Why the caller came: the hand-off's ``topic`` attribute, else the last menu choice."""
        if attributes.get("topic"):
            return attributes["topic"]
        menus = {nid for nid, n in self.flow.nodes.items() if isinstance(n, f.Menu)}
        return next((str(p["choice"]) for p in reversed(self.path)
                     if p["node"] in menus and p["choice"] in self.flow.nodes), None)

    # -- inputs ---------------------------------------------------------------------------------
    def on_digits(self, ev: Digits) -> None:
        node = self.current()
        assert self.node is not None and isinstance(node, f.Menu | f.Collect)
        if isinstance(node, f.Menu):
            target = self.flow.menu_options(node).get(ev.digits)
            if target is not None:
                self.record(self.node, ev.digits, target)
                self.run(target)
                return
            kind = "timeout" if not ev.digits else "invalid"
            self.record(self.node, ev.digits, kind)
        else:
            shown = MASK if node.sensitive else ev.digits
            ok = node.min <= len(ev.digits) <= node.max and (
                node.pattern is None or re.fullmatch(node.pattern, ev.digits) is not None)
            if ok:
                self.vars[node.var] = ev.digits
                self.record(self.node, shown, "ok")
                self.run(node.next)
                return
            kind = "timeout" if not ev.digits else "invalid"
            self.record(self.node, shown if ev.digits else "", kind)
        self.attempts += 1
        if self.attempts > node.retries:
            fallback = self.flow.fallback_of(node)
            assert fallback is not None
            self.record(self.node, None, "retries_exhausted")
            self.run(fallback)
            return
        extra = node.timeout_prompt if kind == "timeout" else node.invalid_prompt
        self.ask(node, [*extra, *node.prompt])

    def on_lookup(self, ev: LookupResult) -> None:
        node = self.current()
        assert self.node is not None and isinstance(node, f.Lookup)
        if node.by == "account":
            self.vars.pop(node.pin_var, None)  # the PIN has served its purpose
        if ev.crm:
            self.attributes["crm"] = ev.crm  # the agent's pop says the CRM was away
        if ev.identity is None:
            self.record(self.node, None, "not_found")
            self.run(node.not_found)
            return
        ident = ev.identity
        self.identity = ident
        self.vars.update({"customer_id": str(ident.customer_id), "customer_name": ident.name,
                          "tier": ident.tier, "identified_by": node.by})
        if ident.account_number:
            self.vars["account_number"] = ident.account_number
        if ident.language:
            self.set_language(ident.language)
        self.record(self.node, None, "found")
        self.run(node.found)

    # -- walking the graph ----------------------------------------------------------------------
    def run(self, target: str) -> None:
        """Enter ``target`` and keep going through nodes that need no input."""
        while True:
            self.steps += 1
            if self.steps > self.flow.max_steps:
                log.warning("ivr %s: max_steps %d reached at %s", self.flow.flow, self.flow.max_steps, target)
                self.record(target, None, "max_steps")
                if self.flow.operator is not None and not self.emergency:
                    self.emergency = True
                    target = self.flow.operator
                else:
                    self.end(Hangup(), "hangup")
                    return
            node = self.flow.nodes[target]
            self.node = target
            self.attempts = 0
            self.visits[target] = self.visits.get(target, 0) + 1
            limit = node.visit_limit()
            if limit is not None and self.visits[target] > limit:
                nxt = self.flow.exhausted_of(node)
                assert nxt is not None
                self.record(target, None, "exhausted")
                target = nxt
                continue
            nxt = self.enter(target, node)
            if nxt is None:
                return
            target = nxt

    def enter(self, node_id: str, node: f.Node) -> str | None:
        """Act on entering a node; return the next node for pass-through nodes, None when waiting."""
        if isinstance(node, f.Play):
            self.record(node_id)
            self.actions.extend(self.render(node.prompt, node.interruptible))
            self.phase = Phase.PLAYING
            return None
        if isinstance(node, f.Menu | f.Collect):
            self.ask(node, node.prompt)
            return None
        if isinstance(node, f.Lookup):
            return self.lookup(node_id, node)
        if isinstance(node, f.Branch):
            for case in node.cases:
                if self.holds(case.when):
                    self.record(node_id, None, case.goto)
                    return case.goto
            self.record(node_id, None, node.default)
            return node.default
        if isinstance(node, f.SetNode):
            self.record(node_id)
            for k, v in node.vars.items():
                self.vars[k] = self.fill(v)
            for k, v in node.attributes.items():
                self.attributes[k] = self.fill(v)
            self.skills.update(node.skills)
            if node.priority is not None:
                self.priority = node.priority
            if node.language is not None:
                self.set_language(node.language)
            return node.next
        self.finish(node_id, node)
        return None

    def ask(self, node: f.Menu | f.Collect, prompt: list[f.PromptItem]) -> None:
        # The trailing run of sounds goes into the Collect itself (GET DATA plays "a&b" and stops at
        # the first key); say items before it are played first, not interruptible.
        cut = len(prompt)
        while cut > 0 and isinstance(prompt[cut - 1], str):
            cut -= 1
        head, tail = prompt[:cut], prompt[cut:]
        self.actions.extend(self.render(head, False))
        if isinstance(node, f.Menu):
            width = max(len(k) for k in self.flow.menu_options(node))
            lo, hi = 1, width
        else:
            lo, hi = node.min, node.max
        sounds = tuple(snd for x in tail if isinstance(x, str) for snd in self.flow.sound_for(x, self.language))
        assert sounds  # the validator requires a menu/collect prompt to end with a sound
        self.actions.append(Collect(sounds, lo, hi, node.timeout_ms))
        self.phase = Phase.COLLECTING

    def lookup(self, node_id: str, node: f.Lookup) -> str | None:
        if node.by == "caller_id":
            number = self.vars.get("caller_number", "")
            if not number:
                self.record(node_id, None, "not_found")
                return node.not_found
            self.actions.append(Lookup("caller_id", number))
        else:
            account = self.vars.get(node.account_var, "")
            pin = self.vars.get(node.pin_var, "")
            if not account or not pin:
                self.vars.pop(node.pin_var, None)
                self.record(node_id, None, "not_found")
                return node.not_found
            self.actions.append(Lookup("account", account, pin))
        self.phase = Phase.LOOKING_UP
        return None

    def finish(self, node_id: str, node: f.Node) -> None:
        assert isinstance(node, f.FINAL_TYPES)
        outcome = node.type
        if isinstance(node, f.Queue):
            attrs = {**self.attributes, **{k: self.fill(v) for k, v in node.attributes.items()}}
            intent = self.intent(attrs)
            self.record(node_id, None, outcome, **({"intent": intent} if intent else {}))
        else:
            self.record(node_id, None, outcome)
        if node.prompt:
            self.actions.extend(self.render(node.prompt, False))
        final: Action
        if isinstance(node, f.Queue):
            skills = {**self.skills, **self.flow.skills_for(self.language), **node.skills}
            final = Handoff(node.queue, skills, self.handoff_priority(node), attrs, self.language)
        elif isinstance(node, f.Voicemail):
            final = Voicemail(node.mailbox)
        elif isinstance(node, f.Callback):
            final = Callback(self.fill(node.number), node.queue)
        elif isinstance(node, f.Transfer):
            final = Transfer(node.number)
        else:
            final = Hangup()
        self.end(final, outcome)

    def end(self, final: Action, outcome: str) -> None:
        self.actions.append(final)
        self.final = final
        self.outcome = outcome
        self.phase = Phase.FINISHED

    def handoff_priority(self, node: f.Queue) -> int:
        if node.priority is not None:
            return node.priority
        if self.priority is not None:
            return self.priority
        return self.flow.priorities.get(self.vars.get("tier", ""), 0)

    # -- helpers --------------------------------------------------------------------------------
    def set_language(self, language: str) -> None:
        # The CRM's zh-CN on a line already speaking zh changes no sound: only the tag is kept.
        if sound_language(language) != sound_language(self.language):
            # Asterisk picks sounds/<language>/ for every later prompt (falling back to en).
            self.actions.append(SetVar("CHANNEL(language)", sound_language(language)))
        self.language = language

    def render(self, items: list[f.PromptItem], interruptible: bool) -> list[Action]:
        out: list[Action] = []
        sounds: list[str] = []
        for item in items:
            if isinstance(item, str):
                sounds.extend(self.flow.sound_for(item, self.language))
                continue
            if sounds:
                out.append(Play(tuple(sounds), interruptible))
                sounds = []
            if item.digits is not None:
                value = re.sub(r"[^0-9*#]", "", self.fill(item.digits))
                if value:
                    out.append(SayDigits(value))
            elif item.number is not None:
                num = self.fill(item.number)
                if num.lstrip("-").isdigit():
                    out.append(SayNumber(int(num)))
            elif item.date is not None:
                when = self.fill(item.date)
                if when.isdigit():
                    out.append(SayDate(int(when), self.flow.hours.timezone))
        if sounds:
            out.append(Play(tuple(sounds), interruptible))
        return out

    def fill(self, template: str) -> str:
        return _TEMPLATE.sub(lambda m: self.vars.get(m.group(1), ""), template)

    def holds(self, cond: f.Condition) -> bool:
        if cond.hours is not None:
            return is_open(self.flow.hours, self.now) == (cond.hours == "open")
        assert cond.var is not None
        value = self.vars.get(cond.var)
        if cond.exists is not None:
            return (value is not None and value != "") == cond.exists
        if cond.equals is not None:
            return value == cond.equals
        if cond.in_ is not None:
            return value in cond.in_
        if cond.not_in is not None:
            return value not in cond.not_in
        assert cond.matches is not None
        return value is not None and re.fullmatch(cond.matches, value) is not None
