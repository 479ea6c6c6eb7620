"""The store's part for bid histories (engine/history.py): a sale's bids and a bidder's bids,
newest first, a page at a time, read by keys and indexes, never by a scan of the log.

Principles:
- The log is the only record: these read ``bid_placed`` events (and the ``bid_voided`` ones
  that mark some of them) and return them encoded, as stored.
- A page is ordered by (ts, lot, seq), newest first, and ends where the ``HistoryCursor`` of
  its last bid says: the next page is strictly older. (ts, lot, seq) is unique, so no bid is
  shown twice or skipped across pages, even with many bids in one millisecond.
- Everything is bounded: the caller passes ``limit``; a sale's lots are its catalogue's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

HistoryCursor = tuple[int, str, int]
"""Where a page ends: its last bid's (ts, lot, seq); the next page is older."""


class HistoryStore(Protocol):
    async def bids_of_lots(
        self, lot_ids: Sequence[str], before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        """Encoded ``bid_placed`` events of ``lot_ids`` (a sale's), newest first by (ts, lot,
        seq), older than ``before``; at most ``limit``."""
        ...

    async def bids_placed_by(
        self, bidder: str, before: HistoryCursor | None, limit: int
    ) -> list[bytes]:
        """Encoded ``bid_placed`` events of ``bidder`` (their real name), newest first by
        (ts, lot, seq), older than ``before``; at most ``limit``."""
        ...

    async def voids_of(self, lot_ids: Sequence[str]) -> list[bytes]:
        """Encoded ``bid_voided`` events of ``lot_ids``, in no set order."""
        ...
