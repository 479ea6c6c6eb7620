"""The engine with a fake clock and the in-memory store: no sockets, no sleeping on time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import pytest

from bidwire.bus.memory import MemoryBus
from bidwire.clock import Clock, FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.events import BidPlaced
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.store.base import Store
from bidwire.store.memory import MemoryStore
from bidwire.transports.broadcast import Feed
from bidwire.wire.batch import Batch

ANN, BOB = Actor("ann"), Actor("bob")


class Recorder:
    wants_text = False

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self._arrived = asyncio.Event()
        self.feed: Feed | None = None
        """The feed it listens to, once subscribed by ``make_house``."""

    def deliver(self, batch: Batch) -> None:
        self.messages.extend(msgspec.json.decode(item.json) for item in batch.items)
        self._arrived.set()

    async def wait_for(
        self, predicate: Callable[[dict[str, object]], bool], timeout: float = 5.0
    ) -> dict[str, object]:
        """The first message delivered that matches, waiting for deliveries (no polling)."""
        async with asyncio.timeout(timeout):
            while True:
                found = next((m for m in self.messages if predicate(m)), None)
                if found is not None:
                    return found
                self._arrived.clear()
                await self._arrived.wait()

    def notice(self, line: bytes) -> None:
        pass

    def types(self) -> list[object]:
        return [m["type"] for m in self.messages]


async def settle(house: AuctionHouse, feed: Feed | None) -> None:
    """Until every commit the house queued is answered and every background task is done, and
    what they published is out to ``feed``'s subscribers: awaited, not yielded for."""
    await asyncio.wait_for(house.settled(), 5)
    if feed is not None:
        await asyncio.wait_for(feed.flushed(), 5)


async def lot_now(house: AuctionHouse, lot_id: str) -> Lot:
    """The house's lot, open or closed (a closed one lives in the store: engine/closed.py)."""
    lot = await house.find_lot(lot_id)
    assert lot is not None, f"no lot {lot_id}"
    return lot


def house_and_feed(store: Store, clock: Clock) -> tuple[AuctionHouse, Feed]:
    """A house and its fan-out on one memory bus, wired as ``app.serve`` wires them."""
    bus = MemoryBus()
    feed = Feed(clock)
    feed.listen(bus)
    return AuctionHouse(store, bus, feed.published, clock), feed


async def make_house(
    store: MemoryStore | None = None, clock: FakeClock | None = None, *, add: bool = True
) -> tuple[AuctionHouse, Recorder, FakeClock, MemoryStore]:
    clock = clock or FakeClock()
    store = store or MemoryStore()
    house, feed = house_and_feed(store, clock)
    await house.load()
    if add:
        lots = [LotSpec(id=i, title=i.title(), starting_price=100) for i in ("a", "b")]
        await house.add_sale(SaleSpec("s", "Sale", ("a", "b"), gap_ms=2_000), lots)
    recorder = Recorder()
    recorder.feed = feed
    feed.subscribe_house(recorder)
    await house.resume()
    house.start()
    await settle(house, feed)
    return house, recorder, clock, store


async def test_a_sale_opens_sells_and_moves_on() -> None:
    house, rec, clock, _ = await make_house()
    assert rec.types() == ["sale_started", "lot_opened"]
    clock.advance(1_000)
    placed = await house.place_bid(PlaceBid(ANN, "a", 100))
    assert isinstance(placed, Accepted) and placed.seq == 2
    await settle(house, rec.feed)
    clock.advance(10_000)
    house.run_due()
    await settle(house, rec.feed)
    closed = rec.messages[-1]
    assert closed["type"] == "lot_closed" and closed["winner"] == "ann"
    clock.advance(1_999)
    house.run_due()
    await settle(house, rec.feed)
    assert rec.types()[-1] == "lot_closed"  # still in the gap
    clock.advance(1)
    house.run_due()
    await settle(house, rec.feed)
    assert rec.messages[-1]["type"] == "lot_opened" and rec.messages[-1]["lot"] == "b"
    clock.advance(30_000)
    house.run_due()
    await settle(house, rec.feed)
    assert rec.types()[-2:] == ["lot_closed", "sale_ended"]


