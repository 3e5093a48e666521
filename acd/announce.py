"""The ``announce`` FastAGI route: a waiting caller hears its position and estimated wait.

The delivery service sets CTI_POSITION and CTI_EWT (and the range CTI_EWT_LOW..CTI_EWT_HIGH when
the estimate is uncertain) on the caller's channel and redirects it to
``cti-announce``, whose dialplan runs this route and then returns the caller to the music. Uses
Asterisk's own queue prompts, the same ones app_queue plays.
"""

from __future__ import annotations

import logging

from cti.agi.session import AgiSession
from cti.errors import AgiHangup

log = logging.getLogger(__name__)


def announcement(position: int, ewt_s: int, low_s: int | None = None,
                 high_s: int | None = None) -> list[tuple[str, str | int]]:
    """What to say, as (kind, value) with kind 'sound' or 'number'. A range ``low_s``..``high_s``
    that spans whole minutes is said as "between L and H minutes" instead of one figure."""
    said: list[tuple[str, str | int]] = []
    if position <= 1:
        said.append(("sound", "queue-youarenext"))
    else:
        said += [("sound", "queue-thereare"), ("number", position - 1), ("sound", "queue-callswaiting")]
    low_m = max(1, round(low_s / 60)) if low_s is not None else None
    high_m = round(high_s / 60) if high_s is not None else None
    if low_m is not None and high_m is not None and high_m > low_m:
        said += [("sound", "queue-holdtime"), ("number", low_m), ("sound", "vm-and"), ("number", high_m),
                 ("sound", "queue-minutes")]
    elif ewt_s >= 60:
        minutes = round(ewt_s / 60)
        said += [("sound", "queue-holdtime"), ("number", minutes),
                 ("sound", "queue-minute" if minutes == 1 else "queue-minutes")]
    elif ewt_s > 0:
        said += [("sound", "queue-holdtime"), ("sound", "queue-less-than"), ("number", 1), ("sound", "queue-minute")]
    said.append(("sound", "queue-thankyou"))
    return said


async def announce_route(session: AgiSession) -> None:
    try:
        position = int(await session.get_variable("CTI_POSITION") or 0)
        ewt = int(await session.get_variable("CTI_EWT") or 0)
        low, high = (await session.get_variable("CTI_EWT_LOW"), await session.get_variable("CTI_EWT_HIGH"))
        for kind, value in announcement(position, ewt, int(low) if low else None, int(high) if high else None):
            if kind == "number":
                await session.say_number(int(value))
            else:
                await session.stream_file(str(value))
    except AgiHangup:
        pass
    except ValueError as err:
        log.warning("announce: bad CTI_POSITION/CTI_EWT on %s: %s", session.env.get("channel", "?"), err)
