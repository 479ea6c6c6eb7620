"""What tests await on the feed instead of polling it: ``flushed`` and ``on_direct``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bidwire.bus import Message
from bidwire.bus.memory import MemoryBus
from bidwire.clock import FakeClock, work_timer
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.store.memory import MemoryStore
from bidwire.transports.broadcast import Feed
from bidwire.transports.fanout import DirectTarget
from bidwire.wire.batch import Batch
from tests.engine.test_house import Recorder


async def test_flushed_waits_for_the_flush_that_hands_events_out() -> None:
    clock, bus = FakeClock(), MemoryBus()
    feed = Feed(clock)
    house = AuctionHouse(MemoryStore(), bus, feed.published, clock)
    heard: list[Message] = []
    bus.subscribe(heard.append)  # the feed hears them below, when the test says
    await house.add_sale(SaleSpec("s", "Sale", ("a",)), [LotSpec(id="a", title="A")])
    house.start()
    await house.settled()  # the sale started, its lot open
    assert isinstance(await house.place_bid(PlaceBid(Actor("ann"), "a", 100)), Accepted)
    rec = Recorder()
    feed.subscribe_house(rec)
    await feed.flushed()  # nothing heard yet: at once
    feed.pacer._next_at = work_timer() + 0.05  # as after a heavy flush: the next one waits
    for message in heard:
        feed.hear(message)
    assert feed.published.pending() and rec.messages == []
    await asyncio.wait_for(feed.flushed(), 5)
    assert rec.types() == ["sale_started", "lot_opened", "bid_placed"]
    assert not feed.published.pending()
    await house.stop()


@dataclass
class Outlet:
    direct_target: DirectTarget | None


class Watcher:
    """A JSON house subscriber whose outlet offers the direct path while it has a target."""

    wants_text = False
    mode = "json"

    def __init__(self, target: DirectTarget | None) -> None:
        self.outlet = Outlet(target)

    def deliver(self, batch: Batch) -> None:
        pass

    def notice(self, line: bytes) -> None:
        pass


async def test_on_direct_is_done_when_the_subscriber_joins_the_direct_path() -> None:
    feed = Feed(FakeClock())
    target = DirectTarget(-1, lambda data: None)
    queued, free = Watcher(None), Watcher(target)
    anyone, the_queued_one = feed.on_direct(), feed.on_direct(queued)
    feed.subscribe_house(queued)  # its transport has bytes waiting: not on the path
    assert not anyone.done() and not the_queued_one.done()
    feed.subscribe_house(free)
    assert anyone.result() is free and not the_queued_one.done()
    queued.outlet.direct_target = target  # drained: its transport says so
    feed.redirect(queued)
    assert the_queued_one.result() is queued
    assert feed.on_direct(free).result() is free  # already on it: at once
    feed.leave_house(free)
    assert not feed.on_direct(free).done()
    feed.close()
