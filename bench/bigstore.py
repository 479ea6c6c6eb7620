"""A SQLite store of a long history: by default 1,000,000 bids over 10,000 lots in 100 sales.

Seeded and realistic enough for the report and history pages (issue 13, Scale): timed sales a
week apart, each lot opened with a starting price, a fixed increment, an estimate and (most)
a reserve; a few to a dozen bidders per lot out of a pool, bids climbing by one to three steps,
denser near the deadline, those in the last ``extend_ms`` extending it (soft close), about a
quarter placed by the house for a maximum (``auto``, with ``max_amount``), a void now and then
(an admin voids a lot's last bid: the one before leads again); closes with a hammer, a
``reserve_not_met``, ``no_bids`` (some lots draw none) and a few ``withdrawn``; two anonymous
sales. Every sale has ended.

It is written straight through sqlite3 (one transaction, multi-row INSERTs of events encoded by
the domain's own msgspec Structs), into the schema the store's own ``migrate`` makes, with each
lot's state row holding its snapshot as the domain's ``Lot.apply`` leaves it, so the server
starts on it as on one it wrote itself.

    python bench/bigstore.py PATH [--bids 1000000 --lots 10000 --sales 100 --seed 7]

Then it counts and keeps every closed lot's report facts through the store, as a server
does at each close (``keep_s``). Prints what it built and how long it took; ``build`` is what
bench/pages.py calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    SaleEnded,
    SaleStarted,
)
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.money import FixedIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.store import base
from bidwire.store.sqlite import SqliteStore, connect, migrate

DAY_MS = 24 * 3600 * 1000
START_MS = 1_767_225_600_000
"""2026-01-01 00:00 UTC: the first sale's start (fixed, so a seed gives the same store)."""
OPENING_MS = 2 * 3600 * 1000
EXTEND_MS = 60_000
ROWS_PER_INSERT = 4_000
TYPES = ("bid_placed", "bid_voided", "lot_opened", "lot_extended", "lot_closed")


@dataclass
class Built:
    """What a build made: the figures and a few ids the pages bench asks about."""

    path: str
    sales: list[str] = field(default_factory=list)
    anonymous: list[str] = field(default_factory=list)
    busiest_sale: str = ""
    busiest_sale_bids: int = 0
    busiest_lot: str = ""
    busiest_lot_bids: int = 0
    busiest_bidder: str = ""
    busiest_bidder_bids: int = 0
    bids: int = 0
    events: int = 0
    lots: int = 0
    closes: dict[str, int] = field(default_factory=dict)
    voids: int = 0
    auto: int = 0
    build_s: float = 0.0
    keep_s: float = 0.0
    """Counting and keeping every closed lot's report facts, as the server does at each close."""
    bytes: int = 0

    def summary(self) -> dict[str, Any]:
        fields = dict(self.__dict__)
        fields["sales"] = len(self.sales)
        return fields


def bid_counts(rng: random.Random, lots: int, bids: int) -> list[int]:
    """Bids per lot summing to exactly ``bids``: one lot in twelve draws none, the others a
    skewed share (a few lots draw many, most a few dozen)."""
    weights = [0.0 if rng.random() < 1 / 12 else rng.expovariate(1.0) ** 1.5 for _ in range(lots)]
    total = sum(weights) or 1.0
    counts = [int(bids * w / total) for w in weights]
    short = bids - sum(counts)
    drawing = [i for i, w in enumerate(weights) if w > 0] or list(range(lots))
    for i in range(short):
        counts[drawing[i % len(drawing)]] += 1
    return counts


