"""Validation of everything shipped in ``config/``: each package contributes a checker, and the
cross-checks (what one file names must exist in another) live here, above the packages."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Literal

from acd.alert_config import check_alerts
from acd.announce import announcement_sounds
from acd.config import QueuesFile, check_queues, declared_names, queues_path, read_queues
from acd.survey import BEEP
from cti.config_problems import KeyLines, Loc, Problem, bracketed
from cti.settings import Settings
from cti.trunks import TrunksConfig, check_trunks, normalise, read_trunks, trunks_path
from ivr import flow as f
from ivr.config import FlowFiles, flows_dir, read_flows, sound_index
from ivr.prompts import PREFIX, PromptError, read_texts
from ivr.sounds import SoundIndex

# Each takes Settings and returns problem strings that name the file and the field (the IVR flows'
# problems come from the one reading of them that the cross-checks use too: ``read_flows``).
CHECKERS: tuple[Callable[[Settings], list[str]], ...] = (check_queues, check_alerts, check_trunks)


def check_all(settings: Settings) -> list[str]:
    problems: list[str] = []
    templates = settings.config_dir / "asterisk"
    if not templates.is_dir():
        problems.append(f"{templates}: missing Asterisk configuration templates")
    # The PBX's sounds indexed once (each language folder walked once) for the flows and the queues.
    sounds = sound_index(settings)
    flows = read_flows(settings, sounds)  # each flow file parsed and validated once, for its check and the cross-checks
    problems.extend(flows.problems)
    for checker in CHECKERS:
        problems.extend(checker(settings))
    return (problems + cross_check(settings, flows.flows) + cross_check_trunks(settings, flows)
            + cross_check_caller_ids(settings) + cross_check_queue_sounds(settings, flows.flows, sounds))


def cross_check_trunks(settings: Settings, flow_files: FlowFiles) -> list[str]:
    """Each DID of config/trunks.yaml opens an IVR entry that exists (and the flow it names);
    caller IDs are given for queues that exist. Checked on what each file has that is valid, so a
    problem in one file does not hide another's."""
    trunks = read_trunks(settings)
    if trunks is None:
        return []  # that file's own checker reports it
    flows, all_flows = flow_files.flows, flow_files.all_valid
    path, problems = trunks_path(settings), []
    for i, trunk in enumerate(trunks.trunks):
        for j, did in enumerate(trunk.dids):
            where = f"{path}: trunks.{i}.dids.{j}"
            flow = flows.get(did.dnis)
            if flow is None and all_flows:  # else it may be the entry of a flow file with problems
                problems.append(f"{where}.dnis: {did.dnis!r} is not an entry of any IVR flow in {flows_dir(settings)}")
            elif flow is not None and did.flow is not None and did.flow != flow.flow:
                problems.append(f"{where}.flow: DNIS {did.dnis!r} opens flow {flow.flow!r}, not {did.flow!r}")
    names = declared_names(settings)
    for name in sorted(set(trunks.outbound.caller_id.queues) - names[0]) if names else ():
        problems.append(f"{path}: outbound.caller_id.queues.{name}: no such queue in {queues_path(settings)}")
    return problems


def cross_check_caller_ids(settings: Settings) -> list[str]:
    """Every caller ID an administrator set (``outbound.caller_id`` of config/trunks.yaml, a queue's
    ``virtual_hold.caller_id`` in config/queues.yaml) is a number a trunk owns, ``trunks[].caller_ids``:
    the rule a campaign's caller ID is held to (``TrunksConfig.caller_id_refusal``), since presenting
    a number the call centre does not own is caller-ID spoofing. One that is not a phone number at all
    is the trunks file's own check."""
    trunks = read_trunks(settings)
    if trunks is None:
        return []  # that file's own checker reports it
    cids = trunks.outbound.caller_id
    set_here: list[tuple[tuple[str | int, ...], str | None]] = [
        (("outbound", "caller_id", "default"), cids.default),
        *((("outbound", "caller_id", "queues", k), v) for k, v in cids.queues.items()),
        *((("outbound", "caller_id", "campaigns", k), v) for k, v in cids.campaigns.items())]
    problems = _unowned(trunks, trunks_path(settings), [
        (loc, n) for loc, n in set_here if n and normalise(n, trunks.default_region) is not None])
    queues = read_queues(settings)
    if queues is not None:
        problems += _unowned(trunks, queues_path(settings), [
            (("queues", name, "virtual_hold", "caller_id"), q.virtual_hold.caller_id)
            for name, q in queues.queues.items() if q.virtual_hold is not None and q.virtual_hold.caller_id])
    return problems


