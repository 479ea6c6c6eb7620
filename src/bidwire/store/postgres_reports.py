"""The report, results and integrity reads of a PostgresStore (store/base.py's ``EventLog``
and ``Catalog`` reads that are not the core's), as a mixin: SQL aggregates and window
functions over the log, read by its key, never a replay of events in Python.

Principles:
- Each read is SQLite's (store/sqlite.py) in PostgreSQL's SQL, with equal results on every
  suite that runs over every store: ``event_doc(body) ->> 'x'`` for SQLite's
  ``json_extract``, ``COUNT(*) FILTER (WHERE ...)`` for ``SUM(cond)`` (a SUM of BIGINT is
  NUMERIC here, a Decimal in Python), and ``lot_id = ANY($1)`` for chunks of ``IN (?, ...)``.
- Text is ordered and compared ``COLLATE "C"`` (code points), as SQLite and Python do: a
  database made with another default collation (ICU English, say) would sort "a" before "B".
- A closed lot's facts never change: they are kept (``report_lots``, ``report_bidders``,
  ``report_sale_bidders``, migration 1 of store/postgres_schema.py) from their first read
  on, as SQLite keeps them, so a report across many sales reads a row per closed lot. Keeping
  is idempotent (an upsert), so two nodes keeping the same lot at once agree.
- No index beyond the core's (store/postgres_schema.py) is needed: every read here goes by the
  log's primary key (stream, lot_id, seq), which tests/store/test_postgres_plans.py checks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bidwire.errors import StoreUnavailable
from bidwire.store.base import (
    BidderPart,
    BidderTally,
    LotRun,
    LotTally,
    LotTerms,
    ReportFacts,
)
from bidwire.store.postgres_activity import storable_ids

REPORT_FACTS_VERSION = 1
"""The shape of ``report_lots`` rows, as SQLite's (store/sqlite.py): a row of another version
is counted again."""

COUNT_CHUNK = 200
"""Lots counted from their events in one statement: bounds one statement's work (200 lots of
100 bids is 20,000 rows) while a report of thousands of open lots still takes few trips."""

DOC = "event_doc(e.body)"
JSON = "convert_from(e.body, 'UTF8')::json"
"""An event as JSON, for a read of one field or of several at once (``json_to_record``):
measured on 20,000 bids, four ``event_doc(body) ->> 'x'`` per row (four JSONB parses) took
260 to 850 ms, one ``json_to_record`` of the text 70 to 115 ms (a machine shared by others)."""

VOIDED = """
voided AS MATERIALIZED (
    SELECT v.lot_id, j.value::bigint AS seq
    FROM events v CROSS JOIN LATERAL jsonb_array_elements_text(event_doc(v.body) -> 'voided') j
    WHERE v.stream = 'lot' AND v.type = 'bid_voided' AND v.lot_id = ANY($1::text[])
)"""
"""The seqs a ``bid_voided`` of the lots lists (a handful), gathered once for the anti-join."""

STANDS = "NOT EXISTS (SELECT 1 FROM voided x WHERE x.lot_id = e.lot_id AND x.seq = e.seq)"

KEPT_LOTS = """
SELECT lot_id, outcome, reason, winner, amount, extensions, opened_at, closed_at,
    bids, auto, late, extend, bidders
FROM report_lots WHERE version = $2 AND lot_id = ANY($1::text[])
ORDER BY lot_id COLLATE "C"
"""

KEPT_BIDDERS = """
SELECT lot_id, bidder, bids, auto, late, extend, best FROM report_bidders
WHERE lot_id = ANY($1::text[]) ORDER BY lot_id COLLATE "C", bidder COLLATE "C"
"""

REPORT_BIDS = f"""
WITH {VOIDED}, windows AS MATERIALIZED (
    SELECT id AS lot_id, (spec ->> 'extend_ms')::bigint AS extend_ms FROM lots
    WHERE id = ANY($1::text[])
), fields AS (
    SELECT e.lot_id, e.seq, e.type, e.ts, d.bidder, d.amount, COALESCE(d.auto, false) AS auto,
        d.ends_at
    FROM events e
        CROSS JOIN LATERAL json_to_record({JSON}) AS d(bidder text, amount bigint, auto boolean,
            ends_at bigint)
    WHERE e.stream = 'lot' AND e.lot_id = ANY($1::text[]) AND e.type IN ('lot_opened',
        'bid_placed', 'bid_voided', 'lot_extended', 'lot_resumed', 'lot_closed')
), timeline AS (
    SELECT lot_id, seq, type, ts, bidder, amount, auto,
        LAG(ends_at) OVER lot AS deadline,
        MIN(ts) FILTER (WHERE type = 'lot_opened') OVER lot AS t0,
        MIN(ts) FILTER (WHERE type = 'lot_closed') OVER whole AS t1
    FROM fields
    WINDOW lot AS (PARTITION BY lot_id ORDER BY seq ROWS UNBOUNDED PRECEDING),
        whole AS (PARTITION BY lot_id)
)
SELECT e.lot_id, e.bidder, COUNT(*), COUNT(*) FILTER (WHERE e.auto),
    COUNT(*) FILTER (WHERE 10 * e.ts >= 10 * e.t1 - (e.t1 - e.t0)),
    COUNT(*) FILTER (WHERE e.deadline - e.ts < w.extend_ms), MAX(e.amount)
