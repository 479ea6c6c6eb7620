"""One contract for every store, parametrized over every URL scheme we ship."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    LotClosed,
    LotEvent,
    LotOpened,
    SaleEnded,
    SaleEvent,
    SalePaused,
    SaleResumed,
    SaleStarted,
)
from bidwire.domain.lot import Lot, LotSnapshot, LotSpec
from bidwire.domain.money import FixedIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.errors import BadRequest, BidwireError, Conflict, SeqConflict
from bidwire.store import Catalog, EventLog, Store, load_house, open_store
from bidwire.store.base import ListingEntry, LotLog, stored_lots
from tests.store.pg import fresh_schema

LOTS = [
    LotSpec(id="w", title="Watch", increment=FixedIncrement(7), reserve=900),
    LotSpec(id="v", title="Vase"),
]
SALE = SaleSpec("s", "Sale", ("w", "v"), mode="live", gap_ms=1_500)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        async with fresh_schema() as url, open_store(url) as opened:
            await opened.add_sale(SALE, LOTS)
            yield opened
        return
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/t.db"
    async with open_store(url) as opened:
        await opened.add_sale(SALE, LOTS)
        yield opened


def opened(seq: int = 1) -> LotOpened:
    return LotOpened("w", seq, "s", "Watch", "", "USD", 100, 100, 40_000, 10_000)


def bid(seq: int, amount: int) -> BidPlaced:
    return BidPlaced("w", seq, amount, "ann", 50_000, amount + 7, 20_000 + seq)


async def test_catalog_round_trips(store: Store) -> None:
    house = await load_house(store)
    assert [s.spec for s in house.sales] == [SALE]
    assert [lot.spec for lot in house.lots] == LOTS


async def test_lots_added_to_a_sale_come_back_at_its_end(store: Store) -> None:
    more = [LotSpec("late", "Late entry", starting_price=500), LotSpec("later", "Later")]
    grown = dataclasses.replace(SALE, lot_ids=(*SALE.lot_ids, "late", "later"))
    await store.add_lots(grown, more)
    house = await load_house(store)
    assert [s.spec for s in house.sales] == [grown]
    assert [lot.spec for lot in house.lots] == [*LOTS, *more]


async def test_a_sale_added_again_is_refused_as_a_bad_request(store: Store) -> None:
    # several nodes starting on one empty store each add the catalog: the second must know
    # the refusal for what it is (BadRequest, whichever store) to learn the sale instead
    with pytest.raises(BadRequest, match="s"):
        await store.add_sale(SALE, LOTS)
    with pytest.raises(BadRequest):
        await store.add_sale(SaleSpec("t", "Other", ("w",)), [LOTS[0]])  # a lot id taken
    house = await load_house(store)
    assert [s.spec for s in house.sales] == [SALE] and [lot.spec for lot in house.lots] == LOTS


async def test_append_in_order_and_read_back(store: Store) -> None:
    await store.append([opened()])
    await store.append([bid(2, 100)], request_key="ann\x00k")
    await store.append([bid(3, 200)])
    house = await load_house(store)
    events = next(lot.events for lot in house.lots if lot.spec.id == "w")
    assert events == [opened(), bid(2, 100), bid(3, 200)]
    assert house.request_keys == [("ann\x00k", bid(2, 100))]
    since = await store.events_since("w", 1, 10)
    assert [msgspec.json.decode(b)["seq"] for b in since] == [2, 3]
    history = await store.bid_history("w", None, 10)
    assert [msgspec.json.decode(b)["amount"] for b in history] == [200, 100]
    older = await store.bid_history("w", 3, 10)
    assert [msgspec.json.decode(b)["amount"] for b in older] == [100]


async def test_the_voids_of_a_lot_read_back_oldest_first(store: Store) -> None:
    events: list[LotEvent] = [opened(), bid(2, 100), bid(3, 200)]
    await store.append(events)
    assert await store.bid_voids("w") == []
    void = BidVoided("w", 4, [3], 100, "ann", 107, 1, 50_000, "root", 30_000)
    events = [void, bid(5, 300)]
    await store.append(events)
    assert [msgspec.json.decode(b, type=BidVoided) for b in await store.bid_voids("w")] == [void]
    assert await store.bid_voids("v") == []


async def test_a_sales_and_a_bidders_bids_read_back_newest_first(store: Store) -> None:
    """store/history.py (tests/store/test_history_store.py has the rest of its contract)."""
    events: list[LotEvent] = [opened(), bid(2, 100), bid(3, 200)]
    await store.append(events)
    newest = await store.bids_of_lots(["w", "v"], None, 10)
    assert [msgspec.json.decode(b)["seq"] for b in newest] == [3, 2]
    older = await store.bids_placed_by("ann", (20_003, "w", 3), 10)
    assert [msgspec.json.decode(b)["seq"] for b in older] == [2]
    assert await store.voids_of(["w"]) == []


async def test_a_seq_that_does_not_follow_conflicts_and_writes_nothing(store: Store) -> None:
    await store.append([opened()])
    with pytest.raises(SeqConflict):
        await store.append([bid(3, 100)])
    with pytest.raises(SeqConflict):
        await store.append([opened(1)])
    house = await load_house(store)
    assert [e.seq for e in house.lots[0].events] == [1]


async def test_concurrent_appends_commit_in_submission_order(store: Store) -> None:
    await store.append([opened()])
    futures = [store.append([bid(seq, seq * 10)]) for seq in range(2, 502)]
    await asyncio.gather(*futures)
    house = await load_house(store)
    assert [e.seq for e in house.lots[0].events] == list(range(1, 502))


def started(seq: int = 1) -> SaleStarted:
    return SaleStarted("s", seq, "Sale", "live", ["w", "v"], 1_000)


async def test_a_sales_events_are_its_stream_in_the_log_and_a_start_replays_them(
    store: Store,
) -> None:
    sale_log: list[SaleEvent] = [
        started(),
        SalePaused("s", 2, "root", 2_000),
        SaleResumed("s", 3, "root", 3_000),
    ]
    await store.append(sale_log[:1])
    await store.append([opened()])  # a lot's stream beside it
    await store.append(sale_log[1:])
    await store.append([SaleEnded("s", 4, 4_000, "cancelled")])
    sale_log.append(SaleEnded("s", 4, 4_000, "cancelled"))
    assert await store.sale_log("s") == sale_log
    assert await store.sale_logs() == {"s": sale_log}
    house = await load_house(store)
    assert [(s.spec, s.events) for s in house.sales] == [(SALE, sale_log)]
    assert house.lots[0].events == [opened()]
    assert [msgspec.json.decode(b)["seq"] for b in await store.events_since("w", 0, 10)] == [1]


async def test_a_sale_event_that_does_not_follow_conflicts_and_writes_nothing(
    store: Store,
) -> None:
    with pytest.raises(SeqConflict):
        await store.append([SalePaused("s", 2, "root", 2_000)])  # seq 1 never came
    await store.append([started()])
    with pytest.raises(SeqConflict):
        await store.append([started()])  # the same seq again (another node was first)
    with pytest.raises(SeqConflict):
        await store.append([SaleEnded("s", 3, 3_000)])
    assert await store.sale_log("s") == [started()]
    await store.append([SaleEnded("s", 2, 3_000)])  # the stream goes on
    assert [e.seq for e in await store.sale_log("s")] == [1, 2]


async def test_a_sale_and_a_lot_of_the_same_id_are_two_streams(store: Store) -> None:
    namesake = SaleSpec("w", "Sale named like a lot", ("u",))
    await store.add_sale(namesake, [LotSpec(id="u", title="U")])
    await store.append([opened()])  # lot "w", seq 1
    sale_started = SaleStarted("w", 1, namesake.title, "live", ["u"], 1_000)
    await store.append([sale_started])  # sale "w", seq 1 too
    assert (await store.lot_log("w")).events == [opened()]
    assert await store.sale_log("w") == [sale_started]
    assert [msgspec.json.decode(b)["type"] for b in await store.events_since("w", 0, 9)] == [
        "lot_opened"
    ]


async def test_sale_and_lot_appends_queued_together_commit_in_order(store: Store) -> None:
    """Group commit takes whatever queued while the last commit ran: a sale's appends go in
    the same batches, with the same seq check, as its lots'."""
    await store.append([opened()])
    sale_log: list[SaleEvent] = [started()]
    for seq in range(2, 200, 2):
        sale_log += [SalePaused("s", seq, "root", seq), SaleResumed("s", seq + 1, "root", seq)]
    futures = [store.append([sale_log[0]])]
    for n, event in enumerate(sale_log[1:]):
        futures.append(store.append([bid(n + 2, (n + 2) * 10)]))
        futures.append(store.append([event]))
    futures.append(store.append([SaleEnded("s", 5, 9_000)]))  # stale: conflicts alone
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert [type(r) for r in results[-1:]] == [SeqConflict]
    assert all(r is None for r in results[:-1])
    assert await store.sale_log("s") == sale_log
    assert [e.seq for e in (await store.lot_log("w")).events] == list(range(1, len(sale_log) + 1))


