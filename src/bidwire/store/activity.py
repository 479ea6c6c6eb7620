"""The store's part for "my activity": a person's bids and wins read from the event log by an
index on who (never a scan of the log), and an account's watch list and notices inbox.

Principles:
- The log stays the only record of bids and wins: these reads find a person's events by an
  index on their name (the ``bidder`` of ``bid_placed``/``max_raised``, the ``winner`` of
  ``lot_closed``), newest first, a page at a time.
- Watch lists and inboxes are an account's (the tables key them by the user's id; a name that
  is no account's, a guest's, keeps nothing here: guests' are in memory, engine/activity.py).
- Everything is bounded: a watch list by the engine's limit, an inbox by ``keep`` (the oldest
  go first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

BidCursor = tuple[int, str, int]
"""Where a page of a person's bids ends: the last bid's (ts, lot, seq); the next page is older."""


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A stored notice: its id in the inbox, whether it was read, and the notice as JSON."""

    id: int
    read: bool
    body: bytes


@dataclass(frozen=True, slots=True)
class NewNotice:
    """A notice to keep for ``username`` (left out when that is no account's name)."""

    username: str
    ts: int
    body: bytes


class ActivityStore(Protocol):
    async def bids_by(self, bidder: str, before: BidCursor | None, limit: int) -> list[bytes]:
        """Encoded ``bid_placed`` and ``max_raised`` events of ``bidder``, newest first (by
        ts, lot, seq), older than ``before``; at most ``limit``."""
        ...

    async def best_bids(self, bidder: str, lot_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        """Of ``lot_ids``, those ``bidder`` bid on at or after ``since_ms``, with their
        highest bid (``bid_placed`` amount) there."""
        ...

    async def won_by(self, winner: str, limit: int) -> list[bytes]:
        """Encoded ``lot_closed`` events sold to ``winner``, newest first, at most ``limit``."""
        ...

    async def owed_by(self, winner: str) -> dict[str, int]:
        """The hammer of every lot sold to ``winner``, summed per currency."""
        ...

    async def watches(self, username: str) -> list[str]:
        """The lots the account watches, in the order watched (none for a non-account)."""
        ...

    async def set_watch(self, username: str, lot_id: str, on: bool, now_ms: int) -> None:
        """Watch (or stop watching) ``lot_id``; nothing for a name that is no account's."""
        ...

    async def watchers(self, lot_id: str) -> list[str]:
        """The usernames of the accounts watching ``lot_id``."""
        ...

    async def add_notices(self, notices: Sequence[NewNotice], keep: int) -> list[int | None]:
        """Keep each notice in its account's inbox (its new id; None where the name is no
        account's), then drop what is older than each inbox's newest ``keep``."""
        ...

    async def notices(self, username: str, limit: int) -> list[NoticeRow]:
        """The account's inbox, newest first, at most ``limit``."""
        ...

    async def unread_notices(self, username: str) -> int: ...

    async def mark_notices_read(self, username: str, up_to: int | None) -> int:
        """Mark read every notice of the account with id <= ``up_to`` (None: all); how many."""
        ...