FROM timeline e JOIN windows w ON w.lot_id = e.lot_id
WHERE e.type = 'bid_placed' AND {STANDS}
GROUP BY e.lot_id, e.bidder ORDER BY e.lot_id COLLATE "C", e.bidder COLLATE "C"
"""
"""Each bidder's bids per lot, as SQLite's ``_REPORT_BIDS``: voided ones left out, the
automatic ones, those in the final 10% of the lot's window (10*ts >= 10*close - window),
those with less than ``extend_ms`` left before the deadline the bid found (the ``ends_at``
of the event before it), and the highest. The fields are read from each body once, before
the windows, and the lot's windows run forward only (linear)."""

REPORT_MOVES = f"""
SELECT lot_id,
    COUNT(*) FILTER (WHERE type IN ('bid_placed', 'lot_extended') AND ends_at > before),
    MIN(ts) FILTER (WHERE type = 'lot_opened')
FROM (
    SELECT lot_id, type, ts, ends_at, LAG(upto) OVER (PARTITION BY lot_id ORDER BY seq) AS before
    FROM (
        SELECT lot_id, seq, type, ts, ends_at, MAX(ends_at) OVER (
            PARTITION BY lot_id ORDER BY seq ROWS UNBOUNDED PRECEDING
        ) AS upto
        FROM (
            SELECT e.lot_id, e.seq, e.type, e.ts, ({JSON} ->> 'ends_at')::bigint AS ends_at
            FROM events e WHERE e.stream = 'lot' AND e.lot_id = ANY($1::text[])
                AND e.type IN ('lot_opened', 'bid_placed', 'lot_extended', 'lot_resumed')
        ) read
    ) running
) moved
GROUP BY lot_id ORDER BY lot_id COLLATE "C"
"""
"""Each lot that opened: how often a bid or an extension moved its deadline later than any
before it (a resume's deadline is a base, not an extension), and its first opening."""

REPORT_CLOSES = f"""
SELECT e.lot_id, {DOC} ->> 'outcome', {DOC} ->> 'reason', {DOC} ->> 'winner',
    ({DOC} ->> 'amount')::bigint, e.ts
FROM events e WHERE e.stream = 'lot' AND e.type = 'lot_closed' AND e.lot_id = ANY($1::text[])
"""

REPORT_MINUTES = f"""
WITH {VOIDED}
SELECT e.ts / 60000 * 60000 AS minute, COUNT(*)
FROM events e
WHERE e.stream = 'lot' AND e.type = 'bid_placed' AND e.lot_id = ANY($1::text[]) AND {STANDS}
GROUP BY minute ORDER BY minute
"""
"""The counted bids per minute (by the ``ts`` column: no body read but the voids')."""

BIDDER_COUNTS = f"""
WITH live AS MATERIALIZED (
    SELECT l.id AS lot_id, l.sale_id FROM lots l
    WHERE l.sale_id = ANY($1::text[]) AND NOT EXISTS (
        SELECT 1 FROM report_lots r WHERE r.lot_id = l.id AND r.version = $2)
), voided AS MATERIALIZED (
    SELECT v.lot_id, j.value::bigint AS seq
    FROM live c JOIN events v ON v.stream = 'lot' AND v.lot_id = c.lot_id
        AND v.type = 'bid_voided'
    CROSS JOIN LATERAL jsonb_array_elements_text(event_doc(v.body) -> 'voided') j
), names AS (
    SELECT sale_id, bidder FROM report_sale_bidders WHERE sale_id = ANY($1::text[])
    UNION ALL
    SELECT c.sale_id, {JSON} ->> 'bidder'
    FROM live c JOIN events e ON e.stream = 'lot' AND e.lot_id = c.lot_id
        AND e.type = 'bid_placed'
    WHERE {STANDS}
)
SELECT sale_id, COUNT(DISTINCT bidder) FROM names GROUP BY GROUPING SETS ((sale_id), ())
"""
"""The people with a counted bid per sale and over all of them (the row whose ``sale_id`` is
NULL): the kept (closed) lots' from ``report_sale_bidders``, the others' from their bids."""

