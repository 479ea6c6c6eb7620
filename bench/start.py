"""How long a start takes, and what memory it needs, for a store with a long history.

Builds a store directly with sqlite3 (bulk inserts in one transaction, not through the server):
``--lots`` closed lots (10 sales of ``--lots / 10``) with ``--bids`` bids each, every bid
carrying a request key, all of it older than the 24 h key window, plus ``--open-lots`` open lots
with ``--open-bids`` bids each. The schema is whatever the bidwire on the path migrates to, and
each lot's state row gets its snapshot where that schema has one, so
``PYTHONPATH=<another checkout>/src`` measures other code on the same history.

Then, in a fresh process per run, opens the store and times ``AuctionHouse.load()``, reading the
process's RSS (``/proc/self/status``) before the store is opened and after the load (and its
peak); and times a whole ``bidwire serve`` on it to its "listening" line (with its RSS then),
against an empty store measured the same way. Prints medians with their ranges and
writes JSON into ``bench/results/``.

    python bench/start.py [--lots 10000 --bids 100 --open-lots 10 --runs 3 --label after]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from bidwire.domain.events import (
    BidPlaced,
    LotClosed,
    LotEvent,
    LotOpened,
    SaleEnded,
    SaleEvent,
    SaleStarted,
)
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.money import FixedIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.store import base
from bidwire.store.sqlite import connect, migrate

BENCH = Path(__file__).resolve().parent
DAY_MS = 24 * 3600 * 1000
BIDDERS = [f"bidder{i:04d}" for i in range(1_000)]
SALES = 10


def lot_events(lot_id: str, sale: str, bids: int, t0: int, close: bool) -> list[LotEvent]:
    events: list[LotEvent] = [
        LotOpened(lot_id, 1, sale, lot_id, "", "USD", 100, 100, t0 + 3_600_000, t0)
    ]
    for n in range(bids):
        amount = 100 + n
        ts = t0 + 1_000 * (n + 1)
        bidder = BIDDERS[(hash(lot_id) + n) % len(BIDDERS)]
        ends_at = t0 + 3_600_000 + n  # open lots stay open while a start is measured
        events.append(BidPlaced(lot_id, n + 2, amount, bidder, ends_at, amount + 1, ts))
    if close:
        last = events[-1]
        assert isinstance(last, BidPlaced)
        winner, amount = last.bidder, last.amount
        events.append(LotClosed(lot_id, bids + 2, "sold", winner, amount, t0 + 3_700_000, "hammer"))
    return events


def insert_sale_events(
    conn: Any, sale: SaleSpec, position: int, spec_json: str, t0: int, ended: int | None
) -> None:
    events: list[SaleEvent] = [SaleStarted(sale.id, 1, sale.title, sale.mode, [*sale.lot_ids], t0)]
    if ended is not None:
        events.append(SaleEnded(sale.id, 2, ended))
    conn.execute(
        "INSERT INTO sales (id, position, spec, seq) VALUES (?,?,?,?)",
        (sale.id, position, spec_json, len(events)),
    )
    conn.executemany(
        "INSERT INTO events (stream, lot_id, seq, type, ts, body) VALUES ('sale',?,?,?,?,?)",
        [(sale.id, e.seq, e.__struct_config__.tag, e.ts, msgspec.json.encode(e)) for e in events],
    )


def build(path: Path, lots: int, bids: int, open_lots: int, open_bids: int) -> dict[str, Any]:
    """The store, bulk-inserted; returns what it holds."""
    started = time.perf_counter()
    conn = connect(str(path), "OFF")
    migrate(conn)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(lot_state)")}
    has_snapshots = "snapshot" in columns
    sale_columns = {row[1] for row in conn.execute("PRAGMA table_info(sales)")}
    now = int(time.time() * 1000)
    conn.execute("BEGIN")
    month_ago = now - 30 * DAY_MS
    plan = [(f"s{n:02d}", lots // SALES, bids, True, month_ago) for n in range(SALES)]
    plan = [step for step in plan if step[1]]
    if open_lots:
        plan.append(("open", open_lots, open_bids, False, now - 60_000))
    rows = 0
    for position, (sale_id, count, per_lot, close, t0) in enumerate(plan, start=1):
        lot_ids = tuple(f"{sale_id}-{i:05d}" for i in range(count))
        sale = SaleSpec(sale_id, sale_id, lot_ids, mode="timed")
        ended = t0 + 4_000_000 if close else None
        spec_json = json.dumps(base.sale_spec_to_record(sale))
        if "started_at" in sale_columns:  # the schema from before sale events
            conn.execute(
                "INSERT INTO sales (id, position, spec, started_at, ended_at) VALUES (?,?,?,?,?)",
                (sale_id, position, spec_json, t0, ended),
            )
        else:
            insert_sale_events(conn, sale, position, spec_json, t0, ended)
        for index, lot_id in enumerate(lot_ids):
            spec = LotSpec(id=lot_id, title=lot_id, increment=FixedIncrement(1))
            conn.execute(
                "INSERT INTO lots (id, sale_id, position, spec) VALUES (?,?,?,?)",
                (lot_id, sale_id, index, json.dumps(base.lot_spec_to_record(spec))),
            )
            events = lot_events(lot_id, sale_id, per_lot, t0 + index, close)
            lot = Lot(spec, sale_id, "timed")
            for event in events:
                lot.apply(event)
            conn.executemany(
                "INSERT INTO events (lot_id, seq, type, ts, body, request_key)"
                " VALUES (?,?,?,?,?,?)",
                [
                    (
                        lot_id,
                        e.seq,
                        type(e).__struct_config__.tag,
                        e.ts,
                        msgspec.json.encode(e),
                        f"{e.bidder}\x00{lot_id}-{e.seq}" if isinstance(e, BidPlaced) else None,
                    )
                    for e in events
                ],
            )
            rows += len(events)
            if has_snapshots:
                snapshot = base.SNAPSHOT_ENCODER.encode(lot.snapshot())
                conn.execute(
                    "INSERT INTO lot_state (lot_id, seq, status, snapshot) VALUES (?,?,?,?)",
                    (lot_id, lot.seq, lot.status, snapshot),
                )
            else:
                conn.execute(
                    "INSERT INTO lot_state (lot_id, seq, status) VALUES (?,?,?)",
                    (lot_id, lot.seq, lot.status),
                )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {
        "events": rows,
        "snapshots": has_snapshots,
        "build_s": time.perf_counter() - started,
        "bytes": path.stat().st_size,
    }


def rss_kib() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


async def measure_load(path: str) -> dict[str, Any]:
    from bidwire.bus.memory import MemoryBus
    from bidwire.clock import SystemClock
    from bidwire.engine.house import AuctionHouse
    from bidwire.store.sqlite import SqliteStore
    from bidwire.transports.broadcast import Feed

    gc.collect()
    before = rss_kib()
    clock = SystemClock()
    opened = time.perf_counter()
    async with SqliteStore(path, synchronous="NORMAL") as store:
        bus, feed = MemoryBus(), Feed(clock)
        feed.listen(bus)
        house = AuctionHouse(store, bus, feed.published, clock)
        loading = time.perf_counter()
        await house.load()
        done = time.perf_counter()
        gc.collect()
        after = rss_kib()
        open_lots = sum(lot.status == "open" for lot in house.lots.values())
        # code from before closed lots stayed in the store holds every lot in house.lots
        lots = house.lot_count() if hasattr(house, "lot_count") else len(house.lots)
        return {
            "open_s": loading - opened,
            "load_s": done - loading,
            "rss_growth_mib": (after["VmRSS"] - before["VmRSS"]) / 1024,
            "peak_growth_mib": (after["VmHWM"] - before["VmRSS"]) / 1024,
            "lots": lots,
            "open_lots": open_lots,
            "request_keys": len(house._request_keys),
        }


def serve_start(path: Path, timeout: float = 120.0) -> dict[str, Any]:
    """A whole ``bidwire serve`` on the store: seconds to its "listening" line and its RSS
    then; stopped by its PID (SIGTERM, then SIGKILL) whatever happens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    cmd = [
        str(Path(sys.executable).parent / "bidwire"),
        "serve",
        "--tcp-port=0",
        "--http-port=0",
        "--no-demo",
        f"--store=sqlite:///{path}",
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        timer = threading.Timer(timeout, proc.kill)  # a start that never listens is a failure
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                if "listening:" in line:
                    break
        finally:
            timer.cancel()
        ready = time.perf_counter() - started
        if not lines or "listening:" not in lines[-1]:
            raise RuntimeError("bidwire serve did not start: " + "".join(lines[-5:]))
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        kib = {
            n: int(v.split()[0])
            for n, _, v in (x.partition(":") for x in status)
            if n in ("VmRSS", "VmHWM")
        }
        return {
            "serve_s": ready,
            "serve_rss_mib": kib["VmRSS"] / 1024,
            "serve_peak_mib": kib["VmHWM"] / 1024,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_child(path: Path) -> dict[str, Any]:
    """One measurement in a fresh interpreter, so each starts from the same memory."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(serve_start(path))
    return result


def med(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def cell(stats: dict[str, float], fmt: str) -> str:
    return f"{fmt.format(stats['median'])} ({fmt.format(stats['min'])}..{fmt.format(stats['max'])})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--bids", type=int, default=100)
    parser.add_argument("--open-lots", type=int, default=10)
    parser.add_argument("--open-bids", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--label", default="", help="a name for this code in the JSON")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(asyncio.run(measure_load(args.measure))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        empty, full = Path(tmp) / "empty.db", Path(tmp) / "full.db"
        build(empty, 0, 0, 0, 0)
        built = build(full, args.lots, args.bids, args.open_lots, args.open_bids)
        print(
            f"built {built['events']:,} events over {args.lots:,} closed and {args.open_lots}"
            f" open lots in {built['build_s']:.1f} s ({built['bytes'] / 2**20:.0f} MiB,"
            f" snapshots: {built['snapshots']})"
        )
        results: dict[str, list[dict[str, Any]]] = {"empty": [], "full": []}
        for n in range(args.runs):  # alternate, so both see the same noise
            for name, path in (("empty", empty), ("full", full)):
                run = run_child(path)
                results[name].append(run)
                print(
                    f"run {n + 1} {name}: load {run['load_s']:.3f} s,"
                    f" RSS +{run['rss_growth_mib']:.1f} MiB"
                    f" (peak +{run['peak_growth_mib']:.1f}), {run['lots']:,} lots,"
                    f" {run['request_keys']} request keys; serve listening after"
                    f" {run['serve_s']:.2f} s, RSS {run['serve_rss_mib']:.0f} MiB"
                )
    summary = {
        name: {
            key: med([r[key] for r in runs])
            for key in (
                "open_s",
                "load_s",
                "rss_growth_mib",
                "peak_growth_mib",
                "serve_s",
                "serve_rss_mib",
                "serve_peak_mib",
            )
        }
        for name, runs in results.items()
    }
    print(
        "| store | load s | RSS growth MiB | peak growth MiB | serve to listening s"
        " | serve RSS MiB | serve peak MiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, stats in summary.items():
        print(
            f"| {name} | {cell(stats['load_s'], '{:.3f}')}"
            f" | {cell(stats['rss_growth_mib'], '{:.1f}')}"
            f" | {cell(stats['peak_growth_mib'], '{:.1f}')}"
            f" | {cell(stats['serve_s'], '{:.2f}')}"
            f" | {cell(stats['serve_rss_mib'], '{:.0f}')}"
            f" | {cell(stats['serve_peak_mib'], '{:.0f}')} |"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"start-{args.label or 'run'}-{args.lots}l-{stamp}.json"
    config = {k: v for k, v in vars(args).items() if k not in ("out_dir", "measure")}
    doc = {"config": config, "built": built, "runs": results, "summary": summary}
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