def lot_history(
    rng: random.Random, spec: LotSpec, sale: str, t0: int, bids: int, pool: list[str]
) -> tuple[list[LotEvent], int, int]:
    """The lot's events from its opening to its close; also its voided and automatic bids."""
    step = spec.increment.step if isinstance(spec.increment, FixedIncrement) else 100
    ends_at = t0 + spec.opening_ms
    events: list[LotEvent] = [
        LotOpened(
            spec.id,
            1,
            sale,
            spec.title,
            "",
            spec.currency,
            spec.starting_price,
            spec.starting_price,
            ends_at,
            t0,
            reserve=spec.reserve is not None,
            estimate_low=spec.estimate_low,
            estimate_high=spec.estimate_high,
        )
    ]
    bidders = rng.sample(pool, min(len(pool), rng.randint(2, 12)))
    # times: uniform over the window, one bid in three in its last tenth (sniping pressure)
    window = spec.opening_ms
    times = sorted(
        t0 + int(window * (0.9 + 0.1 * rng.random() if rng.random() < 1 / 3 else rng.random()))
        for _ in range(bids)
    )
    amount, leader, autos = 0, "", 0
    history: list[tuple[int, str]] = []
    for n, ts in enumerate(times):
        ts = max(ts, events[-1].ts)
        if ts >= ends_at:
            ts = ends_at - 1
        amount = spec.starting_price if not history else amount + step * rng.randint(1, 3)
        bidder = rng.choice([b for b in bidders if b != leader] or bidders)
        auto = bool(history) and rng.random() < 0.25
        autos += auto
        if ends_at - ts < spec.extend_ms:
            ends_at = ts + spec.extend_ms
        events.append(
            BidPlaced(
                spec.id,
                len(events) + 1,
                amount,
                bidder,
                ends_at,
                amount + step,
                ts,
                auto=auto,
                max_amount=amount + step * rng.randint(1, 5) if auto else None,
                reserve_met=None if spec.reserve is None else amount >= spec.reserve,
            )
        )
        history.append((amount, bidder))
        leader = bidder
        if n == bids - 1 and rng.random() < 0.05:
            events.append(LotExtended(spec.id, len(events) + 1, ends_at + EXTEND_MS, "restart", ts))
            ends_at += EXTEND_MS
    voids = 0
    if len(history) >= 2 and rng.random() < 0.03:
        voids = 1
        history.pop()
        amount, leader = history[-1]
        events.append(
            BidVoided(
                spec.id,
                len(events) + 1,
                [events[-1].seq],
                amount,
                leader,
                amount + step,
                len(history),
                ends_at,
                "admin",
                events[-1].ts + 1,
            )
        )
    close_ts = max(ends_at, events[-1].ts + 1)
    seq = len(events) + 1
    if rng.random() < 0.01:
        close = LotClosed(spec.id, seq, "unsold", None, None, close_ts, "withdrawn", by="admin")
    elif not history:
        close = LotClosed(spec.id, seq, "unsold", None, None, close_ts, "no_bids")
    elif spec.reserve is not None and amount < spec.reserve:
        close = LotClosed(spec.id, seq, "unsold", None, None, close_ts, "reserve_not_met")
    else:
        close = LotClosed(spec.id, seq, "sold", leader, amount, close_ts, "hammer")
    events.append(close)
    return events, voids, autos