INTEGRITY_PARTS = f"""
WITH {VOIDED}, standing AS (
    SELECT e.lot_id, e.seq, e.ts, d.bidder, COALESCE(d.auto, false) AS auto
    FROM events e CROSS JOIN LATERAL json_to_record({JSON}) AS d(bidder text, auto boolean)
    WHERE e.stream = 'lot' AND e.type = 'bid_placed' AND e.lot_id = ANY($1::text[]) AND {STANDS}
), ordered AS (
    SELECT lot_id, bidder, ts, auto,
        LAG(bidder) OVER w AS before_bidder, LAG(ts) OVER w AS before_ts,
        ROW_NUMBER() OVER (PARTITION BY lot_id ORDER BY seq DESC) AS from_last
    FROM standing WINDOW w AS (PARTITION BY lot_id ORDER BY seq)
)
SELECT lot_id, bidder, COUNT(*), COUNT(*) FILTER (WHERE NOT auto),
    COUNT(*) FILTER (WHERE NOT auto AND before_bidder IS NOT NULL AND before_bidder <> bidder
        AND ts - before_ts <= $2),
    MIN(ts), MAX(ts), bool_or(from_last = 1)
FROM ordered GROUP BY lot_id, bidder ORDER BY lot_id COLLATE "C", bidder COLLATE "C"
"""
"""Each bidder's part in each lot over the bids that stand (engine/integrity.py's
LotTrack.bid in SQL, as SQLite's ``_INTEGRITY_PARTS``)."""

INTEGRITY_RUNS = """
SELECT s.lot_id,
    (SELECT MIN(o.ts) FROM events o WHERE o.stream = 'lot' AND o.lot_id = s.lot_id
        AND o.type = 'lot_opened'),
    (SELECT MIN(o.ts) FROM events o WHERE o.stream = 'lot' AND o.lot_id = s.lot_id
        AND o.type = 'lot_closed'),
    (SELECT (event_doc(o.body) ->> 'ends_at')::bigint FROM events o
        WHERE o.stream = 'lot' AND o.lot_id = s.lot_id AND o.type IN ('bid_placed',
            'bid_voided', 'lot_opened', 'lot_extended', 'lot_resumed')
        ORDER BY o.seq DESC LIMIT 1),
    event_doc(c.body) ->> 'outcome', event_doc(c.body) ->> 'reason',
    event_doc(c.body) ->> 'winner'
FROM lot_state s
    LEFT JOIN events c ON c.stream = 'lot' AND c.lot_id = s.lot_id AND c.type = 'lot_closed'
WHERE s.lot_id = ANY($1::text[]) AND s.seq > 0
ORDER BY s.lot_id COLLATE "C"
"""
"""Each lot's first opening, close, last deadline and outcome, read by the log's key."""

LOT_TERMS = """
SELECT id, spec ->> 'currency', (spec ->> 'starting_price')::bigint, (spec ->> 'reserve')::bigint,
    (spec ->> 'estimate_low')::bigint, (spec ->> 'estimate_high')::bigint
FROM lots WHERE id = ANY($1::text[])
"""

MISSING_FACTS = """
SELECT id FROM lots l WHERE id COLLATE "C" > $1 AND NOT EXISTS (
    SELECT 1 FROM report_lots r WHERE r.lot_id = l.id AND r.version = $2)
ORDER BY id COLLATE "C" LIMIT $3
"""

KEEP_LOTS = """
INSERT INTO report_lots (lot_id, version, outcome, reason, winner, amount, extensions,
    opened_at, closed_at, bids, auto, late, extend, bidders)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (lot_id) DO UPDATE SET version = EXCLUDED.version, outcome = EXCLUDED.outcome,
    reason = EXCLUDED.reason, winner = EXCLUDED.winner, amount = EXCLUDED.amount,
    extensions = EXCLUDED.extensions, opened_at = EXCLUDED.opened_at,
    closed_at = EXCLUDED.closed_at, bids = EXCLUDED.bids, auto = EXCLUDED.auto,
    late = EXCLUDED.late, extend = EXCLUDED.extend, bidders = EXCLUDED.bidders
"""

