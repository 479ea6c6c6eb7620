"""Resync, the reload from the store of what a shared bus lost: without any bus, the views and
a store stand for a node that missed messages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bidwire.bus import Message
from bidwire.domain.events import LotEvent, SaleEvent, SalePaused
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.resync import Resync
from bidwire.engine.views import Views
from bidwire.store.memory import MemoryStore
from tests.bus.test_contract import bid, opened


class Node:
    def __init__(self, lots: tuple[str, ...]) -> None:
        self.store = MemoryStore()
        self.sale = SaleSpec("s", "Sale", lots)
        self.views = Views()
        self.views.track_sale(self.sale)
        for lot in lots:
            self.views.track(Lot(LotSpec(lot, lot.title()), "s"))
        self.heard: list[tuple[str, int]] = []

    async def add(self) -> None:
        await self.store.add_sale(self.sale, [LotSpec(i, i.title()) for i in self.sale.lot_ids])

    def hear(self, message: Message) -> None:
        self.views.accept(message)

    def published(self) -> list[tuple[str, int]]:
        for item in self.views.drain():
            event = item.event
            self.heard.append(
                (event.sale if isinstance(event, SaleEvent) else event.lot, event.seq)
            )
        return self.heard

    async def commit(self, event: LotEvent, *, publish: bool = True) -> None:
        await self.store.append([event])
        if publish:
            self.hear(Message("lot", event.lot, event.seq, event))


async def test_a_round_reloads_what_no_message_brought_and_nothing_twice() -> None:
    node = Node(("w", "v"))
    await node.add()
    resync = Resync(node.store, node.views, node.hear)
    await node.commit(opened("w"))
    await node.commit(bid("w", 2), publish=False)  # the last one: no gap shows it
    await node.commit(opened("v"), publish=False)
    await node.commit(bid("v", 2))  # held behind v's lost opening: a gap
    await node.store.append([SalePaused("s", 1, "root", 5)])
    # w 2, v 1 and 2 (read from the gap on: 2 was held, heard again and dropped), s 1
    assert await resync.check() == 4
    assert sorted(node.published()) == [("s", 1), ("v", 1), ("v", 2), ("w", 1), ("w", 2)]
    assert node.views.order.gaps() == {}
    assert await resync.check() == 0
    assert node.published() == node.heard  # nothing more


async def test_open_lots_are_checked_in_turns_when_there_are_many() -> None:
    lots = tuple(f"l{n}" for n in range(10))
    node = Node(lots)
    await node.add()
    for lot in lots:
        await node.commit(opened(lot), publish=False)
    resync = Resync(node.store, node.views, node.hear, max_lots=4)
    found = [await resync.check() for _ in range(3)]
    assert found == [4, 4, 2]
    assert sorted(k for k, _ in node.published()) == sorted(lots)


async def test_a_gap_the_store_cannot_fill_does_not_make_rounds_back_to_back() -> None:
    node = Node(("w",))
    node.hear(Message("lot", "w", 3, bid("w", 3)))  # 1 and 2 are nowhere to be read

    class Empty:
        async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
            return []

        async def sale_log(self, sale_id: str) -> list[SaleEvent]:
            return []

    resync = Resync(Empty(), node.views, node.hear, every=60.0)
    resync.start()
    try:
        for _ in range(40):  # a poke with every message held behind the gap
            resync.poke()
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.06)
    finally:
        resync.close()
    assert 2 <= resync.rounds <= 6


async def reloaded_after_one_failure(error: Exception) -> tuple[Node, Resync]:
    """A lot whose opening was stored but never published; the store's first read for the
    resync fails with ``error``: until the next round has published it."""
    node = Node(("w",))
    await node.add()
    await node.commit(opened("w"), publish=False)
    calls = 0
    real = node.store.events_since

    async def once_failing(lot_id: str, since_seq: int, limit: int) -> list[bytes]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        return await real(lot_id, since_seq, limit)

    node.store.events_since = once_failing  # type: ignore[method-assign]
    resync = Resync(node.store, node.views, node.hear, every=0.05)
    resync.start()
    try:
        async with asyncio.timeout(3):
            while not node.published():
                await asyncio.sleep(0.01)
    finally:
        resync.close()
    return node, resync


async def test_a_store_that_fails_is_tried_again_the_next_round(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, resync = await reloaded_after_one_failure(OSError("the store is away"))
    assert node.heard == [("w", 1)] and resync.failures == 1
    assert "reload from the store failed" in caplog.text


async def test_a_store_that_tells_its_seqs_is_read_only_for_the_lots_behind() -> None:
    lots = tuple(f"l{n}" for n in range(6))
    node = Node(lots)
    await node.add()
    for lot in lots:
        await node.commit(opened(lot))
    await node.commit(bid("l3", 2), publish=False)  # the one lot behind
    read: list[str] = []
    store = node.store

    class Seqs:
        async def lot_seqs(self, lot_ids: Sequence[str]) -> dict[str, int]:
            return {i: len(store.lots[i].events) for i in lot_ids}

        async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
            read.append(lot_id)
            return await store.events_since(lot_id, since_seq, limit)

        async def sale_log(self, sale_id: str) -> list[SaleEvent]:
            return await store.sale_log(sale_id)

    resync = Resync(Seqs(), node.views, node.hear)
    assert await resync.check() == 1
    assert read == ["l3"] and ("l3", 2) in node.published()
