"""Micro-benchmark of the bid hot path: AuctionHouse.offer_bid -> store.append -> commit -> ack.

No sockets: one open lot in a SQLite store, bids offered in rounds of ``--inflight`` (each round
waits for every answer, so group commit batches as under load). Prints two figures per run:

- loop µs per bid: time spent inside ``offer_bid`` (decide, apply, encode, queue), the part on
  the event loop that a slower append would slow;
- wall µs per bid: the whole round trip including the writer thread's commit;
- CPU µs per bid: the process's CPU time (loop and writer thread), the least noisy of the three
  on a shared machine.

Run with ``PYTHONPATH=<another checkout>/src`` to measure other code the same way (the figures
before/after a change). ``--synchronous OFF`` keeps fsync noise out of the wall figure.

    python bench/append.py [--bids 20000 --inflight 500 --runs 5 --synchronous OFF]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bidwire.bus.memory import MemoryBus
from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.money import FixedIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.store.sqlite import SqliteStore
from bidwire.transports.broadcast import Feed

BENCH = Path(__file__).resolve().parent


def _counter(expected: int) -> tuple[asyncio.Future[None], Callable[[object], None]]:
    """A future done once ``expected`` bids were answered, and the answer callback."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = [expected]

    def answer(result: object) -> None:
        if not isinstance(result, Accepted):
            raise SystemExit(f"refused: {result}")
        left[0] -= 1
        if left[0] == 0:
            done.set_result(None)

    return done, answer


async def one_run(bids: int, inflight: int, synchronous: str, keyed: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteStore(f"{tmp}/x.db", synchronous=synchronous) as store:
            clock = FakeClock()
            bus, feed = MemoryBus(), Feed(clock)
            feed.listen(bus)
            house = AuctionHouse(store, bus, feed.published, clock)
            await house.load()
            lot = LotSpec(id="a", title="A", increment=FixedIncrement(1), opening_ms=10**9)
            await house.add_sale(SaleSpec("s", "S", ("a",), mode="timed"), [lot])
            house.start()
            await asyncio.gather(*house._tasks)  # the sale's start commits, then its lot opens
            actors = [Actor(f"bidder{i}") for i in range(2)]
            amount = 100
            in_loop = 0.0
            started, cpu = time.perf_counter(), time.process_time()
            for first in range(0, bids, inflight):
                left = min(inflight, bids - first)
                done, answer = _counter(left)
                t0 = time.perf_counter()
                for i in range(first, first + left):
                    request_id = f"r{i}" if keyed else None
                    house.offer_bid(
                        PlaceBid(actors[i % 2], "a", amount, request_id=request_id), answer
                    )
                    amount += 1
                in_loop += time.perf_counter() - t0
                await done
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
            await house.stop()
            assert house.accepted_bids == bids, f"{house.accepted_bids} of {bids} accepted"
    return {
        "loop_us_per_bid": in_loop / bids * 1e6,
        "wall_us_per_bid": wall / bids * 1e6,
        "cpu_us_per_bid": cpu / bids * 1e6,
    }


def append_call_us(count: int = 200_000, batch: int = 1) -> float:
    """µs of one bid's own store work, without the thread and the commit: the snapshot (where
    the code has one), SqliteStore.append building its rows, and the encoding the writer does:
    once per ``batch`` appends (a merged commit encodes each lot's last snapshot only; a batch of
    one is the most it does per bid)."""
    from bidwire.store import base

    store = SqliteStore(":memory:")
    store._submit = lambda run, append=None: None  # type: ignore[assignment,method-assign,return-value]
    lot = Lot(LotSpec(id="a", title="A", increment=FixedIncrement(1)), "s", "timed")
    opened = lot.decide_open(0)
    assert not isinstance(opened, Refusal)
    lot.apply(opened)
    for n in range(30):
        placed = lot.decide_bid(f"bidder{n % 2}", 100 + n, 1 + n)
        assert not isinstance(placed, Refusal)
        lot.apply(placed.own)
    bidding = lot.decide_bid("bidder0", 10_000, 100)
    assert not isinstance(bidding, Refusal)
    event = bidding.own
    lot.apply(event)  # as the house does before it appends
    events = [event]
    encoder = getattr(base, "SNAPSHOT_ENCODER", None)
    started = time.perf_counter()
    if encoder is None:
        for _ in range(count):
            store.append(events, "k")
    else:
        for n in range(count):
            snapshot = lot.snapshot()
            store.append(events, "k", snapshot)
            if n % batch == 0:
                encoder.encode(snapshot)
    return (time.perf_counter() - started) / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=20_000)
    parser.add_argument("--inflight", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--synchronous", default="OFF")
    parser.add_argument("--no-keys", action="store_true", help="bids without request_id")
    parser.add_argument("--label", default="", help="a name for this code in the JSON")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    runs = []
    for n in range(args.runs):
        run = asyncio.run(one_run(args.bids, args.inflight, args.synchronous, not args.no_keys))
        print(
            f"run {n + 1}: loop {run['loop_us_per_bid']:.2f} µs/bid,"
            f" wall {run['wall_us_per_bid']:.2f} µs/bid, CPU {run['cpu_us_per_bid']:.2f} µs/bid"
        )
        runs.append(run)
    summary: dict[str, Any] = {}
    for batch in (1, 100):
        parts = sorted(append_call_us(batch=batch) for _ in range(5))
        print(
            f"store work per bid, batches of {batch}:"
            f" {parts[2]:.2f} µs ({parts[0]:.2f}..{parts[-1]:.2f})"
        )
        summary[f"store_work_us_batch_{batch}"] = {
            "median": parts[2],
            "min": parts[0],
            "max": parts[-1],
        }
    for name in ("loop_us_per_bid", "wall_us_per_bid", "cpu_us_per_bid"):
        values = [r[name] for r in runs]
        summary[name] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
        s = summary[name]
        print(f"{name}: {s['median']:.2f} ({s['min']:.2f}..{s['max']:.2f})")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"append-{args.label or 'run'}-{stamp}.json"
    config = {k: v for k, v in vars(args).items() if k != "out_dir"}
    out.write_text(json.dumps({"config": config, "runs": runs, "summary": summary}, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
