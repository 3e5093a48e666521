"""The resync's picture of Asterisk: what the list actions answer, as snapshot events.

After every (re)connect the client asks CoreShowChannels, BridgeList + BridgeInfo per bridge,
DeviceStateList and PJSIPShowEndpoints on the event session (their items then arrive in order
with the live events around them) and hands the call model the snapshot this module builds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from cti.ami import events as ev
from cti.ami.errors import MalformedEvent
from cti.ami.pending import AmiReply, Expect
from cti.ami.translate import bridge_member_uniqueids, translate_list_item
from cti.errors import AmiActionFailed
from cti.events import Event


class _Send(Protocol):
    def __call__(self, action: str, headers: Mapping[str, str | Sequence[str]], *, expect: Expect = ...,
                 timeout_s: float = ...) -> Coroutine[Any, Any, AmiReply]: ...


async def snapshot(send: _Send, now: Callable[[], float], dropped: Callable[[Exception], None],
                   note: Callable[[str], None]) -> tuple[list[Event], int, int]:
    """The snapshot events ending with ResyncFinished, the channel count and the bridge count.
    ``dropped`` gets each item that could not be translated; ``note`` each list Asterisk refused
    (no PJSIP, or no permission for it): the resync goes on without it."""
    chans = await send("CoreShowChannels", {}, expect="list", timeout_s=30.0)
    bridges = await send("BridgeList", {}, expect="list", timeout_s=30.0)
    infos = await asyncio.gather(
        *(send("BridgeInfo", {"BridgeUniqueid": b["BridgeUniqueid"]}, expect="list")
          for b in bridges.items if "BridgeUniqueid" in b),
        return_exceptions=True,
    )
    extra: list[AmiReply] = []
    for action in ("DeviceStateList", "PJSIPShowEndpoints"):
        try:
            extra.append(await send(action, {}, expect="list", timeout_s=30.0))
        except AmiActionFailed as err:
            note(str(err))
    ts = now()
    out: list[Event] = []
    for reply in (chans, *extra):
        for item in reply.items:
            try:
                e = translate_list_item(item, ts)
            except MalformedEvent as err:
                dropped(err)
                continue
            if e is not None:
                out.append(e)
    count = 0
    for b, info in zip((b for b in bridges.items if "BridgeUniqueid" in b), infos, strict=True):
        if isinstance(info, BaseException):
            continue  # the bridge went away between the two actions
        count += 1
        out.append(ev.BridgeSnapshot(ts=ts, bridge_id=b["BridgeUniqueid"], bridge_type=b.get("BridgeType", ""),
                                     uniqueids=bridge_member_uniqueids(list(info.items))))
    out.append(ev.ResyncFinished(ts=ts, channels=len(chans.items), bridges=count))
    return out, len(chans.items), count
