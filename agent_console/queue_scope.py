"""The queues a principal oversees: the second half of the access policy (``agent_console.policy``
decides what each role may do; this, which queues' rows and agents a supervisor may see and steer).

Managers and administrators oversee every queue; a supervisor the queues an administrator assigned
them, every queue while none are assigned. Every supervisor route and the supervisor websocket
narrow what they show to it (``scoped_board``, ``report_queues``...) and refuse, naming the queue or
the agent, an action on another team's (docs/security.md, "Supervisors' queues").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent_console.errors import Forbidden
from agent_console.policy import queues_open_to
from agent_console.security import Principal
from crm_core import users
from crm_core.db import Database


@dataclass(frozen=True, slots=True)
class QueueScope:
    """The queues a principal oversees; ``queues`` None: every queue."""

    queues: frozenset[str] | None = None

    @property
    def everything(self) -> bool:
        return self.queues is None

    def sees(self, queue: str | None) -> bool:
        """A queue's rows, callers and figures; a row of no queue (a personal callback, a call that
        never queued) only when every queue is overseen."""
        return self.queues is None or (queue is not None and queue in self.queues)

    def describe(self) -> str:
        return "every queue" if self.queues is None else ", ".join(sorted(self.queues)) or "no queue"


EVERY_QUEUE = QueueScope()


def scope_for(role: str, assigned: Collection[str]) -> QueueScope:
    """Managers, administrators and integration tokens (a warehouse's reports): every queue. A
    supervisor: the queues assigned to them, every queue while none are (the default: an upgrade
    changes no supervisor's view; docs/security.md). Anyone else (agents): none -- they reach no
    supervisor route anyway."""
    if role in ("manager", "admin", "integration"):
        return EVERY_QUEUE
    if role == "supervisor":
        return QueueScope(frozenset(assigned)) if assigned else EVERY_QUEUE
    return QueueScope(frozenset())


def check_queue_scope(scope: QueueScope, wanted: Iterable[str | None]) -> None:
    """Forbidden, naming the first queue of ``wanted`` that ``scope`` does not oversee."""
    for queue in wanted:
        if queue is not None and not scope.sees(queue):
            raise Forbidden(f"queue {queue!r} is not one of your queues (you oversee {scope.describe()})")


def check_call_scope(scope: QueueScope, linkedid: str, queue: str | None) -> None:
    """Forbidden, naming its queue, for a live call ``scope`` does not oversee: hearing it (listen,
    whisper, barge) or steering its recording. A call of no queue (an agent's own click-to-dial) is
    no team's: only for who oversees every queue."""
    if not scope.sees(queue or None):
        raise Forbidden(f"call {linkedid} is in queue {repr(queue) if queue else '(none)'}, not one of your "
                        f"queues (you oversee {scope.describe()})")


def report_queues(scope: QueueScope, wanted: Collection[str]) -> list[str]:
    """The queues a report (or a list filtered by queue) covers: ``wanted``, each of them overseen
    (else Forbidden naming it); none wanted: every queue in the scope ([] for every queue)."""
    check_queue_scope(scope, wanted)
    return list(wanted) if wanted or scope.queues is None else sorted(scope.queues)


def queues_served(logged_in: Iterable[str], skills: Iterable[str], known: Iterable[str]) -> set[str]:
    """The queues an agent serves: those they are logged in to now and those open to their skills
    (``queues_open_to``: named like a skill, and general)."""
    return set(logged_in) | set(queues_open_to(skills, known))


def oversees_agent(scope: QueueScope, served: Iterable[str]) -> bool:
    """An agent is in a supervisor's scope when they serve at least one of the supervisor's queues."""
    return scope.queues is None or not scope.queues.isdisjoint(served)


def check_agent_scope(scope: QueueScope, agent_id: str, served: Iterable[str]) -> None:
    if not oversees_agent(scope, served):
        raise Forbidden(f"agent {agent_id} serves none of your queues (you oversee {scope.describe()})")


def check_skills_scope(scope: QueueScope, before: Mapping[str, int], after: Mapping[str, int],
                       known: Collection[str]) -> None:
    """A skill named like a queue (``queues_open_to``) decides who serves that queue: only who
    oversees the queue may give, change or take it away."""
    changed = sorted(q for q in known if before.get(q) != after.get(q))
    for queue in changed:
        if not scope.sees(queue):
            raise Forbidden(f"skill {queue!r} decides who serves queue {queue!r}, which is not one of your "
                            f"queues (you oversee {scope.describe()})")


def sees_alert(scope: QueueScope, alert: Mapping[str, Any], agent_ids: Collection[str]) -> bool:
    """An alert about a queue: when the queue is overseen; about an agent (``agent:<id>``): when the
    agent is (``agent_ids``, the overseen agents); the others (global figures, cases, security)
    as their recipients say."""
    if scope.queues is None:
        return True
    queue, subject = alert.get("queue"), str(alert.get("subject") or "")
    if queue is not None and not scope.sees(str(queue)):
        return False
    return not subject.startswith("agent:") or subject[len("agent:"):] in agent_ids


def sees_audit_entry(scope: QueueScope, entry: Mapping[str, Any], agent_ids: Collection[str], username: str) -> bool:
    """An audit entry a supervisor of ``scope`` may read: their own actions, and those about an agent
    they oversee (``agent:<id>``) or a queue of theirs (``detail.queue``); not the rest (user
    administration, customers, other teams' steps)."""
    if scope.queues is None or entry.get("actor") == username:
        return True
    target = str(entry.get("target") or "")
    if target.startswith("agent:"):
        return target[len("agent:"):] in agent_ids
    detail = entry.get("detail") or {}
    queue = detail.get("queue") if isinstance(detail, Mapping) else None
    return isinstance(queue, str) and scope.sees(queue)


def scoped_board(scope: QueueScope, board: Mapping[str, Any],
                 served: Mapping[str, Collection[str]] | None = None) -> dict[str, Any]:
    """A wallboard snapshot's rows as ``scope`` may see them: its queues, the callers waiting in them,
    the agents serving them (``served``: agent id -> queues; default: from the row's queues and
    skills), a call of another queue shown without its number or id, the alerts about them.
    ``totals`` must be computed for the scope by whoever has the records (``SupervisorService``):
    this keeps the given ones."""
    if scope.queues is None:
        return dict(board)
    known = [str(q["queue"]) for q in board.get("queues", ())]
    agents = []
    for a in board.get("agents", ()):
        mine = (served.get(str(a["agent_id"]), ()) if served is not None
                else queues_served(a.get("queues") or (), a.get("skills") or {}, known))
        if not oversees_agent(scope, mine):
            continue
        call = a.get("call")
        if call is not None and not scope.sees(call.get("queue")):
            a = {**a, "call": {"queue": call.get("queue"), "status": call.get("status"), "since": call.get("since"),
                               "linkedid": None, "caller_number": ""}}
        agents.append(a)
    ids = {str(a["agent_id"]) for a in agents}
    out = {**board, "queues": [q for q in board.get("queues", ()) if scope.sees(q.get("queue"))],
           "agents": agents,
           "waiting_calls": [w for w in board.get("waiting_calls", ()) if scope.sees(w.get("queue"))]}
    if "alerts" in board:
        out["alerts"] = [a for a in board["alerts"] if sees_alert(scope, a, ids)]
    return out


async def scope_of(db: Database, who: Principal) -> QueueScope:
    """The queues ``who`` oversees (``scope_for``); only a supervisor's assignment is read."""
    if who.role != "supervisor":
        return scope_for(who.role, ())
    async with db.session() as s:
        return scope_for(who.role, await users.supervised_queues(session=s, user_id=who.user_id))
