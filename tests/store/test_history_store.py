"""The store's bid-history part (store/history.py), one contract over every scheme: a sale's
bids and a bidder's, newest first by (ts, lot, seq), a page at a time; and the plans SQLite
reads them by (keys and indexes, never a scan of the log)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.events import BidPlaced, BidVoided, LotEvent, LotOpened, MaxRaised
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.store import Store, open_store
from bidwire.store.base import EVENT_DECODER
from bidwire.store.history import HistoryCursor
from bidwire.store.sqlite import connect, migrate
from bidwire.store.sqlite_history import bidder_bids_sql, sale_bids_sql
from tests.store.any_store import KINDS, icu_database, store_of, store_url

LOTS = [LotSpec(id="w", title="Watch"), LotSpec(id="v", title="Vase"), LotSpec("x", "Other")]
SALE = SaleSpec("s", "Sale", ("w", "v"), mode="timed")
OTHER = SaleSpec("o", "Other sale", ("x",), mode="timed")


def opened(lot: str) -> LotOpened:
    return LotOpened(lot, 1, "s", lot, "", "USD", 100, 100, 90_000, 1_000)


def bid(lot: str, seq: int, amount: int, who: str, ts: int) -> BidPlaced:
    return BidPlaced(lot, seq, amount, who, 90_000, amount + 10, ts, auto=amount % 2 == 1)


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of(request.param, tmp_path) as opened_store:
        await opened_store.add_sale(SALE, LOTS[:2])
        await opened_store.add_sale(OTHER, LOTS[2:])
        yield opened_store


async def log_the_lots(store: Store) -> None:
    events: list[LotEvent]
    # two bids in one millisecond on two lots: (ts, lot, seq) still orders them
    events = [opened("w"), bid("w", 2, 100, "ann", 2_000), bid("w", 3, 200, "bob", 3_000)]
    await store.append(events)
    await store.append([MaxRaised("w", 4, 900, "bob", 3_500)])
    events = [opened("v"), bid("v", 2, 501, "ann", 3_000)]
    await store.append(events)
    await store.append([bid("v", 3, 600, "bob", 4_000), bid("v", 4, 610, "ann", 4_000)])
    await store.append([BidVoided("v", 5, [4], 600, "bob", 610, 1, 90_000, "root", 5_000)])
    events = [opened("x"), bid("x", 2, 300, "ann", 6_000)]
    await store.append(events)


def keys(bodies: list[bytes]) -> list[tuple[str, int]]:
    events = [EVENT_DECODER.decode(body) for body in bodies]
    return [(e.lot, e.seq) for e in events]


def cursor_of(body: bytes) -> HistoryCursor:
    event = EVENT_DECODER.decode(body)
    return event.ts, event.lot, event.seq


async def test_a_sales_bids_come_newest_first_a_page_at_a_time(store: Store) -> None:
    await log_the_lots(store)
    everything = await store.bids_of_lots(["w", "v"], None, 100)
    newest_first = [("v", 4), ("v", 3), ("w", 3), ("v", 2), ("w", 2)]
    assert keys(everything) == newest_first  # the other sale's lot x is not among them
    pages, before = [], None
    for _ in range(10):
        page = await store.bids_of_lots(["w", "v"], before, 2)
        if not page:
            break
        pages.append(keys(page))
        before = cursor_of(page[-1])
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert await store.bids_of_lots([], None, 10) == []
    assert await store.bids_of_lots(["nope"], None, 10) == []
    assert await store.bids_of_lots(["w"], None, 0) == []


async def test_a_bidders_bids_are_theirs_alone_and_bids_only(store: Store) -> None:
    await log_the_lots(store)
    ann = await store.bids_placed_by("ann", None, 100)
    assert keys(ann) == [("x", 2), ("v", 4), ("v", 2), ("w", 2)]
    bob = await store.bids_placed_by("bob", None, 100)
    assert keys(bob) == [("v", 3), ("w", 3)]  # his max_raised is no bid
    older = await store.bids_placed_by("ann", cursor_of(ann[1]), 2)
    assert keys(older) == [("v", 2), ("w", 2)]
    assert await store.bids_placed_by("Ann", None, 10) == []  # names are exact
    voids = [EVENT_DECODER.decode(b) for b in await store.voids_of(["w", "v", "x"])]
    assert [(v.lot, v.voided) for v in voids if isinstance(v, BidVoided)] == [("v", [4])]
    assert await store.voids_of([]) == []


def plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


def test_sqlite_reads_a_sale_by_its_key_and_a_bidder_by_the_index(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "p.db"), "NORMAL")
    migrate(conn)
    cursor = (1, 1, "a", "a", 3)
    for with_cursor in (False, True):
        extra = cursor if with_cursor else ()
        sale = plan(conn, sale_bids_sql(3, with_cursor), ("a", "b", "c", *extra, 10))
        assert "USING PRIMARY KEY (stream=? AND lot_id=?)" in sale, sale
        bidder = plan(conn, bidder_bids_sql(with_cursor), ("ann", *extra, 10))
        assert "USING INDEX events_bidder" in bidder and "PRIMARY KEY" not in bidder, bidder
    conn.close()


async def test_a_page_of_a_big_sale_reads_the_sale_not_the_log(tmp_path: Path) -> None:
    """100 lots of 100 bids each (10,000) in the sale, as much again in another: a page is
    read in well under a second (the figure is printed, never asserted as a speed)."""
    lots = [LotSpec(f"l{i}", f"Lot {i}") for i in range(200)]
    async with open_store(f"sqlite:///{tmp_path}/big.db") as store:
        await store.add_sale(SaleSpec("big", "Big", tuple(f"l{i}" for i in range(100))), lots[:100])
        await store.add_sale(
            SaleSpec("more", "More", tuple(f"l{i}" for i in range(100, 200))), lots[100:]
        )
        for i, lot in enumerate(lots):
            events: list[LotEvent] = [opened(lot.id)]
            events += [
                bid(lot.id, s, 100 + s, f"p{s % 37}", 10_000 + s * 200 + i) for s in range(2, 102)
            ]
            await store.append(events)
        ids = [f"l{i}" for i in range(100)]
        started = time.perf_counter()
        first = await store.bids_of_lots(ids, None, 51)
        deep = await store.bids_of_lots(ids, cursor_of(first[-1]), 51)
        took = time.perf_counter() - started
        print(f"two pages of a 10,000-bid sale: {took * 1000:.1f} ms")
        assert len(first) == len(deep) == 51
        assert {msgspec.json.decode(b)["lot"] for b in first + deep} <= set(ids)
        assert cursor_of(deep[0]) < cursor_of(first[-1])


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres in an ICU database"])
async def test_lots_order_by_code_point_whatever_the_databases_collation(
    kind: str, tmp_path: Path
) -> None:
    """Ties of one ms order by lot as Python orders strings ("B" before "a"), and a cursor
    means the same: PostgreSQL compares lots COLLATE "C", whose default collation here (ICU's
    English) would put "a" first and so page the bids differently from the other stores."""
    lots = [LotSpec("B", "Big"), LotSpec("a", "Small")]
    where = icu_database() if kind.startswith("postgres") else store_url(kind, tmp_path)
    async with where as url, open_store(url) as store:
        await store.add_sale(SaleSpec("c", "Cases", ("B", "a"), mode="timed"), lots)
        for lot in ("B", "a"):
            first: list[LotEvent] = [opened(lot), bid(lot, 2, 100, "ann", 2_000)]
            await store.append(first)
            await store.append([bid(lot, 3, 200, "ann", 2_000)])
        newest_first = [("a", 3), ("a", 2), ("B", 3), ("B", 2)]
        reads: list[Callable[[HistoryCursor | None], Awaitable[list[bytes]]]] = [
            lambda before: store.bids_of_lots(["B", "a"], before, 1),
            lambda before: store.bids_placed_by("ann", before, 1),
            lambda before: store.bids_by("ann", before, 1),
        ]
        for read in reads:
            pages: list[tuple[str, int]] = []
            before: HistoryCursor | None = None
            for _ in range(6):
                page = await read(before)
                if not page:
                    break
                pages += keys(page)
                before = cursor_of(page[-1])
            assert pages == newest_first


async def test_a_name_or_lot_with_a_nul_finds_nothing_on_every_store(store: Store) -> None:
    """PostgreSQL's text cannot hold a NUL, so no stored name or lot has one: a read asking
    for one (a crafted URL or cursor) finds nothing there as on the other stores, instead of
    a driver error that the history would turn into "cannot be read right now"."""
    await log_the_lots(store)
    odd = "ann\x00x"
    assert await store.bids_placed_by(odd, None, 10) == []
    assert await store.bids_by(odd, None, 10) == []
    assert await store.bids_of_lots(["w\x00"], None, 10) == []
    assert await store.voids_of(["v\x00"]) == []
    assert keys(await store.bids_of_lots(["w\x00", "w"], None, 10)) == [("w", 3), ("w", 2)]
    # a cursor whose lot has a NUL: strictly older than it, as Python compares the strings
    sale = [cursor_of(body) for body in await store.bids_of_lots(["w", "v"], None, 10)]
    ann = [cursor_of(body) for body in await store.bids_placed_by("ann", None, 10)]
    for lot in ("v\x00", "w\x00", "\x00", "v\x00\x00z"):
        before = (3_000, lot, 1)
        page = await store.bids_of_lots(["w", "v"], before, 10)
        assert [cursor_of(body) for body in page] == [c for c in sale if c < before], lot
        page = await store.bids_placed_by("ann", before, 10)
        assert [cursor_of(body) for body in page] == [c for c in ann if c < before], lot
        page = await store.bids_by("ann", before, 10)
        assert [cursor_of(body) for body in page] == [c for c in ann if c < before], lot
    # the reports and activity reads alike
    facts = await store.report_facts(["w\x00"])
    assert (facts.lots, facts.bidders, facts.minutes) == ([], [], [])
    assert await store.bidder_counts(["s\x00", "s"]) == ([0, 2], 2)
    assert await store.integrity_facts(["w\x00"], 3_000) == ([], [])
    assert await store.lot_terms(["w\x00", "w"]) == await store.lot_terms(["w"])
    assert await store.won_by(odd, 10) == [] and await store.owed_by(odd) == {}
    assert await store.best_bids(odd, ["w"], 0) == {}
    assert await store.best_bids("ann", ["w\x00", "w"], 0) == {"w": 100}
    assert await store.watches(odd) == [] and await store.watchers("w\x00") == []
    await store.set_watch(odd, "w", True, 1)
    assert await store.notices(odd, 10) == [] and await store.unread_notices(odd) == 0
    assert await store.mark_notices_read(odd, None) == 0
