"""Lots added to a sale (issue 12, defect 9): the house decides, and a sale whose new lots the
store is still writing neither ends nor has its start undone meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.errors import BadRequest
from bidwire.store.memory import MemoryStore
from tests.engine.test_house import make_house, settle


class SlowCatalog(MemoryStore):
    """A memory store whose ``add_lots`` waits until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.finish = asyncio.Event()

    async def add_lots(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        self.writing.set()
        await self.finish.wait()
        await super().add_lots(sale, lots)


async def test_a_live_sale_does_not_end_while_its_new_lot_is_written() -> None:
    store = SlowCatalog()
    house, rec, clock, _ = await make_house(store)
    adding = asyncio.create_task(
        house.add_lots("s", [LotSpec(id="c", title="C", starting_price=100)], by="root")
    )
    await asyncio.wait_for(store.writing.wait(), 5)
    # Meanwhile both lots run out: the sale would end, but waits for the write.
    for _ in range(3):
        clock.advance(30_000)
        house.run_due()
        await asyncio.wait_for(house.settled(), 5)
    assert house.sales["s"].ended_at is None
    store.finish.set()
    await asyncio.wait_for(adding, 5)
    await settle(house, rec.feed)
    assert house.sales["s"].spec.lot_ids == ("a", "b", "c")
    assert house.lots["c"].status == "scheduled"
    clock.advance(2_000)  # the sale's gap after the last lot
    house.run_due()
    await settle(house, rec.feed)
    added = house.lots["c"]  # a fresh name: mypy keeps the "scheduled" narrowed above
    assert added.status == "open"  # it came up after the others
    clock.advance(30_000)
    house.run_due()
    await settle(house, rec.feed)
    assert rec.types()[-2:] == ["lot_closed", "sale_ended"]
    with pytest.raises(BadRequest, match="has ended"):
        await house.add_lots("s", [LotSpec(id="d", title="D")], by="root")
    with pytest.raises(BadRequest, match="already in use"):
        await house.add_lots("s", [LotSpec(id="a", title="A again")], by="root")


async def test_a_start_waits_for_lots_being_added_and_keeps_them() -> None:
    store = SlowCatalog()
    house, rec, _clock, _ = await make_house(store, add=False)
    await house.create_sale(
        SaleSpec("h", "Held", ("p",), held=True), [LotSpec(id="p", title="P")], by="root"
    )
    adding = asyncio.create_task(house.add_lots("h", [LotSpec(id="q", title="Q")], by="root"))
    await asyncio.wait_for(store.writing.wait(), 5)
    with pytest.raises(BadRequest, match="being changed"):
        await house.start_sale("h", by="root")  # one change of a sale's spec at a time
    store.finish.set()
    await asyncio.wait_for(adding, 5)
    await house.start_sale("h", by="root")
    await settle(house, rec.feed)
    assert house.sales["h"].spec.lot_ids == ("p", "q") and house.sales["h"].status == "running"
    assert (await store.catalog())[0][0].lot_ids == ("p", "q")  # the store agrees
