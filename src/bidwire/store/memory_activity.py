"""The activity part of the in-memory store (store/activity.py's contract): scans, since it
only serves tests and throwaway demos; the SQLite store reads by index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from bidwire.accounts.records import UserRecord
from bidwire.domain.events import BidPlaced, LotClosed, LotEvent, MaxRaised
from bidwire.store.activity import BidCursor, NewNotice, NoticeRow
from bidwire.store.base import StoredLot


@dataclass(slots=True)
class _Kept:
    id: int
    read: bool
    body: bytes


class MemoryActivity:
    users: dict[str, UserRecord]
    lots: dict[str, StoredLot]

    def __init__(self) -> None:
        self.watch_lists: dict[str, dict[str, int]] = {}
        """username (casefolded) -> lot -> when watched."""
        self.inboxes: dict[str, list[_Kept]] = {}
        """username (casefolded) -> its notices, oldest first."""
        self._notice_ids = 0

    def _events(self) -> list[LotEvent]:
        return [event for lot in self.lots.values() for event in lot.events]

    async def bids_by(self, bidder: str, before: BidCursor | None, limit: int) -> list[bytes]:
        mine = [
            e
            for e in self._events()
            if isinstance(e, BidPlaced | MaxRaised)
            and e.bidder == bidder
            and (before is None or (e.ts, e.lot, e.seq) < before)
        ]
        mine.sort(key=lambda e: (e.ts, e.lot, e.seq), reverse=True)
        return [msgspec.json.encode(e) for e in mine[:limit]]

    async def best_bids(self, bidder: str, lot_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        best: dict[str, int] = {}
        for lot_id in lot_ids:
            stored = self.lots.get(lot_id)
            for e in stored.events if stored is not None else []:
                if isinstance(e, BidPlaced) and e.bidder == bidder and e.ts >= since_ms:
                    best[lot_id] = max(best.get(lot_id, 0), e.amount)
        return best

    def _won(self, winner: str) -> list[LotClosed]:
        return [
            e
            for e in self._events()
            if isinstance(e, LotClosed) and e.outcome == "sold" and e.winner == winner
        ]

    async def won_by(self, winner: str, limit: int) -> list[bytes]:
        won = sorted(self._won(winner), key=lambda e: e.ts, reverse=True)
        return [msgspec.json.encode(e) for e in won[:limit]]

    async def owed_by(self, winner: str) -> dict[str, int]:
        owed: dict[str, int] = {}
        for e in self._won(winner):
            currency = self.lots[e.lot].spec.currency
            owed[currency] = owed.get(currency, 0) + (e.amount or 0)
        return owed

    def _account(self, username: str) -> str | None:
        key = username.casefold()
        return key if key in self.users else None

    async def watches(self, username: str) -> list[str]:
        listed = self.watch_lists.get(username.casefold(), {})
        return [lot for lot, _ in sorted(listed.items(), key=lambda item: (item[1], item[0]))]

    async def set_watch(self, username: str, lot_id: str, on: bool, now_ms: int) -> None:
        key = self._account(username)
        if key is None:
            return
        listed = self.watch_lists.setdefault(key, {})
        if on:
            listed.setdefault(lot_id, now_ms)
        else:
            listed.pop(lot_id, None)

    async def watchers(self, lot_id: str) -> list[str]:
        return [
            self.users[key].username
            for key, listed in self.watch_lists.items()
            if lot_id in listed and key in self.users
        ]

    async def add_notices(self, notices: Sequence[NewNotice], keep: int) -> list[int | None]:
        ids: list[int | None] = []
        for notice in notices:
            key = self._account(notice.username)
            if key is None:
                ids.append(None)
                continue
            self._notice_ids += 1
            inbox = self.inboxes.setdefault(key, [])
            inbox.append(_Kept(self._notice_ids, False, notice.body))
            del inbox[: max(0, len(inbox) - keep)]
            ids.append(self._notice_ids)
        return ids

    async def notices(self, username: str, limit: int) -> list[NoticeRow]:
        inbox = self.inboxes.get(username.casefold(), [])
        return [NoticeRow(kept.id, kept.read, kept.body) for kept in reversed(inbox)][:limit]

    async def unread_notices(self, username: str) -> int:
        return sum(1 for kept in self.inboxes.get(username.casefold(), []) if not kept.read)

    async def mark_notices_read(self, username: str, up_to: int | None) -> int:
        marked = 0
        for kept in self.inboxes.get(username.casefold(), []):
            if not kept.read and (up_to is None or kept.id <= up_to):
                kept.read = True
                marked += 1
        return marked
