"""The PostgreSQL store's reads of a person's events, of a sale's bids and of report facts go
by their indexes, as the store runs them (the SQL of store/postgres_activity.py,
postgres_history.py and postgres_reports.py itself, not a copy), on a store of 40,000 bids that
ANALYZE has seen: a store that small already makes a scan of the log cost more than the
index, so a plan that scanned would show here. (SQLite names its indexes with INDEXED BY, as
its planner has no statistics: tests/store/test_activity_plans.py.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.store import open_store, postgres_activity, postgres_history, postgres_reports
from tests.store.any_store import postgres_tables
from tests.store.pg import fresh_schema

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]

LOTS, BIDS, PEOPLE = 400, 100, 80

FILL = """
INSERT INTO events (stream, lot_id, seq, type, ts, body)
SELECT 'lot', 'l' || lot, seq, kind, ts, convert_to(doc::text, 'UTF8')
FROM (
    SELECT lot, seq, ts,
        CASE WHEN seq = 1 THEN 'lot_opened' WHEN seq = $2 + 2 THEN 'lot_closed'
            ELSE 'bid_placed' END AS kind,
        CASE WHEN seq = 1 THEN jsonb_build_object('type', 'lot_opened', 'lot', 'l' || lot,
                'seq', seq, 'ends_at', 9000000, 'ts', ts)
            WHEN seq = $2 + 2 THEN jsonb_build_object('type', 'lot_closed', 'lot', 'l' || lot,
                'seq', seq, 'outcome', 'sold', 'winner', 'p' || (lot % $3), 'amount', 100 + seq,
                'ts', ts)
            ELSE jsonb_build_object('type', 'bid_placed', 'lot', 'l' || lot, 'seq', seq,
                'amount', 100 + seq, 'bidder', 'p' || ((lot * 7 + seq) % $3),
                'ends_at', 9000000, 'min_amount', 101 + seq, 'ts', ts)
        END AS doc
    FROM (
        SELECT lot, seq, 1000000 + lot * 1000 + seq * 10 AS ts
        FROM generate_series(0, $1 - 1) lot, generate_series(1, $2 + 2) seq
    ) grid
) made
"""
"""Every lot opened, bid on BIDS times by PEOPLE people in turn, and sold."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tables() -> AsyncIterator[Any]:
    async with fresh_schema() as url, open_store(url) as store, postgres_tables(url) as db:
        lots = [LotSpec(f"l{n}", f"Lot {n}") for n in range(LOTS)]
        await store.add_sale(SaleSpec("s", "Sale", tuple(lot.id for lot in lots)), lots)
        await db.execute(FILL, LOTS, BIDS, PEOPLE)
        await db.execute("ANALYZE")
        yield db


def shown(rows: list[Any]) -> str:
    return "\n".join(str(row[0]) for row in rows)


async def plan(db: Any, sql: str, params: tuple[Any, ...]) -> str:
    text = shown(await db.fetch("EXPLAIN " + sql, *params))
    await db.fetch(sql, *params)  # and it runs
    return text


PERSON_READS = {**postgres_activity.READS, **postgres_history.READS}
OF_THIS_STORE = {"ann": "p3", "lot": "l5", "a": "l5", "b": "l6"}
"""The reads' sample parameters as this store's people and lots."""


def ours(params: tuple[Any, ...]) -> tuple[Any, ...]:
    def one(value: Any) -> Any:
        if isinstance(value, list):
            return [OF_THIS_STORE.get(v, v) for v in value]
        return OF_THIS_STORE.get(value, value) if isinstance(value, str) else value

    return tuple(one(value) for value in params)


@pytest.mark.parametrize("name", sorted(PERSON_READS))
async def test_each_read_of_a_person_or_a_sale_goes_by_an_index(tables: Any, name: str) -> None:
    sql, params = PERSON_READS[name]
    text = await plan(tables, sql, ours(params))
    if name.startswith(("won_by", "owed_by")):
        indexes = ["events_winner"]
    elif name.startswith("bids_of_lots"):
        indexes = ["events_pkey"]
    elif name == "best_bids":  # the few lots of one page of activity: by theirs or by who
        indexes = ["events_pkey", "events_bidder"]
    else:
        indexes = ["events_bidder"]
    assert any(f"using {index} on events" in text for index in indexes), text
    assert "Seq Scan on events" not in text, text


async def test_a_persons_first_page_reads_about_a_page_of_the_index(tables: Any) -> None:
    """Walked backwards by ts with the ties sorted as they come: a page of 10 of p3's 500
    bids reads a few more than 10 rows, never all of them (EXPLAIN ANALYZE's row count)."""
    sql, _ = postgres_activity.READS["bids_by"]
    rows = await tables.fetch("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, "p3", 10)
    top = rows[0][0]
    tree = json.loads(top)[0]["Plan"]

    def scans(node: dict[str, Any]) -> list[dict[str, Any]]:
        found = [node] if node.get("Relation Name") == "events" else []
        for child in node.get("Plans", []):
            found += scans(child)
        return found

    (scan,) = scans(tree)
    assert scan["Index Name"] == "events_bidder", scan
    assert scan["Actual Rows"] < 50, scan  # p3 has LOTS * BIDS / PEOPLE = 500 bids


async def test_report_facts_read_the_lots_by_the_logs_key(tables: Any) -> None:
    ids = [f"l{n}" for n in range(5)]
    for sql in (
        postgres_reports.REPORT_BIDS,
        postgres_reports.REPORT_MOVES,
        postgres_reports.REPORT_CLOSES,
        postgres_reports.REPORT_MINUTES,
    ):
        text = await plan(tables, sql, (ids,))
        assert "events_pkey" in text and "Seq Scan on events" not in text, text
    text = await plan(tables, postgres_reports.INTEGRITY_PARTS, (ids, 3_000))
    assert "events_pkey" in text and "Seq Scan on events" not in text, text
