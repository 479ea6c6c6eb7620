"""The PostgreSQL store alone on one hot lot: committed bids per second with group commit.

One open lot; bids decided by the domain (``Lot.decide_bid``, applied, snapshotted, with a
request key each), appended with at most ``--inflight`` waiting for their commit (a new one is
offered as each commits, as bidders answering each other would), or with ``--rate`` offered at
that rate whatever the commits do (open loop: batches grow with what queued); every bid is durable
(synchronous_commit on) before it counts. ``--house`` offers them through AuctionHouse instead
(decide, append, publish, ack), in rounds of ``--inflight`` as bench/append.py does on SQLite.
Each run is bounded by ``--bids`` and ``--seconds``, in a schema of its own (``bw_bench_``),
dropped after. Prints each run and the medians (min..max); writes JSON to bench/results/.

    python bench/pg_store.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
        [--bids 20000 --inflight 256 --runs 5 --seconds 20] [--rate 10000] [--house] [--db-clock]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bidwire.bus.memory import MemoryBus
from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.money import FixedIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.store import open_store
from bidwire.store.postgres import PostgresStore
from bidwire.transports.broadcast import Feed

BENCH = Path(__file__).resolve().parent
SPEC = LotSpec(id="a", title="A", increment=FixedIncrement(1), opening_ms=10**9)


def store_url(dsn: str, schema: str, db_clock: bool) -> str:
    query = f"schema={schema}" + ("&db_clock=1" if db_clock else "")
    return dsn + ("&" if "?" in dsn else "?") + query


async def store_run(
    dsn: str, bids: int, inflight: int, seconds: float, db_clock: bool, rate: float = 0.0
) -> dict[str, float]:
    schema = f"bw_bench_{secrets.token_hex(4)}"
    try:
        async with open_store(store_url(dsn, schema, db_clock)) as opened:
            assert isinstance(opened, PostgresStore)
            store = opened
            await store.add_sale(SaleSpec("s", "S", ("a",), mode="timed"), [SPEC])
            now = await store.db_now_ms()
            lot = Lot(SPEC, "s", "timed")
            first = lot.decide_open(now)
            assert not isinstance(first, Refusal)
            lot.apply(first)
            await store.append([first], snapshot=lot.snapshot())
            commits, appends = store.commits, store.appends
            latencies: list[float] = []
            done = asyncio.Event()
            state = {"offered": 0, "committed": 0, "failed": 0, "stopped": 0}
            deadline = time.perf_counter() + seconds

            def offer() -> None:
                n = state["offered"]
                state["offered"] += 1
                bidding = lot.decide_bid(f"bidder{n % 2}", 100 + n, now + 1)
                assert not isinstance(bidding, Refusal), bidding
                lot.apply(bidding.own)
                t0 = time.perf_counter()
                future = store.append([bidding.own], f"bidder{n % 2}\x00r{n}", lot.snapshot())
                future.add_done_callback(lambda f: answered(f, t0))

            def answered(future: asyncio.Future[None], t0: float) -> None:
                if future.exception() is not None:
                    state["failed"] += 1
                    done.set()
                    return
                latencies.append(time.perf_counter() - t0)
                state["committed"] += 1
                if rate:
                    if state["committed"] == state["offered"] and state["stopped"]:
                        done.set()
                elif state["offered"] < bids and time.perf_counter() < deadline:
                    offer()
                elif state["committed"] == state["offered"]:
                    done.set()

            started = time.perf_counter()
            if rate:
                # open loop: bids arrive at ``rate`` whatever the commits do, paced by the ms
                state["stopped"] = 0
                while state["offered"] < bids and time.perf_counter() < deadline:
                    due = int((time.perf_counter() - started) * rate) - state["offered"]
                    for _ in range(min(due, bids - state["offered"])):
                        offer()
                    await asyncio.sleep(0.001)
                state["stopped"] = 1
                if state["committed"] == state["offered"]:
                    done.set()
            else:
                for _ in range(min(inflight, bids)):
                    offer()
            await asyncio.wait_for(done.wait(), seconds + 30)
            wall = time.perf_counter() - started
            if state["failed"]:
                raise SystemExit(f"{state['failed']} appends failed")
            stored = len((await store.lot_log("a")).events)
            assert stored == 0, "every append had a snapshot: nothing to replay"
            latencies.sort()
            made = store.commits - commits
            return {
                "bids_per_s": state["committed"] / wall,
                "bids": state["committed"],
                "appends_per_commit": (store.appends - appends) / max(made, 1),
                "commit_p50_ms": latencies[len(latencies) // 2] * 1000,
                "commit_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            }
    finally:
        await drop(dsn, schema)


def _counter(expected: int) -> tuple[asyncio.Future[None], Callable[[object], None]]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = [expected]

    def answer(result: object) -> None:
        if not isinstance(result, Accepted):
            raise SystemExit(f"refused: {result}")
        left[0] -= 1
        if left[0] == 0:
            done.set_result(None)

    return done, answer


async def house_run(
    dsn: str, bids: int, inflight: int, seconds: float, db_clock: bool
) -> dict[str, float]:
    schema = f"bw_bench_{secrets.token_hex(4)}"
    try:
        async with open_store(store_url(dsn, schema, db_clock)) as store:
            assert isinstance(store, PostgresStore)
            clock = FakeClock(await store.db_now_ms())
            bus, feed = MemoryBus(), Feed(clock)
            feed.listen(bus)
            house = AuctionHouse(store, bus, feed.published, clock)
            await house.load()
            await house.add_sale(SaleSpec("s", "S", ("a",), mode="timed"), [SPEC])
            house.start()
            await asyncio.gather(*house._tasks)
            commits, appends = store.commits, store.appends
            actors = [Actor(f"bidder{i}") for i in range(2)]
            offered, amount = 0, 100
            started = time.perf_counter()
            deadline = started + seconds
            while offered < bids and time.perf_counter() < deadline:
                left = min(inflight, bids - offered)
                done, answer = _counter(left)
                for i in range(offered, offered + left):
                    house.offer_bid(
                        PlaceBid(actors[i % 2], "a", amount, request_id=f"r{i}"), answer
                    )
                    amount += 1
                offered += left
                await done
            wall = time.perf_counter() - started
            await house.stop()
            made = store.commits - commits
            return {
                "bids_per_s": house.accepted_bids / wall,
                "bids": house.accepted_bids,
                "appends_per_commit": (store.appends - appends) / max(made, 1),
            }
    finally:
        await drop(dsn, schema)


async def drop(dsn: str, schema: str) -> None:
    assert schema.startswith("bw_bench_")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--bids", type=int, default=20_000)
    parser.add_argument("--inflight", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0, help="at most, per run")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="offer bids at this rate (open loop), not a window"
    )
    parser.add_argument("--house", action="store_true", help="through AuctionHouse.offer_bid")
    parser.add_argument("--db-clock", action="store_true", help="the database clock's check")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    runs = []
    for n in range(args.runs):
        if args.house:
            work = house_run(args.dsn, args.bids, args.inflight, args.seconds, args.db_clock)
        else:
            work = store_run(
                args.dsn, args.bids, args.inflight, args.seconds, args.db_clock, args.rate
            )
        run = asyncio.run(work)
        shown = ", ".join(f"{k} {v:,.1f}" for k, v in run.items())
        print(f"run {n + 1}: {shown}")
        runs.append(run)
    summary: dict[str, Any] = {}
    for name in runs[0]:
        values = [r[name] for r in runs]
        summary[name] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
        s = summary[name]
        print(f"{name}: {s['median']:,.1f} ({s['min']:,.1f}..{s['max']:,.1f})")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    mode = "house" if args.house else f"rate{args.rate:.0f}" if args.rate else "store"
    out = args.out_dir / f"pg-store-{mode}-{stamp}.json"
    config = {k: v for k, v in vars(args).items() if k not in ("out_dir", "dsn")}
    out.write_text(json.dumps({"config": config, "runs": runs, "summary": summary}, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