KEEP_BIDDERS = """
INSERT INTO report_bidders (lot_id, bidder, bids, auto, late, extend, best)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (lot_id, bidder) DO UPDATE SET bids = EXCLUDED.bids, auto = EXCLUDED.auto,
    late = EXCLUDED.late, extend = EXCLUDED.extend, best = EXCLUDED.best
"""

KEEP_SALE_BIDDERS = """
INSERT INTO report_sale_bidders (sale_id, bidder) SELECT sale_id, $1 FROM lots WHERE id = $2
ON CONFLICT DO NOTHING
"""


def _chunks(ids: Sequence[str], size: int) -> list[list[str]]:
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


async def _count_facts(conn: Any, lot_ids: list[str]) -> ReportFacts:
    """The facts of ``lot_ids`` from their events: three passes by the log's key, joined
    here, as SQLite's ``_count_facts`` (one statement joining them re-read the events)."""
    facts = ReportFacts([], [BidderTally(*row) for row in await conn.fetch(REPORT_BIDS, lot_ids)])
    sums: dict[str, list[int]] = {}
    for row in facts.bidders:
        tally = sums.setdefault(row.lot_id, [0, 0, 0, 0, 0])
        tally[0] += row.bids
        tally[1] += row.auto
        tally[2] += row.late
        tally[3] += row.extend
        tally[4] += 1
    closes = {row[0]: tuple(row[1:]) for row in await conn.fetch(REPORT_CLOSES, lot_ids)}
    for lot_id, extensions, opened_at in await conn.fetch(REPORT_MOVES, lot_ids):
        outcome, reason, winner, amount, closed_at = closes.get(lot_id, (None,) * 5)
        facts.lots.append(
            LotTally(
                lot_id,
                outcome,
                reason,
                winner,
                amount,
                extensions,
                opened_at,
                closed_at,
                *sums.get(lot_id, (0, 0, 0, 0, 0)),
            )
        )
    return facts


