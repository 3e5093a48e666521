"""Every problem of a configuration file in one run, each naming the file, the key and the line.

    checked = validate_all(QueuesFile, data)    # .model, .problems: [Problem(loc, message)], all of them
    more = checked.unaffected(own(checked.model))  # the file's own checks, less what a set-aside part caused
    lines = KeyLines.of(path)                   # where each key sits in the YAML text
    text = problem.render(path, lines)          # "<file>: queues.q.wrap_up: ... (line 7)"

Pydantic stops at the schema: a model whose fields fail never reaches its model validators, and the
file's own checks that need a validated model (a skill's level, a queue that names another) never
run, so a file was fixed one problem per run. ``validate_all`` reports the schema errors, sets the
broken parts aside (the key removed, so its default applies, or the entry that holds it) and validates
again, so what is left is a model those checks can still run on. Errors that only follow from what
was set aside are not reported.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
_MAX_ROUNDS = 50  # each round removes at least one part of the file: a bound, never reached by a real file


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc  # the key path in the file as written (list indices as in the file)
    message: str
    dotted: str | None = None  # how the key is written in the message, when not ".".join(loc)

    def render(self, path: Path | str, lines: KeyLines | None = None) -> str:
        key = self.dotted if self.dotted is not None else ".".join(str(p) for p in self.loc) or "(top level)"
        line = lines.line(self.loc) if lines is not None else None
        return f"{path}: {key}: {self.message}" + (f" (line {line})" if line is not None else "")


@dataclass(frozen=True, slots=True)
class Validated(Generic[M]):
    model: M | None  # None when the top level itself is broken
    problems: list[Problem]
    set_aside: tuple[Loc, ...]
    data: Any = None  # what was validated last (the file's data less what was set aside)
    origins: dict[int, list[int]] = dataclasses.field(default_factory=dict)

    def unaffected(self, problems: list[Problem]) -> list[Problem]:
        """``problems`` found on the model, located in the file (a list that lost elements has other
        indices there), less those about a part that was set aside (a default stands in for it)."""
        located = [dataclasses.replace(p, loc=_original(_walk(self.data, p.loc), self.origins, full=p.loc))
                   for p in problems]
        return [p for p in located if not any(p.loc[:len(a)] == a for a in self.set_aside)]


def bracketed(loc: Loc) -> str:
    """``queues.q.steps[1].after_s``: list indices in brackets."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def validate_all(model: type[M], data: Any, context: dict[str, Any] | None = None) -> Validated[M]:
    """The model of ``data`` with its broken parts set aside, and every problem found on the way
    (``context`` goes to the model's validators)."""
    data = copy.deepcopy(data)
    origins: dict[int, list[int]] = {}  # id(list) -> the file's index of each remaining element
    problems: list[Problem] = []
    removed: list[Loc] = []
    for _ in range(_MAX_ROUNDS):
        try:
            return Validated(model.model_validate(data, context=context), problems, tuple(removed), data, origins)
        except ValidationError as err:
            errors = err.errors()
        cuts: list[tuple[Any, Any]] = []
        earlier = list(removed)
        for e in errors:
            chain = _walk(data, e["loc"])
            loc = _original(chain, origins)
            if not any(_related(loc, r) for r in earlier):
                problems.append(Problem(_original(chain, origins, full=e["loc"]),
                                        e["msg"].removeprefix("Value error, ")))
            if not chain:
                return Validated(None, problems, ((),))  # the top level itself: nothing left to check
            removed.append(loc)
            cuts.append(chain[-1])
        # Lists lose elements from the back, so the indices of this round's other cuts still hold.
        for container, key in sorted(set((id(c), k) for c, k in cuts), key=lambda ck: -_index(ck[1])):
            target = next(c for c, k in cuts if id(c) == container and k == key)
            if isinstance(target, list):
                origins.setdefault(id(target), list(range(len(target)))).pop(key)
                del target[key]
            else:
                target.pop(key, None)
    return Validated(None, problems, ((),))


def _index(key: Any) -> int:
    return key if isinstance(key, int) else -1


def _related(a: Loc, b: Loc) -> bool:
    """One is within the other: an error about a part already set aside, or its consequence."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _walk(data: Any, loc: Loc) -> list[tuple[Any, Any]]:
    """(container, key) for each step of ``loc`` that the data has; pydantic's locations also name
    what the data lacks (a missing field, a union member, a dict key's own check)."""
    chain: list[tuple[Any, Any]] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            key = next((k for k in node if k == part or str(k) == str(part)), _MISSING)
            if key is _MISSING:
                break
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            key = part
        else:
            break
        chain.append((node, key))
        node = node[key]
    return chain


_MISSING = object()


def _original(chain: list[tuple[Any, Any]], origins: dict[int, list[int]], full: Loc | None = None) -> Loc:
    """The location as the file writes it (list indices from before any element was set aside);
    with ``full``, pydantic's whole location with the walked prefix so translated."""
    walked: list[str | int] = []
    for container, key in chain:
        if isinstance(container, list):
            walked.append(origins.get(id(container), range(len(container)))[key])
        else:
            walked.append(key if isinstance(key, str | int) else str(key))
    if full is None:
        return tuple(walked)
    return tuple(walked) + tuple(p for p in full[len(chain):] if not (isinstance(p, str) and "[" in p))


class KeyLines:
    """The line of each key of a YAML file (1-based), from the file's node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._root = root

    @classmethod
    def of(cls, path: Path) -> KeyLines:
        try:
            return cls(yaml.compose(path.read_bytes().decode("utf-8-sig")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return cls(None)

    def line(self, loc: Loc) -> int | None:
        """The line of the deepest key of ``loc`` the file has (a missing field: its parent's)."""
        node, line = self._root, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                hit = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
                if hit is None:
                    break
                line, node = hit[0].start_mark.line + 1, hit[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line
