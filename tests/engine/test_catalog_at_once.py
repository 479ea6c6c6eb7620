"""Nodes of a cluster started at once on an empty PostgreSQL store each find it empty and add
the catalog (app.add_catalog): the one that comes second learns the sale instead of stopping
(tests/e2e/test_cluster.py saw a node stop so, "an id is already taken")."""

from __future__ import annotations

import pytest

from bidwire.app import add_catalog
from bidwire.bus.memory import MemoryBus
from bidwire.clock import FakeClock
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.engine.views import Views
from bidwire.errors import Conflict
from bidwire.store import open_store
from tests.store.pg import fresh_schema

pytestmark = pytest.mark.timeout(30)

CATALOG = [
    (SaleSpec("s", "Sale", ("a",)), [LotSpec(id="a", title="A", starting_price=100)]),
    (SaleSpec("t", "Other", ("b",)), [LotSpec(id="b", title="B", starting_price=100)]),
]


async def test_the_second_node_to_add_the_catalog_learns_it() -> None:
    async with fresh_schema() as url, open_store(url) as first, open_store(url) as second:
        houses = [
            AuctionHouse(store, MemoryBus(), Views(), FakeClock()) for store in (first, second)
        ]
        for house in houses:
            await house.load()  # both find the store empty
            house.owned = set()  # a node of a cluster
        await add_catalog(houses[0], CATALOG[:1])  # it stopped before "t"
        await add_catalog(houses[1], CATALOG)
        assert set(houses[1].sales) == {"s", "t"} and set(houses[1].lots) == {"a", "b"}
        alone = AuctionHouse(first, MemoryBus(), Views(), FakeClock())  # a store not empty
        with pytest.raises(Conflict):  # not a cluster: still a refusal, said in words
            await add_catalog(alone, CATALOG[:1])
