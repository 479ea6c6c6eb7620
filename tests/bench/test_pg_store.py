"""bench/pg_store.py, small: every offered bid commits, in batches, in its own schema that is
dropped after. No timing is asserted here; speed is what the benchmark prints."""

from __future__ import annotations

import asyncpg
import pytest

from tests.bench.test_loadgen import load
from tests.store.pg import SERVER, skip_or_fail, why_not

pg_store = load("pg_store")


@pytest.fixture
async def dsn() -> str:
    reason = await why_not(SERVER)
    if reason is not None:
        skip_or_fail(reason)
    return SERVER


async def bench_schemas(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bw\\_bench\\_%'"
        )
    finally:
        await conn.close()
    return {str(r[0]) for r in rows}


@pytest.mark.timeout(60)
async def test_a_window_and_a_rate_commit_every_bid_in_batches(dsn: str) -> None:
    before = await bench_schemas(dsn)
    run = await pg_store.store_run(dsn, 300, 32, 20.0, True)
    assert run["bids"] == 300 and run["appends_per_commit"] > 1
    paced = await pg_store.store_run(dsn, 300, 0, 20.0, False, rate=3000.0)
    assert paced["bids"] == 300 and paced["commit_p99_ms"] >= paced["commit_p50_ms"]
    housed = await pg_store.house_run(dsn, 300, 50, 20.0, False)
    assert housed["bids"] == 300
    assert await bench_schemas(dsn) <= before, "each run drops its schema"
