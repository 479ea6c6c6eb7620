"""Text-mode countdown calls ("Going once", "Going twice"): kept only while someone hears them."""

from __future__ import annotations

import asyncio

from bidwire.clock import FakeClock
from bidwire.domain.commands import Actor, PlaceBid
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.store.memory import MemoryStore
from bidwire.transports.broadcast import Feed
from bidwire.wire.batch import Batch
from tests.engine.test_house import Recorder, house_and_feed, settle


class TextRecorder(Recorder):
    wants_text = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.heard: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def deliver(self, batch: Batch) -> None:
        pass

    def notice(self, line: bytes) -> None:
        self.calls.append(line.decode())
        if not self.heard.done():
            self.heard.set_result(None)


async def not_twice() -> None:
    """A second timer armed by mistake would fire in this loop turn or the next: nothing can
    signal that something did not happen, so give it those turns."""
    for _ in range(2):
        await asyncio.sleep(0)


async def live_house() -> tuple[AuctionHouse, Feed]:
    """One live lot whose deadline is 5.05 s away: "going once" is due in 50 ms."""
    clock = FakeClock()
    house, feed = house_and_feed(MemoryStore(), clock)
    await house.load()
    lot = LotSpec(id="a", title="A", opening_ms=5_050, extend_ms=5_050)
    await house.add_sale(SaleSpec("s", "Sale", ("a",), mode="live"), [lot])
    await house.resume()
    house.start()
    await settle(house, feed)
    return house, feed


async def test_a_text_watcher_hears_the_countdown_calls() -> None:
    house, feed = await live_house()
    listener = TextRecorder()
    feed.subscribe_house(listener)  # joins after the lot opened: the calls are armed now
    await asyncio.wait_for(listener.heard, 5)
    await not_twice()
    assert len(listener.calls) == 1 and listener.calls[0].startswith("Going once")
    await house.stop()
    feed.close()


async def test_no_calls_are_kept_while_nobody_hears_them() -> None:
    house, feed = await live_house()
    feed.subscribe_house(Recorder())  # JSON only
    assert await house.place_bid(PlaceBid(Actor("ann"), "a", 100))
    await settle(house, feed)
    assert not feed._notices, "timers armed for text watchers that do not exist"
    listener = TextRecorder()
    feed.subscribe_house(listener)
    assert feed._notices  # the first text watcher arms them for every open lot
    await asyncio.wait_for(listener.heard, 5)
    await not_twice()
    assert len(listener.calls) == 1 and listener.calls[0].startswith("Going once... A at 1.00")
    await house.stop()
    feed.close()
