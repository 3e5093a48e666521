"""An engine with no campaign running reads no campaign table: the dialer read it every 2 s
whatever ran (about 3 % of the engine's loop in a profile). Idle, it reads it when a campaign is
started, paused, resumed or stopped (CampaignChanged on the bus, which every node's dialer hears),
and once a minute besides; a started campaign still dials at once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from crm_core import campaigns
from crm_core.campaign_rules import CampaignIn
from crm_core.db import Database
from crm_core.dialer import CampaignDialer
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.trunks import TrunksConfig
from tests.helpers import until

ROUTES = TrunksConfig.model_validate({
    "default_region": "CN", "trunks": [{"name": "cn", "kind": "ip", "host": "192.0.2.10"}],
    "outbound": {"routes": [{"prefix": "86", "trunk": "cn"}]}})


@contextmanager
def _counting(db: Database) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen[statement.split(None, 1)[0].upper()] += 1

    for engine in db.statement_engines:
        event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        for engine in db.statement_engines:
            event.remove(engine, "before_cursor_execute", before)


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


async def _draft(db: Database, name: str = "spring") -> int:
    async with db.session() as s:
        c = await campaigns.create_campaign(session=s, spec=CampaignIn(name=name, queue="sales",
                                                                       timezone="Asia/Shanghai"))
        c.windows = [{"days": list(range(7)), "start": "00:00:00", "end": "24:00:00"}]
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"})])
        return c.id


async def _node(db: Database, bus: InProcessBus, control: FakeCallControl, clock: Clock) -> CampaignDialer:
    acd = AcdService(Router([QueueConfig("sales")]), FakeCallControl(), InProcessBus(), clock=clock)
    await acd.agent_login("1001", {}, ["sales"], ready=True)
    dialer = CampaignDialer(db, acd, lambda: control, bus, routing=ROUTES, clock=clock, tick_s=0.01)
    dialer.subscribe()
    return dialer


async def test_an_idle_dialer_reads_no_campaign_until_one_is_started(db: Database) -> None:
    bus, control, clock = InProcessBus(), FakeCallControl(), Clock()
    dialer = await _node(db, bus, control, clock)
    await bus.start()
    await dialer.tick()  # the first tick reads the campaigns: none
    with _counting(db) as seen:
        for _ in range(100):  # 50 s of ticks with nothing to run
            clock.now += 0.5
            await dialer.tick()
    assert seen == Counter(), seen  # was a read every 2 s
    clock.now += 10.0  # a minute since the last read: read once more (a change no notice told of)
    with _counting(db) as seen:
        await dialer.tick()
    assert seen["SELECT"] >= 1

    # Started on another node (its API, its dialer fenced: it routes no calls): this node's dialer
    # hears of it on the bus and dials at once, the clock standing still.
    other = await _node(db, bus, FakeCallControl(), clock)
    other.fence()
    cid = await _draft(db)
    await dialer.start()
    await other.command(cid, "start", "sup1")
    await until(lambda: control.called("originate"), what="the started campaign's first dial")
    assert dialer.live[cid].state == "running"
    await dialer.stop()
    await other.stop()
    await bus.stop()


async def test_a_running_campaign_is_still_followed_every_refresh(db: Database) -> None:
    """Running (or paused), the campaigns are read every ``refresh_s`` as before: a running one with
    nothing left completes, and a change made outside the engine (no notice) is seen."""
    bus, control, clock = InProcessBus(), FakeCallControl(), Clock()
    dialer = await _node(db, bus, control, clock)
    await bus.start()
    cid = await _draft(db)
    await dialer.command(cid, "start", "sup1")
    assert dialer.live[cid].state == "running"
    async with db.session() as s:  # paused behind the engine's back: no notice
        await campaigns.change_state(session=s, campaign=await campaigns.get_campaign(session=s, campaign_id=cid),
                                     event="pause")
    clock.now += dialer.refresh_s
    await dialer.tick()
    assert dialer.live[cid].state == "paused"
    await dialer.stop()
    await bus.stop()
