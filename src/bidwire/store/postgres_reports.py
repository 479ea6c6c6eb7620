"""The report and integrity reads of a PostgresStore (report facts, bidder counts, integrity
facts, lot terms, and keeping closed lots' facts), as a mixin.

A placeholder: the PostgreSQL versions of SqliteStore's report queries come here (the
``report_lots``/``report_bidders``/``report_sale_bidders`` tables are in postgres_schema.py).
``_keep_closed(lot_id)`` is called by the store once a lot's close has committed (off the
append's path), as SqliteStore keeps a closed lot's facts then; here it keeps nothing yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bidwire.store.base import BidderPart, LotRun, LotTerms, ReportFacts

TODO = "not yet on PostgreSQL (store/postgres_reports.py)"


class PostgresReports:
    async def _read(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def _keep_closed(self, lot_id: str) -> None:
        """Count and keep a closed lot's report facts (nothing kept yet: counted on read)."""

    async def report_facts(self, lot_ids: Sequence[str], *, bidders: bool = True) -> ReportFacts:
        raise NotImplementedError(TODO)

    async def keep_missing_facts(self) -> int:
        raise NotImplementedError(TODO)

    async def bidder_counts(self, sale_ids: Sequence[str]) -> tuple[list[int], int]:
        raise NotImplementedError(TODO)

    async def integrity_facts(
        self, lot_ids: Sequence[str], quick_ms: int
    ) -> tuple[list[LotRun], list[BidderPart]]:
        raise NotImplementedError(TODO)

    async def lot_terms(self, lot_ids: Sequence[str]) -> list[LotTerms]:
        raise NotImplementedError(TODO)
