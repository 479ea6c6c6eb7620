"""The store's contract: the event log per lot plus the catalog and a current-state row."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from bidwire.accounts.records import AccountStore
from bidwire.domain.events import (
    BidPlaced,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotPaused,
    LotResumed,
)
from bidwire.domain.lot import LotSpec, SaleMode
from bidwire.domain.money import FixedIncrement, IncrementRule, TieredIncrement
from bidwire.domain.sale import SaleSpec

EVENT_DECODER: msgspec.json.Decoder[LotEvent] = msgspec.json.Decoder(LotEvent)


@dataclass(slots=True)
class StoredSale:
    spec: SaleSpec
    started_at: int | None = None
    ended_at: int | None = None
    paused_at: int | None = None


@dataclass(slots=True)
class StoredLot:
    spec: LotSpec
    sale: str
    mode: SaleMode
    events: list[LotEvent] = field(default_factory=list)


@dataclass(slots=True)
class StoredHouse:
    """Everything needed to rebuild the house after a start or a crash."""

    sales: list[StoredSale]
    lots: list[StoredLot]
    request_keys: dict[str, tuple[str, int]]
    """Idempotency keys of accepted bids -> (lot, seq)."""


class Store(AccountStore, Protocol):
    async def load(self) -> StoredHouse: ...

    async def add_sale(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None: ...

    def append(
        self, events: Sequence[LotEvent], request_key: str | None = None
    ) -> asyncio.Future[None]:
        """Queue events that follow the lot's stored seq for commit, in call order.

        The future resolves once they are durable, or fails with SeqConflict (the lot moved on)
        or StoreUnavailable (the store cannot commit). Submitting synchronously is what keeps
        the log in decision order without a lock."""
        ...

    async def mark_sale(
        self,
        sale_id: str,
        *,
        started_at: int | None = None,
        ended_at: int | None = None,
        paused_at: int | None = None,
        resumed: bool = False,
    ) -> None: ...

    async def save_specs(self, sale: SaleSpec | None, lots: Sequence[LotSpec]) -> None:
        """Replace catalog entries an admin edited (a sale's schedule, a scheduled lot)."""
        ...

    async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
        """Encoded events of a lot with seq > since_seq, oldest first, at most ``limit``."""
        ...

    async def bid_history(self, lot_id: str, before_seq: int | None, limit: int) -> list[bytes]:
        """Encoded bid events of a lot, newest first, with seq < before_seq."""
        ...

    def fault(self) -> str | None:
        """Why the store cannot commit now, for a person (checked cheaply), or None."""
        ...


# -- specs <-> JSON-able records ---------------------------------------------------------------


def increment_to_record(rule: IncrementRule) -> dict[str, Any]:
    if isinstance(rule, FixedIncrement):
        return {"fixed": rule.step}
    return {"tiers": [list(t) for t in rule.tiers]}


def increment_from_record(record: dict[str, Any]) -> IncrementRule:
    if "fixed" in record:
        return FixedIncrement(int(record["fixed"]))
    return TieredIncrement(tuple((int(a), int(b)) for a, b in record["tiers"]))


def lot_spec_to_record(spec: LotSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "title": spec.title,
        "description": spec.description,
        "currency": spec.currency,
        "starting_price": spec.starting_price,
        "increment": increment_to_record(spec.increment),
        "reserve": spec.reserve,
        "opening_ms": spec.opening_ms,
        "extend_ms": spec.extend_ms,
        "hard_end_ms": spec.hard_end_ms,
        "buy_now": spec.buy_now,
    }


def lot_spec_from_record(record: dict[str, Any]) -> LotSpec:
    fields = dict(record)
    fields["increment"] = increment_from_record(fields["increment"])
    return LotSpec(**fields)


def sale_spec_to_record(spec: SaleSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "title": spec.title,
        "lot_ids": list(spec.lot_ids),
        "mode": spec.mode,
        "gap_ms": spec.gap_ms,
        "starts_at": spec.starts_at,
        "held": spec.held,
        "anonymous": spec.anonymous,
        "pseudonym_salt": spec.pseudonym_salt,
    }


def sale_spec_from_record(record: dict[str, Any]) -> SaleSpec:
    fields = dict(record)
    fields["lot_ids"] = tuple(fields["lot_ids"])
    return SaleSpec(**fields)


def state_columns(events: Sequence[LotEvent]) -> dict[str, Any]:
    """The current-state row's columns after ``events`` (the last value of each wins)."""
    cols: dict[str, Any] = {}
    for ev in events:
        cols["seq"] = ev.seq
        if isinstance(ev, BidPlaced):
            cols.update(high_amount=ev.amount, high_bidder=ev.bidder, ends_at=ev.ends_at)
        elif isinstance(ev, LotOpened):
            cols.update(status="open", ends_at=ev.ends_at)
        elif isinstance(ev, LotExtended):
            cols["ends_at"] = ev.ends_at
        elif isinstance(ev, LotClosed):
            cols["status"] = "closed"
        elif isinstance(ev, LotPaused):
            cols["status"] = "paused"
        elif isinstance(ev, LotResumed):
            cols.update(status="open", ends_at=ev.ends_at)
    return cols
