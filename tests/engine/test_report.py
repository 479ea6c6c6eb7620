"""A sale's report (engine/report.py) from a scripted log on every store: the figures are
counted by hand in the comments, never by the code under test."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import Sale, SaleSpec
from bidwire.engine.report import build_report, sale_report, sales_report
from bidwire.store import Store, open_store
from bidwire.store.base import BidderTally, LotTally
from tests.store.any_store import KINDS, postgres_tables, store_of
from tests.store.pg import fresh_schema

pytestmark = pytest.mark.timeout(30)

LOTS = [
    LotSpec("clock", "Clock", starting_price=1_000, estimate_low=2_000, estimate_high=3_000),
    LotSpec("vase", "Vase", starting_price=500, reserve=4_000, estimate_low=3_000),
    LotSpec("lamp", "Lamp", starting_price=700),
    LotSpec("rug", "Rug", starting_price=2_000, buy_now=8_000),
    LotSpec("chair", "Chair", starting_price=300, estimate_low=400),
    LotSpec("desk", "Desk", starting_price=1_000),
]
SALE = SaleSpec("s", "Spring sale", tuple(lot.id for lot in LOTS), mode="timed")


def opened(lot: str, ends_at: int = 100_000) -> LotOpened:
    return LotOpened(lot, 1, "s", lot, "", "USD", 0, 0, ends_at, 0)


def bid(lot: str, seq: int, amount: int, who: str, ts: int, ends: int, **kw: object) -> BidPlaced:
    return BidPlaced(lot, seq, amount, who, ends, amount + 100, ts, **kw)  # type: ignore[arg-type]


SCRIPT: list[LotEvent] = [
    # clock: ann's maximum of 3,000 answers bob twice; carl's typo is voided; bob's last bid
    # comes at 115 s and moves the end to 117 s; sold to ann at 2,600, within the estimate.
    opened("clock"),
    bid("clock", 2, 1_000, "ann", 10_000, 100_000, max_amount=3_000),
    bid("clock", 3, 1_500, "bob", 20_000, 100_000),
    bid("clock", 4, 1_600, "ann", 20_000, 100_000, auto=True, max_amount=3_000),
    bid("clock", 5, 9_000, "carl", 92_000, 110_000),  # extension 1 (110 s > 100 s)
    BidVoided("clock", 6, [5], 1_600, "ann", 1_700, 3, 110_000, "root", 93_000),
    bid("clock", 7, 2_500, "bob", 115_000, 117_000),  # extension 2; late (>= 105.3 s)
    bid("clock", 8, 2_600, "ann", 115_000, 117_000, auto=True, max_amount=3_000),  # late
    LotClosed("clock", 9, "sold", "ann", 2_600, 117_000),
    # vase: dan's 3,500 does not meet the 4,000 reserve
    opened("vase"),
    bid("vase", 2, 3_500, "dan", 50_000, 100_000, reserve_met=False),
    LotClosed("vase", 3, "unsold", None, None, 100_000, "reserve_not_met"),
    # lamp: withdrawn after bob's bid
    opened("lamp"),
    bid("lamp", 2, 700, "bob", 30_000, 100_000),
    LotClosed("lamp", 3, "unsold", None, None, 40_000, "withdrawn", "root"),
    # rug: dan buys it now at 8,000
    opened("rug"),
    LotClosed("rug", 2, "sold", "dan", 8_000, 5_000, "buy_now"),
    # chair: no bids
    opened("chair"),
    LotClosed("chair", 2, "unsold", None, None, 100_000, "no_bids"),
    # desk: not open yet
]


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of(request.param, tmp_path) as opened_store:
        await opened_store.add_sale(SALE, LOTS)
        for event in SCRIPT:
            await opened_store.append([event])
        yield opened_store


async def test_a_scripted_sale_reports_the_figures_counted_by_hand(store: Store) -> None:
    report = msgspec.to_builtins(await sale_report(store, SALE, 200_000))
    per_lot = {row.pop("lot"): row for row in report.pop("per_lot")}
    per_bidder = report.pop("per_bidder")
    assert report == {
        "sale": "s",
        "title": "Spring sale",
        "lots": 6,
        "sold": 2,  # clock, rug (a buy-now is sold)
        "unsold": 2,  # vase, chair (the withdrawn lamp is not)
        "withdrawn": 1,
        "bought_now": 1,
        "bought_in": 1,
        "open": 1,
        "sell_through_lots": 2 / 5,  # withdrawn lots are not offered
        "currency": "USD",
        "hammer_total": 2_600 + 8_000,
        # sold hammers over sold hammers + vase's reserve + chair's low estimate
        "sell_through_value": 10_600 / (10_600 + 4_000 + 400),
        "by_currency": [
            {
                "currency": "USD",
                "hammer_total": 10_600,
                "offered_value": 15_000,
                "sell_through_value": 10_600 / 15_000,
            }
        ],
        "bids": 7,  # clock 5 (carl's voided one left out), vase 1, lamp 1
        "auto_bids": 2,
        "unique_bidders": 3,  # ann, bob, dan: carl's only bid was voided
        "sniping_share": 2 / 7,
        "ts": 200_000,
        "mean_hammer": (2_600 + 8_000) // 2,
        "median_hammer": (2_600 + 8_000) // 2,  # two sold: the mean of the middle two
        "auto_share": 2 / 7,
        # bob's 2,500 found the voided bid's deadline (110 s) passed, ann's answer found 2 s
        # left of bob's 117 s: both under the 10 s extend window; nothing else came that late
        "sniping_extend_share": 2 / 7,
        "top_bidder_share": 3 / 7,  # ann 3 (and bob 3) of 7
        "extensions": 2,
        "mean_time_to_sell_ms": (117_000 + 5_000) // 2,  # clock 0 -> 117 s, rug 0 -> 5 s
        # bids at 10, 20, 20, 30 (lamp), 50 (vase) s; then 115, 115 s (carl's voided one out)
        "bids_per_minute": [{"minute": 0, "bids": 5}, {"minute": 60_000, "bids": 2}],
    }
    assert per_lot == {
        "clock": {
            "title": "Clock",
            "currency": "USD",
            "outcome": "sold",
            "reason": "hammer",
            "winner": "ann",
            "hammer": 2_600,
            "bids": 5,
            "bidders": 2,
            "estimate": "within",
            "extensions": 2,
            "starting_price": 1_000,
            "estimate_low": 2_000,
            "estimate_high": 3_000,
            "start_ratio": 2.6,
            "reserve_band": None,  # no reserve
            "time_to_sell_ms": 117_000,
            "late_share": 2 / 5,
            "extend_share": 2 / 5,
        },
        "vase": {
            "title": "Vase",
            "currency": "USD",
            "outcome": "unsold",
            "reason": "reserve_not_met",
            "winner": None,
            "hammer": None,
            "bids": 1,
            "bidders": 1,
            "estimate": None,
            "extensions": 0,
            "starting_price": 500,
            "estimate_low": 3_000,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": "below",  # 3,500 under the 4,000 reserve
            "time_to_sell_ms": None,
            "late_share": 0.0,  # 50 s of a 0-100 s window
            "extend_share": 0.0,
        },
        "lamp": {
            "title": "Lamp",
            "currency": "USD",
            "outcome": "unsold",
            "reason": "withdrawn",
            "winner": None,
            "hammer": None,
            "bids": 1,
            "bidders": 1,
            "estimate": None,
            "extensions": 0,
            "starting_price": 700,
            "estimate_low": None,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": None,
            "time_to_sell_ms": None,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
        "rug": {
            "title": "Rug",
            "currency": "USD",
            "outcome": "sold",
            "reason": "buy_now",
            "winner": "dan",
            "hammer": 8_000,
            "bids": 0,
            "bidders": 0,
            "estimate": None,
            "extensions": 0,
            "starting_price": 2_000,
            "estimate_low": None,
            "estimate_high": None,
            "start_ratio": 4.0,  # bought now at 8,000 from 2,000
            "reserve_band": None,
            "time_to_sell_ms": 5_000,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
        "chair": {
            "title": "Chair",
            "currency": "USD",
            "outcome": "unsold",
            "reason": "no_bids",
            "winner": None,
            "hammer": None,
            "bids": 0,
            "bidders": 0,
            "estimate": None,
            "extensions": 0,
            "starting_price": 300,
            "estimate_low": 400,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": None,
            "time_to_sell_ms": None,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
        "desk": {
            "title": "Desk",
            "currency": "USD",
            "outcome": "open",
            "reason": None,
            "winner": None,
            "hammer": None,
            "bids": 0,
            "bidders": 0,
            "estimate": None,
            "extensions": 0,
            "starting_price": 1_000,
            "estimate_low": None,
            "estimate_high": None,
            "start_ratio": None,
            "reserve_band": None,
            "time_to_sell_ms": None,
            "late_share": 0.0,
            "extend_share": 0.0,
        },
    }
    no_margin = {"margin_lots": 0, "margin_over_second": 0, "mean_margin_over_second": None}
    assert per_bidder == [
        # ann won the clock at 2,600 over bob's best 2,500: 100 over the second
        {"bidder": "ann", "lots": 1, "bids": 3, "wins": 1, "win_ratio": 1.0}
        | {"margin_lots": 1, "margin_over_second": 100, "mean_margin_over_second": 100},
        {"bidder": "bob", "lots": 2, "bids": 3, "wins": 0, "win_ratio": 0.0} | no_margin,
        # dan's rug was bought now with nobody else bidding: no second bid to be over
        {"bidder": "dan", "lots": 1, "bids": 1, "wins": 1, "win_ratio": 1.0} | no_margin,
    ]


async def test_a_running_lot_reports_so_far_and_a_mixed_sale_totals_by_currency(
    store: Store,
) -> None:
    more = [LotSpec("print", "Print", currency="EUR", starting_price=100, estimate_high=500)]
    grown = SaleSpec("s", "Spring sale", (*SALE.lot_ids, "print"), mode="timed")
    await store.add_lots(grown, more)
    await store.append([LotOpened("print", 1, "s", "Print", "", "EUR", 100, 100, 50_000, 0)])
    await store.append([bid("print", 2, 600, "eve", 49_000, 50_000)])
    running = await sale_report(store, grown, 49_500)
    assert (running.open, running.bids, running.unique_bidders) == (2, 8, 4)
    # the open print's bid is near its end but the lot has no close yet: not counted as late
    assert running.sniping_share == 2 / 7
    await store.append([LotClosed("print", 3, "sold", "eve", 600, 50_000)])
    closed = await sale_report(store, grown, 50_000)
    assert (closed.currency, closed.hammer_total, closed.sell_through_value) == (None, None, None)
    assert [(t.currency, t.hammer_total, t.offered_value) for t in closed.by_currency] == [
        ("EUR", 600, 600),
        ("USD", 10_600, 15_000),
    ]
    assert closed.per_lot[-1].estimate == "above" and closed.sniping_share == 3 / 8


SALE_T_LOTS = [
    LotSpec("bowl", "Bowl", starting_price=100, reserve=300),
    LotSpec("cup", "Cup", starting_price=100),
]
SALE_T = SaleSpec("t", "Winter sale", ("bowl", "cup"), mode="timed")
SALE_T_SCRIPT: list[LotEvent] = [
    LotOpened("bowl", 1, "t", "Bowl", "", "USD", 100, 100, 1_100_000, 1_000_000),
    bid("bowl", 2, 300, "eve", 1_010_000, 1_100_000),
    # 5 s before the 1,100 s deadline: in the extend window, moves it to 1,105 s (an
    # extension), and late: the window is 105 s, its final 10% from 1,094.5 s
    bid("bowl", 3, 500, "ann", 1_095_000, 1_105_000),
    LotClosed("bowl", 4, "sold", "ann", 500, 1_105_000),
]


async def test_across_sales_the_range_picks_sales_by_start_and_totals_them(store: Store) -> None:
    await store.add_sale(SALE_T, SALE_T_LOTS)
    for event in SALE_T_SCRIPT:
        await store.append([event])
    never = SaleSpec("u", "Not started", ("desk",), mode="timed")
    sales = [Sale(SALE, started_at=0), Sale(SALE_T, started_at=1_000_000), Sale(never)]
    both = msgspec.to_builtins(await sales_report(store, sales, 0, 2**53, 7))
    assert [row["sale"] for row in both["sales"]] == ["s", "t"]
    assert both["next_from"] is None and both["ts"] == 7
    totals = both["totals"]
    assert {k: totals[k] for k in ("lots", "sold", "unsold", "withdrawn", "open")} == {
        "lots": 8,
        "sold": 3,  # clock, rug, bowl
        "unsold": 2,
        "withdrawn": 1,
        "open": 2,  # desk, cup
    }
    assert totals["sell_through_lots"] == 3 / 7
    assert totals["hammer_total"] == 2_600 + 8_000 + 500
    assert totals["by_currency"][0]["offered_value"] == 15_000 + 500
    assert (totals["mean_hammer"], totals["median_hammer"]) == (11_100 // 3, 2_600)
    assert (totals["bids"], totals["auto_bids"], totals["unique_bidders"]) == (9, 2, 4)
    assert totals["sniping_share"] == 3 / 9 and totals["sniping_extend_share"] == 3 / 9
    assert totals["extensions"] == 3
    assert totals["mean_time_to_sell_ms"] == (117_000 + 5_000 + 105_000) // 3
    winter = both["sales"][1]
    assert winter == {
        "sale": "t",
        "title": "Winter sale",
        "started_at": 1_000_000,
        "lots": 2,
        "sold": 1,
        "unsold": 0,
        "withdrawn": 0,
        "bought_now": 0,
        "bought_in": 0,
        "open": 1,
        "sell_through_lots": 1 / 2,
        "currency": "USD",
        "hammer_total": 500,
        "sell_through_value": 1.0,
        "mean_hammer": 500,
        "median_hammer": 500,
        "by_currency": [
            {
                "currency": "USD",
                "hammer_total": 500,
                "offered_value": 500,
                "sell_through_value": 1.0,
            }
        ],
        "bids": 2,
        "auto_bids": 0,
        "auto_share": 0.0,
        "unique_bidders": 2,  # eve, ann
        "sniping_share": 1 / 2,
        "sniping_extend_share": 1 / 2,
        "extensions": 1,
        "mean_time_to_sell_ms": 105_000,
    }
    # the same figures as the sale's own report
    spring = both["sales"][0]
    alone = msgspec.to_builtins(await sale_report(store, SALE, 7))
    assert {k: alone[k] for k in spring if k not in ("started_at",)} == {
        k: v for k, v in spring.items() if k != "started_at"
    }
    later = await sales_report(store, sales, 1, 2**53, 7)
    assert [row.sale for row in later.sales] == ["t"] and later.totals.lots == 2
    paged = await sales_report(store, sales, 0, 2**53, 7, limit=1)
    assert [row.sale for row in paged.sales] == ["s"] and paged.next_from == 1_000_000
    again = msgspec.to_builtins(await sales_report(store, sales, 0, 2**53, 7))
    assert again == both  # a second read, from the kept facts on SQLite, says the same


async def test_sqlite_keeps_closed_lots_facts_and_remakes_an_old_version(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/k.db") as sqlite_store:
        await sqlite_store.add_sale(SALE, LOTS)
        for event in SCRIPT:
            await sqlite_store.append([event])
        first = msgspec.to_builtins(await sale_report(sqlite_store, SALE, 1))
        db = sqlite3.connect(tmp_path / "k.db")
        try:
            kept = db.execute("SELECT lot_id, bids FROM report_lots ORDER BY lot_id").fetchall()
            # the closed lots only: the desk has no events, none is open
            assert kept == [("chair", 0), ("clock", 5), ("lamp", 1), ("rug", 0), ("vase", 1)]
            bidders = db.execute("SELECT COUNT(*) FROM report_bidders").fetchone()
            assert bidders == (4,)  # clock: ann, bob; vase: dan; lamp: bob
            # a kept row that lies is what the next report reads (proof it is read) ...
            db.execute("UPDATE report_lots SET bids = 50 WHERE lot_id = 'clock'")
            db.commit()
            lied = await sale_report(sqlite_store, SALE, 1)
            assert lied.per_lot[0].bids == 50
            # ... unless it is of another version: then it is counted again and kept anew
            db.execute("UPDATE report_lots SET version = 0 WHERE lot_id = 'clock'")
            db.commit()
            assert msgspec.to_builtins(await sale_report(sqlite_store, SALE, 1)) == first
            row = db.execute("SELECT version, bids FROM report_lots WHERE lot_id = 'clock'")
            assert row.fetchone() == (1, 5)
        finally:
            db.close()


def test_a_met_reserve_an_odd_median_and_mixed_currencies_by_hand() -> None:
    specs = [
        LotSpec("a", "A", starting_price=100, reserve=200),
        LotSpec("b", "B", starting_price=100),
        LotSpec("c", "C", starting_price=100),
        LotSpec("d", "D", currency="EUR", starting_price=100),
    ]
    sale = SaleSpec("m", "Mixed", ("a", "b", "c", "d"), mode="timed")
    lots = [
        LotTally("a", "sold", "hammer", "ann", 900, 0, 0, 60_000, 2, 0, 0, 0, 2),
        LotTally("b", "sold", "hammer", "ann", 300, 0, 0, 1_000, 1, 0, 0, 0, 1),
        LotTally("c", "sold", "hammer", "bob", 400, 0, 0, 2_000, 1, 0, 0, 0, 1),
    ]
    bidders = [
        BidderTally("a", "ann", 1, 0, 0, 0, 900),
        BidderTally("a", "bob", 1, 0, 0, 0, 850),
        BidderTally("b", "ann", 1, 0, 0, 0, 300),
        BidderTally("c", "bob", 1, 0, 0, 0, 400),
    ]
    usd = build_report(sale, specs[:3], lots, bidders, 5)
    assert (usd.mean_hammer, usd.median_hammer) == (1_600 // 3, 400)  # 300, 400, 900
    assert usd.per_lot[0].reserve_band == "met" and usd.per_lot[1].reserve_band is None
    assert usd.top_bidder_share == 2 / 4
    ann = usd.per_bidder[0]
    assert (ann.margin_lots, ann.margin_over_second, ann.mean_margin_over_second) == (1, 50, 50)
    mixed = build_report(sale, specs, lots, bidders, 5)
    assert (mixed.currency, mixed.mean_hammer, mixed.median_hammer) == (None, None, None)
    assert mixed.per_bidder[0].margin_over_second is None
    assert mixed.per_bidder[0].mean_margin_over_second is None


async def test_sqlite_keeps_a_lots_facts_once_its_close_commits(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/c.db") as sqlite_store:
        await sqlite_store.add_sale(SALE, LOTS)
        for event in SCRIPT[:9]:  # the clock, up to its close; no report read at all
            await sqlite_store.append([event])
        db = sqlite3.connect(tmp_path / "c.db")
        try:
            kept: list[tuple[str, int]] = []
            for _ in range(200):  # kept in the background: at most 2 s
                kept = db.execute("SELECT lot_id, bids FROM report_lots").fetchall()
                if kept:
                    break
                await asyncio.sleep(0.01)
            assert kept == [("clock", 5)]
        finally:
            db.close()


async def test_sqlite_keeps_the_facts_a_store_from_before_lacks(tmp_path: Path) -> None:
    """A store whose closed lots have no kept facts (made before migration 12, or by a bench's
    direct inserts) gets them from ``keep_missing_facts``, which the server runs at start."""
    async with open_store(f"sqlite:///{tmp_path}/m.db") as sqlite_store:
        await sqlite_store.add_sale(SALE, LOTS)
        for event in SCRIPT:
            await sqlite_store.append([event])
        first = msgspec.to_builtins(await sale_report(sqlite_store, SALE, 1))
        db = sqlite3.connect(tmp_path / "m.db")
        try:
            db.execute("DELETE FROM report_lots")
            db.execute("DELETE FROM report_bidders")
            db.commit()
            assert await sqlite_store.keep_missing_facts() == 5  # every closed lot, not the desk
            kept = db.execute("SELECT lot_id, bids FROM report_lots ORDER BY lot_id").fetchall()
            assert kept == [("chair", 0), ("clock", 5), ("lamp", 1), ("rug", 0), ("vase", 1)]
            assert db.execute("SELECT COUNT(*) FROM report_bidders").fetchone() == (4,)
            assert await sqlite_store.keep_missing_facts() == 0  # nothing is counted twice
        finally:
            db.close()
        assert msgspec.to_builtins(await sale_report(sqlite_store, SALE, 1)) == first


async def test_postgres_keeps_closed_lots_facts_and_remakes_an_old_version() -> None:
    async with fresh_schema() as url, open_store(url) as pg_store, postgres_tables(url) as db:
        await pg_store.add_sale(SALE, LOTS)
        for event in SCRIPT:
            await pg_store.append([event])
        first = msgspec.to_builtins(await sale_report(pg_store, SALE, 1))
        kept = await db.fetch("SELECT lot_id, bids FROM report_lots ORDER BY lot_id")
        # the closed lots only: the desk has no events, none is open
        assert [tuple(row) for row in kept] == [
            ("chair", 0),
            ("clock", 5),
            ("lamp", 1),
            ("rug", 0),
            ("vase", 1),
        ]
        assert await db.fetchval("SELECT COUNT(*) FROM report_bidders") == 4
        sale_bidders = await db.fetch("SELECT bidder FROM report_sale_bidders ORDER BY bidder")
        assert [row[0] for row in sale_bidders] == ["ann", "bob", "dan"]
        # a kept row that lies is what the next report reads (proof it is read) ...
        await db.execute("UPDATE report_lots SET bids = 50 WHERE lot_id = 'clock'")
        lied = await sale_report(pg_store, SALE, 1)
        assert lied.per_lot[0].bids == 50
        # ... unless it is of another version: then it is counted again and kept anew
        await db.execute("UPDATE report_lots SET version = 0 WHERE lot_id = 'clock'")
        assert msgspec.to_builtins(await sale_report(pg_store, SALE, 1)) == first
        row = await db.fetchrow("SELECT version, bids FROM report_lots WHERE lot_id = 'clock'")
        assert tuple(row) == (1, 5)


async def test_postgres_keeps_a_lots_facts_once_its_close_commits() -> None:
    async with fresh_schema() as url, open_store(url) as pg_store, postgres_tables(url) as db:
        await pg_store.add_sale(SALE, LOTS)
        for event in SCRIPT[:9]:  # the clock, up to its close; no report read at all
            await pg_store.append([event])
        kept: list[tuple[str, int]] = []
        for _ in range(200):  # kept in the background: at most 2 s
            kept = [tuple(r) for r in await db.fetch("SELECT lot_id, bids FROM report_lots")]
            if kept:
                break
            await asyncio.sleep(0.01)
        assert kept == [("clock", 5)]


async def test_postgres_keeps_the_facts_a_store_from_before_lacks() -> None:
    """Closed lots with no kept facts (a node that stopped before keeping them, or a bench's
    direct inserts) get them from ``keep_missing_facts``, which the server runs at start."""
    async with fresh_schema() as url, open_store(url) as pg_store, postgres_tables(url) as db:
        await pg_store.add_sale(SALE, LOTS)
        for event in SCRIPT:
            await pg_store.append([event])
        first = msgspec.to_builtins(await sale_report(pg_store, SALE, 1))
        await db.execute("DELETE FROM report_lots; DELETE FROM report_bidders")
        assert await pg_store.keep_missing_facts() == 5  # every closed lot, not the desk
        kept = await db.fetch("SELECT lot_id, bids FROM report_lots ORDER BY lot_id")
        assert [tuple(row) for row in kept] == [
            ("chair", 0),
            ("clock", 5),
            ("lamp", 1),
            ("rug", 0),
            ("vase", 1),
        ]
        assert await db.fetchval("SELECT COUNT(*) FROM report_bidders") == 4
        assert await pg_store.keep_missing_facts() == 0  # nothing is counted twice
        assert msgspec.to_builtins(await sale_report(pg_store, SALE, 1)) == first
