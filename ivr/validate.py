"""Validation of IVR flows. Every problem names the file, the node and the field.

Termination rule (what makes "no caller is trapped" provable): every menu and collect gets a
bounded number of retries and a bounded number of visits (``max_visits``, default 3), any other
node may carry ``max_visits`` + ``on_exhausted``. Build the graph G' in which a node with a visit
limit keeps only its ``on_exhausted`` edge and every other node keeps all its edges: G' must be
acyclic. Then between two "live" entries of a limited node (at most sum(max_visits) of those) the
walk follows G' edges, so it enters at most N nodes; each entry consumes at most retries+1 inputs.
``step_bound`` turns this into a number the property tests check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from cti.config_problems import validate_all
from ivr import flow as f
from ivr.hours import problems as hours_problems
from ivr.language import is_language_tag, same_language
from ivr.sounds import SoundIndex

_TEMPLATE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def parse(data: Any, source: str) -> tuple[f.Flow | None, list[str]]:
    """Build a Flow from YAML data; on failure, problems as ``file: node 'x': field 'y': msg``."""
    flow, problems, _ = parse_partial(data, source)
    return (None if problems else flow), problems


def parse_partial(data: Any, source: str) -> tuple[f.Flow | None, list[str], frozenset[str]]:
    """``parse``, but also the flow less the nodes (and other parts) that have schema problems, so
    that ``validate`` can still check the rest, and the ids of the nodes set aside."""
    if not isinstance(data, dict):
        return None, [f"{source}: expected a mapping with flow, entries, start and nodes"], frozenset()
    checked = validate_all(f.Flow, data)
    out = []
    for problem in checked.problems:
        loc = [str(p) for p in problem.loc]
        msg = problem.message
        if len(loc) >= 2 and loc[0] == "nodes":
            node = loc[1]
            rest = loc[2:]
            if rest and rest[0] in _NODE_TYPES:
                rest = rest[1:]  # pydantic puts the union tag in the location
            field = ".".join(rest) or "type"
            out.append(f"{source}: node '{node}': field '{field}': {msg}")
        else:
            out.append(f"{source}: field '{'.'.join(loc) or '(top level)'}': {msg}")
    nodes = data.get("nodes")
    aside = frozenset(str(n) for n in nodes if isinstance(nodes, dict) and checked.model is not None
                      and n not in checked.model.nodes) if isinstance(nodes, dict) else frozenset()
    return checked.model, out, aside


_NODE_TYPES = {"play", "menu", "collect", "lookup", "branch", "set", "queue", "voicemail", "callback",
               "transfer", "hangup"}


def edges(flow: f.Flow, node: f.Node) -> Iterator[tuple[str, str]]:
    """(field, target) for every way out of ``node``."""
    if isinstance(node, f.Play | f.Collect | f.SetNode):
        yield "next", node.next
    if isinstance(node, f.Menu):
        for key, target in flow.menu_options(node).items():
            yield f"options.{key}", target
    if isinstance(node, f.Menu | f.Collect):
        fb = flow.fallback_of(node)
        if fb is not None:
            yield "fallback", fb
    if isinstance(node, f.Lookup):
        yield "found", node.found
        yield "not_found", node.not_found
    if isinstance(node, f.Branch):
        for i, case in enumerate(node.cases):
            yield f"cases.{i}.goto", case.goto
        yield "default", node.default
    ex = flow.exhausted_of(node)
    if ex is not None:
        yield "on_exhausted", ex


def validate(flow: f.Flow, source: str, sounds: SoundIndex | None = None,
             set_aside: frozenset[str] = frozenset()) -> list[str]:
    """Every problem of a parsed flow (empty list: the flow is sound). ``set_aside``: nodes the file
    has that were left out for problems of their own (``parse_partial``): they count as existing
    targets, and the checks that need the whole graph are left until they are fixed."""
    out: list[str] = []

    def err(node: str | None, field: str, msg: str) -> None:
        where = f"node '{node}': " if node else ""
        out.append(f"{source}: {where}field '{field}': {msg}")

    nodes = flow.nodes
    if flow.start not in nodes and flow.start not in set_aside:
        err(None, "start", f"unknown node '{flow.start}'")
    if flow.operator is not None and flow.operator not in set_aside:
        op = nodes.get(flow.operator)
        if op is None:
            err(None, "operator", f"unknown node '{flow.operator}'")
        elif not isinstance(op, f.Queue) or op.max_visits is not None:
            err(None, "operator", f"'{flow.operator}' must be a queue node without max_visits")
    for field, msg in hours_problems(flow.hours):
        err(None, field, msg)
    seen: list[str] = []
    for lang in flow.language_skills:
        if not is_language_tag(lang):
            err(None, f"language_skills.{lang}", "not a language tag (e.g. zh, zh-CN, en-US)")
            continue
        twin = next((k for k in seen if same_language(k, lang)), None)
        if twin is not None:
            err(None, f"language_skills.{lang}", f"the same language as '{twin}' (languages match by "
                "their primary subtag: zh-CN is zh)")
        seen.append(lang)

    sensitive = {n.var for n in nodes.values() if isinstance(n, f.Collect) and n.sensitive}
    collected = {n.var for n in nodes.values() if isinstance(n, f.Collect)}
    for nid, node in nodes.items():
        for field, target in edges(flow, node):
            if target not in nodes and target not in set_aside:
                err(nid, field, f"unknown node '{target}'")
        _check_node(flow, nid, node, err, sensitive, collected, whole=not set_aside)
        for field, item in _prompts(node):
            if isinstance(item, str):
                _check_sound(flow, item, sounds, lambda m, nid=nid, field=field: err(nid, field, m))
    for alias, by_lang in flow.prompts.items():
        for lang, candidates in by_lang.items():
            if sounds is not None and _pick(candidates, lang, sounds.exists) is None:
                shown = ", ".join(repr("+".join(c)) for c in candidates)
                err(None, f"prompts.{alias}.{lang}", f"none of {shown} found in {sounds.root}/{lang}")
    if out or set_aside:
        return out  # graph checks need every target to exist

    reach = _reachable(flow)
    for nid in nodes:
        if nid not in reach:
            err(nid, "(node)", "unreachable from start")
    cycle = find_unbounded_cycle(flow)
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        err(cycle[0], "(graph)", f"loop without exit: {path}; give one of these nodes max_visits and "
            "on_exhausted, or route the loop through a menu/collect")
    return out


def _check_node(flow: f.Flow, nid: str, node: f.Node, err: Any, sensitive: set[str], collected: set[str],
                whole: bool = True) -> None:
    """``whole``: every node of the file is in ``flow`` (else the checks that look at other nodes wait)."""
    if isinstance(node, f.Menu | f.Collect):
        if not isinstance(node.prompt[-1], str):
            err(nid, "prompt", "must end with a sound (the one played while waiting for keys)")
        if flow.fallback_of(node) is None:
            err(nid, "fallback", "missing, and the flow has no operator to fall back to")
    if isinstance(node, f.Menu):
        opts = flow.menu_options(node)
        if len({len(k) for k in opts}) > 1:
            err(nid, "options", "all keys must have the same length (GET DATA reads a fixed count)")
        if whole and not any(_leads_to_human(flow, t) for t in opts.values()):
            err(nid, "options", "no way out to a human: add an option leading to a queue node "
                "(or set the flow's operator and keep operator_key)")
    if isinstance(node, f.Collect) and node.pattern is not None:
        try:
            re.compile(node.pattern)
        except re.error as e:
            err(nid, "pattern", f"bad regular expression: {e}")
    if isinstance(node, f.Branch):
        for i, case in enumerate(node.cases):
            if case.when.matches is not None:
                try:
                    re.compile(case.when.matches)
                except re.error as e:
                    err(nid, f"cases.{i}.when.matches", f"bad regular expression: {e}")
            if case.when.hours is not None and not flow.hours.weekly:
                err(nid, f"cases.{i}.when.hours", "the flow defines no hours.weekly (always closed)")
    if isinstance(node, f.Lookup) and node.by == "account" and whole:
        if node.account_var not in collected:
            err(nid, "account_var", f"no collect node sets '{node.account_var}'")
        if node.pin_var not in sensitive:
            err(nid, "pin_var", f"'{node.pin_var}' must be collected by a collect node with sensitive: true")
    if node.max_visits is not None and flow.exhausted_of(node) is None:
        err(nid, "on_exhausted", "required with max_visits")
    for field, text in _templates(node):
        for var in _TEMPLATE.findall(text):
            if var in sensitive:
                err(nid, field, f"uses sensitive variable '{var}' (it is masked everywhere)")


def _prompts(node: f.Node) -> Iterator[tuple[str, f.PromptItem]]:
    for name in ("prompt", "invalid_prompt", "timeout_prompt"):
        for item in getattr(node, name, None) or []:
            yield name, item


def _templates(node: f.Node) -> Iterator[tuple[str, str]]:
    for name, item in _prompts(node):
        if not isinstance(item, str):
            yield name, item.digits or item.number or item.date or ""
    if isinstance(node, f.SetNode):
        for k, v in node.vars.items():
            yield f"vars.{k}", v
    if isinstance(node, f.SetNode | f.Queue):
        for k, v in node.attributes.items():
            yield f"attributes.{k}", v
    if isinstance(node, f.Callback):
        yield "number", node.number


def _check_sound(flow: f.Flow, name: str, sounds: SoundIndex | None, report: Any) -> None:
    if name in flow.prompts or sounds is None:
        return
    if not sounds.exists(name, flow.language):
        report(f"{sounds.not_found(name, [flow.language])} (and not a prompts alias)")


def _leads_to_human(flow: f.Flow, target: str) -> bool:
    seen: set[str] = set()
    while target in flow.nodes and target not in seen:
        seen.add(target)
        node = flow.nodes[target]
        if isinstance(node, f.Queue):
            return True
        if isinstance(node, f.SetNode | f.Play):
            target = node.next
            continue
        return False
    return False


def _reachable(flow: f.Flow) -> set[str]:
    todo = [flow.start] + ([flow.operator] if flow.operator else [])
    seen: set[str] = set()
    while todo:
        nid = todo.pop()
        if nid in seen or nid not in flow.nodes:
            continue
        seen.add(nid)
        todo.extend(t for _, t in edges(flow, flow.nodes[nid]))
    return seen


def _bounded_graph(flow: f.Flow) -> dict[str, list[str]]:
    """G': limited nodes keep only their exhausted edge."""
    g: dict[str, list[str]] = {}
    for nid, node in flow.nodes.items():
        if node.visit_limit() is not None:
            ex = flow.exhausted_of(node)
            g[nid] = [ex] if ex is not None else []
        else:
            g[nid] = [t for _, t in edges(flow, node)]
    return g


