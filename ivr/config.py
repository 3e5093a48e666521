"""Loading the flows shipped in ``config/ivr/*.yaml``: all or nothing, every problem listed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from cti.settings import Settings, load_yaml
from ivr import flow as f
from ivr.errors import FlowInvalid
from ivr.sounds import SoundIndex
from ivr.validate import parse_partial, resolve_prompts, validate


def flows_dir(settings: Settings) -> Path:
    return settings.config_dir / "ivr"


def sound_index(settings: Settings) -> SoundIndex | None:
    """The sounds the configured Asterisk has, when they can be seen from here; None otherwise."""
    if settings.pbx.mode == "managed":
        root = settings.pbx.rootfs / "usr/share/asterisk/sounds"
        return SoundIndex(root, settings.pbx.rootfs) if root.is_dir() else None
    root = Path("/usr/share/asterisk/sounds")
    return SoundIndex(root) if root.is_dir() else None


def check_file(path: Path, sounds: SoundIndex | None) -> tuple[f.Flow | None, list[str]]:
    """Parse and validate one flow file."""
    try:
        data = load_yaml(path)
    except OSError as err:
        return None, [f"{path}: cannot read: {err.strerror}"]
    except yaml.YAMLError as err:
        return None, [f"{path}: not valid YAML: {err}"]
    # The nodes without schema problems are checked too, so one run names every problem.
    flow, problems, aside = parse_partial(data, str(path))
    if flow is None:
        return None, problems
    problems += validate(flow, str(path), sounds, set_aside=aside)
    if problems:
        return None, problems
    return resolve_prompts(flow, sounds.exists if sounds is not None else None), []


def _load(paths: list[Path], sounds: SoundIndex | None) -> tuple[dict[str, f.Flow], list[str]]:
    problems: list[str] = []
    by_key: dict[str, f.Flow] = {}
    origin: dict[str, Path] = {}
    names: dict[str, Path] = {}
    for path in paths:
        flow, errs = check_file(path, sounds)
        problems.extend(errs)
        if flow is None:
            continue
        if flow.flow in names:
            problems.append(f"{path}: field 'flow': name '{flow.flow}' already used by {names[flow.flow]}")
        names[flow.flow] = path
        for i, entry in enumerate(flow.entries):
            key = entry_key(entry)
            if key in by_key:
                problems.append(f"{path}: field 'entries.{i}': {key} already routed to flow "
                                f"'{by_key[key].flow}' in {origin[key]}")
                continue
            by_key[key] = flow
            origin[key] = path
    return by_key, problems


def entry_key(entry: f.Entry) -> str:
    """DNIS entries are keyed by the number, context entries by ``@context``."""
    return entry.dnis if entry.dnis is not None else f"@{entry.context}"


def check_paths(paths: list[Path], sounds: SoundIndex | None) -> list[str]:
    return _load(paths, sounds)[1]


@dataclass(frozen=True)
class FlowFiles:
    """The shipped flow files, read and validated once: the flows of the files without a problem (keyed
    as ``load_flows`` keys them), every problem, and whether every file read is valid."""

    flows: dict[str, f.Flow]
    problems: list[str]
    all_valid: bool


def read_flows(settings: Settings, sounds: SoundIndex | None = None) -> FlowFiles:
    """Every shipped flow file, each parsed and validated once, against ``sounds`` (None: the
    configured PBX's, ``sound_index``; `cti config check` passes the one it built for every check)."""
    d = flows_dir(settings)
    if not d.is_dir():
        return FlowFiles({}, [f"{d}: missing IVR flow directory"], all_valid=False)
    paths = sorted(d.glob("*.yaml"))
    if not paths:
        return FlowFiles({}, [f"{d}: no IVR flow (*.yaml)"], all_valid=True)
    by_key, problems = _load(paths, sounds if sounds is not None else sound_index(settings))
    return FlowFiles(by_key, problems, all_valid=not problems)


def check_flows(settings: Settings) -> list[str]:
    """Problems of every shipped flow (empty: all good)."""
    return read_flows(settings).problems


def load_flows(settings: Settings) -> dict[str, f.Flow]:
    """Flows keyed by DNIS (and ``@context``); raises FlowInvalid listing every problem."""
    read = read_flows(settings)
    if read.problems:
        raise FlowInvalid(read.problems)
    return read.flows
