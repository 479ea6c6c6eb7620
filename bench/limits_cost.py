"""What the shared limits cost (issue 14, point 6): the gate's bid check and a guest's hello,
on memory:// (one node) and redis:// (several), without sockets of our own.

For the bid check, ``--bids`` bids from ``--users`` users go through ``Gate.bid`` in batches of
``--batch`` per loop turn (what one read of a busy connection hands the gate), with the
loop's turns between them, so the shared bucket's write-behind runs as it does in a server.
Two figures per scheme: the bid path itself (the synchronous call, which a bid waits for) and
everything the process spends per bid (CPU, the background writes to Redis included), with the
round trips to Redis per bid. For a hello: ``--guests`` guests named one after another (the
claim is one round trip on redis://). Each case runs ``--runs`` times, alternating schemes;
medians with ranges. Redis keys go under a random prefix, deleted at the end.

    python bench/limits_cost.py [--redis redis://127.0.0.1:6379/0 --bids 50000 --runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bidwire.clock import SystemClock
from bidwire.domain.commands import Actor
from bidwire.engine.gate import Gate
from bidwire.limits.base import Limits
from bidwire.limits.memory import MemoryLimits

RESULTS = Path(__file__).resolve().parent / "results"
MAX_SECONDS = 60.0
"""The whole run stops starting cases past this (a benchmark here is bounded)."""


async def bid_case(limits: Limits, bids: int, users: int, batch: int) -> dict[str, float]:
    clock = SystemClock()
    # a rate no user reaches: every bid is checked and passes, as in a busy honest sale
    gate = Gate(clock, bid_limiter=limits.bid_rate(1e9, 10**9), limits=limits)
    actors = [Actor(f"user-{i}", "bidder") for i in range(users)]
    rate = gate.bid_limiter
    trips_before = getattr(rate, "round_trips", 0)
    path = 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = 0
    while done < bids:
        t0 = time.perf_counter()
        for i in range(done, min(done + batch, bids)):
            gate.bid(actors[i % users], "lot", 100 + i)
        path += time.perf_counter() - t0
        done += batch
        await asyncio.sleep(0)  # the loop turns: the write-behind goes out
    await limits.settled()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    trips = getattr(rate, "round_trips", 0) - trips_before
    return {
        "path_us": path / bids * 1e6,
        "cpu_us": cpu / bids * 1e6,
        "wall_us": wall / bids * 1e6,
        "trips_per_bid": trips / bids,
    }


async def hello_case(limits: Limits, guests: int) -> dict[str, float]:
    gate = Gate(SystemClock(), limits=limits)
    t0 = time.perf_counter()
    for i in range(guests):
        await gate.guest(f"g{secrets.token_hex(3)}{i}", f"conn-{i}")
    elapsed = time.perf_counter() - t0
    for i in range(guests):
        gate.leave(f"conn-{i}")
    await limits.settled()
    return {"hello_us": elapsed / guests * 1e6}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--bids", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--guests", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    summary = await run(args)
    print(f"{'':22} {'memory://':>26} {'redis://':>26}")
    for name, label in FIGURES.items():
        cells = []
        for scheme in ("memory", "redis"):
            f = summary[scheme].get(name)
            cells.append(f"{f['median']:.3g} ({f['min']:.3g}..{f['max']:.3g})" if f else "-")
        print(f"{label:22} {cells[0]:>26} {cells[1]:>26}")


FIGURES = {
    "path_us": "bid path, µs/bid",
    "cpu_us": "process CPU, µs/bid",
    "wall_us": "wall, µs/bid",
    "trips_per_bid": "Redis round trips/bid",
    "hello_us": "guest hello, µs",
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from bidwire.limits.redis import RedisLimits

    prefix = f"bidwire-bench-{secrets.token_hex(6)}:"
    client = aioredis.from_url(args.redis, socket_timeout=5, socket_connect_timeout=5)
    redis_limits = RedisLimits(client, prefix)
    samples: dict[str, list[dict[str, float]]] = {"memory": [], "redis": []}
    started = time.perf_counter()
    try:
        for _ in range(args.runs):
            for scheme in ("memory", "redis"):
                if time.perf_counter() - started > MAX_SECONDS:
                    break
                limits: Limits = MemoryLimits() if scheme == "memory" else redis_limits
                figures = await bid_case(limits, args.bids, args.users, args.batch)
                figures.update(await hello_case(limits, args.guests))
                samples[scheme].append(figures)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await redis_limits.close()
    summary: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
    }
    for scheme, runs in samples.items():
        summary[scheme] = {
            name: {
                "median": statistics.median(run[name] for run in runs),
                "min": min(run[name] for run in runs),
                "max": max(run[name] for run in runs),
            }
            for name in (runs[0] if runs else {})
        }
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        (RESULTS / f"limits-cost-{stamp}.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    asyncio.run(main())
