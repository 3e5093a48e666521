"""Repeated authentication failures from one address, reported once per window.

Asterisk reports every refused SIP (or AMI) login as a security event (``SecurityFailure``, AMI
read class ``security``). ``AuthFailureWatch`` is the pure core: failures in, at most one
``AuthFailuresAlarm`` per address per window out, once ``threshold`` failures fell within
``window_s``. ``watch_auth_failures`` wires it to the bus: it logs a warning and publishes the
alarm, which the supervisors' alerting turns into an alert (agent_console.supervisor.alerting).

Refusals we caused on purpose are no attack: a deactivated user's desk phone is locked (its
endpoint's password replaced, agent_console.desk_phones) and, left plugged in, keeps retrying its
registration with its own password. Those (``locked_out``) are logged and not counted.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection

from cti.ami.events import SecurityFailure
from cti.bus import EventBus
from cti.events import Event, event
from cti.settings import SipSettings

log = logging.getLogger(__name__)


@event("security.auth_failures")
class AuthFailuresAlarm(Event):
    """``count`` refused logins from ``remote_address`` within ``window_s`` (accounts tried, in order)."""

    remote_address: str
    count: int
    window_s: float
    service: str
    accounts: tuple[str, ...] = ()


class AuthFailureWatch:
    def __init__(self, threshold: int, window_s: float) -> None:
        self.threshold, self.window_s = threshold, window_s
        self._seen: dict[str, deque[tuple[float, str]]] = {}
        self._alarmed_at: dict[str, float] = {}

    def failure(self, ev: SecurityFailure) -> AuthFailuresAlarm | None:
        """Count ``ev``; the alarm when its address reaches the threshold (again a window later)."""
        recent = self._seen.setdefault(ev.remote_address, deque())
        recent.append((ev.ts, ev.account))
        while recent and recent[0][0] <= ev.ts - self.window_s:
            recent.popleft()
        last = self._alarmed_at.get(ev.remote_address)
        if len(recent) < self.threshold or (last is not None and ev.ts - last < self.window_s):
            return None
        self._alarmed_at[ev.remote_address] = ev.ts
        accounts = tuple(dict.fromkeys(a for _, a in recent if a))
        return AuthFailuresAlarm(ts=ev.ts, remote_address=ev.remote_address, count=len(recent),
                                 window_s=self.window_s, service=ev.service, accounts=accounts)


def locked_out(ev: SecurityFailure, locked: Collection[str]) -> bool:
    """A wrong password from a SIP endpoint we locked (``locked``: endpoint names)."""
    return (ev.service == "PJSIP" and ev.kind in ("ChallengeResponseFailed", "InvalidPassword")
            and ev.account in locked)


def watch_auth_failures(bus: EventBus, sip: SipSettings, *,
                        locked: Callable[[], Collection[str]] = frozenset) -> AuthFailureWatch:
    """``locked()``: the SIP endpoints locked on purpose now (their refusals are not counted)."""
    watch = AuthFailureWatch(sip.auth_failure_threshold, sip.auth_failure_window_s)

    async def on_failure(ev: SecurityFailure) -> None:
        if locked_out(ev, locked()):
            log.info("security: %s refused %s login %r from %s: a locked desk phone (its user is deactivated), "
                     "not counted", ev.service, ev.kind, ev.account, ev.remote_address)
            return
        log.info("security: %s refused %s login %r from %s", ev.service, ev.kind, ev.account, ev.remote_address)
        alarm = watch.failure(ev)
        if alarm is not None:
            log.warning("security: %d failed %s logins from %s within %.0f s (accounts %s)", alarm.count,
                        alarm.service, alarm.remote_address, alarm.window_s, ", ".join(alarm.accounts) or "-")
            await bus.publish(alarm)

    bus.subscribe(SecurityFailure, on_failure, name="security.auth_failures")
    return watch