def build(
    path: Path, *, bids: int = 1_000_000, lots: int = 10_000, sales: int = 100, seed: int = 7
) -> Built:
    """Write the store at ``path`` (which must not exist yet)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    built = Built(str(path))
    pool = [f"bidder{i:05d}" for i in range(max(50, lots // 2))]
    per_sale = max(1, lots // sales)
    counts = bid_counts(rng, per_sale * sales, bids)
    per_bidder: dict[str, int] = {}
    conn = connect(str(path), "OFF")
    migrate(conn)
    conn.execute("BEGIN")
    rows: list[Any] = []

    def flush(at_least: int) -> None:
        while len(rows) >= at_least * 5 and rows:
            chunk = rows[: ROWS_PER_INSERT * 5]
            del rows[: ROWS_PER_INSERT * 5]
            values = ",".join(["('lot',?,?,?,?,?)"] * (len(chunk) // 5))
            conn.execute(
                "INSERT INTO events (stream, lot_id, seq, type, ts, body) VALUES " + values, chunk
            )

    encode = msgspec.json.encode
    for s in range(sales):
        sale_id = f"sale{s:03d}"
        t0 = START_MS + s * 3 * DAY_MS
        lot_ids = tuple(f"{sale_id}-lot{i:03d}" for i in range(per_sale))
        anonymous = s in (sales // 3, 2 * sales // 3)
        sale = SaleSpec(
            sale_id,
            f"Sale {s + 1}: {rng.choice(['Clocks', 'Maps', 'Silver', 'Prints', 'Toys'])}",
            lot_ids,
            mode="timed",
            anonymous=anonymous,
            pseudonym_salt=f"salt-{seed}-{s}" if anonymous else "",
            buyers_premium=0.2,
        )
        built.sales.append(sale_id)
        if anonymous:
            built.anonymous.append(sale_id)
        sale_pool = rng.sample(pool, min(len(pool), 300))
        conn.execute(
            "INSERT INTO sales (id, position, spec, seq) VALUES (?,?,?,2)",
            (sale_id, s + 1, json.dumps(base.sale_spec_to_record(sale))),
        )
        last_close, sale_bids = t0, 0
        for index, lot_id in enumerate(lot_ids):
            start = rng.randrange(10, 500) * 100
            low = start * rng.randint(2, 6)
            spec = LotSpec(
                id=lot_id,
                title=f"Lot {index + 1} of sale {s + 1}",
                starting_price=start,
                increment=FixedIncrement(max(100, start // 20)),
                reserve=None if rng.random() < 0.3 else low * rng.randint(70, 130) // 100,
                opening_ms=OPENING_MS,
                extend_ms=EXTEND_MS,
                estimate_low=low,
                estimate_high=low * 3 // 2,
            )
            n = counts[s * per_sale + index]
            events, voids, autos = lot_history(rng, spec, sale_id, t0, n, sale_pool)
            lot = Lot(spec, sale_id, "timed")
            for event in events:
                lot.apply(event)
                rows.extend(
                    (lot_id, event.seq, type(event).__struct_config__.tag, event.ts, encode(event))
                )
                if isinstance(event, BidPlaced):
                    per_bidder[event.bidder] = per_bidder.get(event.bidder, 0) + 1
            flush(ROWS_PER_INSERT)
            close = events[-1]
            assert isinstance(close, LotClosed)
            built.closes[close.reason] = built.closes.get(close.reason, 0) + 1
            built.bids += n
            sale_bids += n
            built.events += len(events)
            built.voids += voids
            built.auto += autos
            last_close = max(last_close, close.ts)
            if n > built.busiest_lot_bids:
                built.busiest_lot, built.busiest_lot_bids = lot_id, n
            conn.execute(
                "INSERT INTO lots (id, sale_id, position, spec) VALUES (?,?,?,?)",
                (lot_id, sale_id, index, json.dumps(base.lot_spec_to_record(spec))),
            )
            conn.execute(
                "INSERT INTO lot_state (lot_id, seq, status, snapshot) VALUES (?,?,?,?)",
                (lot_id, lot.seq, lot.status, base.SNAPSHOT_ENCODER.encode(lot.snapshot())),
            )
        if sale_bids > built.busiest_sale_bids:
            built.busiest_sale, built.busiest_sale_bids = sale_id, sale_bids
        marks = [
            SaleStarted(sale_id, 1, sale.title, sale.mode, list(lot_ids), t0),
            SaleEnded(sale_id, 2, last_close + 1),
        ]
        conn.executemany(
            "INSERT INTO events (stream, lot_id, seq, type, ts, body) VALUES ('sale',?,?,?,?,?)",
            [(sale_id, e.seq, e.__struct_config__.tag, e.ts, encode(e)) for e in marks],
        )
    flush(1)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    built.lots = per_sale * sales
    built.busiest_bidder, built.busiest_bidder_bids = max(per_bidder.items(), key=lambda kv: kv[1])
    built.build_s = time.perf_counter() - started
    started = time.perf_counter()
    asyncio.run(keep_facts(path))
    built.keep_s = time.perf_counter() - started
    built.bytes = path.stat().st_size
    meta_path(path).write_text(json.dumps(built.__dict__, indent=1))
    return built


async def keep_facts(path: Path) -> int:
    """What a server keeps at each close (``report_lots``), for every lot at once: a store a
    server wrote has it; direct inserts do not (the server would count it at its start)."""
    async with SqliteStore(str(path), synchronous="OFF") as store:
        return await store.keep_missing_facts()


def meta_path(path: Path) -> Path:
    """Where a build keeps what it made (``Built``), beside the store."""
    return path.with_name(path.name + ".built.json")


def built_of(path: Path) -> Built:
    """What the build of an existing store made, from its side file."""
    return Built(**json.loads(meta_path(path).read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--bids", type=int, default=1_000_000)
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--sales", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.path.exists():
        parser.error(f"{args.path} exists: give a new file")
    built = build(args.path, bids=args.bids, lots=args.lots, sales=args.sales, seed=args.seed)
    print(json.dumps(built.summary(), indent=1))


if __name__ == "__main__":
    main()
