"""What /metrics costs the bid path: the counting it added, per bid, in two ways.

1. ``added``: the statements the metrics put on an accepted bid's way, timed alone (a clock read
   at append, a clock read and ``Histogram.observe`` at commit, a flag test when the feed hears
   the event, and a flush's clock read and one ``observe_many`` shared by its events, here 16),
   minus an empty loop.
2. ``scrape``: what one /metrics costs the loop, with 0, 1,000 and 10,000 connections.
3. ``path``: the whole bid path without sockets, ``AuctionHouse.offer_bid`` on a memory store
   (no writer thread, so the loop's own work is most of what is measured) with a feed and a
   watcher, in rounds of ``--inflight`` bids: process CPU µs per bid, the least of three runs
   in one interpreter. Run it in this checkout
   and, with ``--compare DIR`` (a checkout from before the metrics: ``git archive aa1d59f``),
   in that one too, alternated, so the difference is the metrics' cost on the same machine.

    python bench/metrics_cost.py [--bids 40000 --inflight 500 --pairs 5 --compare /tmp/base]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
HERE = BENCH.parent


def added_ns(count: int = 1_000_000) -> dict[str, float]:
    """ns per bid of each statement the metrics added, an empty loop's time taken off."""
    from bidwire.clock import work_timer
    from bidwire.metrics import COMMIT_BUCKETS, FANOUT_BUCKETS, Histogram

    commit = Histogram(COMMIT_BUCKETS)
    fanout = Histogram(FANOUT_BUCKETS)
    scheduled = True  # a flush is already scheduled for every event heard but a flush's first
    batch = 16  # events per flush at load (the pacer gathers more, which only lowers this)

    def timed(body: Any) -> float:
        start = time.perf_counter()
        body()
        return (time.perf_counter() - start) / count * 1e9

    def empty() -> None:
        for _ in range(count):
            pass

    def clock_at_append() -> None:
        for _ in range(count):
            began = work_timer()
        del began

    def observe_at_commit() -> None:
        began = work_timer()
        for _ in range(count):
            commit.observe(work_timer() - began)

    def flag_when_heard() -> None:
        oldest = 0.0
        for _ in range(count):
            if not scheduled:
                oldest = work_timer()
        del oldest

    def flush_share() -> None:
        # once per flush: the first event's clock read, and one observation for all
        for _ in range(count // batch):
            oldest = work_timer()
            fanout.observe_many(work_timer() - oldest, batch)

    base = min(timed(empty) for _ in range(3))
    parts = {
        "clock_at_append": clock_at_append,
        "observe_at_commit": observe_at_commit,
        "flag_when_heard": flag_when_heard,
    }
    out = {name: min(timed(fn) for _ in range(3)) - base for name, fn in parts.items()}
    out["flush_share"] = min(timed(flush_share) for _ in range(3))  # already per bid
    out["total"] = sum(out.values())
    return out


async def _path_run(bids: int, inflight: int) -> float:
    """Process CPU µs per accepted bid on a memory store with one watcher."""
    from bidwire.bus.memory import MemoryBus
    from bidwire.clock import FakeClock
    from bidwire.domain.commands import Accepted, Actor, PlaceBid
    from bidwire.domain.lot import LotSpec
    from bidwire.domain.money import FixedIncrement
    from bidwire.domain.sale import SaleSpec
    from bidwire.engine.house import AuctionHouse
    from bidwire.store.memory import MemoryStore
    from bidwire.transports.broadcast import Feed

    class Watcher:
        wants_text = False

        def deliver(self, batch: Any) -> None:
            pass

        def notice(self, line: bytes) -> None:
            pass

    clock = FakeClock()
    store = MemoryStore()
    bus, feed = MemoryBus(), Feed(clock)
    feed.listen(bus)
    house = AuctionHouse(store, bus, feed.published, clock)
    await house.load()
    lot = LotSpec(id="a", title="A", increment=FixedIncrement(1), opening_ms=10**9)
    await house.add_sale(SaleSpec("s", "S", ("a",), mode="timed"), [lot])
    house.start()
    await asyncio.gather(*house._tasks)
    feed.subscribe_house(Watcher())
    actors = [Actor(f"bidder{i}") for i in range(2)]
    amount = 100
    cpu = time.process_time()
    for first in range(0, bids, inflight):
        left = min(inflight, bids - first)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        count = [left]

        def answer(result: object, count: list[int] = count, done: Any = done) -> None:
            assert isinstance(result, Accepted), result
            count[0] -= 1
            if count[0] == 0:
                done.set_result(None)

        for i in range(first, first + left):
            house.offer_bid(PlaceBid(actors[i % 2], "a", amount), answer)
            amount += 1
        await done
        await feed.flushed()
    cpu = time.process_time() - cpu
    await house.stop()
    assert house.accepted_bids == bids
    return cpu / bids * 1e6


async def scrape_ms(sessions: int, scrapes: int = 20) -> float:
    """ms one /metrics exposition takes on the loop with ``sessions`` connections open (the
    collector walks them for the connection counts and the slowest queue)."""
    from prometheus_client import generate_latest

    from bidwire.bus.memory import MemoryBus
    from bidwire.clock import FakeClock
    from bidwire.engine.gate import Gate
    from bidwire.engine.house import AuctionHouse
    from bidwire.node import registry_for
    from bidwire.store.memory import MemoryStore
    from bidwire.transports.broadcast import Feed
    from bidwire.transports.session import SessionContext

    class Outlet:
        transport_kind = "tcp"
        queued_bytes = 0

    class Connection:
        outlet = Outlet()
        stale = False

    clock = FakeClock()
    bus, feed = MemoryBus(), Feed(clock)
    house = AuctionHouse(MemoryStore(), bus, feed.published, clock)
    ctx = SessionContext(house, feed, clock, Gate(clock))
    ctx.sessions.update(Connection() for _ in range(sessions))  # only what the collector reads
    registry = registry_for(ctx)
    started = time.perf_counter()
    for _ in range(scrapes):
        generate_latest(registry)
    return (time.perf_counter() - started) / scrapes * 1e3


def path_in(checkout: Path, bids: int, inflight: int) -> float:
    """One ``path`` run in a fresh interpreter on ``checkout``'s sources."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    done = subprocess.run(
        [sys.executable, __file__, "--one-path", str(bids), str(inflight)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=40_000)
    parser.add_argument("--inflight", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="a checkout from before the metrics")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--one-path", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_path:
        # the least of three runs in one interpreter: a run another process slowed is not it
        print(min(asyncio.run(_path_run(*args.one_path)) for _ in range(3)))
        return

    added = added_ns()
    for name, ns in added.items():
        print(f"added: {name:18} {ns:6.1f} ns/bid")
    result: dict[str, Any] = {"added_ns_per_bid": added, "scrape_ms": {}}
    for sessions in (0, 1_000, 10_000):
        took = asyncio.run(scrape_ms(sessions))
        result["scrape_ms"][str(sessions)] = took
        print(f"scrape: {took:.2f} ms with {sessions} connections")
    if args.compare is not None:
        ours, theirs = [], []
        for n in range(args.pairs):  # alternated: the machine's drift falls on both
            theirs.append(path_in(args.compare, args.bids, args.inflight))
            ours.append(path_in(HERE, args.bids, args.inflight))
            print(f"pair {n + 1}: before {theirs[-1]:.2f} µs/bid, with metrics {ours[-1]:.2f}")
        deltas = [a - b for a, b in zip(ours, theirs, strict=True)]
        result["path_cpu_us_per_bid"] = {
            "before": theirs,
            "with_metrics": ours,
            "median_before": statistics.median(theirs),
            "median_with_metrics": statistics.median(ours),
            "median_pair_delta": statistics.median(deltas),
            "min_before": min(theirs),
            "min_with_metrics": min(ours),
        }
        print(
            f"path: before {statistics.median(theirs):.2f}, with metrics"
            f" {statistics.median(ours):.2f} µs/bid (median); median pair difference"
            f" {statistics.median(deltas) * 1000:+.0f} ns/bid; least of each"
            f" {min(theirs):.2f} and {min(ours):.2f}:"
            f" {(min(ours) - min(theirs)) * 1000:+.0f} ns/bid"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"metrics-cost-{stamp}.json"
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    out.write_text(json.dumps({"config": config, **result}, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
