"""The ``queue`` filter of the list and report routes: a queue that is not configured is a 422
naming the parameter and the value (a typo answered 200 with an empty list looked like a quiet queue).

The configured queues are the ACD's (``AcdService.queue_names``, config/queues.yaml); the
composition root puts them on ``app.state.queue_names`` for the routers that have no ACD of their
own (CRM, recordings). An app without them (a CRM served alone) has nothing to check against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import Request

from agent_console.errors import InvalidInput

QueueNames = Callable[[], Iterable[str]]
QUEUE_FILTER = "A queue of config/queues.yaml; another is a 422 invalid_input naming `queue` and the value."


def check_queues(names: QueueNames | None, values: Iterable[str | None], *, field: str = "queue") -> None:
    """Raise ``InvalidInput`` naming ``field`` and the first of ``values`` that is not a configured queue."""
    if names is None:
        return
    known = set(names())
    for value in values:
        if value is not None and value not in known:
            raise InvalidInput(field, f"no queue {value!r} in config/queues.yaml")


def configured_queues(request: Request) -> QueueNames | None:
    """The app's configured queues (``app.state.queue_names``), None when it has none."""
    return getattr(request.app.state, "queue_names", None)
