"""The store's contract, in three parts: the event log (one ordered stream of events per lot,
with the lot's latest snapshot, and one per sale), the catalog (sales and lots as catalogued)
and the accounts.
``Store`` is their union, what ``open_store`` gives the app."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from bidwire.accounts.records import AccountStore
from bidwire.domain.events import KeyedEvent, LotEvent, SaleEvent
from bidwire.domain.lot import Lot, LotSnapshot, LotSpec, SaleMode
from bidwire.domain.money import FixedIncrement, IncrementRule, TieredIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.store.activity import ActivityStore
from bidwire.store.history import HistoryStore

EVENT_DECODER: msgspec.json.Decoder[LotEvent] = msgspec.json.Decoder(LotEvent)
SALE_EVENT_DECODER: msgspec.json.Decoder[SaleEvent] = msgspec.json.Decoder(SaleEvent)
SNAPSHOT_ENCODER = msgspec.msgpack.Encoder()
SNAPSHOT_DECODER: msgspec.msgpack.Decoder[LotSnapshot] = msgspec.msgpack.Decoder(LotSnapshot)
"""Snapshots are msgpack: encoded once per commit, and half the size and time of JSON."""


def decode_snapshot(blob: bytes) -> LotLog:
    """A stored snapshot, as a lot's log with no events after it. Raises msgspec.DecodeError."""
    return LotLog(SNAPSHOT_DECODER.decode(blob))


@dataclass(frozen=True, slots=True)
class BidTally:
    """A lot's bids that count and its distinct bidders (``EventLog.bid_tallies``)."""

    bids: int
    bidders: int


@dataclass(slots=True)
class StoredSale:
    spec: SaleSpec
    events: list[SaleEvent] = field(default_factory=list)
    """Every event of the sale, in order (a sale has a handful: no snapshot needed)."""


@dataclass(slots=True)
class CatalogLot:
    spec: LotSpec
    sale: str
    mode: SaleMode


@dataclass(frozen=True, slots=True)
class ListingEntry:
    """A closed lot as the public lists it, kept so a listing need not rebuild the lot: a
    closed lot changes no more. ``entry`` is the read layer's encoding (engine/queries.py),
    made by its ``version`` of the shape; ``leader`` names the high bidder when the entry hides
    their maximum (they read the lot from its log, to see it)."""

    lot_id: str
    version: str
    entry: bytes
    leader: str | None = None


@dataclass(slots=True)
class LotLog:
    """What a start needs of a lot's log: its latest snapshot and the events after it."""

    snapshot: LotSnapshot | None = None
    events: list[LotEvent] = field(default_factory=list)
    """Every event of the lot when there is no snapshot (a store older than snapshots)."""


@dataclass(slots=True)
class StoredLot:
    spec: LotSpec
    sale: str
    mode: SaleMode
    events: list[LotEvent] = field(default_factory=list)
    """The events after ``snapshot`` (all of them without one)."""
    snapshot: LotSnapshot | None = None

    def rebuild(self) -> Lot:
        """The lot from its snapshot and the events after it (all of them without one)."""
        if self.snapshot is None:
            lot = Lot(self.spec, self.sale, self.mode)
        else:
            lot = Lot.from_snapshot(self.spec, self.sale, self.mode, self.snapshot)
        for event in self.events:
            lot.apply(event)
        return lot


@dataclass(slots=True)
class StoredHouse:
    """Everything needed to rebuild the house after a start or a crash."""

    sales: list[StoredSale]
    lots: list[StoredLot]
    """Every lot, or (``load_house(closed=False)``) those the store does not know as closed:
    the others are their sales' ``lot_ids`` less these."""
    request_keys: list[tuple[str, KeyedEvent]]
    """Idempotency keys of the recent accepted bids, with their bids, oldest first."""


@dataclass(frozen=True, slots=True)
class BidderTally:
    """One bidder's bids on one lot, voided ones left out (engine/report.py sums them)."""

    lot_id: str
    bidder: str
    bids: int
    auto: int
    """Of ``bids``, those the house placed for the bidder's maximum."""
    late: int
    """Of ``bids``, those in the final 10% of the lot's window (first opening to close);
    0 while the lot is open."""
    extend: int = 0
    """Of ``bids``, those placed with less than the lot's ``extend_ms`` left before its
    deadline as it stood just before the bid (the soft close's window: sniping)."""
    best: int = 0
    """The bidder's highest bid on the lot (minor units)."""


@dataclass(frozen=True, slots=True)
class LotTally:
    """A lot's close (all None while it is open), how often a bid or an extension moved its
    deadline later than any before it, and its bids that count, summed over its bidders
    (``BidderTally``)."""

    lot_id: str
    outcome: str | None
    reason: str | None
    winner: str | None
    amount: int | None
    extensions: int
    opened_at: int | None = None
    """The lot's first ``lot_opened`` (None if it never opened)."""
    closed_at: int | None = None
    bids: int = 0
    auto: int = 0
    late: int = 0
    extend: int = 0
    bidders: int = 0


