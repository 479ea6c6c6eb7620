"""Bid histories on a SQLite store: a sale's first page, a page deep in it, a bidder's page.

Builds a store of ``--sales`` sales of 100 lots with 100 bids each (10,000 bids a sale, with
some voids and automatic bids), loads the house the way a start does, and times the engine's
reads (engine/history.py over store/sqlite_history.py) without sockets: what the HTTP routes
``/api/sales/{id}/bids``, ``/api/me/bids`` and ``/api/admin/bidders/{name}/bids`` do, less the
encoding. Prints medians with ranges and writes JSON to bench/results/history.json.

    .venv/bin/python bench/history.py --sales 10 --runs 7
    .venv/bin/python bench/history.py --sales 100 --db /tmp/history-1m.db   # 1,000,000 bids
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bidwire.bus.memory import MemoryBus
from bidwire.clock import FakeClock
from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.history import Histories
from bidwire.engine.house import AuctionHouse
from bidwire.engine.queries import Queries
from bidwire.store.sqlite import SqliteStore
from bidwire.transports.broadcast import Feed

LOTS = 100
BIDS = 100
PEOPLE = 400


def lot_events(sale: str, lot: str, start: int, index: int) -> list[LotEvent]:
    events: list[LotEvent] = [
        LotOpened(lot, 1, sale, lot, "", "USD", 100, 100, start + 10**7, start)
    ]
    for n in range(BIDS):
        seq = n + 2
        who = f"p{(index * 13 + n * 7) % PEOPLE}"
        ts = start + 1_000 * n
        events.append(
            BidPlaced(lot, seq, 100 + 10 * n, who, start + 10**7, 110 + 10 * n, ts, auto=n % 7 == 3)
        )
    events.append(
        BidVoided(
            lot,
            BIDS + 2,
            [BIDS + 1],
            100 + 10 * (BIDS - 1),
            "p1",
            0,
            BIDS - 1,
            start + 10**7,
            "root",
            start + 1_000 * BIDS,
        )
    )
    events.append(LotClosed(lot, BIDS + 3, "sold", "p1", 100 + 10 * (BIDS - 1), start + 10**7))
    return events


async def build(path: str, sales: int) -> float:
    started = time.perf_counter()
    async with SqliteStore(path) as store:
        for s in range(sales):
            sale = f"sale{s}"
            ids = [f"s{s}l{i}" for i in range(LOTS)]
            await store.add_sale(
                SaleSpec(sale, f"Sale {s}", tuple(ids), mode="timed", anonymous=s % 2 == 1),
                [LotSpec(i, i) for i in ids],
            )
            pending = [
                store.append(lot_events(sale, lot, 1_700_000_000_000 + i * 37, s * LOTS + i))
                for i, lot in enumerate(ids)
            ]
            await asyncio.gather(*pending)
    return time.perf_counter() - started


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "median_ms": round(statistics.median(ms), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
    }


async def measure(path: str, sales: int, runs: int) -> dict[str, dict[str, float]]:
    async with SqliteStore(path) as store:
        clock = FakeClock(1_800_000_000_000)
        bus = MemoryBus()
        feed = Feed(clock)
        feed.listen(bus)
        house = AuctionHouse(store, bus, feed.published, clock)
        await house.load()
        histories = Histories(Queries(house))
        sale = f"sale{sales // 2}"
        deep = None
        page = await histories.sale(sale, None, 50)
        for _ in range(100):  # a cursor 5,000 bids deep
            page = await histories.sale(sale, page.next_before, 50)
        deep = page.next_before
        times: dict[str, list[float]] = {
            "sale_first_page": [],
            "sale_page_5000_deep": [],
            "bidder_page": [],
            "admin_sale_page": [],
        }
        for _ in range(runs):
            for name, read in (
                ("sale_first_page", lambda: histories.sale(sale, None, 50)),
                ("sale_page_5000_deep", lambda: histories.sale(sale, deep, 50)),
                ("bidder_page", lambda: histories.bidder("p7", None, 50)),
                ("admin_sale_page", lambda: histories.sale(sale, None, 200, admin=True)),
            ):
                started = time.perf_counter()
                await read()
                times[name].append(time.perf_counter() - started)
        await house.stop()
        feed.close()
    return {name: summary(samples) for name, samples in times.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", help="Keep the store here (built once, reused after).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or str(Path(tmp) / "history.db")
        built = 0.0 if Path(path).exists() else await build(path, args.sales)
        figures = await measure(path, args.sales, args.runs)
    bids = args.sales * LOTS * BIDS
    print(f"store: {args.sales} sales, {bids:,} bids, built in {built:.1f} s")
    for name, f in figures.items():
        print(
            f"{name:22} median {f['median_ms']:7.2f} ms  range {f['min_ms']:.2f}..{f['max_ms']:.2f}"
        )
    out = Path(__file__).parent / "results" / "history.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "sales": args.sales,
                "bids": bids,
                "build_s": round(built, 1),
                "runs": args.runs,
                "figures": figures,
            },
            indent=1,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
