"""The open lots' report facts kept live (engine/live_report.py) equal the store's counting
of the same log (its SQL aggregates on SQLite, store/memory.py's reference in Python): seeded
random sales with maximums and soft-close extensions, read at several moments while they run;
a voided lot and a lot met mid-way are left to the store."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from bidwire.clock import FakeClock
from bidwire.domain.commands import Actor, PlaceBid
from bidwire.domain.events import BidPlaced, LotClosed, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.engine.live_report import LiveFacts
from bidwire.engine.report import sale_report
from bidwire.store import Store, open_store
from bidwire.transports.broadcast import Feed
from tests.engine.test_house import house_and_feed, settle
from tests.store.any_store import KINDS, store_of

pytestmark = pytest.mark.timeout(60)

T0 = 1_000_000
LOTS = ("a", "b", "c")
SALE = SaleSpec("s", "Sale", LOTS, mode="timed")


async def running_sale(store: Store, clock: FakeClock) -> tuple[AuctionHouse, Feed, LiveFacts]:
    house, feed = house_and_feed(store, clock)
    await house.load()
    live = LiveFacts.of_house(house)
    live.listen(house.bus)
    specs = [  # each open a different while, so rounds find some open, some closed
        LotSpec(id=lot, title=lot.upper(), starting_price=100, opening_ms=ms, extend_ms=10_000)
        for lot, ms in zip(LOTS, (60_000, 200_000, 400_000), strict=True)
    ]
    await house.add_sale(SALE, specs)
    await house.resume()
    house.start()
    await settle(house, feed)
    return house, feed, live


def report_json(report: object) -> object:
    return msgspec.to_builtins(report)


async def bid_at_random(
    house: AuctionHouse, feed: Feed, clock: FakeClock, rng: random.Random, count: int
) -> None:
    for _ in range(count):
        clock.advance(rng.choice((50, 400, 3_000, 9_000)))
        house.run_due()
        open_lots = [lot for lot in LOTS if lot in house.lots and house.lots[lot].status == "open"]
        if not open_lots:
            break
        lot = rng.choice(open_lots)
        who = Actor(f"bidder{rng.randrange(6)}")
        if rng.random() < 0.3:  # a maximum: the house bids for it when it is passed
            maximum = house.lots[lot].min_amount() + rng.randrange(1, 8) * 100
            await house.place_bid(PlaceBid(who, lot, None, max_amount=maximum))
        else:
            await house.place_bid(PlaceBid(who, lot, house.lots[lot].min_amount()))
    await settle(house, feed)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_live_facts_equal_the_stores_count_while_a_sale_runs(
    kind: str, seed: int, tmp_path: Path
) -> None:
    clock, rng = FakeClock(T0), random.Random(seed)
    async with store_of(kind, tmp_path) as store:
        house, feed, live = await running_sale(store, clock)
        compared = 0
        for _ in range(6):
            await bid_at_random(house, feed, clock, rng, 15)
            followed, _rest = live.split(LOTS)
            now = clock.now_ms()
            from_the_log = report_json(await sale_report(store, SALE, now))
            assert report_json(await sale_report(store, SALE, now, live)) == from_the_log
            compared += len(followed.lots)
        # the storm was big enough to prove something: open lots were followed, with bids
        # by several people, maximums and extensions among them
        assert compared >= 6
        report = await sale_report(store, SALE, clock.now_ms())
        assert report.bids >= 40 and report.auto_bids > 0 and report.unique_bidders >= 4
        assert report.extensions > 0
        await house.stop()


async def test_a_voided_lot_and_a_lot_met_mid_way_are_left_to_the_store() -> None:
    clock = FakeClock(T0)
    async with open_store("memory://") as store:
        house, feed, live = await running_sale(store, clock)
        for who in ("ann", "bob", "ann"):
            clock.advance(1_000)
            await house.place_bid(PlaceBid(Actor(who), "a", house.lots["a"].min_amount()))
            await house.place_bid(PlaceBid(Actor(who), "b", house.lots["b"].min_amount()))
        await settle(house, feed)
        assert set(live.lots) == {"a", "b", "c"}
        late = LiveFacts.of_house(house)  # as after a restart: it never saw seq 1
        late.listen(house.bus)
        history = await store.bid_history("a", None, 10)
        last = msgspec.json.decode(history[0], type=BidPlaced)
        await house.void_bid("a", last.seq, "root")
        clock.advance(1_000)
        await house.place_bid(PlaceBid(Actor("cy"), "b", house.lots["b"].min_amount()))
        await settle(house, feed)
        assert set(live.lots) == {"b", "c"}  # the void: "a" is recounted by the store
        assert late.lots == {}
        now = clock.now_ms()
        from_the_log = report_json(await sale_report(store, SALE, now))
        assert report_json(await sale_report(store, SALE, now, live)) == from_the_log
        assert report_json(await sale_report(store, SALE, now, late)) == from_the_log
        # and a lot that closes goes back to the store, which keeps its facts
        clock.advance(10 * 60_000)
        house.run_due()
        await settle(house, feed)
        assert live.lots == {}
        late.close()
        live.close()
        await house.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_lots_open_before_it_listened_are_caught_up_from_their_logs(
    kind: str, tmp_path: Path
) -> None:
    """As at a server's start on a store with open lots: their logs are read once, the bids
    heard meanwhile applied after, and from then on the facts are the store's to the bid."""
    clock, rng = FakeClock(T0), random.Random(5)
    async with store_of(kind, tmp_path) as store:
        house, feed, first = await running_sale(store, clock)
        first.close()
        await bid_at_random(house, feed, clock, rng, 12)
        later = LiveFacts.of_house(house)
        later.listen(house.bus, [lot for lot in LOTS if lot in house.lots])
        # bids while the logs are being read: heard, kept aside, applied after
        await bid_at_random(house, feed, clock, rng, 6)
        await later.settled()
        await bid_at_random(house, feed, clock, rng, 6)
        open_now = {lot for lot in LOTS if lot in house.lots}
        assert open_now and set(later.lots) == open_now
        now = clock.now_ms()
        from_the_log = report_json(await sale_report(store, SALE, now))
        assert report_json(await sale_report(store, SALE, now, later)) == from_the_log
        later.close()
        await house.stop()


def test_a_lot_left_to_the_store_is_never_followed_again_whatever_the_bus_repeats() -> None:
    # a follower's bus may repeat an event and lose others (issue 14): a lot opened again by a
    # repeated lot_opened, after its close or a gap, would count an opening and no bids
    live = LiveFacts(lambda lot_id: 10_000)
    opened = {
        lot: LotOpened(lot, 1, "s", lot.upper(), "", "USD", 100, 100, T0 + 60_000, T0)
        for lot in ("a", "b")
    }
    live.apply(opened["a"])
    live.apply(BidPlaced("a", 2, 100, "ann", T0 + 60_000, 110, T0 + 1))
    live.apply(opened["a"])  # a repeat: changes nothing
    live.apply(LotClosed("a", 3, "sold", "ann", 100, T0 + 2, "no_bids"))
    live.apply(opened["b"])
    live.apply(BidPlaced("b", 3, 100, "bob", T0 + 60_000, 110, T0 + 3))  # seq 2 was lost
    assert live.lots == {}
    live.apply(opened["a"])
    live.apply(opened["b"])
    assert live.lots == {}  # both stay the store's to count