@dataclass(frozen=True, slots=True)
class BidderPart:
    """One bidder on one lot, over the bids that stand (voided ones left out), in seq order:
    what the integrity signals need (engine/integrity.py)."""

    lot_id: str
    bidder: str
    bids: int
    placed: int
    """Of ``bids``, those placed by the bidder (not for a maximum)."""
    quick: int
    """Of ``placed``, those that took the lead from someone else within ``quick_ms``."""
    first: int
    last: int
    leads: bool
    """Their bid is the last that stands."""


@dataclass(frozen=True, slots=True)
class LotRun:
    """A lot's opening, close, last deadline and outcome, for the integrity signals."""

    lot_id: str
    opened_at: int | None
    closed_at: int | None
    ends_at: int | None
    """The deadline as the lot's last event that sets one left it."""
    outcome: str | None
    reason: str | None
    winner: str | None


@dataclass(frozen=True, slots=True)
class LotTerms:
    """A lot's catalogued money terms, what an across-sales report needs of its spec (read by
    the store without building every LotSpec)."""

    id: str
    currency: str
    starting_price: int
    reserve: int | None
    estimate_low: int | None
    estimate_high: int | None


@dataclass(slots=True)
class ReportFacts:
    lots: list[LotTally]
    """One per lot of the log that was asked for (a lot without events is left out)."""
    bidders: list[BidderTally]
    """Empty when asked for without (``report_facts(..., bidders=False)``)."""
    minutes: list[tuple[int, int]] = field(default_factory=list)
    """The counted bids per minute, (minute start in ms, bids), minutes without bids left
    out, oldest first; empty when asked for without bidders."""


class EventLog(Protocol):
    def append(
        self,
        events: Sequence[LotEvent] | Sequence[SaleEvent],
        request_key: str | None = None,
        snapshot: LotSnapshot | None = None,
    ) -> asyncio.Future[None]:
        """Queue events of one stream (a lot's, or a sale's: then without key or snapshot)
        that follow its stored seq for commit, in call order, with ``snapshot``, the lot's
        state after them (``snapshot.seq`` is the last event's).

        The future resolves once they are durable, or fails with SeqConflict (the lot moved on),
        Conflict (the request key was used before) or StoreUnavailable (the store cannot
        commit). Submitting synchronously is what keeps the log in decision order without a
        lock. Without a snapshot the lot's last one stays, and a start replays from it."""
        ...

    async def lot_logs(self, lot_ids: Sequence[str] | None = None) -> dict[str, LotLog]:
        """Every lot's latest snapshot and the events after it (what a start replays), or
        only those of ``lot_ids`` (an unknown one is left out)."""
        ...

    async def lot_log(self, lot_id: str) -> LotLog: ...

    async def sale_logs(self) -> dict[str, list[SaleEvent]]:
        """Every sale's events in order (what a start replays; sales without any are absent)."""
        ...

    async def sale_log(self, sale_id: str) -> list[SaleEvent]: ...

    async def save_snapshots(self, lots: Sequence[tuple[str, LotSnapshot]]) -> None:
        """Keep each lot's snapshot where the lot is still at its seq (a store migrated from
        before snapshots, once its lots are replayed, so the next start needs no replay)."""
        ...

    async def request_keys_since(self, since_ms: int, limit: int) -> list[tuple[str, KeyedEvent]]:
        """The keyed bids with ``ts > since_ms``, newest first, at most ``limit``; read by an
        index, never by a scan of the log."""
        ...

    async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
        """Encoded events of a lot with seq > since_seq, oldest first, at most ``limit``."""
        ...

    async def bid_history(self, lot_id: str, before_seq: int | None, limit: int) -> list[bytes]:
        """Encoded bid events of a lot, newest first, with seq < before_seq."""
        ...

    async def bid_voids(self, lot_id: str) -> list[bytes]:
        """Encoded bid_voided events of a lot, oldest first (what its history marks voided)."""
        ...

    async def bid_tallies(self, lot_ids: Sequence[str]) -> dict[str, BidTally]:
        """Each lot's bids that count (placed, automatic ones included, not voided) and the
        distinct bidders who placed them, counted by the store (SQL aggregates), not by
        replaying events; a lot without such bids (or unknown) is left out."""
        ...

    async def report_facts(self, lot_ids: Sequence[str], *, bidders: bool = True) -> ReportFacts:
        """The aggregates a sale's report is made of (engine/report.py), for ``lot_ids``:
        computed by the store (SQL aggregates in SQLite), never by rebuilding the lots. A
        closed lot's never change: SQLite keeps them (``report_lots``, ``report_bidders``)
        from the first read on. Without ``bidders``, only the lots' (across-sales reports)."""
        ...

    async def keep_missing_facts(self) -> int:
        """Count and keep the report facts of every closed lot that has none kept yet; how
        many it kept (a store that keeps none, counting on each read, keeps 0)."""
        ...

    async def bidder_counts(self, sale_ids: Sequence[str]) -> tuple[list[int], int]:
        """The distinct people with a counted bid on each sale's lots, and over all of them
        (the across-sales report's ``unique_bidders``), counted by the store (from a row per
        sale and person for the lots it keeps the facts of)."""
        ...

    def fault(self) -> str | None:
        """Why the store cannot commit now, for a person (checked cheaply), or None."""
        ...


