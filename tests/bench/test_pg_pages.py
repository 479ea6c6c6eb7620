"""bench/pg_pages.py, small: the PostgreSQL store built like bigstore.py's answers every page
bench/pages.py asks, with the same bytes as the same store on SQLite, and its schema is dropped
after. No timing is asserted; the bench prints speed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bidwire.store import open_store
from bidwire.store.base import EVENT_DECODER
from tests.bench.test_loadgen import load
from tests.store.pg import SERVER, fresh_schema, skip_or_fail, why_not

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


async def paged(read: Any, limit: int = 7) -> list[bytes]:
    """Every page of a newest-first read, by the cursor of each page's last bid."""
    found: list[bytes] = []
    before = None
    for _ in range(10_000):
        page = await read(before, limit)
        if not page:
            return found
        found += page
        last = EVENT_DECODER.decode(page[-1])
        before = (last.ts, last.lot, last.seq)
    raise AssertionError("the pages did not end")


@pytest.mark.timeout(120)
async def test_every_read_of_a_postgres_copy_equals_sqlites(tmp_path: Path) -> None:
    """bigstore.py's store (voids, maximums, extensions, every kind of close, anonymous
    sales) copied into PostgreSQL, whose own SQL counts its report facts: every read of the
    reads' mixins, and the core's tallies, answers as SQLite does on the original."""
    reason = await why_not()
    if reason is not None:
        skip_or_fail(reason)
    path = tmp_path / "big.db"
    # its build runs its own event loop (to keep SQLite's facts): in a thread of its own
    built = await asyncio.to_thread(bigstore.build, path, **SIZE, seed=11)
    async with fresh_schema() as url:
        took = await pg_pages.copy_in(path, url)
        assert took["kept_lots"] == SIZE["lots"]
        async with open_store(f"sqlite:///{path}") as sqlite, open_store(url) as postgres:
            sales, lots = await sqlite.catalog()
            lot_ids = [lot.spec.id for lot in lots]
            sale_ids = [sale.id for sale in sales]
            people = sorted({b.bidder for b in (await sqlite.report_facts(lot_ids)).bidders})
            assert len(people) > 20

            async def both(read: Any) -> Any:
                mine, theirs = await read(postgres), await read(sqlite)
                assert mine == theirs
                return mine

            facts = await both(lambda s: s.report_facts(lot_ids))
            assert len(facts.lots) == SIZE["lots"] and facts.minutes
            await both(lambda s: s.report_facts(lot_ids[:5], bidders=False))
            await both(lambda s: s.bidder_counts([*sale_ids, "nothing"]))
            runs, parts = await both(lambda s: s.integrity_facts(lot_ids, 3_000))
            assert runs and parts
            await both(lambda s: s.lot_terms(lot_ids))
            await both(lambda s: s.bid_tallies(lot_ids))
            assert await both(lambda s: s.voids_of(lot_ids)) or not built.voids
            for sale in sales:
                ids = list(sale.lot_ids)
                await both(lambda s, ids=ids: paged(lambda b, n: s.bids_of_lots(ids, b, n)))
            for who in people[:: max(1, len(people) // 12)]:
                await both(lambda s, who=who: paged(lambda b, n: s.bids_placed_by(who, b, n)))
                await both(lambda s, who=who: paged(lambda b, n: s.bids_by(who, b, n)))
                await both(lambda s, who=who: s.won_by(who, 50))
                await both(lambda s, who=who: s.owed_by(who))
                await both(lambda s, who=who: s.best_bids(who, lot_ids, 0))
