"""Integrity signals live (engine/integrity.py's ``Integrity``): a scripted sale played through
the house on a fake clock, heard on the bus bid by bid; the same scores read again from the
log; and a restarted house that rebuilds a running sale's scores from its log."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from bidwire.bus import Bus, Message
from bidwire.clock import FakeClock
from bidwire.domain.commands import Actor, PlaceBid
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.engine.integrity import Integrity, IntegrityPolicy, SaleTrack, score_sale
from bidwire.errors import UnknownSale
from bidwire.store import Store
from bidwire.store.base import EVENT_DECODER
from bidwire.store.memory import MemoryStore
from bidwire.transports.broadcast import Feed
from tests.engine.test_house import house_and_feed, settle
from tests.engine.test_integrity import HONEST_SALE, SHILL_SALE, Plan

pytestmark = pytest.mark.timeout(60)

T0 = 1_000_000


def timeline(plan: Plan) -> list[tuple[int, str, str]]:
    """Every bid of the plan in time order: (ms after the opening, lot, bidder)."""
    return sorted((at, lot, who) for lot, bids in plan.items() for at, who in bids)


async def open_house(
    store: Store, clock: FakeClock, plan: Plan, *, add: bool = True
) -> tuple[AuctionHouse, Feed]:
    house, feed = house_and_feed(store, clock)
    await house.load()
    if add:
        lots = [
            LotSpec(
                id=lot, title=lot.upper(), starting_price=100, opening_ms=120_000, extend_ms=10_000
            )
            for lot in plan
        ]
        await house.add_sale(SaleSpec("s", "Sale", tuple(plan), mode="timed"), lots)
    await house.resume()
    house.start()
    await settle(house, feed)
    return house, feed


async def play(
    house: AuctionHouse, feed: Feed, clock: FakeClock, bids: list[tuple[int, str, str]]
) -> None:
    for at, lot, who in bids:
        clock.set(T0 + at)
        house.run_due()
        amount = house.lots[lot].min_amount()
        result = await house.place_bid(PlaceBid(Actor(who), lot, amount))
        assert not hasattr(result, "code"), result
    await settle(house, feed)


async def close_all(house: AuctionHouse, feed: Feed, clock: FakeClock) -> None:
    clock.set(T0 + 10 * 60_000)
    house.run_due()
    await settle(house, feed)


async def logged_track(store: Store, plan: Plan) -> SaleTrack:
    track = SaleTrack("s")
    for lot in plan:
        for body in await store.events_since(lot, 0, 10_000):
            track.apply(EVENT_DECODER.decode(body))
    return track


async def test_a_live_sale_flags_the_shill_as_it_happens_and_nobody_else() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    house, feed = await open_house(store, clock, SHILL_SALE)
    integrity = Integrity(house)
    integrity.listen(house.bus)
    await integrity.settled()
    bids = timeline(SHILL_SALE)
    await play(house, feed, clock, [b for b in bids if b[0] <= 80_000])
    so_far = await integrity.report("s")
    assert so_far.live is True
    assert [b.bidder for b in so_far.bidders if b.flagged] == ["sam"]  # during the sale
    assert so_far.flagged == 1 and so_far.bidders[0].bidder == "sam"
    assert integrity.heard > 0
    await play(house, feed, clock, [b for b in bids if b[0] > 80_000])
    await close_all(house, feed, clock)
    done = await integrity.report("s")
    assert [b.bidder for b in done.bidders if b.flagged] == ["sam"]
    assert all(b.wins == 0 for b in done.bidders if b.bidder == "sam")
    # heard live == read again from the log == the pure rules over the stored events
    again = await Integrity(house, live=False).report("s")
    assert again.live is False
    assert msgspec.to_builtins(again.bidders) == msgspec.to_builtins(done.bidders)
    expected = score_sale(await logged_track(store, SHILL_SALE), clock.now_ms())
    assert msgspec.to_builtins(done.bidders) == msgspec.to_builtins(expected)
    integrity.close()
    await house.stop()
    feed.close()


async def test_an_honest_live_sale_flags_nobody() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    house, feed = await open_house(store, clock, HONEST_SALE)
    integrity = Integrity(house)
    integrity.listen(house.bus)
    for at, lot, who in timeline(HONEST_SALE):
        await play(house, feed, clock, [(at, lot, who)])
        report = await integrity.report("s")
        assert report.flagged == 0, report  # not at any moment of the sale
    await close_all(house, feed, clock)
    assert (await integrity.report("s")).flagged == 0
    integrity.close()
    await house.stop()
    feed.close()


async def test_a_restart_rebuilds_a_running_sales_scores_from_the_log() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    house, feed = await open_house(store, clock, SHILL_SALE)
    first = Integrity(house)
    first.listen(house.bus)
    bids = timeline(SHILL_SALE)
    await play(house, feed, clock, [b for b in bids if b[0] <= 60_000])
    before = await first.report("s")
    first.close()
    await house.stop()
    feed.close()

    house, feed = await open_house(store, clock, SHILL_SALE, add=False)
    second = Integrity(house)
    second.listen(house.bus)
    await second.settled()
    assert "s" in second.tracks  # followed again, rebuilt from the log
    after = await second.report("s")
    assert msgspec.to_builtins(after.bidders) == msgspec.to_builtins(before.bidders)
    await play(house, feed, clock, [b for b in bids if b[0] > 60_000])
    live = await second.report("s")
    relogged = score_sale(await logged_track(store, SHILL_SALE), clock.now_ms())
    assert msgspec.to_builtins(live.bidders) == msgspec.to_builtins(relogged)
    assert [b.bidder for b in live.bidders if b.flagged] == ["sam"]
    second.close()
    await house.stop()
    feed.close()


async def test_off_reads_the_log_when_asked_and_an_unknown_sale_is_refused() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    house, feed = await open_house(store, clock, SHILL_SALE)
    off = Integrity(house, IntegrityPolicy(threshold=0.9), live=False)
    off.listen(house.bus)
    assert off.tracks == {} and off._unsubscribe is None  # nothing on the bid path
    await play(house, feed, clock, timeline(SHILL_SALE)[:10])
    report = await off.report("s")
    assert report.live is False and report.threshold == 0.9
    assert report.bidders and report.flagged == 0  # sam's score is under a threshold of 0.9
    with pytest.raises(UnknownSale):
        await off.report("nothing")
    await house.stop()
    feed.close()


async def test_a_running_sale_is_scored_at_most_twice_a_second() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    house, feed = await open_house(store, clock, SHILL_SALE)
    integrity = Integrity(house)
    integrity.listen(house.bus)
    bids = timeline(SHILL_SALE)
    await play(house, feed, clock, bids[:5])
    first = await integrity.report("s")
    assert await integrity.report("s") is first  # asked again at once: the same answer
    clock.advance(499)
    assert await integrity.report("s") is first
    clock.advance(1)
    fresh = await integrity.report("s")
    assert fresh is not first and fresh.ts == clock.now_ms()
    integrity.close()
    await house.stop()
    feed.close()


class LossyBus:
    """The bus between nodes as a follower may hear it: every message twice, and those
    ``lost`` picks never (the house's own bus beneath)."""

    def __init__(self, bus: Bus, lost: Callable[[int], bool]) -> None:
        self.handlers: list[Callable[[Message], None]] = []
        self.lost = lost
        self.count = 0
        bus.subscribe(self._relay)

    def subscribe(self, handler: Callable[[Message], None]) -> Callable[[], None]:
        self.handlers.append(handler)
        return lambda: self.handlers.remove(handler)

    def _relay(self, message: Message) -> None:
        self.count += 1
        if self.lost(self.count):
            return
        for handler in list(self.handlers):
            handler(message)
            handler(message)


async def test_scores_heard_over_a_bus_that_repeats_and_loses_events_are_the_logs() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    house, feed = await open_house(store, clock, SHILL_SALE)
    bus = LossyBus(house.bus, lambda n: 20 <= n < 26)  # six events in the middle never come
    integrity = Integrity(house)
    integrity.listen(bus)  # type: ignore[arg-type]
    await integrity.settled()
    await play(house, feed, clock, timeline(SHILL_SALE))
    await integrity.settled()
    assert bus.count > 30 and "s" in integrity.tracks  # still followed live
    clock.advance(1_000)  # past the last report's reuse
    live = await integrity.report("s")
    expected = score_sale(await logged_track(store, SHILL_SALE), clock.now_ms())
    assert msgspec.to_builtins(live.bidders) == msgspec.to_builtins(expected)
    assert [b.bidder for b in live.bidders if b.flagged] == ["sam"]
    integrity.close()
    await house.stop()
    feed.close()
