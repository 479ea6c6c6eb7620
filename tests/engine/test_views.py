"""The views (engine/views.py): pure, driven by hand with committed events; no loop, no clock."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import msgspec

from bidwire.bus import Message, lot_message
from bidwire.domain.events import LotEvent
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.privacy import pseudonym
from bidwire.domain.sale import SaleSpec
from bidwire.engine.views import RING_SIZE, Views

SPEC = LotSpec(id="w", title="Watch", starting_price=100)
T0 = 1_000_000


class Committed:
    """The house's side: decisions on its own copy of the lot, as they would be committed."""

    def __init__(self, sale: str = "s") -> None:
        self.lot = Lot(SPEC, sale, "timed")
        self.now = T0
        self.events: list[LotEvent] = []

    def _take(self, event: LotEvent | Refusal) -> Message:
        assert not isinstance(event, Refusal), event
        self.lot.apply(event)
        self.events.append(event)
        return lot_message(event)

    def stored(self) -> Lot:
        """The lot as a reload from the store rebuilds it."""
        lot = Lot(SPEC, self.lot.sale, "timed")
        for event in self.events:
            lot.apply(event)
        return lot

    def open(self) -> Message:
        return self._take(self.lot.decide_open(self.now))

    def bid(self, bidder: str | None = None) -> Message:
        self.now += 10
        if bidder is None:  # whoever does not lead: a leader may not outbid itself
            bidder = "bob" if self.lot.high_bidder == "ann" else "ann"
        bidding = self.lot.decide_bid(bidder, self.lot.min_amount(), self.now)
        assert not isinstance(bidding, Refusal)
        return self._take(bidding.own)


def lot_seqs(published: list[Any]) -> list[int]:
    """The seqs of what a drain gave out (lot events only here)."""
    events = [p.event for p in published]
    assert all(isinstance(event, LotEvent) for event in events)
    return [event.seq for event in events]


def views_of(committed: Committed) -> Views:
    views = Views()
    views.track(Lot(SPEC, committed.lot.sale, "timed"))
    return views


def test_a_snapshot_shows_what_went_out_not_what_is_queued() -> None:
    house = Committed()
    views = views_of(house)
    assert views.accept(house.open())
    assert views.snapshot("w", T0).seq == 0  # queued: the next flush sends it after this
    (out,) = views.drain()
    assert views.snapshot("w", T0).seq == 1 and out.view is views.lots["w"]
    assert msgspec.json.decode(out.json)["type"] == "lot_opened" and out.private is None
    assert views.drain() == []


def test_an_event_after_a_gap_waits_for_the_gap() -> None:
    house = Committed()
    views = views_of(house)
    first, second = house.open(), house.bid()
    assert not views.accept(second)
    assert views.drain() == [] and views.order.gaps() == {("lot", "w"): range(1, 2)}
    assert views.accept(first)
    assert lot_seqs(views.drain()) == [1, 2]
    assert views.snapshot("w", T0).high_bid is not None


def test_resync_replays_the_ring_and_says_when_it_no_longer_reaches() -> None:
    house = Committed()
    views = views_of(house)
    views.accept(house.open())
    for _ in range(RING_SIZE + 9):
        views.accept(house.bid())
    views.drain()
    last = house.lot.seq
    assert views.events_since("w", last) == []
    assert [msgspec.json.decode(b)["seq"] for b in views.events_since("w", last - 2) or []] == [
        last - 1,
        last,
    ]
    assert views.events_since("w", 1) is None  # older than the ring: a snapshot instead