def find_unbounded_cycle(flow: f.Flow) -> list[str] | None:
    """A cycle of G' (nodes in order), or None when G' is acyclic."""
    g = _bounded_graph(flow)
    color: dict[str, int] = {}
    stack: list[str] = []
    for root in g:
        if color.get(root):
            continue
        it_stack = [(root, iter(g[root]))]
        color[root] = 1
        stack.append(root)
        while it_stack:
            nid, it = it_stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[nid] = 2
                stack.pop()
                it_stack.pop()
                continue
            if nxt not in g:
                continue
            c = color.get(nxt, 0)
            if c == 1:
                return stack[stack.index(nxt):]
            if c == 0:
                color[nxt] = 1
                stack.append(nxt)
                it_stack.append((nxt, iter(g[nxt])))
    return None


def step_bound(flow: f.Flow) -> int:
    """An upper bound on the events a session of an accepted flow can take (see module doc)."""
    n = len(flow.nodes)
    limits = sum(node.visit_limit() or 0 for node in flow.nodes.values())
    entries = (limits + 1) * (n + 1)
    retries = max([node.retries for node in flow.nodes.values() if isinstance(node, f.Menu | f.Collect)] or [0])
    return entries * (retries + 1) + 2


def resolve_prompts(flow: f.Flow, exists: Callable[[str, str], bool] | None) -> f.Flow:
    """Keep, per alias and language, the first candidate sound that ``exists``; all of them stay
    (the first is used) when nothing is known about the sounds."""
    if exists is None:
        return flow
    chosen: dict[str, dict[str, list[list[str]]]] = {}
    for alias, by_lang in flow.prompts.items():
        chosen[alias] = {lang: [_pick(candidates, lang, exists) or candidates[-1]]
                         for lang, candidates in by_lang.items()}
    return flow.model_copy(update={"prompts": chosen})


def _pick(candidates: list[list[str]], lang: str, exists: Callable[[str, str], bool]) -> list[str] | None:
    return next((c for c in candidates if all(exists(snd, lang) for snd in c)), None)
