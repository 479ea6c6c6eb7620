"""bench/pages.py's pages on a PostgreSQL store (issue 14): the same routes, asked the same way,
of ``bidwire serve --store postgresql://...`` on a store built like bench/bigstore.py's.

bigstore.py writes a SQLite store (seeded, so the same as the SQLite run's); its catalog, lot
states and log are copied whole into a new schema of the PostgreSQL server at ``--server``
(COPY, after the store's own migration made the tables), then ANALYZE, then the store's own
``keep_missing_facts`` counts and keeps every closed lot's report facts (``keep_s``), as a
node does at each close. The schema (``bw_bench_`` and random hex) is dropped at the end.

    python bench/pg_pages.py [--bids 100000 --lots 1000 --sales 10] [--runs 1 --repeat 3]

Prints the pages' medians as bench/pages.py does and writes JSON into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bigstore
import pages

SERVER = os.environ.get("BIDWIRE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = {
    "sales": ("id", "position", "spec", "seq"),
    "lots": ("id", "sale_id", "position", "spec"),
    "lot_state": ("lot_id", "seq", "status", "snapshot"),
    "events": ("stream", "lot_id", "seq", "type", "ts", "body", "request_key"),
}
"""What is copied: the catalog, the lots' states and the log (the report facts are counted
again by the PostgreSQL store itself)."""


async def copy_in(sqlite_path: Path, url: str) -> dict[str, float]:
    """Make the store's tables at ``url`` (its own migration), copy bigstore's rows into them,
    ANALYZE, and keep the closed lots' facts through the store; how long each step took."""
    import asyncpg

    from bidwire.store import open_store
    from bidwire.store.postgres import PostgresOptions

    async with open_store(url):
        pass
    options = PostgresOptions.from_url(url)
    conn = await asyncpg.connect(options.dsn, server_settings={"search_path": options.schema or ""})
    source = sqlite3.connect(sqlite_path)
    took: dict[str, float] = {}
    try:
        started = time.perf_counter()
        for table, columns in TABLES.items():
            rows = source.execute(f"SELECT {', '.join(columns)} FROM {table}")
            await conn.copy_records_to_table(table, records=_records(rows), columns=columns)
        took["copy_s"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("ANALYZE")
        took["analyze_s"] = time.perf_counter() - started
    finally:
        source.close()
        await conn.close()
    started = time.perf_counter()
    async with open_store(url) as store:
        took["kept_lots"] = await store.keep_missing_facts()
    took["keep_s"] = time.perf_counter() - started
    return took


def _records(rows: Any) -> Any:
    for row in rows:
        yield tuple(
            bytes(value) if isinstance(value, bytes | memoryview) else value for value in row
        )


async def drop(url: str) -> None:
    import asyncpg

    from bidwire.store.postgres import PostgresOptions

    options = PostgresOptions.from_url(url)
    assert options.schema is not None and options.schema.startswith("bw_bench_")
    conn = await asyncpg.connect(options.dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{options.schema}" CASCADE')
    finally:
        await conn.close()


def make_bidder(url: str, name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_NEW_PASSWORD"] = pages.PASSWORD
    command = [sys.executable, "-m", "bidwire", "admin", "create-user", name, "--store", url]
    made = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if made.returncode != 0 and "taken" not in made.stderr + made.stdout:
        raise RuntimeError(f"cannot create {name}: {made.stderr or made.stdout}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bids", type=int, default=100_000)
    parser.add_argument("--lots", type=int, default=1_000)
    parser.add_argument("--sales", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1, help="server starts")
    parser.add_argument("--repeat", type=int, default=3, help="asks per page after the first")
    parser.add_argument("--server", default=SERVER, help="a PostgreSQL server's URL")
    parser.add_argument("--label", default="postgres")
    parser.add_argument("--out-dir", type=Path, default=pages.BENCH / "results")
    args = parser.parse_args(argv)
    schema = f"bw_bench_{secrets.token_hex(6)}"
    url = args.server + ("&" if "?" in args.server else "?") + f"schema={schema}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            path = workdir / "big.db"
            built = bigstore.build(path, bids=args.bids, lots=args.lots, sales=args.sales)
            print(f"built {built.bids:,} bids over {built.lots:,} lots in {built.build_s:.1f} s")
            took = asyncio.run(copy_in(path, url))
            print("into PostgreSQL: " + ", ".join(f"{k} {v:.2f}" for k, v in took.items()))
            make_bidder(url, built.busiest_bidder)
            runs = [_one_run(url, path, built, args.repeat, workdir) for _ in range(args.runs)]
    finally:
        asyncio.run(drop(url))
    summary = pages.summarise(runs)
    print(pages.show(summary))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"pages-{args.label}-{built.bids}b-{stamp}.json"
    config = {"runs": args.runs, "repeat": args.repeat, "store": "postgresql", "label": args.label}
    doc = {"config": config, "built": built.summary(), "postgres": took, "runs": runs}
    doc["summary"] = summary
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return doc


def _one_run(
    url: str, path: Path, built: bigstore.Built, repeat: int, workdir: Path
) -> dict[str, Any]:
    """pages.one_run with the server on ``url``: pages.Server builds its command from a
    SQLite path, so the command's ``--store`` is swapped for the URL while it starts."""
    popen = subprocess.Popen

    def on_postgres(command: list[str], *rest: Any, **options: Any) -> Any:
        if "--store" in command:
            command = list(command)
            command[command.index("--store") + 1] = url
        return popen(command, *rest, **options)

    pages.subprocess.Popen = on_postgres  # type: ignore[assignment]
    try:
        return pages.one_run(path, built, repeat, workdir)
    finally:
        pages.subprocess.Popen = popen  # type: ignore[assignment]


if __name__ == "__main__":
    main()