async def test_unknown_scheme_is_named() -> None:
    with pytest.raises(ValueError, match="ftp"):
        async with open_store("ftp://x"):
            pass


# -- snapshots, request keys and errors (issue 10, room "store") -------------------------------


def test_the_store_is_the_union_of_the_log_the_catalog_and_the_accounts() -> None:
    from bidwire.accounts.records import AccountStore
    from bidwire.store.memory import MemoryStore
    from bidwire.store.postgres import PostgresStore
    from bidwire.store.sqlite import SqliteStore

    parts = (EventLog, Catalog, AccountStore)
    assert all(part in Store.__mro__ for part in parts)
    members = [{n for n in vars(part) if not n.startswith("_")} for part in parts]
    assert not (members[0] & members[1]) and not (members[1] & members[2])
    assert {"append", "lot_logs", "lot_log", "save_snapshots", "request_keys_since"} <= members[0]
    assert {"sale_logs", "sale_log"} <= members[0]
    assert {"catalog", "add_sale", "save_specs"} <= members[1]
    assert "mark_sale" not in set().union(*members), "a sale changes by its events only"
    for implementation in (MemoryStore, SqliteStore, PostgresStore):
        missing = set().union(*members) - set(dir(implementation))
        assert not missing, f"{implementation.__name__} lacks {sorted(missing)}"