def _unowned(trunks: TrunksConfig, path: Path, numbers: list[tuple[tuple[str | int, ...], str | None]]) -> list[str]:
    lines = KeyLines.of(path)
    return [Problem(loc, why).render(path, lines) for loc, number in numbers
            if number and (why := trunks.caller_id_refusal(number)) is not None]


def cross_check(settings: Settings, flows: Mapping[str, f.Flow]) -> list[str]:
    """What one file names must exist in another: the IVR's queues and skills in config/queues.yaml
    (the flows without problems of their own, against the queues and skills the file declares)."""
    names = declared_names(settings)
    if names is None:
        return []  # that file's own checker reports it
    queues, skills = names
    problems: list[str] = []
    seen: set[int] = set()
    for flow in flows.values():
        if id(flow) in seen:
            continue
        seen.add(id(flow))
        where = f"{flows_dir(settings)} flow {flow.flow!r}"
        for lang, extra in flow.language_skills.items():
            for skill in set(extra) - skills:
                problems.append(f"{where}: language_skills.{lang}.{skill}: no such skill in {queues_path(settings)}")
        for node_id, node in flow.nodes.items():
            queue = getattr(node, "queue", None)
            if isinstance(node, f.Queue | f.Callback) and queue and queue not in queues:
                problems.append(f"{where}: node {node_id!r}: queue: {queue!r} is not a queue of "
                                f"{queues_path(settings)}")
            for skill in set(getattr(node, "skills", None) or {}) - skills:
                problems.append(f"{where}: node {node_id!r}: skills.{skill}: no such skill in {queues_path(settings)}")
    return problems


# The dialplan's cti-voicemail (config/asterisk/extensions.conf) says the first of these that exists
# before the beep; with neither, a caller just told "please hold" hears a beep and silence.
VOICEMAIL_INTRO = ("cti/leave_message", "vm-intro")


def cross_check_queue_sounds(settings: Settings, flows: Mapping[str, f.Flow], sounds: SoundIndex | None) -> list[str]:
    """Every sound config/queues.yaml has callers hear exists in the PBX's sounds (``sounds``, check_all's
    ``sound_index``), in each language the IVR flows give callers (a missing one is silence, an error as
    the IVR's own check makes it): checked where the PBX's sounds can be seen from here (as the IVR's are)."""
    queues = read_queues(settings)
    if queues is None or sounds is None:
        return []  # that file's own checker reports it; or nothing to look at
    languages = sorted({"en"} | {lang for flow in flows.values() for lang in flow_languages(flow)})
    try:
        texts = {(f"{PREFIX}/{t.name}", t.language) for t in read_texts(flows_dir(settings) / "prompts.tsv")}
    except (OSError, PromptError):
        texts = set()
    return queue_sound_problems(queues, queues_path(settings), languages, sounds, texts)


def flow_languages(flow: f.Flow) -> set[str]:
    """The languages a flow can give its callers' channels: its own, its entries', its set nodes', and
    with a lookup the customer's language from the CRM. That one is free text there (any tag of up to
    8 characters, ``Customer.language``), so the languages the flow declares it serves stand for it:
    the keys of its ``language_skills`` and of its prompts (docs/deployment.md)."""
    languages = ({flow.language} | {e.language for e in flow.entries if e.language}
                 | {n.language for n in flow.nodes.values() if isinstance(n, f.SetNode) and n.language})
    if any(isinstance(n, f.Lookup) for n in flow.nodes.values()):
        from ivr.language import sound_language

        declared = {*flow.language_skills, *(lang for alias in flow.prompts.values() for lang in alias)}
        languages |= {sound_language(lang) for lang in declared}
    return languages


