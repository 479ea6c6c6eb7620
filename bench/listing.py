"""What reading closed lots costs: the listings and a closed lot's snapshot, on a long history.

Builds a store as ``start.py`` does (``--lots`` closed lots in 10 ended sales, ``--bids`` bids
each, plus ``--open-lots`` open ones), then, in a fresh process per run, starts a house on it
and times ``Queries.sales()`` and ``Queries.lots()`` with their JSON encoding (the body of
``GET /api/sales`` and ``/api/lots``), ``--repeat`` times each, and ``--snapshots`` snapshots of
different closed lots, each read once. ``PYTHONPATH=<another checkout>/src`` measures other
code on the same store, as with ``start.py``. Prints medians and writes JSON into
``bench/results/``.

    python bench/listing.py [--lots 10000 --bids 25 --runs 3 --label after]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
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


async def measure(path: str, repeat: int, snapshots: int) -> dict[str, Any]:
    import msgspec

    from bidwire.bus.memory import MemoryBus
    from bidwire.clock import SystemClock
    from bidwire.engine.house import AuctionHouse
    from bidwire.engine.queries import Queries
    from bidwire.store.sqlite import SqliteStore
    from bidwire.transports.broadcast import Feed
    from bidwire.transports.http.edge import GZIP_LEVEL

    async def answer(page: Any) -> Any:
        # coroutines since closed lots are read from the store; plain calls before
        return await page if asyncio.iscoroutine(page) else page

    clock = SystemClock()
    async with SqliteStore(path, synchronous="NORMAL") as store:
        bus, feed = MemoryBus(), Feed(clock)
        feed.listen(bus)
        house = AuctionHouse(store, bus, feed.published, clock)
        await house.load()
        queries = Queries(house)
        out: dict[str, Any] = {}
        for name in ("sales", "lots"):
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                page = await answer(getattr(queries, name)())
                body = msgspec.json.encode(page)
                times.append(time.perf_counter() - started)
            out[f"{name}_s"] = statistics.median(times)
            out[f"{name}_bytes"] = len(body)
            # what GET sends a client that takes gzip (transports/http/edge.py, in a thread)
            started = time.perf_counter()
            packed = gzip.compress(body, GZIP_LEVEL, mtime=0)
            out[f"{name}_gzip_s"] = time.perf_counter() - started
            out[f"{name}_gzip_bytes"] = len(packed)
        out["lots_listed"] = len(page.lots)
        sale = next(iter(house.sales.values()))
        closed = list(sale.spec.lot_ids[:snapshots])
        started = time.perf_counter()
        for lot_id in closed:
            snapshot = await answer(queries.snapshot(lot_id))
            assert snapshot.state == "closed"
        out["closed_snapshot_ms"] = (time.perf_counter() - started) * 1000 / len(closed)
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--bids", type=int, default=25)
    parser.add_argument("--open-lots", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--snapshots", type=int, default=200)
    parser.add_argument("--label", default="", help="a name for this code in the JSON")
    parser.add_argument("--store", type=Path, help="an existing store to read, not built")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure, args.repeat, args.snapshots))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "full.db"
        built = None
        if args.store is None:
            built = start.build(path, args.lots, args.bids, args.open_lots, 5)
        runs = []
        for n in range(args.runs):
            child = [sys.executable, __file__, "--measure", str(path)]
            child += [f"--repeat={args.repeat}", f"--snapshots={args.snapshots}"]
            done = subprocess.run(child, capture_output=True, text=True, timeout=600, check=True)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(
                f"run {n + 1}: sales {run['sales_s'] * 1000:.0f} ms, lots"
                f" {run['lots_s'] * 1000:.0f} ms ({run['sales_bytes']:,} bytes, gzipped"
                f" {run['sales_gzip_bytes']:,} in {run['sales_gzip_s'] * 1000:.0f} ms), a closed"
                f" lot's snapshot {run['closed_snapshot_ms']:.3f} ms"
            )
    summary = {
        key: {
            "median": statistics.median(r[key] for r in runs),
            "min": min(r[key] for r in runs),
            "max": max(r[key] for r in runs),
        }
        for key in ("sales_s", "lots_s", "sales_gzip_s", "sales_gzip_bytes", "closed_snapshot_ms")
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"listing-{args.label or 'run'}-{args.lots}l-{stamp}.json"
    config = {k: str(v) for k, v in vars(args).items() if k not in ("out_dir", "measure")}
    out.write_text(
        json.dumps({"config": config, "built": built, "runs": runs, "summary": summary}, indent=2)
    )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
