"""The console's customer search ("name, phone, email") finds customers by e-mail, case-insensitively,
on SQLite and PostgreSQL; and the in-memory fake the console demo runs on (agent_console.fakecrm)
answers as the real search does (SqlCustomerSearch on crm_core.customers)."""

from __future__ import annotations

import time

import pytest

from agent_console.crm_adapters import SqlCustomerSearch
from agent_console.fakecrm import FakeCrm, _seed
from crm_core import customers
from crm_core.db import Database
from crm_core.schemas import CustomerIn, PhoneIn


async def _the_fakes_customers(db: Database) -> None:
    """The fake's book, written into the real CRM."""
    async with db.session() as s:
        for entry in _seed(time.time()).values():
            c = entry["customer"]
            await customers.create_customer(session=s, data=CustomerIn(
                name=c["name"], company=c["company"], phones=[PhoneIn(number=c["phone"])],
                emails=[c["email"]] if c["email"] else []))


async def test_search_matches_any_email_case_insensitively(db: Database) -> None:
    async with db.session() as s:
        await customers.create_customer(session=s, data=CustomerIn(
            name="王芳", phones=[PhoneIn(number="13800138001")], emails=["wang@example.cn", "Fang.W@Corp.Example"]))
        await customers.create_customer(session=s, data=CustomerIn(name="Ann", phones=[PhoneIn(number="13800138002")]))
    async with db.session() as s:
        for q in ("wang@example.cn", "WANG@EXAMPLE", "fang.w@corp.example", "corp.EXAMPLE", "@corp"):
            found, total = await customers.search_customers(session=s, q=q)
            assert (total, [c.name for c in found]) == (1, ["王芳"]), q
        # The stored list's own syntax matches nothing: no customer is found by '[', '"' or '","'.
        for q in ("[", "]", '"', '","', '["', "[]", "nobody@example.cn"):
            assert await customers.search_customers(session=s, q=q) == ([], 0), q


@pytest.mark.parametrize("query", ["emma@clarke.example", "EMMA@Clarke", "clarke.example", "li.wei@", "example",
                                   "Clarke", "hangzhou tea", "nobody@example.cn", "@"])
async def test_the_fake_and_the_real_search_agree(db: Database, query: str) -> None:
    await _the_fakes_customers(db)
    fake = {c["name"] for c in await FakeCrm().search(query)}
    real = {c["name"] for c in await SqlCustomerSearch(db).search(query)}
    assert real == fake, query
