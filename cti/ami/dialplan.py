"""What the dialplan loaded in Asterisk has, read over AMI: whether Asterisk has the contexts of the
engine's config/asterisk/extensions.conf. A managed Asterisk always has them (the engine renders its
configuration); one configured by hand (``pbx.mode: system``) may still run an older
extensions.conf, and the calls that reach a context it lacks fail.

    missing = await missing_contexts(client.send_action, ("cti-agent-dialled", "cti-agent-predial"))
    # [] when all are loaded; the names Asterisk does not know otherwise
    watch = DialplanWatch(client.send_action, contexts)
    await watch.check()                       # at each AMI connection; watch.start(): every 5 min too
    watch.lacks_any(("cti-agent-dialled",))   # True also until Asterisk has answered once
    await missing_at(settings, contexts)      # one connection of its own (``cti pbx status``)

``ShowDialPlan`` needs the ``reporting`` (or ``config``) write class, which the engine's AMI user
has (docs/security.md). For a context it does not know, Asterisk 22 answers ``Response: Error``
with "Did not find context <name>".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

from cti.ami.manager import AmiClient, AmiReply
from cti.errors import AmiActionFailed, CtiError
from cti.settings import Settings
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_NOT_FOUND = "did not find context"
# How often the watch asks again between connections: a `dialplan reload` changes what Asterisk
# has without a reconnect.
RECHECK_S = 300.0


class _Send(Protocol):
    async def __call__(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                       expect: Literal["response", "list", "originate"] = "response",
                       timeout_s: float = 10.0) -> AmiReply: ...


async def missing_contexts(send: _Send, contexts: Iterable[str]) -> list[str]:
    """The names of ``contexts`` the loaded dialplan lacks, in the order given. Any other failure
    (AMI away, no answer, a refused action) raises: the caller cannot tell either way."""
    missing: list[str] = []
    for context in contexts:
        try:
            await send("ShowDialPlan", {"Context": context}, expect="list", timeout_s=5.0)
        except AmiActionFailed as err:
            if _NOT_FOUND not in err.message.lower():
                raise
            missing.append(context)
    return missing


async def missing_at(settings: Settings, contexts: Iterable[str]) -> list[str]:
    """``missing_contexts`` over an AMI connection of its own, closed again: for a command that
    checks an Asterisk before any engine runs."""
    client = AmiClient(settings.ami, lambda _events: None, resync=False)
    await client.start()
    try:
        await client.wait_connected(settings.ami.connect_timeout_s)
        return await missing_contexts(client.send_action, contexts)
    finally:
        await client.stop()


class DialplanWatch:
    """The contexts of ``expected`` Asterisk lacks (``missing``; None until the first answer), asked
    by ``check`` and, once started, every ``every_s``. A change is logged: missing contexts as an
    error naming them, all present again as a notice."""

    def __init__(self, send: _Send, expected: Sequence[str], *, every_s: float = RECHECK_S) -> None:
        self.send, self.expected, self.every_s = send, tuple(expected), every_s
        self.missing: list[str] | None = None
        self._task: asyncio.Task[None] | None = None

    def lacks_any(self, contexts: Iterable[str]) -> bool:
        """Whether Asterisk lacks one of ``contexts``, or that is not known yet (no answer so far)."""
        return self.missing is None or any(c in self.missing for c in contexts)

    async def check(self) -> None:
        """Ask Asterisk; with no answer (AMI away, a timeout) the last answer stands."""
        try:
            missing = await missing_contexts(self.send, self.expected)
        except CtiError as err:
            log.warning("dialplan: could not ask Asterisk for its contexts (%s); asked again at the next "
                        "AMI connection or within %.0f s", err.message, self.every_s)
            return
        if missing and missing != self.missing:
            log.error("dialplan: Asterisk lacks %s of config/asterisk/extensions.conf, so it runs an older "
                      "dialplan and the calls that reach them fail (docs/deployment.md). Load this release's "
                      "extensions.conf (dialplan reload)", ", ".join(missing))
        elif missing == [] and self.missing:
            log.warning("dialplan: Asterisk has every context of config/asterisk/extensions.conf again")
        self.missing = missing

    def start(self) -> None:
        self._task = asyncio.create_task(self._every(), name="dialplan-watch")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.check()
            except Exception:  # a bug of ours: the next round tries again
                log.exception("dialplan: checking Asterisk's contexts failed")