def lived(events: list[LotEvent]) -> Lot:
    lot = Lot(LOTS[0], "s", "live")
    for event in events:
        lot.apply(event)
    return lot


async def test_a_start_gets_the_last_snapshot_and_only_the_events_after_it(store: Store) -> None:
    log: list[LotEvent] = [opened(), bid(2, 100), bid(3, 200)]
    for n, event in enumerate(log, start=1):
        await store.append([event], snapshot=lived(log[:n]).snapshot())
    later = bid(4, 300)
    await store.append([later])  # an append without a snapshot: the last one still holds
    logged = await store.lot_log("w")
    assert logged.snapshot == lived(log).snapshot() and logged.events == [later]
    assert (await store.lot_logs())["w"] == logged
    house = await load_house(store)
    watch = next(lot for lot in house.lots if lot.spec.id == "w")
    assert (watch.snapshot, watch.events) == (logged.snapshot, [later])
    vase = next(lot for lot in house.lots if lot.spec.id == "v")
    assert (vase.snapshot, vase.events) == (None, [])


async def close_the_watch(store: Store) -> list[LotEvent]:
    log: list[LotEvent] = [opened(), *(bid(seq, seq * 10) for seq in range(2, 40))]
    log.append(LotClosed("w", 40, "sold", "ann", 390, 60_000, "hammer"))
    for n in range(0, len(log), 5):  # several events per append, as a close after a bid
        chunk = log[n : n + 5]
        await store.append(chunk, snapshot=lived(log[: n + len(chunk)]).snapshot())
    return log


async def test_a_closed_lot_is_its_snapshot_alone_with_its_recent_bids(store: Store) -> None:
    log = await close_the_watch(store)
    logged = await store.lot_log("w")
    assert logged.events == []
    assert logged.snapshot is not None and logged.snapshot.status == "closed"
    assert [b.amount for b in logged.snapshot.recent] == [seq * 10 for seq in range(39, 19, -1)]
    assert Lot.from_snapshot(LOTS[0], "s", "live", logged.snapshot) == lived(log)