class Catalog(Protocol):
    async def catalog(self, *, closed: bool = True) -> tuple[list[SaleSpec], list[CatalogLot]]:
        """Every sale in the order added, and every lot in its sale's order; ``closed=False``
        leaves out the lots whose state says closed (every append with a snapshot keeps it):
        a start keeps those in the store."""
        ...

    async def catalog_lots(self, lot_ids: Sequence[str]) -> list[CatalogLot]:
        """The entries of ``lot_ids``, in that order (an unknown id is left out)."""
        ...

    async def lot_terms(self, lot_ids: Sequence[str]) -> list[LotTerms]:
        """The money terms of ``lot_ids``, in that order (an unknown id is left out)."""
        ...

    async def integrity_facts(
        self, lot_ids: Sequence[str], quick_ms: int
    ) -> tuple[list[LotRun], list[BidderPart]]:
        """Each lot's run and each bidder's part in it, counted by the store (SQL aggregates
        and window functions in SQLite), for a sale's integrity signals when they are not
        followed live; lots without events are left out."""
        ...

    async def add_sale(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None: ...

    async def add_lots(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        """New lots at the end of an existing sale, with its spec listing them, at once."""
        ...

    async def save_specs(self, sale: SaleSpec | None, lots: Sequence[LotSpec]) -> None:
        """Replace catalog entries an admin edited (a sale's schedule, a scheduled lot)."""
        ...

    async def listing_entries(
        self, lot_ids: Sequence[str], version: str
    ) -> dict[str, ListingEntry]:
        """The kept listing entries of ``lot_ids`` made by ``version`` (one of another
        version, or none, is left out), read by key."""
        ...

    async def save_listing_entries(self, entries: Sequence[ListingEntry]) -> None:
        """Keep these entries (closed lots only), replacing any earlier one of each lot."""
        ...


class Store(EventLog, Catalog, AccountStore, ActivityStore, HistoryStore, Protocol):
    """The union the app opens."""


async def load_house(
    store: Store, *, keys_since_ms: int = 0, keys_limit: int = 1_000_000, closed: bool = True
) -> StoredHouse:
    """The catalog, each sale's events, each lot's snapshot and later events, and the recent
    request keys; with ``closed=False`` the closed lots are left in the store (the house reads
    them when asked: engine/closed.py)."""
    specs, lots = await store.catalog(closed=closed)
    sale_logs = await store.sale_logs()
    sales = [StoredSale(spec, sale_logs.get(spec.id, [])) for spec in specs]
    logs = await store.lot_logs(None if closed else [lot.spec.id for lot in lots])
    stored = [stored_lot(lot, logs.get(lot.spec.id)) for lot in lots]
    keys = await store.request_keys_since(keys_since_ms, keys_limit)
    return StoredHouse(sales, stored, keys[::-1])


async def stored_lots(store: Store, lot_ids: Sequence[str]) -> list[StoredLot]:
    """The lots of ``lot_ids`` as a start would find them, in that order (unknown ids left
    out): what the house reads of a closed lot when it is asked for one."""
    entries = await store.catalog_lots(lot_ids)
    logs = await store.lot_logs([entry.spec.id for entry in entries])
    return [stored_lot(entry, logs.get(entry.spec.id)) for entry in entries]


def stored_lot(entry: CatalogLot, log: LotLog | None) -> StoredLot:
    """A lot as the store has it: its catalog entry, its snapshot and the events after it
    (none read: as it was added)."""
    log = log or LotLog()
    return StoredLot(entry.spec, entry.sale, entry.mode, log.events, log.snapshot)


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
        "estimate_low": spec.estimate_low,
        "estimate_high": spec.estimate_high,
    }


def lot_spec_from_record(record: dict[str, Any]) -> LotSpec:
    """A stored spec; one stored before a field existed gets its default (no estimate): specs
    are JSON records, so a new optional field needs no migration of the tables."""
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
        "buyers_premium": spec.buyers_premium,
    }


def sale_spec_from_record(record: dict[str, Any]) -> SaleSpec:
    fields = dict(record)
    fields["lot_ids"] = tuple(fields["lot_ids"])
    return SaleSpec(**fields)
