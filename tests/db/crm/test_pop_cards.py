"""``SqlPopSource``'s recent cards on SQLite and PostgreSQL: a number finds a card during an outage
only when it was the customer's own and no one else's, and a customer's change reaches the cards
(the script's filled-in name too), or drops them when the CRM cannot be read then."""

from __future__ import annotations

import time

from crm_core import catalog, customers
from crm_core.db import Database
from crm_core.events import CustomerChanged
from crm_core.models import CustomerPhone
from crm_core.schemas import CustomerIn, CustomerPatch, PhoneIn, ScriptIn
from crm_core.screenpop import SqlPopSource
from tests.helpers import DatabaseAway


def _changed(cid: int) -> CustomerChanged:
    return CustomerChanged(ts=time.time(), customer_id=cid, actor="sup1", fields=("name",))


async def test_only_a_number_that_names_the_customer_finds_their_card_in_an_outage(db: Database) -> None:
    async with db.session() as s:
        li = await customers.create_customer(session=s, data=CustomerIn(name="Li", phones=[
            PhoneIn(number="13800138000")]))
        wang = await customers.create_customer(session=s, data=CustomerIn(name="Wang", phones=[
            PhoneIn(number="13900139000")]))
        zhao = await customers.create_customer(session=s, data=CustomerIn(name="Zhao"))
        s.add(CustomerPhone(customer_id=zhao.id, e164="+8613900139000", shared_before=True))  # before 0020
    pops = SqlPopSource(db)
    # Li identified by account + PIN, calling from a hotel phone; Wang from the phone Zhao shares.
    await pops.build_pop("L1", "1001", {"caller_number": "13700137000", "customer_id": li.id})
    await pops.build_pop("L2", "1001", {"caller_number": "13900139000", "customer_id": wang.id})
    await pops.build_pop("L3", "1001", {"caller_number": "13800138000"})  # Li's own number
    pops.db = DatabaseAway(db)  # type: ignore[assignment]
    assert (await pops.build_pop("L4", "1001", {"caller_number": "13700137000"}))["customer"] is None
    assert (await pops.build_pop("L5", "1001", {"caller_number": "+8613900139000"}))["customer"] is None
    assert (await pops.build_pop("L6", "1001", {"caller_number": "+8613800138000"}))["customer"]["name"] == "Li"
    # The IVR named Wang (its own cache): Li's number's card is not Wang's.
    other = await pops.build_pop("L7", "1001", {"caller_number": "13800138000", "customer_id": zhao.id})
    assert other["customer"] is None and other["source"] == "unavailable"


async def test_a_change_refreshes_the_cards_and_their_script_or_drops_them(db: Database) -> None:
    async with db.session() as s:
        await catalog.save_script(session=s, data=ScriptIn(name="greeting", title="Greeting", queue="support",
                                                             body="Hello {customer_name} ({tier})"))
        li = await customers.create_customer(session=s, data=CustomerIn(name="Li", phones=[
            PhoneIn(number="13800138000")]))
    pops = SqlPopSource(db)
    pop = await pops.build_pop("L1", "1001", {"caller_number": "13800138000", "queue": "support"})
    assert pop["script"]["body"] == "Hello Li (standard)"
    async with db.session() as s:
        await customers.update_customer(session=s, customer_id=li.id, patch=CustomerPatch(
            name="Li Na", tier="gold", phones=[PhoneIn(number="13800138000"), PhoneIn(number="13811112222")]))
    await pops.customer_changed(_changed(li.id))
    up = pops.db
    pops.db = DatabaseAway(db)  # type: ignore[assignment]
    cached = await pops.build_pop("L2", "1001", {"caller_number": "13800138000", "queue": "support"})
    assert (cached["source"], cached["customer"]["name"], cached["customer"]["tier"]) == ("cache", "Li Na", "gold")
    assert cached["script"]["body"] == "Hello Li Na (gold)"
    # A change while the CRM cannot be read: the cards are dropped, not left as they were.
    await pops.customer_changed(_changed(li.id))
    gone = await pops.build_pop("L3", "1001", {"caller_number": "13800138000", "customer_id": li.id})
    assert gone["customer"] is None and gone["source"] == "unavailable"
    assert len(pops.cards) == 0
    pops.db = up