async def test_a_start_can_leave_the_closed_lots_in_the_store(store: Store) -> None:
    log = await close_the_watch(store)
    specs, entries = await store.catalog(closed=False)
    assert specs == [SALE] and [entry.spec for entry in entries] == [LOTS[1]]
    assert [entry.spec for entry in (await store.catalog())[1]] == LOTS
    house = await load_house(store, closed=False)
    assert [lot.spec for lot in house.lots] == [LOTS[1]]
    assert [s.spec for s in house.sales] == [SALE]
    # and reads them when asked, by id: in the order asked, an unknown id left out
    assert [e.spec for e in await store.catalog_lots(["v", "nope", "w"])] == [LOTS[1], LOTS[0]]
    assert await store.catalog_lots([]) == []
    logs = await store.lot_logs(["w", "nope"])
    assert list(logs) == ["w"] and logs["w"] == await store.lot_log("w")
    assert await store.lot_logs([]) == {}
    (watch,) = await stored_lots(store, ["w"])
    assert (watch.spec, watch.sale, watch.mode) == (LOTS[0], "s", "live")
    assert watch.rebuild() == lived(log)


async def test_concurrent_appends_keep_the_snapshot_of_the_last(store: Store) -> None:
    """Group commit merges a batch's appends into one UPDATE per lot: the lot's snapshot must
    be its last append's, whatever the batch."""
    await store.append([opened()], snapshot=lived([opened()]).snapshot())
    log: list[LotEvent] = [opened()]
    futures = []
    for seq in range(2, 302):
        log.append(bid(seq, seq * 10))
        snapshot = lived(log).snapshot() if seq % 7 else None  # some without one
        futures.append(store.append([log[-1]], snapshot=snapshot))
    await asyncio.gather(*futures)
    logged = await store.lot_log("w")
    assert logged.snapshot == lived(log[:300]).snapshot()  # seq 301 % 7 == 0: none
    assert logged.events == [log[-1]]


async def test_request_keys_come_back_newest_first_within_the_window(store: Store) -> None:
    await store.append([opened()])
    for seq in range(2, 12):
        await store.append([bid(seq, seq * 10)], request_key=f"ann\x00k{seq}")
    await store.append([bid(12, 500)])  # no key
    recent = await store.request_keys_since(20_000 + 5, limit=3)
    assert [key for key, _ in recent] == ["ann\x00k11", "ann\x00k10", "ann\x00k9"]
    assert recent[0][1] == bid(11, 110)
    assert [k for k, _ in await store.request_keys_since(20_000 + 9, 100)] == [
        "ann\x00k11",
        "ann\x00k10",
    ]


async def test_a_repeated_request_key_is_a_conflict_from_the_error_tree(store: Store) -> None:
    await store.append([opened()])
    await store.append([bid(2, 100)], request_key="ann\x00k")
    with pytest.raises(Conflict) as raised:
        await store.append([bid(3, 200)], request_key="ann\x00k")
    assert not isinstance(raised.value, ValueError) and raised.value.code == "bad_request"
    await store.append([bid(3, 300)])  # the writer goes on
    assert [e.seq for e in (await store.lot_log("w")).events] == [1, 2, 3]


async def test_a_taken_username_is_a_conflict_not_a_value_error(store: Store) -> None:
    await store.create_user("Ann", "bidder", "hash", 1)
    with pytest.raises(BidwireError) as raised:
        await store.create_user("ann", "bidder", "hash", 2)
    assert isinstance(raised.value, Conflict) and not isinstance(raised.value, ValueError)


def test_a_snapshot_is_small() -> None:
    lot = lived([opened(), *(bid(seq, seq * 10) for seq in range(2, 200))])
    assert len(lot.recent) == 20
    encoded = msgspec.msgpack.encode(lot.snapshot())
    assert len(encoded) < 400, len(encoded)
    assert msgspec.msgpack.decode(encoded, type=LotSnapshot) == lot.snapshot()


async def test_saved_snapshots_stand_only_where_the_lot_is_still_at_their_seq(
    store: Store,
) -> None:
    log: list[LotEvent] = [opened(), bid(2, 100)]
    await store.append(log[:1])
    await store.append(log[1:])
    stale, current = lived(log[:1]).snapshot(), lived(log).snapshot()
    await store.save_snapshots([("w", stale)])  # the lot moved on since: not kept
    assert (await store.lot_log("w")).snapshot is None
    await store.save_snapshots([("w", current)])
    assert await store.lot_log("w") == LotLog(current, [])