def test_the_public_sees_pseudonyms_and_admins_see_names() -> None:
    sale = SaleSpec("x", "Quiet", ("w",), anonymous=True, pseudonym_salt="pepper")
    house = Committed("x")
    views = Views()
    views.track_sale(sale)
    views.track(Lot(SPEC, "x", "timed"))
    views.accept(house.open())
    views.accept(house.bid("ann"))
    published = views.drain()
    shown = pseudonym("pepper", "ann")
    bid = published[1]
    assert msgspec.json.decode(bid.json)["bidder"] == shown
    assert bid.private is not None and msgspec.json.decode(bid.private)["bidder"] == "ann"
    public = views.snapshot("w", T0)
    assert public.high_bid is not None and public.high_bid.bidder == shown
    admin = views.snapshot("w", T0, admin=True)
    assert admin.high_bid is not None and admin.high_bid.bidder == "ann"
    assert [msgspec.json.decode(b)["bidder"] for b in views.events_since("w", 1) or []] == [shown]
    replay = views.events_since("w", 1, admin=True) or []
    assert [msgspec.json.decode(b)["bidder"] for b in replay] == ["ann"]


def test_a_reset_takes_the_store_s_state_and_what_follows_it_flows() -> None:
    house = Committed()
    views = views_of(house)
    views.accept(house.open())
    views.drain()
    house.bid()  # committed, but its message never came
    held = house.bid()
    assert not views.accept(held)  # held behind the gap at seq 2
    views.reset(house.stored())  # the store's truth: seq 3
    assert views.drain() == [] and views.lots["w"].seq == 3 and views.order.gaps() == {}
    assert views.accept(house.bid())  # the next commit goes out at once
    assert lot_seqs(views.drain()) == [4]


def test_a_reset_with_the_store_s_events_publishes_what_this_node_missed() -> None:
    """In a cluster another node committed what a reload finds: the clients must get it, not
    a jump over it (tests/e2e/test_cluster.py: a frozen owner's watchers saw a gap)."""
    house = Committed()
    views = views_of(house)
    views.accept(house.open())
    views.drain()
    house.bid()  # committed by another node, its message not here yet
    held = house.bid()
    assert not views.accept(held)
    woken = []
    views.woken = lambda: woken.append(1)
    views.reset(house.stored(), house.events)
    assert woken == [1]  # the feed flushes them: no other message may come
    assert lot_seqs(views.drain()) == [2, 3] and views.order.gaps() == {}
    assert views.accept(house.bid())
    assert lot_seqs(views.drain()) == [4]


def test_a_reset_keeps_what_was_queued_and_never_goes_back() -> None:
    house = Committed()
    views = views_of(house)
    views.accept(house.open())
    stale = house.stored()  # a read of the store made before the bid below
    views.accept(house.bid())  # heard, not yet sent
    views.reset(stale, house.events[:1])
    assert lot_seqs(views.drain()) == [1, 2] and views.lots["w"].seq == 2


def test_a_reset_on_a_node_that_catches_up_never_jumps_over_events() -> None:
    """The store keeps a snapshot at each append, so a reload rarely has the events: a node
    whose feed reloads from the store by seq (several nodes) keeps its view and is told to
    catch up; the events come through the same door, in order."""
    house = Committed()
    views = views_of(house)
    views.catches_up = True
    views.accept(house.open())
    views.drain()
    missed = [house.bid(), house.bid()]
    woken = []
    views.woken = lambda: woken.append(1)
    views.reset(house.stored())  # a snapshot at seq 3, no events
    assert woken == [1] and views.lots["w"].seq == 1 and views.drain() == []
    for message in missed:  # what the reload from the store hears
        views.accept(message)
    assert lot_seqs(views.drain()) == [2, 3]


def test_views_do_no_io_and_read_no_clock() -> None:
    """engine/views.py and everything of bidwire it imports: no asyncio, no clock, no I/O."""
    forbidden = {"asyncio", "socket", "sqlite3", "time", "datetime", "random", "os", "logging"}
    todo, seen, offenders = ["bidwire.engine.views"], set(), []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in forbidden:
                    offenders.append(f"{module}: {name}")
                elif name.startswith("bidwire."):
                    todo.append(name)
    assert not offenders, offenders
