"""The ``announce`` FastAGI route: a waiting caller hears its position and estimated wait.

The delivery service sets CTI_POSITION and CTI_EWT (and the range CTI_EWT_LOW..CTI_EWT_HIGH when
the estimate is uncertain) on the caller's channel and redirects it to
``cti-announce``, whose dialplan runs this route and then returns the caller to the music. Uses
Asterisk's own queue prompts, the same ones app_queue plays; those (and the numbers Asterisk says)
exist in English only, and a channel of another language falls back to them, so a Chinese-speaking
caller (the IVR set CHANNEL(language) zh) hears the project's own Chinese prompts instead
(config/ivr/prompts.tsv: cti/queue_*, cti/num_1..cti/num_20). English has one prompt of the
project's, cti/queue_between (Asterisk has no "between" for a range).

One prompt at a time (``PromptFloor``): each of the engine's prompts to a waiting caller (this
announcement, the virtual-hold offer of ``acd.virtual_hold_pbx``) is a redirect, and a redirect ends
the AGI that plays another; the prompt that comes second waits (the offer) or is not started (an
announcement: the next one comes a period later), so no caller hears one cut off by the other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cti.agi.session import AgiSession
from cti.errors import AgiHangup

log = logging.getLogger(__name__)

# How long a prompt holds a caller's floor at most when nothing says it ended (its redirect went out
# but the caller hung up before the AGI came): past the longest announcement (under 23 s,
# tests/asterisk/caller/test_announcement_length.py) and the offer (its prompt and 5 s for the key).
FLOOR_LEASE_S = 45.0


class PromptFloor:
    """Which prompt each waiting caller (by channel) hears now besides the music; pure, the time passed in."""

    def __init__(self, lease_s: float = FLOOR_LEASE_S) -> None:
        self.lease_s = lease_s
        self._held: dict[str, tuple[str, float]] = {}  # channel -> (what, since)

    def __len__(self) -> int:
        return len(self._held)

    def holder(self, channel: str, now: float) -> str | None:
        held = self._held.get(channel)
        return held[0] if held is not None and now - held[1] < self.lease_s else None

    def claim(self, channel: str, what: str, now: float) -> bool:
        """Take ``channel``'s floor for ``what``; False while another prompt holds it."""
        for gone in [c for c, (_, since) in self._held.items() if now - since >= self.lease_s]:
            del self._held[gone]
        if channel in self._held:
            return False
        self._held[channel] = (what, now)
        return True

    def release(self, channel: str, what: str) -> None:
        """``what`` ended on ``channel`` (its AGI returned, or its redirect failed)."""
        if self._held.get(channel, ("", 0.0))[0] == what:
            del self._held[channel]


# The largest number the Chinese prompts say (cti/num_<n>); above it, "more than" it.
ZH_NUMBERS = 20


def announcement(position: int, ewt_s: int, low_s: int | None = None, high_s: int | None = None,
                 language: str = "en") -> list[tuple[str, str | int]]:
    """What to say, as (kind, value) with kind 'sound' or 'number'. A range ``low_s``..``high_s``
    that spans whole minutes is said as "between L and H minutes" instead of one figure. A Chinese
    ``language`` (zh, zh-CN, zh_TW...) is said in sounds only, the project's own."""
    if language.replace("_", "-").split("-")[0].lower() == "zh":
        return _announcement_zh(position, ewt_s, low_s, high_s)
    said: list[tuple[str, str | int]] = []
    if position <= 1:
        said.append(("sound", "queue-youarenext"))
    else:
        said += [("sound", "queue-thereare"), ("number", position - 1), ("sound", "queue-callswaiting")]
    low_m, high_m = _minutes(low_s, high_s)
    if low_m is not None and high_m is not None:
        # Asterisk has no "between": without it the range was "currently two and four minutes".
        said += [("sound", "queue-holdtime"), ("sound", "cti/queue_between"), ("number", low_m), ("sound", "vm-and"),
                 ("number", high_m), ("sound", "queue-minutes")]
    elif ewt_s >= 60:
        minutes = round(ewt_s / 60)
        said += [("sound", "queue-holdtime"), ("number", minutes),
                 ("sound", "queue-minute" if minutes == 1 else "queue-minutes")]
    elif ewt_s > 0:
        said += [("sound", "queue-holdtime"), ("sound", "queue-less-than"), ("number", 1), ("sound", "queue-minute")]
    said.append(("sound", "queue-thankyou"))
    return said