async def test_a_lots_estimate_round_trips_and_an_edit_keeps_it(store: Store) -> None:
    priced = LotSpec(id="e", title="Lamp", estimate_low=80_000, estimate_high=120_000)
    halfway = LotSpec(id="h", title="Rug", estimate_high=5_000)
    await store.add_sale(SaleSpec("t", "Other sale", ("e", "h")), [priced, halfway])
    entries = await store.catalog_lots(["e", "h"])
    assert [(e.spec.estimate_low, e.spec.estimate_high) for e in entries] == [
        (80_000, 120_000),
        (None, 5_000),
    ]
    await store.save_specs(None, [LotSpec(id="e", title="Lamp", estimate_low=90_000)])
    _, lots = await store.catalog()
    assert [(lot.spec.estimate_low, lot.spec.estimate_high) for lot in lots[-2:]] == [
        (90_000, None),
        (None, 5_000),
    ]


async def test_listing_entries_are_read_by_lot_and_version_and_replaced_by_a_new_one(
    store: Store,
) -> None:
    old = ListingEntry("w", "v1", b"\x01\x02", None)
    await store.save_listing_entries([old, ListingEntry("v", "v1", b"\x03", "ann")])
    assert await store.listing_entries(["w", "v", "nope"], "v1") == {
        "w": old,
        "v": ListingEntry("v", "v1", b"\x03", "ann"),
    }
    assert await store.listing_entries(["w"], "v2") == {}  # another shape: none
    await store.save_listing_entries([ListingEntry("w", "v2", b"\x04", "bob")])
    assert await store.listing_entries(["w", "v"], "v2") == {
        "w": ListingEntry("w", "v2", b"\x04", "bob")
    }
    assert await store.listing_entries([], "v1") == {}


async def test_guest_sessions_are_kept_by_hash_newest_first_and_bounded(store: Store) -> None:
    """The gate's guest sessions that have bid (issue 12): refreshed, dropped, and read back
    only while recent, at most ``limit`` of them, the rest deleted."""
    for n in range(4):
        await store.save_guest(f"h{n}", f"guest{n}", 1_000 + n)
    await store.save_guest("h1", "guest1", 5_000)  # used again later
    await store.save_guest("h1", "guest1", 4_000)  # an older write arriving late moves nothing
    await store.drop_guest("h3")
    kept = await store.kept_guests(since_ms=1_001, limit=2)
    assert sorted(kept) == [("h1", "guest1", 5_000), ("h2", "guest2", 1_002)]
    assert sorted(await store.kept_guests(since_ms=0, limit=10)) == sorted(kept)  # rest gone


async def test_report_facts_bidder_counts_and_lot_terms_agree_on_every_store(
    store: Store,
) -> None:
    voided = BidVoided("w", 4, [3], 150, "ann", 157, 1, 50_000, "root", 21_000)
    late = BidPlaced("w", 5, 300, "bob", 51_000, 307, 45_000)  # 5 s left of 50 s: extends
    closed = LotClosed("w", 6, "sold", "bob", 300, 51_000)
    script: list[LotEvent] = [opened(), bid(2, 150), bid(3, 200), voided, late, closed]
    for event in script:
        await store.append([event])
    # counted from the bids (nothing kept yet), then from the kept facts
    assert await store.bidder_counts(["s", "nothing"]) == ([2, 0], 2)
    for _ in range(2):  # the second read is from SQLite's kept facts
        facts = await store.report_facts(["w", "v", "nothing"])
        assert [(t.lot_id, t.outcome, t.bids, t.extend, t.bidders) for t in facts.lots] == [
            ("w", "sold", 2, 1, 2)  # the voided 200 left out; the vase has no events
        ]
        assert (facts.lots[0].opened_at, facts.lots[0].closed_at) == (10_000, 51_000)
        assert [(t.bidder, t.bids, t.best) for t in facts.bidders] == [
            ("ann", 1, 150),
            ("bob", 1, 300),
        ]
        assert facts.minutes == [(0, 2)]  # 20,002 and 45,000 ms: the first minute
        lean = await store.report_facts(["w"], bidders=False)
        assert lean.lots == facts.lots and lean.bidders == [] and lean.minutes == []
    assert await store.bidder_counts(["s", "nothing"]) == ([2, 0], 2)
    terms = await store.lot_terms(["v", "nothing", "w"])
    assert [(t.id, t.currency, t.starting_price, t.reserve) for t in terms] == [
        ("v", "USD", 100, None),
        ("w", "USD", 100, 900),
    ]
