"""The redis:// bus between two nodes: events per second through Redis, and the latency from
``publish`` on one bus to the handler of the other.

Two buses on one Redis (the machine's, a channel of the run's own) stand for two nodes. Both
run in this one process and event loop, so each figure includes the other bus's work: the rate
is what one core does sending and hearing at once, a bound below two nodes on two cores.

- throughput: ``--events`` bid events published in bursts of ``--burst`` (the loop gets a turn
  between bursts, as between a server's commits), until the other bus has heard them all;
- latency: ``--rate`` events a second for ``--seconds``, each one's publish-to-heard time;
- the once-a-second check (``engine/resync.py``): one round over ``--check-lots`` open lots of a
  SQLite store with nothing missing, what each node pays every second to catch a lost last event.

Bounded: each phase stops at ``--timeout`` seconds whatever happens.

    python bench/redis_bus.py [--redis redis://127.0.0.1:6379/0 --events 100000 --rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bidwire.bus import Message, open_bus
from bidwire.bus.redis import RedisBus
from bidwire.domain.events import BidPlaced, LotOpened
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.resync import Resync
from bidwire.engine.views import Views
from bidwire.store.sqlite import SqliteStore

BENCH = Path(__file__).resolve().parent


def _bid(seq: int) -> BidPlaced:
    return BidPlaced("w", seq, 100 * seq, f"bidder{seq % 7}", 10**12, 100 * seq + 10, seq)


async def throughput(url: str, events: int, burst: int, timeout: float) -> dict[str, Any]:
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(one, RedisBus) and isinstance(two, RedisBus)
        heard = 0
        done = asyncio.Event()

        def hear(message: Message) -> None:
            nonlocal heard
            heard += 1
            if heard == events:
                done.set()

        two.subscribe(hear)
        cpu, started = time.process_time(), time.perf_counter()
        one.publish(LotOpened("w", 1, "s", "W", "", "USD", 100, 100, 10**12, 0))
        for first in range(2, events + 1, burst):
            for seq in range(first, min(first + burst, events + 1)):
                one.publish(_bid(seq))
            await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):  # bounded: what was heard by then is counted
            await asyncio.wait_for(done.wait(), timeout)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        return {
            "events": events,
            "heard": heard,
            "seconds": wall,
            "events_per_second": heard / wall,
            "cpu_us_per_event": cpu / max(heard, 1) * 1e6,
            "frames": one.frames_sent,
            "events_per_frame": one.sent / max(one.frames_sent, 1),
            "dropped": one.dropped,
        }


async def latency(url: str, rate: int, seconds: float, timeout: float) -> dict[str, Any]:
    total = max(2, round(rate * seconds))
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(one, RedisBus)
        sent_at: dict[int, float] = {}
        took: list[float] = []
        done = asyncio.Event()

        def hear(message: Message) -> None:
            at = sent_at.pop(message.seq, None)
            if at is not None:
                took.append(time.perf_counter() - at)
            if message.seq == total:
                done.set()

        two.subscribe(hear)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for seq in range(1, total + 1):
            due = start + (seq - 1) / rate
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            sent_at[seq] = time.perf_counter()
            if seq == 1:
                one.publish(LotOpened("w", 1, "s", "W", "", "USD", 100, 100, 10**12, 0))
            else:
                one.publish(_bid(seq))
        with contextlib.suppress(TimeoutError):  # bounded: what was heard by then is counted
            await asyncio.wait_for(done.wait(), timeout)
        took.sort()
        ms = [t * 1000 for t in took]
        return {
            "rate": rate,
            "events": total,
            "heard": len(ms),
            "median_ms": statistics.median(ms) if ms else None,
            "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None,
            "max_ms": ms[-1] if ms else None,
            "frames": one.frames_sent,
        }


async def check_round(lots: int, rounds: int = 5) -> dict[str, Any]:
    """CPU and wall time of a Resync round over ``lots`` open lots, nothing to reload."""
    ids = [f"l{n}" for n in range(lots)]
    sale = SaleSpec("s", "S", tuple(ids), mode="timed")
    specs = [LotSpec(i, i) for i in ids]
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteStore(f"{tmp}/check.db", synchronous="OFF") as store:
            await store.add_sale(sale, specs)
            views = Views()
            views.track_sale(sale)
            for spec in specs:
                event = LotOpened(spec.id, 1, "s", spec.title, "", "USD", 100, 100, 10**12, 0)
                await store.append([event])
                lot = Lot(spec, "s", "timed")
                lot.apply(event)
                views.track(lot)
            resync = Resync(store, views, views.accept, max_lots=lots)
            walls, cpus = [], []
            for _ in range(rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                found = await resync.check()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                assert found == 0, f"{found} reloaded from a store with nothing missing"
    return {
        "lots": lots,
        "round_ms": statistics.median(walls) * 1000,
        "round_cpu_ms": statistics.median(cpus) * 1000,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--check-lots", type=int, default=500)
    parser.add_argument("--label", default="")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    sep = "&" if "?" in args.redis else "?"
    runs: list[dict[str, Any]] = []
    for n in range(args.runs):
        url = f"{args.redis}{sep}channel=bidwire-bench-{secrets.token_hex(4)}"
        put = asyncio.run(throughput(url, args.events, args.burst, args.timeout))
        lat = asyncio.run(latency(url, args.rate, args.seconds, args.timeout))
        print(
            f"run {n + 1}: {put['events_per_second']:,.0f} events/s"
            f" ({put['heard']}/{put['events']} heard, {put['events_per_frame']:.0f} a frame,"
            f" {put['cpu_us_per_event']:.1f} µs CPU each);"
            f" at {args.rate}/s: median {lat['median_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms,"
            f" max {lat['max_ms']:.2f} ms ({lat['heard']}/{lat['events']} heard)"
        )
        runs.append({"throughput": put, "latency": lat})
    check = asyncio.run(check_round(args.check_lots))
    summary = {
        "events_per_second": statistics.median(r["throughput"]["events_per_second"] for r in runs),
        "median_ms": statistics.median(r["latency"]["median_ms"] for r in runs),
        "p99_ms": statistics.median(r["latency"]["p99_ms"] for r in runs),
        "check": check,
    }
    print(
        f"median of {args.runs}: {summary['events_per_second']:,.0f} events/s;"
        f" latency median {summary['median_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms;"
        f" a check of {check['lots']} open lots on SQLite: {check['round_ms']:.1f} ms"
        f" ({check['round_cpu_ms']:.1f} ms CPU)"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"redis-bus-{args.label or 'run'}-{stamp}.json"
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    config.pop("out_dir")
    result = {"config": config, "runs": runs, "summary": summary}
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
