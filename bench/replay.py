"""What a replay costs: a sale of 10,000 bids over 100 lots replayed whole, and one lot of it.

Builds a store as ``start.py`` does (``--lots`` closed lots in 10 ended sales, ``--bids`` bids
each: by default 100 lots of 100 bids a sale), then, in a fresh process per run, starts a
house on it and times ``GET /api/sales/{id}/replay``'s work (``Replays.sale`` every page at
``--limit``, with its JSON encoding) and ``GET /api/lots/{id}/replay``'s (``Replays.lot``),
``--repeat`` times each. Prints medians with ranges and writes JSON into ``bench/results/``.

    python bench/replay.py [--lots 1000 --bids 100 --runs 3 --label after]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import start  # noqa: E402  (bench/ is not a package: the builder is start.py's)


async def measure(path: str, repeat: int, limit: int) -> dict[str, Any]:
    import msgspec

    from bidwire.bus.memory import MemoryBus
    from bidwire.clock import SystemClock
    from bidwire.engine.house import AuctionHouse
    from bidwire.engine.queries import Queries
    from bidwire.engine.replay import Replays
    from bidwire.store.sqlite import SqliteStore
    from bidwire.transports.broadcast import Feed

    clock = SystemClock()
    async with SqliteStore(path, synchronous="NORMAL") as store:
        bus, feed = MemoryBus(), Feed(clock)
        feed.listen(bus)
        house = AuctionHouse(store, bus, feed.published, clock)
        await house.load()
        replays = Replays(Queries(house))
        sales = list(house.sales.values())
        out: dict[str, Any] = {}
        sale_times, lot_times, events, pages, size = [], [], 0, 0, 0
        for n in range(repeat):
            sale = sales[n % len(sales)].id
            started = time.perf_counter()
            after: str | None = None
            events = pages = size = 0
            while True:
                page = await replays.sale(sale, after, limit)
                size += len(msgspec.json.encode(page))
                events += sum(len(lot.events) for lot in page.lots)
                pages += 1
                after = page.next_after
                if after is None:
                    break
            sale_times.append(time.perf_counter() - started)
            lot_id = sales[n % len(sales)].spec.lot_ids[n % 7]
            started = time.perf_counter()
            body = msgspec.json.encode(await replays.lot(lot_id, 0, limit))
            lot_times.append(time.perf_counter() - started)
        out["sale_replay_ms"] = statistics.median(sale_times) * 1000
        out["lot_replay_ms"] = statistics.median(lot_times) * 1000
        out["sale_events"] = events
        out["sale_pages"] = pages
        out["sale_bytes"] = size
        out["lot_bytes"] = len(body)
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=1_000, help="closed lots in 10 sales")
    parser.add_argument("--bids", type=int, default=100, help="bids per lot")
    parser.add_argument("--limit", type=int, default=5_000, help="events per replay page")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--label", default="", help="a name for this code in the JSON")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        result = asyncio.run(measure(args.measure, args.repeat, args.limit))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.db"
        started = time.perf_counter()
        built = start.build(path, args.lots, args.bids, 0, 0)
        built["build_s"] = time.perf_counter() - started
        runs = []
        for n in range(args.runs):
            child = [sys.executable, __file__, "--measure", str(path)]
            child += [f"--repeat={args.repeat}", f"--limit={args.limit}"]
            done = subprocess.run(child, capture_output=True, text=True, timeout=600, check=True)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(
                f"run {n + 1}: a sale's replay {run['sale_replay_ms']:.0f} ms"
                f" ({run['sale_events']:,} events, {run['sale_pages']} pages,"
                f" {run['sale_bytes']:,} bytes), a lot's {run['lot_replay_ms']:.1f} ms"
            )
    summary = {
        key: {
            "median": statistics.median(r[key] for r in runs),
            "min": min(r[key] for r in runs),
            "max": max(r[key] for r in runs),
        }
        for key in ("sale_replay_ms", "lot_replay_ms")
    }
    for key, stats in summary.items():
        print(f"{key}: median {stats['median']:.1f} (range {stats['min']:.1f}-{stats['max']:.1f})")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"replay-{args.label or 'run'}-{args.lots}l-{args.bids}b-{stamp}.json"
    config = {k: str(v) for k, v in vars(args).items() if k not in ("out_dir", "measure")}
    out.write_text(
        json.dumps({"config": config, "built": built, "runs": runs, "summary": summary}, indent=2)
    )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
