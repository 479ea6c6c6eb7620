"""bench/pg_pages.py, small: the PostgreSQL store built like bigstore.py's answers every page
bench/pages.py asks, with the same bytes as the same store on SQLite, and its schema is dropped
after. No timing is asserted; the bench prints speed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.bench.test_loadgen import load
from tests.store.pg import SERVER, skip_or_fail, why_not

pg_pages = load("pg_pages")
pages = pg_pages.pages
bigstore = pg_pages.bigstore

SIZE = {"bids": 4_000, "lots": 40, "sales": 2}


async def bench_schemas() -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(SERVER, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bw\\_bench\\_%'"
        )
        return [str(row[0]) for row in rows]
    finally:
        await conn.close()


@pytest.mark.timeout(120)
def test_the_postgres_pages_answer_as_the_sqlite_ones(tmp_path: Path) -> None:
    reason = asyncio.run(why_not())
    if reason is not None:
        skip_or_fail(reason)
    before = set(asyncio.run(bench_schemas()))
    args = [f"--{key}={value}" for key, value in SIZE.items()]
    doc = pg_pages.main([*args, "--repeat", "1", "--out-dir", str(tmp_path / "pg")])
    (written,) = (tmp_path / "pg").glob("pages-postgres-*.json")
    assert json.loads(written.read_text())["summary"] == doc["summary"]
    assert set(asyncio.run(bench_schemas())) <= before  # its schema is gone
    assert doc["postgres"]["kept_lots"] == SIZE["lots"]  # every lot closed, its facts kept
    # the same seeded store on SQLite, asked the same pages
    path = tmp_path / "big.db"
    built = bigstore.build(path, **SIZE)
    pages.make_bidder(path, built.busiest_bidder)
    on_sqlite = pages.summarise([pages.one_run(path, built, 1, tmp_path)])
    on_postgres = doc["summary"]
    for name in [page.name for page in pages.PAGES]:
        sqlite_page, postgres_page = on_sqlite[name], on_postgres[name]
        if "skipped" in sqlite_page:
            assert postgres_page == sqlite_page
            continue
        assert postgres_page["status"] == [200], (name, postgres_page)
        assert postgres_page["bytes"] == sqlite_page["bytes"], name