async def test_concurrent_bids_publish_a_gapless_ordered_stream() -> None:
    house, rec, _clock, store = await make_house()
    bidders = [Actor(f"p{i}") for i in range(100)]
    results = await asyncio.gather(
        *(house.place_bid(PlaceBid(who, "a", 100 + 50 * i)) for i, who in enumerate(bidders))
    )
    await settle(house, rec.feed)
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert accepted, results
    seqs = [m["seq"] for m in rec.messages if m.get("lot") == "a"]
    assert seqs == list(range(1, len(seqs) + 1))
    published = {m["seq"]: m["amount"] for m in rec.messages if m["type"] == "bid_placed"}
    assert all(published[r.seq] == r.amount for r in accepted)
    assert [e.seq for e in store.lots["a"].events] == seqs


async def test_a_store_fault_refuses_the_bid_and_the_lot_recovers() -> None:
    house, rec, _clock, store = await make_house()
    store.fail_appends = True
    refused = await house.place_bid(PlaceBid(ANN, "a", 100))
    assert isinstance(refused, Refusal) and refused.code == "unavailable"
    store.fail_appends = False
    await house.settled()  # the lot reloads from the store
    assert house.lots["a"].high_amount is None and house.lots["a"].seq == 1
    placed = await house.place_bid(PlaceBid(ANN, "a", 100))
    assert isinstance(placed, Accepted) and placed.seq == 2
    await settle(house, rec.feed)
    assert [m["seq"] for m in rec.messages if m.get("lot") == "a"] == [1, 2]


async def test_restart_after_the_deadline_reopens_with_a_fresh_window() -> None:
    house, _rec, clock, store = await make_house()
    await house.place_bid(PlaceBid(ANN, "a", 100))
    await house.stop()
    clock.advance(600_000)  # the server was down for ten minutes
    house2, rec2, _, _ = await make_house(store, clock, add=False)
    lot = house2.lots["a"]
    assert lot.status == "open" and lot.ends_at == clock.now_ms() + 10_000
    assert rec2.messages[0]["type"] == "lot_extended"
    assert rec2.messages[0]["reason"] == "restart"
    refused = await house2.place_bid(PlaceBid(ANN, "a", 200))
    assert isinstance(refused, Refusal) and refused.code == "already_leading"
    assert isinstance(await house2.place_bid(PlaceBid(BOB, "a", 200)), Accepted)


async def test_repeating_a_request_id_gives_the_first_answer_and_no_second_bid() -> None:
    house, _rec, _clock, store = await make_house()
    first = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="k1"))
    again = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="k1"))
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert (again.seq, again.amount) == (first.seq, first.amount)
    assert sum(1 for e in store.lots["a"].events if isinstance(e, BidPlaced)) == 1


async def test_unknown_lot_and_shutdown_refusals() -> None:
    house, *_ = await make_house()
    unknown = await house.place_bid(PlaceBid(ANN, "nope", 100))
    assert isinstance(unknown, Refusal) and unknown.code == "unknown_lot"
    await house.stop()
    late = await house.place_bid(PlaceBid(ANN, "a", 100))
    assert isinstance(late, Refusal) and late.code == "unavailable"


async def test_duplicate_sale_ids_are_refused() -> None:
    house, *_ = await make_house()
    with pytest.raises(ValueError, match="already"):
        await house.add_sale(SaleSpec("s", "Again", ("z",)), [LotSpec(id="z", title="Z")])


async def test_several_sales_run_at_once() -> None:
    house, rec, _clock, _ = await make_house()
    await house.add_sale(
        SaleSpec("t", "Timed", ("x", "y"), mode="timed"),
        [LotSpec(id="x", title="X"), LotSpec(id="y", title="Y")],
    )
    house.run_due()
    await settle(house, rec.feed)
    opened = sorted(str(m["lot"]) for m in rec.messages if m["type"] == "lot_opened")
    assert opened == ["a", "x", "y"]
    assert isinstance(await house.place_bid(PlaceBid(ANN, "x", 100)), Accepted)
    assert isinstance(await house.place_bid(PlaceBid(ANN, "a", 100)), Accepted)


async def test_a_request_id_is_remembered_across_a_restart() -> None:
    house, _rec, clock, store = await make_house()
    first = await house.place_bid(PlaceBid(ANN, "a", 100, request_id="k9"))
    await house.stop()
    house2, *_ = await make_house(store, clock, add=False)
    again = await house2.place_bid(PlaceBid(ANN, "a", 100, request_id="k9"))
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert (again.seq, again.amount) == (first.seq, first.amount)
    assert sum(1 for e in store.lots["a"].events if isinstance(e, BidPlaced)) == 1