def _minutes(low_s: int | None, high_s: int | None) -> tuple[int | None, int | None]:
    """(low, high) minutes of a range that spans whole minutes, else (None, None)."""
    low_m = max(1, round(low_s / 60)) if low_s is not None else None
    high_m = round(high_s / 60) if high_s is not None else None
    if low_m is not None and high_m is not None and high_m > low_m:
        return low_m, high_m
    return None, None


def _zh_number(n: int) -> list[tuple[str, str | int]]:
    if n > ZH_NUMBERS:
        return [("sound", "cti/queue_over"), ("sound", f"cti/num_{ZH_NUMBERS}")]
    return [("sound", f"cti/num_{max(1, n)}")]


def _announcement_zh(position: int, ewt_s: int, low_s: int | None,
                     high_s: int | None) -> list[tuple[str, str | int]]:
    said: list[tuple[str, str | int]] = []
    if position <= 1:
        said.append(("sound", "cti/queue_next"))
    else:
        said += [("sound", "cti/queue_ahead"), *_zh_number(position - 1), ("sound", "cti/queue_callers")]
    low_m, high_m = _minutes(low_s, high_s)
    if low_m is not None and high_m is not None:
        said += [("sound", "cti/queue_wait"), *_zh_number(low_m), ("sound", "cti/queue_to"), *_zh_number(high_m),
                 ("sound", "cti/queue_minutes")]
    elif ewt_s >= 60:
        said += [("sound", "cti/queue_wait"), *_zh_number(round(ewt_s / 60)), ("sound", "cti/queue_minutes")]
    elif ewt_s > 0:
        said.append(("sound", "cti/queue_under_minute"))
    said.append(("sound", "cti/queue_thanks"))
    return said


# What ``say_number`` plays for the numbers an announcement says in English (Asterisk's digits/*):
# 1..20, the tens, "hundred" (a position past 100).
SAID_NUMBER_SOUNDS = frozenset([*(f"digits/{n}" for n in range(1, 21)), *(f"digits/{n}" for n in range(30, 100, 10)),
                                "digits/hundred"])


def announcement_sounds(language: str) -> frozenset[str]:
    """Every sound an announcement in ``language`` can play (what ``cti config check`` looks for):
    ``announcement`` asked for each of its branches, the numbers as ``say_number`` says them."""
    names: set[str] = set()
    spans = range(ZH_NUMBERS + 3)  # every number the Chinese prompts have, and one past them
    for position in spans:
        for ewt, low, high in ((30, None, None), *((m * 60, None, None) for m in spans),
                               *((m * 60, 60, m * 60) for m in spans)):
            for kind, value in announcement(position + 1, ewt, low, high, language):
                if kind == "sound":
                    names.add(str(value))
                else:
                    names |= SAID_NUMBER_SOUNDS
    return frozenset(names)


def make_announce_route(floor: PromptFloor) -> Callable[[AgiSession], Awaitable[None]]:
    """The ``announce`` route; the announcement's end gives ``floor`` back (the offer may come)."""

    async def route(session: AgiSession) -> None:
        try:
            await announce_route(session)
        finally:
            floor.release(session.env.get("channel", ""), "announcement")

    return route


async def announce_route(session: AgiSession) -> None:
    try:
        position = int(await session.get_variable("CTI_POSITION") or 0)
        ewt = int(await session.get_variable("CTI_EWT") or 0)
        low, high = (await session.get_variable("CTI_EWT_LOW"), await session.get_variable("CTI_EWT_HIGH"))
        language = session.env.get("language") or "en"  # agi_language: the channel's, as the IVR set it
        for kind, value in announcement(position, ewt, int(low) if low else None, int(high) if high else None,
                                        language):
            if kind == "number":
                await session.say_number(int(value))
            else:
                await session.stream_file(str(value))
    except AgiHangup:
        pass
    except ValueError as err:
        log.warning("announce: bad CTI_POSITION/CTI_EWT on %s: %s", session.env.get("channel", "?"), err)
