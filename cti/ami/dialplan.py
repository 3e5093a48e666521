"""What the dialplan loaded in Asterisk has, read over AMI: the engine asks at each connection
whether Asterisk has the contexts of its config/asterisk/extensions.conf. A managed Asterisk always
has them (the engine renders its configuration); one configured by hand (``pbx.mode: system``) may
still run an older extensions.conf.

    missing = await missing_contexts(client.send_action, ("cti-agent-dialled", "cti-agent-predial"))
    # [] when all are loaded; the names Asterisk does not know otherwise

``ShowDialPlan`` needs the ``reporting`` (or ``config``) write class, which the engine's AMI user
has (docs/security.md). For a context it does not know, Asterisk 22 answers ``Response: Error``
with "Did not find context <name>".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

from cti.ami.manager import AmiReply
from cti.errors import AmiActionFailed

_NOT_FOUND = "did not find context"


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