def queue_sound_problems(queues: QueuesFile, path: Path, languages: list[str], sounds: SoundIndex,
                         texts: Collection[tuple[str, str]] = ()) -> list[str]:
    """The sounds ``queues`` names that ``sounds`` lacks in any of ``languages``, each a problem
    naming the queue, the setting, the sound and the languages. ``texts``: (sound, language) that
    config/ivr/prompts.tsv has a text for (then the problem says how to make it)."""
    out: list[Problem] = []

    def need(loc: Loc, candidates: tuple[str, ...]) -> None:
        missing = [lang for lang in languages if not any(sounds.exists(c, lang) for c in candidates)]
        if missing:
            what = (sounds.not_found(candidates[0], missing) if len(candidates) == 1 else
                    f"none of {', '.join(repr(c) for c in candidates)} found in "
                    + " or ".join(f"{sounds.root}/{lang}" for lang in missing))
            out.append(Problem(loc, what + _heard(str(loc[1]), candidates, missing, texts)))

    for name, q in queues.queues.items():
        where: Loc = ("queues", name)
        for field in ("max_wait_action", "max_length_action", "no_agents_action"):
            action = getattr(q, field)
            if action is not None and action.action == "hangup" and action.target:
                need((*where, field, "target"), (action.target,))
            if action is not None and action.action == "voicemail":
                need((*where, field, "action"), VOICEMAIL_INTRO)
        if q.fallback == "voicemail":
            need((*where, "fallback"), VOICEMAIL_INTRO)
        if q.announce_every_s:  # said in the caller's language: other sounds per language
            for lang in languages:
                lacking = sorted(n for n in announcement_sounds(lang) if not sounds.exists(n, lang))
                if lacking:
                    shown = ", ".join(repr(n) for n in lacking[:4]) + (f" and {len(lacking) - 4} more"
                                                                      if len(lacking) > 4 else "")
                    out.append(Problem((*where, "announce_every_s"),
                                       f"the position announcement's sounds {shown} not found in {sounds.root}/{lang}"
                                       + _heard(name, tuple(lacking), [lang], texts)))
        if q.survey is not None:
            for i, question in enumerate(q.survey.questions):
                need((*where, "survey", "questions", i), (question,))
            need((*where, "survey"), (BEEP,))  # after each question, before the key
            need((*where, "survey", "thanks"), (q.survey.thanks,))
        if q.virtual_hold is not None:
            vh = q.virtual_hold
            need((*where, "virtual_hold", "prompt"), (vh.prompt,))
            need((*where, "virtual_hold", "accepted_prompt"), (vh.accepted_prompt,))
            if vh.confirm:
                need((*where, "virtual_hold", "confirm_prompt"), (vh.confirm_prompt,))
    lines = KeyLines.of(path)
    return [dataclasses.replace(p, dotted=bracketed(p.loc)).render(path, lines) for p in out]


def _heard(queue: str, sounds: tuple[str, ...], languages: list[str], texts: Collection[tuple[str, str]]) -> str:
    made = sorted({lang for s in sounds for lang in languages if (s, lang) in texts})
    hint = f"; config/ivr/prompts.tsv has its text ({', '.join(made)}): `cti ivr prompts` makes it" if made else ""
    return f": callers of queue {queue!r} would hear silence there{hint}"


DATABASE_TIMEOUT_S = 3.0  # a server that answers does so in milliseconds; a check must not hang on one that does not
Severity = Literal["ok", "warning", "error"]


def check_database(settings: Settings, *, timeout_s: float = DATABASE_TIMEOUT_S) -> tuple[Severity, str]:
    """Whether the database answers (one connection, ``timeout_s`` at most) and where its schema stands
    against this release's migrations: ok, a warning (behind, or not made yet: ``cti run`` migrates
    it as it starts) or an error (unreachable, the login refused, migrated by a newer release)."""
    from crm_core.db import (
        connect_problem,
        database_where,
        probe_revision,
        sqlite_file,
        sqlite_file_problem,
        sqlite_problem_line,
    )
    from crm_core.errors import DatabaseUnavailable
    from crm_core.revisions import head_revision, migrations_behind
    from cti.errors import ConfigError

    url = settings.resolved_database_url()
    where = database_where(url)
    file = sqlite_file(url)
    # A SQLite file or folder this user cannot write: `cti run` would fail only after the PBX started.
    if file is not None and (why := sqlite_file_problem(file)) is not None:
        return "error", sqlite_problem_line(file, why)
    if file is not None and not file.exists():  # connecting would create it: a check changes nothing
        return "warning", (f"database: no {where} yet: `cti db upgrade` (or `cti run`, as it starts) creates it "
                           "with the schema")
    try:
        revision = asyncio.run(probe_revision(url, timeout_s=timeout_s))
    except (DatabaseUnavailable, ConfigError) as err:  # away, or it answered and refused the login
        return "error", connect_problem(url, err)
    head = head_revision()
    behind = migrations_behind(revision)
    if behind is None:
        return "error", (f"database: {where} is at revision {revision!r}, which this release does not know (its "
                         f"newest is {head!r}): a newer release migrated it, and this one refuses to start "
                         "on it. Run that release, or restore a backup taken before the upgrade")
    if revision is None:
        return "warning", (f"database: {where} answers but has no tables yet: `cti db upgrade` (or `cti run`, as "
                           f"it starts) applies this release's {behind} migrations")
    if behind:
        return "warning", (f"database: {where} answers, its schema at revision {revision!r}, {behind} migration(s) "
                           f"behind this release's {head!r}: run `cti db upgrade` (`cti run` also applies them as "
                           "it starts)")
    return "ok", f"database: {where} answers, its schema at this release's revision {head!r}"