class PostgresReports:
    def _submit(self, run: Callable[[Any], Awaitable[None]]) -> Any:
        raise NotImplementedError

    async def _read(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def _keep_closed(self, lot_id: str) -> None:
        """Count and keep a lot's facts once its close committed (the store calls this off
        the append's path), so no report has to count a closed lot."""
        with contextlib.suppress(StoreUnavailable):
            await self.report_facts([lot_id], bidders=False)

    async def report_facts(self, lot_ids: Sequence[str], *, bidders: bool = True) -> ReportFacts:
        """A closed lot's facts from ``report_lots``/``report_bidders`` (one row each); the
        others by the aggregates above over the lots' events, COUNT_CHUNK lots a statement.
        Those of lots closed since are kept for the next read."""
        ids = storable_ids(lot_ids)
        if not ids:
            return ReportFacts([], [])

        async def read_kept(conn: Any) -> tuple[ReportFacts, list[tuple[int, int]]]:
            rows = await conn.fetch(KEPT_LOTS, ids, REPORT_FACTS_VERSION)
            kept = ReportFacts([LotTally(*row) for row in rows], [])
            if bidders and kept.lots:
                known = [t.lot_id for t in kept.lots]
                rows = await conn.fetch(KEPT_BIDDERS, known)
                kept.bidders.extend(BidderTally(*row) for row in rows)
            minutes: list[tuple[int, int]] = []
            if bidders:
                rows = await conn.fetch(REPORT_MINUTES, ids)
                minutes = [(int(minute), int(bids)) for minute, bids in rows]
            return kept, minutes

        found: tuple[ReportFacts, list[tuple[int, int]]] = await self._read(read_kept)
        facts, minutes = found
        known = {t.lot_id for t in facts.lots}
        for part in _chunks([lot_id for lot_id in ids if lot_id not in known], COUNT_CHUNK):

            async def counted(conn: Any, part: list[str] = part) -> ReportFacts:
                return await _count_facts(conn, part)

            fresh: ReportFacts = await self._read(counted)
            facts.lots.extend(fresh.lots)
            if bidders:
                facts.bidders.extend(fresh.bidders)
            closed = {t.lot_id for t in fresh.lots if t.outcome is not None}
            if closed:
                await self._keep_facts(
                    [t for t in fresh.lots if t.lot_id in closed],
                    [t for t in fresh.bidders if t.lot_id in closed],
                )
        if bidders:
            facts.minutes = minutes
        return facts

    async def keep_missing_facts(self) -> int:
        """Count and keep the facts of every closed lot that has none of this version (a store
        whose lots closed while no node kept them, or one a bench built by direct inserts),
        COUNT_CHUNK lots a read, by id; how many were kept. The server runs it at start."""

        async def missing(conn: Any, after: str) -> list[str]:
            rows = await conn.fetch(MISSING_FACTS, after, REPORT_FACTS_VERSION, COUNT_CHUNK)
            return [str(row[0]) for row in rows]

        kept, after = 0, ""
        while True:
            lots: list[str] = await self._read(functools.partial(missing, after=after))
            if not lots:
                return kept
            facts = await self.report_facts(lots, bidders=False)
            kept += sum(t.outcome is not None for t in facts.lots)
            after = lots[-1]

    async def _keep_facts(self, lots: list[LotTally], bidders: list[BidderTally]) -> None:
        """Keep closed lots' facts (an upsert: two nodes keeping one lot agree); a store that
        cannot commit now counts them again next time."""
        lot_rows = [
            (
                t.lot_id,
                REPORT_FACTS_VERSION,
                t.outcome,
                t.reason,
                t.winner,
                t.amount,
                t.extensions,
                t.opened_at,
                t.closed_at,
                t.bids,
                t.auto,
                t.late,
                t.extend,
                t.bidders,
            )
            for t in lots
        ]
        bidder_rows = [
            (t.lot_id, t.bidder, t.bids, t.auto, t.late, t.extend, t.best) for t in bidders
        ]

        async def run(conn: Any) -> None:
            await conn.execute(
                "DELETE FROM report_bidders WHERE lot_id = ANY($1::text[])",
                [t.lot_id for t in lots],
            )
            await conn.executemany(KEEP_LOTS, lot_rows)
            if bidder_rows:
                await conn.executemany(KEEP_BIDDERS, bidder_rows)
                await conn.executemany(KEEP_SALE_BIDDERS, [(t.bidder, t.lot_id) for t in bidders])

        with contextlib.suppress(StoreUnavailable):
            await self._submit(run)

    async def bidder_counts(self, sale_ids: Sequence[str]) -> tuple[list[int], int]:
        ids = storable_ids(sale_ids)

        async def read(conn: Any) -> list[Any]:
            return list(await conn.fetch(BIDDER_COUNTS, ids, REPORT_FACTS_VERSION))

        rows: list[Any] = await self._read(read)
        place = {sale_id: n for n, sale_id in enumerate(sale_ids)}
        counts, overall = [0] * len(sale_ids), 0
        for sale_id, n in rows:
            if sale_id is None:
                overall = int(n)
            else:
                counts[place[sale_id]] = int(n)
        return counts, overall

    async def integrity_facts(
        self, lot_ids: Sequence[str], quick_ms: int
    ) -> tuple[list[LotRun], list[BidderPart]]:
        runs: list[LotRun] = []
        parts: list[BidderPart] = []
        for chunk in _chunks(storable_ids(lot_ids), COUNT_CHUNK):

            async def read(conn: Any, chunk: list[str] = chunk) -> tuple[list[Any], list[Any]]:
                found = await conn.fetch(INTEGRITY_PARTS, chunk, quick_ms)
                return list(await conn.fetch(INTEGRITY_RUNS, chunk)), list(found)

            got: tuple[list[Any], list[Any]] = await self._read(read)
            runs.extend(LotRun(*row) for row in got[0])
            parts.extend(
                BidderPart(lot, who, n, placed, quick, first, last, bool(leads))
                for lot, who, n, placed, quick, first, last, leads in got[1]
            )
        return runs, parts

    async def lot_terms(self, lot_ids: Sequence[str]) -> list[LotTerms]:
        ids = storable_ids(lot_ids)
        if not ids:
            return []

        async def read(conn: Any) -> list[Any]:
            return list(await conn.fetch(LOT_TERMS, ids))

        rows: list[Any] = await self._read(read)
        found = {row[0]: LotTerms(*row) for row in rows}
        return [found[lot_id] for lot_id in lot_ids if lot_id in found]
