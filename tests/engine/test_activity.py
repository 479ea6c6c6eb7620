"""My activity (a read over the store by who bid) and notices (decided from the house's
committed events, time from a FakeClock): engine/activity.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from bidwire.clock import FakeClock
from bidwire.domain.commands import Actor, PlaceBid
from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    LotClosed,
    LotOpened,
    LotPaused,
    LotResumed,
)
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine import activity as activity_module
from bidwire.engine.activity import (
    Activity,
    Decided,
    GuestWatches,
    Notice,
    NoticeRules,
    Who,
)
from bidwire.engine.house import AuctionHouse
from bidwire.errors import BadRequest, UnknownLot
from bidwire.store import Store
from bidwire.transports.broadcast import Feed
from tests.engine.test_house import house_and_feed, settle
from tests.store.any_store import KINDS, store_of

ANN, BOB = Who("ann", True), Who("bob", False)
NOTICE = msgspec.json.Decoder(Notice)


@dataclass
class Told:
    """What ``deliver`` was handed, per person."""

    notices: list[tuple[Who, Notice]] = field(default_factory=list)

    def __call__(self, who: Who, data: bytes) -> None:
        self.notices.append((who, NOTICE.decode(data)))

    def of(self, who: Who) -> list[tuple[str, str]]:
        return [(n.kind, n.lot) for w, n in self.notices if w == who]


@dataclass
class Room:
    house: AuctionHouse
    feed: Feed
    clock: FakeClock
    store: Store
    activity: Activity
    told: Told
    holders: dict[str, object]

    async def bid(self, who: str, lot: str, amount: int | None, top: int | None = None) -> None:
        result = await self.house.place_bid(PlaceBid(Actor(who), lot, amount, top))
        assert not hasattr(result, "code"), result
        await self.settled()

    async def settled(self) -> None:
        await settle(self.house, self.feed)
        await asyncio.sleep(0)  # the activity settles a loop turn after the bus
        await asyncio.wait_for(self.activity.settled(), 5)

    async def close_all(self) -> None:
        self.clock.advance(10 * 60_000)
        self.house.run_due()
        await self.settled()


LOTS = [
    LotSpec(id="a", title="Oil Painting", opening_ms=120_000, extend_ms=10_000),
    LotSpec(id="b", title="Vase", currency="EUR", opening_ms=120_000, extend_ms=10_000),
    LotSpec(id="short", title="Quick Lot", opening_ms=30_000, extend_ms=10_000),
]


@pytest.fixture(params=KINDS)
async def room(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Room]:
    async with store_of(request.param, tmp_path) as store:
        clock = FakeClock()
        house, feed = house_and_feed(store, clock)
        await house.load()
        await store.create_user("ann", "bidder", "x", clock.now_ms())
        told = Told()
        holders: dict[str, object] = {"bob": object()}
        activity = Activity(house, holders.get, told)
        activity.listen(house.bus)
        sale = SaleSpec("s", "Spring Sale", tuple(lot.id for lot in LOTS), mode="timed")
        await house.add_sale(sale, LOTS)
        later = SaleSpec("later", "Later Sale", ("c",), mode="timed", held=True)
        await house.add_sale(later, [LotSpec(id="c", title="Clock", opening_ms=120_000)])
        await house.resume()
        house.start()
        one = Room(house, feed, clock, store, activity, told, holders)
        await one.settled()
        try:
            yield one
        finally:
            activity.close()
            await house.stop()
            feed.close()


async def test_my_activity_shows_my_bids_leads_outbids_wins_and_what_i_owe(room: Room) -> None:
    await room.bid("ann", "a", 100)
    room.clock.advance(1)
    await room.bid("bob", "a", 200)
    room.clock.advance(1)
    await room.bid("ann", "b", 300, top=500)
    page = await room.activity.activity(ANN)
    assert [(b.lot, b.amount, b.max_amount, b.kind) for b in page.bids] == [
        ("b", 300, 500, "bid"),
        ("a", 100, None, "bid"),
    ]
    assert page.bids[0].title == "Vase" and page.bids[0].currency == "EUR"
    assert [(m.lot, m.my_amount, m.max_amount) for m in page.leading] == [("b", 300, 500)]
    assert [(m.lot, m.amount, m.my_amount, m.max_amount) for m in page.outbid] == [
        ("a", 200, 100, None)
    ]
    assert page.won == [] and page.owed == {}
    bob = await room.activity.activity(BOB)
    assert [m.lot for m in bob.leading] == ["a"] and bob.outbid == []
    assert [b.amount for b in bob.bids] == [200]

    await room.close_all()
    page = await room.activity.activity(ANN)
    assert page.leading == [] and page.outbid == []
    assert [(w.lot, w.amount, w.currency, w.reason) for w in page.won] == [
        ("b", 300, "EUR", "hammer")
    ]
    assert page.owed == {"EUR": 300}
    assert (await room.activity.activity(BOB)).owed == {"USD": 200}


async def test_my_bids_come_a_page_at_a_time_newest_first(room: Room) -> None:
    for step in range(5):
        room.clock.advance(1)
        await room.bid("ann", "a", 100 + 200 * step)
        await room.bid("bob", "a", 200 + 200 * step)
    seen: list[int] = []
    before = None
    for _ in range(4):
        page = await room.activity.activity(ANN, before, limit=2)
        seen += [b.amount or 0 for b in page.bids]
        before = page.next_before
        if before is None:
            break
    assert seen == [900, 700, 500, 300, 100]
    with pytest.raises(BadRequest):
        await room.activity.activity(ANN, "not-a-cursor")
    with pytest.raises(BadRequest):
        await room.activity.activity(ANN, limit=0)


async def test_in_an_anonymous_sale_i_see_my_own_bids_and_nobody_else_does(room: Room) -> None:
    quiet = SaleSpec("q", "Quiet Sale", ("q1",), mode="timed", anonymous=True)
    await room.house.add_sale(quiet, [LotSpec(id="q1", title="Secret", opening_ms=120_000)])
    room.house.run_due()
    await room.settled()
    await room.bid("ann", "q1", 100)
    await room.bid("bob", "q1", 200)
    mine = await room.activity.activity(ANN)
    assert [(b.lot, b.amount) for b in mine.bids] == [("q1", 100)]
    assert [m.lot for m in mine.outbid] == ["q1"]
    assert b"bob" not in msgspec.json.encode(mine)
    assert b"ann" not in msgspec.json.encode(await room.activity.activity(BOB))


async def test_watching_a_lot_is_kept_for_accounts_and_bounded(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await room.activity.watch(ANN, "a", True)).watching == ["a"]
    assert (await room.activity.watch(ANN, "a", True)).watching == ["a"]  # once
    assert await room.store.watches("ann") == ["a"]
    with pytest.raises(UnknownLot):
        await room.activity.watch(ANN, "nope", True)
    monkeypatch.setattr(activity_module, "MAX_WATCHES", 2)
    await room.activity.watch(ANN, "b", True)
    with pytest.raises(BadRequest, match="stop watching one first"):
        await room.activity.watch(ANN, "c", True)
    assert (await room.activity.watch(ANN, "a", False)).watching == ["b"]
    page = await room.activity.activity(ANN)
    assert [(m.lot, m.state) for m in page.watching] == [("b", "open")]


async def test_a_guests_watch_list_is_its_sessions_own(room: Room) -> None:
    await room.activity.watch(BOB, "a", True)
    assert await room.activity.watching(BOB) == ["a"]
    assert await room.store.watches("bob") == []  # not an account: nothing stored
    room.holders["bob"] = object()  # another guest holds the name "bob" now
    assert await room.activity.watching(BOB) == []
    del room.holders["bob"]  # the name is free: a list of nobody's
    assert await room.activity.watching(BOB) == []


async def test_outbid_is_told_to_the_bidder_who_lost_the_lead(room: Room) -> None:
    await room.bid("ann", "a", 100)
    assert room.told.notices == []
    await room.bid("bob", "a", 200)
    assert room.told.of(ANN) == [("outbid", "a")]
    ((_, notice),) = room.told.notices
    assert notice.amount == 200 and notice.title == "Oil Painting"
    assert notice.message == "You have been outbid on Oil Painting: the high bid is now 2.00 USD."
    assert "bob" not in notice.message
    assert notice.notice_id is not None  # ann is an account: kept in her inbox
    inbox = await room.activity.inbox(ANN)
    assert [(n.kind, n.notice_id, n.read) for n in inbox.notices] == [
        ("outbid", notice.notice_id, False)
    ]
    assert inbox.unread == 1 and inbox.kept
    read = await room.activity.inbox(ANN, mark_read=True)
    assert read.unread == 0 and (await room.activity.inbox(ANN)).notices[0].read
    assert (await room.activity.inbox(BOB)).kept is False


async def test_a_maximum_that_answers_at_once_is_no_lead_lost(room: Room) -> None:
    await room.bid("ann", "a", None, top=1_000)
    await room.bid("bob", "a", 300)  # ann's maximum answers in the same commit
    assert room.told.notices == []
    await room.bid("bob", "a", 2_000)  # over her maximum: now she is outbid
    assert room.told.of(ANN) == [("outbid", "a")]
    assert room.told.of(BOB) == []


async def test_the_winner_is_told(room: Room) -> None:
    await room.bid("bob", "a", 200)
    await room.close_all()
    assert room.told.of(BOB) == [("won", "a")]
    ((_, notice),) = room.told.notices
    assert notice.amount == 200 and notice.notice_id is None  # a guest: live only
    assert notice.message == "You won Oil Painting for 2.00 USD."


async def test_watchers_are_told_when_a_watched_lot_opens(room: Room) -> None:
    await room.activity.watch(ANN, "c", True)
    await room.activity.watch(BOB, "c", True)
    await room.house.start_sale("later", by="root")
    await room.settled()
    assert room.told.of(ANN) == [("watched_opened", "c")]
    assert room.told.of(BOB) == [("watched_opened", "c")]
    assert "open for bids (2 min 0 s left)" in room.told.notices[0][1].message


async def test_a_watched_lot_nearing_its_end_is_told_once(room: Room) -> None:
    await room.activity.watch(ANN, "a", True)
    await room.activity.watch(ANN, "short", True)
    room.clock.advance(59_000)  # 61 s left on a: not yet
    room.activity.run_due()
    await room.settled()
    assert room.told.notices == []
    room.clock.advance(1_000)
    room.activity.run_due()
    await room.settled()
    assert room.told.of(ANN) == [("watched_ending", "a")]  # not "short": it opened with 30 s
    assert "ending soon (1 min 0 s left)" in room.told.notices[0][1].message
    await room.bid("bob", "a", 200)  # a bid near the end moves the deadline: no second notice
    room.clock.advance(30_000)
    room.activity.run_due()
    await room.settled()
    assert room.told.of(ANN) == [("watched_ending", "a")]


async def test_the_inbox_keeps_the_newest_and_drops_the_oldest(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activity_module, "INBOX_KEEP", 3)
    for step in range(5):
        await room.bid("ann", "a", 100 + 200 * step)
        await room.bid("bob", "a", 200 + 200 * step)
    inbox = await room.activity.inbox(ANN, 3)
    assert [n.amount for n in inbox.notices] == [1000, 800, 600]
    assert inbox.unread == 3


# -- the rules alone: events and now in, decisions out ----------------------------------------


def test_the_rules_hold_the_end_notice_while_a_lot_is_paused() -> None:
    rules = NoticeRules()
    rules.apply(LotOpened("a", 1, "s", "A", "", "USD", 100, 100, 200_000, 0))
    assert rules.settle() == [Decided("watched_opened", "a", None, None, 200_000)]
    assert rules.next_wake() == 140_000
    rules.apply(LotPaused("a", 2, 100_000, "root", 100_000))
    assert rules.next_wake() is None and rules.due(150_000) == []
    rules.apply(LotResumed("a", 3, 400_000, "root", 300_000))
    assert rules.due(339_999) == [] and rules.next_wake() == 340_000
    assert rules.due(340_000) == [Decided("watched_ending", "a", None, None, 400_000)]
    assert rules.due(350_000) == [] and rules.next_wake() is None  # once


def test_the_rules_tell_no_one_outbid_by_a_void_or_an_unsold_close() -> None:
    rules = NoticeRules()
    rules.apply(LotOpened("a", 1, "s", "A", "", "USD", 100, 100, 200_000, 0))
    rules.apply(BidPlaced("a", 2, 100, "ann", 200_000, 110, 1))
    rules.settle()
    rules.apply(BidPlaced("a", 3, 200, "bob", 200_000, 210, 2))
    rules.apply(BidVoided("a", 4, [3], 100, "ann", 110, 1, 200_000, "root", 3))
    rules.settle()
    rules.apply(BidVoided("a", 5, [2], None, None, 100, 0, 200_000, "root", 4))
    assert rules.settle() == []  # ann's bid voided: not outbid, nobody leads
    rules.apply(LotClosed("a", 6, "unsold", None, None, 5, "no_bids"))
    assert rules.settle() == [] and "a" not in rules.lots


def test_a_buy_now_is_won_by_its_buyer() -> None:
    rules = NoticeRules()
    rules.apply(LotOpened("a", 1, "s", "A", "", "USD", 100, 100, 200_000, 0, buy_now=900))
    rules.settle()
    rules.apply(LotClosed("a", 2, "sold", "cy", 900, 5, "buy_now"))
    assert rules.settle() == [Decided("won", "a", "cy", 900, None)]


def test_the_rules_drop_events_heard_twice_as_a_bus_between_nodes_may_repeat_them() -> None:
    rules = NoticeRules()
    opened = LotOpened("a", 1, "s", "A", "", "USD", 100, 100, 200_000, 0)
    rules.apply(opened)
    rules.apply(opened)
    assert rules.settle() == [Decided("watched_opened", "a", None, None, 200_000)]  # once
    ann = BidPlaced("a", 2, 100, "ann", 200_000, 110, 1)
    rules.apply(ann)
    rules.settle()
    rules.apply(BidPlaced("a", 3, 200, "bob", 200_000, 210, 2))
    assert rules.settle() == [Decided("outbid", "a", "ann", 200, None)]
    rules.apply(ann)  # ann's old bid again, late: bob still leads, nobody was outbid
    assert rules.settle() == []
    assert rules.lots["a"].leader == "bob"
    won = LotClosed("a", 4, "sold", "bob", 200, 5, "no_bids")
    rules.apply(won)
    assert rules.settle() == [Decided("won", "a", "bob", 200, None)]
    for event in (won, opened, ann):  # after the close, nothing of the lot tells anyone
        rules.apply(event)
    assert rules.settle() == [] and "a" not in rules.lots


def test_the_rules_go_on_from_the_newest_event_after_a_gap() -> None:
    rules = NoticeRules()
    rules.track("a", "ann", 100, 200_000, opening_ms=600_000, seq=5)
    rules.apply(BidPlaced("a", 4, 90, "cy", 200_000, 100, 1))  # older than what we began at
    assert rules.settle() == [] and rules.lots["a"].leader == "ann"
    # seqs 6 and 7 never came (a bus lost them): 8 is taken as it stands
    rules.apply(BidPlaced("a", 8, 300, "bob", 250_000, 310, 3))
    assert rules.settle() == [Decided("outbid", "a", "ann", 300, None)]
    assert rules.lots["a"].ends_at == 250_000 and rules.next_wake() == 190_000


def test_guest_watch_lists_are_bounded() -> None:
    holders = {f"g{i}": object() for i in range(5)}
    guests = GuestWatches(holders.get, most=3)
    for i in range(5):
        guests.set(f"g{i}", "a", True)
    assert guests.lots("g0") == [] and guests.lots("g1") == []  # the least recently used went
    assert sorted(guests.watchers("a")) == ["g2", "g3", "g4"]
    guests.set("g3", "a", False)
    assert sorted(guests.watchers("a")) == ["g2", "g4"]


def test_a_lot_paused_before_a_start_is_told_of_its_end_after_its_resume() -> None:
    rules = NoticeRules()
    rules.track("a", "ann", 100, None, opening_ms=600_000)  # paused when we began to listen
    assert rules.next_wake() is None
    rules.apply(LotResumed("a", 9, 500_000, "root", 400_000))
    assert rules.due(440_000) == [Decided("watched_ending", "a", None, None, 500_000)]
    rules.apply(BidPlaced("a", 10, 200, "bob", 500_000, 210, 441_000))
    assert rules.settle() == [Decided("outbid", "a", "ann", 200, None)]


async def test_after_a_start_the_lots_already_open_are_followed(room: Room) -> None:
    await room.bid("ann", "a", 100)
    room.activity.close()  # as after a restart: a new listener, the lots open already
    told = Told()
    fresh = Activity(room.house, room.holders.get, told)
    fresh.listen(room.house.bus)
    room.activity = fresh
    await room.bid("bob", "a", 200)
    assert told.of(ANN) == [("outbid", "a")]
    assert fresh.rules.next_wake() is not None  # its end is still to be told


async def test_a_guest_with_no_connection_is_told_nothing_and_an_account_keeps_it(
    room: Room,
) -> None:
    room.activity.reachable = lambda who: False  # nobody is connected
    room.activity.knows_account("bob", False)
    await room.bid("bob", "a", 100)
    await room.bid("ann", "a", 200)  # bob outbid: a guest away, no inbox: nothing built
    await room.bid("bob", "a", 300)  # ann outbid: kept in her inbox for when she is back
    assert room.told.of(BOB) == [] and room.activity.sent == 1
    assert [n.kind for n in (await room.activity.inbox(ANN)).notices] == ["outbid"]
