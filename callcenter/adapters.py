"""The adapters the settings choose, for the composition root (``callcenter.engine``): the bus (in
process, or Redis Streams for several nodes), the event feed's store, the routing lease of several
nodes, where recordings are written and kept, and the dialplan contexts the engine checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.handoff import LINE_CONTEXTS
from crm_core.db import Database
from crm_core.feed import EventFeed, Feed
from crm_core.recording_files import RecordingStore
from cti.bus import EventBus, InProcessBus
from cti.errors import ConfigError
from cti.pbx_config import dialplan_contexts
from cti.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:  # redis is imported only when the redis bus is configured
    from cti.redis_lease import RoutingLease

log = logging.getLogger(__name__)
FEED_GATHER_S = 1.0


def expected_contexts(settings: Settings) -> list[str]:
    """What the dialplan watch asks Asterisk for: every context of the engine's extensions.conf."""
    try:
        return dialplan_contexts(settings)
    except (OSError, ConfigError) as err:  # no extensions.conf beside the configuration, a bad trunks.yaml
        log.warning("dialplan: %s; only the contexts of the ring from the caller's line are checked", err)
        return list(LINE_CONTEXTS)


def make_bus(settings: Settings) -> EventBus:
    if settings.bus == "redis":
        if not settings.redis_url:
            raise ConfigError("bus: 'redis' needs redis_url (CTI_REDIS_URL)")
        from cti.redis_bus import RedisStreamsBus

        return RedisStreamsBus(settings.redis_url, group=settings.node_id, consumer=settings.node_id)
    return InProcessBus()


def make_feed(settings: Settings, db: Database) -> Feed:
    """The event feed's store: the database, or with several nodes (bus: redis) a Redis stream."""
    fs = settings.feed
    store = fs.store if fs.store != "auto" else ("redis" if settings.bus == "redis" else "database")
    if store == "database":
        # A batch gathers for 500 ms (the class's default is 5 ms): at 10 calls/s ~25 events per
        # insert transaction instead of one to five. Readers lose nothing: rows not yet stored
        # are served from the ring, and the journal keeps them through a crash.
        return EventFeed(db, settings.state_dir, node=settings.node_id, retention_s=fs.retention_h * 3600,
                         flush_interval_s=FEED_GATHER_S)
    if settings.bus != "redis" or not settings.redis_url:
        raise ConfigError("feed.store: 'redis' needs bus: redis and redis_url (the feed is written with the bus)")
    from crm_core.feed_stream import StreamFeed
    from cti.redis_bus import RedisStreamLog

    return StreamFeed(RedisStreamLog(settings.redis_url, fs.stream_key), retention_s=fs.retention_h * 3600)


def make_routing_lease(settings: Settings, on_lost: Callable[[str | None], None]) -> RoutingLease | None:
    """Several nodes on one Redis: only one may route (see ``cti.redis_lease.RoutingLease``)."""
    if settings.bus != "redis" or not settings.redis_url:
        return None
    from cti.redis_lease import RedisLease, RoutingLease

    return RoutingLease(RedisLease(settings.redis_url), settings.node_id, on_lost=on_lost)


def recording_store(settings: Settings) -> RecordingStore:
    """Where Asterisk writes recordings and where the engine keeps them. A managed Asterisk runs
    in a chroot that cannot see the project's var/: it writes into its instance's spool/monitor
    (owned by Asterisk's user), and the engine moves each finished file out."""
    rec = settings.recordings
    store = rec.dir if rec.dir.is_absolute() else PROJECT_ROOT / rec.dir
    if rec.pbx_dir is not None:
        spool = Path(rec.pbx_dir)
        if settings.pbx.mode == "managed":
            spool = settings.pbx.rootfs / rec.pbx_dir.lstrip("/")
        return RecordingStore(rec.pbx_dir, spool, store)
    if settings.pbx.mode == "system":
        return RecordingStore(str(store), store, store)  # the system Asterisk writes there directly
    pbx_dir = f"/srv/cti/{settings.pbx.instance}/spool/monitor/cti"
    return RecordingStore(pbx_dir, settings.pbx.rootfs / pbx_dir.lstrip("/"), store)
