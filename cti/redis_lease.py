"""A lease for cross-node exclusivity on Redis: ``RedisLease`` (a short claim on a key) and
``RoutingLease`` (one routing node per Redis, with standby take-over). Errors are the bus's
``BusUnavailable``: both talk to the same Redis through ``cti.redis_bus.redis_client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from cti.errors import ConfigError
from cti.outage_log import OutageLog
from cti.redis_bus import BusUnavailable, redis_client
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Delete/extend only when we still own the key: a lease that expired and was taken by another
# node must not be released or renewed by the old owner.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
          "else return 0 end")


class RedisLease:
    """A short exclusive claim on a key across nodes (e.g. "agent 1001 is being offered a call")."""

    def __init__(self, url: str, *, prefix: str = "cti:lease:") -> None:
        self._redis = redis_client(url, read_timeout_s=2.0)
        self._prefix = prefix
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)

    async def try_acquire(self, key: str, owner: str, ttl_ms: int) -> bool:
        """True when ``owner`` now holds ``key`` for ``ttl_ms``; False when someone else does."""
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive: a lease without expiry would outlive a crashed node")
        try:
            return bool(await self._redis.set(self._prefix + key, owner, nx=True, px=ttl_ms))
        except RedisError as err:
            raise BusUnavailable(f"lease {key}: {err}") from err

    async def release(self, key: str, owner: str) -> bool:
        """Release ``key`` if ``owner`` still holds it; False when it expired or changed hands."""
        try:
            return bool(await self._release(keys=[self._prefix + key], args=[owner]))
        except RedisError as err:
            raise BusUnavailable(f"lease {key}: {err}") from err

    async def renew(self, key: str, owner: str, ttl_ms: int) -> bool:
        """Extend ``owner``'s hold on ``key``; False when it no longer holds it."""
        try:
            return bool(await self._renew(keys=[self._prefix + key], args=[owner, ttl_ms]))
        except RedisError as err:
            raise BusUnavailable(f"lease {key}: {err}") from err

    async def holder(self, key: str) -> str | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except RedisError as err:
            raise BusUnavailable(f"lease {key}: {err}") from err
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def close(self) -> None:
        await self._redis.aclose()


class RoutingLease:
    """One routing node per Redis: this node holds ``cti:lease:acd-router`` while its ACD routes.

    Every node sees every event on the bus, so two routing nodes would each enqueue every caller
    and ring two agents for one call. A standby node (``acquire(wait=True)``) waits for the lease
    and takes over when the holder stops or dies; with ``wait=False`` it is refused at once
    (``ConfigError`` naming the holder). The same node restarting after a crash takes its own
    lease back at once. The lease lives ``ttl_ms`` and is renewed every ``renew_every_s``, so a
    crashed holder frees it within ``ttl_ms`` and a standby polling every ``poll_s`` routes within
    ``ttl_ms + poll_s`` of the crash. A holder that finds its lease taken by another node (it
    stalled past the TTL) calls ``on_lost`` and must stop routing: two routers would double-offer.

    Redis unreachable: the holder goes on routing and renewing (nobody else can take the lease
    meanwhile) and takes its lease back when Redis returns empty; a standby goes on waiting, retrying
    from ``poll_s`` doubling up to ``retry_max_s``. Both log the outage as it starts, at most every
    ``outage_log_every_s`` while it lasts, and as it ends.
    """

    KEY = "acd-router"

    def __init__(self, lease: RedisLease, owner: str, *, ttl_ms: int = 2_000, renew_every_s: float = 0.5,
                 poll_s: float = 0.25, on_lost: Callable[[str | None], None] | None = None,
                 retry_max_s: float = 5.0, outage_log_every_s: float = 30.0) -> None:
        if renew_every_s * 1000 >= ttl_ms / 2:
            raise ValueError("renew_every_s must be well under ttl_ms, or the lease lapses between renewals")
        self.lease, self.owner, self.ttl_ms, self.renew_every_s = lease, owner, ttl_ms, renew_every_s
        self.poll_s, self.on_lost, self.retry_max_s = poll_s, on_lost, retry_max_s
        self.outage_log_every_s = outage_log_every_s
        self._task: asyncio.Task[None] | None = None
        self.held = False  # taken once: this node has routed (a standby that never took over has not)
        self.waiting_for: str | None = None  # while a standby waits: the node that holds the lease

    async def _take(self) -> bool:
        return (await self.lease.try_acquire(self.KEY, self.owner, self.ttl_ms)
                or await self.lease.renew(self.KEY, self.owner, self.ttl_ms))

    async def acquire(self, *, wait: bool = False) -> None:
        """Hold the lease; ``wait``: as a standby, until the holder lets go or dies."""
        announced: str | None = None
        outage = OutageLog(f"standby {self.owner} (routing lease {self.KEY})", self.outage_log_every_s, log)
        retry_s = self.poll_s
        while True:
            try:
                if await self._take():
                    break
                holder = await self.lease.holder(self.KEY)
            except BusUnavailable as err:
                if not wait:  # a node starting to route: no Redis, no start (its error names Redis)
                    raise
                outage.failed(err)  # a standby outlives a Redis outage: it waits on, as before
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, self.retry_max_s)
                continue
            outage.ended()
            retry_s = self.poll_s
            if not wait:
                raise ConfigError(
                    f"node {holder!r} is already routing calls on this Redis (lease {self.KEY}); two routing "
                    f"nodes would offer every call twice. Start this node ({self.owner!r}) as a standby "
                    f"(routing_standby: true) to take over when {holder!r} stops (its lease lapses "
                    f"{self.ttl_ms / 1000:g} s after it dies)")
            self.waiting_for = holder
            if holder != announced and holder is not None:
                log.warning("standby: node %s routes calls; %s takes over when it stops", holder, self.owner)
                announced = holder
            await asyncio.sleep(self.poll_s)
        outage.ended()
        if announced is not None:
            log.warning("routing lease %s taken over by %s from %s", self.KEY, self.owner, announced)
        else:
            log.info("routing: %s routes calls (routing lease %s); a node started beside it waits as a standby",
                     self.owner, self.KEY)
        self.held, self.waiting_for = True, None
        self._task = asyncio.create_task(self._renew_loop(), name="routing-lease")

    async def _renew_loop(self) -> None:
        outage = OutageLog(f"routing lease {self.KEY} of {self.owner}", self.outage_log_every_s, log)
        while True:
            await asyncio.sleep(self.renew_every_s)
            try:
                renewed = await self.lease.renew(self.KEY, self.owner, self.ttl_ms)
                outage.ended()
                if renewed:
                    continue
                if await self.lease.try_acquire(self.KEY, self.owner, self.ttl_ms):
                    log.error("routing lease %s had lapsed (Redis restarted, or this node stalled past %d ms); "
                              "taken back by %s", self.KEY, self.ttl_ms, self.owner)
                    continue
                holder = await self.lease.holder(self.KEY)
                log.critical("routing lease %s lost by %s to %s: this node stops routing", self.KEY, self.owner,
                             holder)
                if self.on_lost is not None:
                    self.on_lost(holder)
                return
            except BusUnavailable as err:
                outage.failed(err)  # this node goes on routing: no other node can take the lease meanwhile

    async def release(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        with contextlib.suppress(BusUnavailable):
            await self.lease.release(self.KEY, self.owner)
        await self.lease.close()


async def routing_holder(url: str) -> str | None:
    """The node that holds the routing lease on this Redis now (None: no node routes)."""
    lease = RedisLease(url)
    try:
        return await lease.holder(RoutingLease.KEY)
    finally:
        await lease.close()
