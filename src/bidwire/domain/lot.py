"""A lot and its rules: the sans-I/O core of the auction.

Principles (every rule below follows from these):
1. The server clock decides. ``now_ms`` is an argument; a bid at or after ``ends_at`` is late.
2. The high bid never falls: the first bid must reach the starting price, every later bid the
   high bid plus the increment, and the leader cannot outbid themselves.
3. Every accepted bid leaves at least ``extend_ms`` on the clock (live sales reset the countdown
   to exactly that; timed sales only ever move it later), unless a hard end says otherwise.
4. A lot closes exactly once, at or after its deadline, to the highest bid if it met the reserve.
5. State changes only by ``apply(event)``, so replaying the log rebuilds the same lot, and so
   does ``from_snapshot(snapshot())`` followed by the events after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from bidwire.domain.events import (
    BidPlaced,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotPaused,
    LotResumed,
)
from bidwire.domain.money import (
    DEFAULT_INCREMENTS,
    MAX_AMOUNT,
    IncrementRule,
    format_amount,
)

LotStatus = Literal["scheduled", "open", "paused", "closed"]
SaleMode = Literal["live", "timed"]

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
# C0 and C1 controls, DEL and the bidirectional overrides: nothing a person types on purpose,
# and some terminals and renderers act on them. Line breaks are fine in a description.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile(r"[\t\n\r]")


def plain_text(value: str, what: str, *, multiline: bool = False, most: int = MAX_TITLE) -> str:
    """Any text is kept and shown verbatim, except what no person types on purpose and some
    terminals and renderers act on: control characters (line breaks only where ``multiline``).
    Raises ValueError saying what is wrong with ``what``."""
    if len(value) > most:
        raise ValueError(f"{what} has at most {most:,} characters")
    if _CONTROL.search(value) or (not multiline and _LINE_BREAK.search(value)):
        raise ValueError(f"{what} cannot hold control characters")
    return value


RECENT_BIDS_KEPT = 20
"""How many recent bids a lot keeps in memory for snapshots; the full history is in the store."""


@dataclass(frozen=True, slots=True)
class LotSpec:
    """What a lot is, as catalogued. Money in minor units, time in ms."""

    id: str
    title: str
    description: str = ""
    currency: str = "USD"
    starting_price: int = 100
    increment: IncrementRule = DEFAULT_INCREMENTS
    reserve: int | None = None
    opening_ms: int = 30_000
    extend_ms: int = 10_000
    hard_end_ms: int | None = None
    """If set, the lot never runs longer than this after opening, whatever the bids."""
    buy_now: int | None = None
    """Reserved for buy-now prices (a later issue); not yet offered."""

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 64:
            raise ValueError("lot id must be 1 to 64 characters")
        if not self.title.strip():
            raise ValueError("lot title must not be empty")
        plain_text(self.title, "title")
        plain_text(self.description, "description", multiline=True, most=MAX_DESCRIPTION)
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError("currency must be a three-letter ISO code such as USD")
        if not 0 < self.starting_price <= MAX_AMOUNT:
            raise ValueError("starting price must be a positive amount")
        if self.reserve is not None and not 0 < self.reserve <= MAX_AMOUNT:
            raise ValueError("reserve must be a positive amount")
        if self.opening_ms <= 0 or self.extend_ms <= 0:
            raise ValueError("opening and extend times must be positive")
        if self.hard_end_ms is not None and self.hard_end_ms <= 0:
            raise ValueError("hard end must be positive")


@dataclass(frozen=True, slots=True)
class Refusal:
    """An ordinary refusal: not an exception, a result with its wire code."""

    code: str
    message: str
    min_amount: int | None = None


class RecentBid(msgspec.Struct, frozen=True, array_like=True):
    """A Struct, not a dataclass: every append encodes a lot's recent bids in its snapshot, and
    msgspec encodes dataclasses three times slower."""

    amount: int
    bidder: str
    ts: int


class LotSnapshot(msgspec.Struct, frozen=True, array_like=True):
    """A lot's state at ``seq``, everything but its catalog entry (spec, sale, mode): what the
    store keeps per lot so that a start replays only the events after it. Array-like: it is
    encoded once per append, and field names would double its size."""

    seq: int
    status: LotStatus
    opened_at: int | None
    ends_at: int | None
    high_amount: int | None
    high_bidder: str | None
    bid_count: int
    closed_at: int | None
    outcome: Literal["sold", "unsold"] | None
    paused_remaining_ms: int
    recent: list[RecentBid]


@dataclass(slots=True)
class Lot:
    """A lot's state, changed only by :meth:`apply`. Decisions are the ``decide_*`` methods."""

    spec: LotSpec
    sale: str
    mode: SaleMode = "live"
    status: LotStatus = "scheduled"
    seq: int = 0
    opened_at: int | None = None
    ends_at: int | None = None
    high_amount: int | None = None
    high_bidder: str | None = None
    bid_count: int = 0
    closed_at: int | None = None
    outcome: Literal["sold", "unsold"] | None = None
    paused_remaining_ms: int = 0
    recent: list[RecentBid] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.spec.id

    # -- derived ---------------------------------------------------------------------------

    def min_amount(self) -> int:
        """The least amount the next bid may be."""
        if self.high_amount is None:
            return self.spec.starting_price
        return min(self.high_amount + self.spec.increment.after(self.high_amount), MAX_AMOUNT)

    def hard_end_at(self) -> int | None:
        if self.spec.hard_end_ms is None or self.opened_at is None:
            return None
        return self.opened_at + self.spec.hard_end_ms

    def next_deadline(self) -> int | None:
        """When the lot next needs the clock: its deadline while open, else never."""
        return self.ends_at if self.status == "open" else None

    def _cap(self, ends_at: int) -> int:
        hard = self.hard_end_at()
        return ends_at if hard is None else min(ends_at, hard)

    # -- decisions -------------------------------------------------------------------------

    def decide_open(self, now_ms: int) -> LotOpened | Refusal:
        if self.status != "scheduled":
            return Refusal("lot_not_open", f"lot {self.id} has already been opened")
        spec = self.spec
        hard = now_ms + spec.hard_end_ms if spec.hard_end_ms is not None else None
        ends_at = now_ms + spec.opening_ms
        if hard is not None:
            ends_at = min(ends_at, hard)
        return LotOpened(
            lot=spec.id,
            seq=self.seq + 1,
            sale=self.sale,
            title=spec.title,
            description=spec.description,
            currency=spec.currency,
            starting_price=spec.starting_price,
            min_amount=spec.starting_price,
            ends_at=ends_at,
            ts=now_ms,
        )

    def decide_bid(self, bidder: str, amount: int, now_ms: int) -> BidPlaced | Refusal:
        for check in BID_CHECKS:
            refusal = check(self, bidder, amount, now_ms)
            if refusal is not None:
                return refusal
        assert self.ends_at is not None  # an open lot always has a deadline
        extended = now_ms + self.spec.extend_ms
        ends_at = extended if self.mode == "live" else max(self.ends_at, extended)
        ends_at = self._cap(ends_at)
        next_min = min(amount + self.spec.increment.after(amount), MAX_AMOUNT)
        return BidPlaced(
            lot=self.id,
            seq=self.seq + 1,
            amount=amount,
            bidder=bidder,
            ends_at=ends_at,
            min_amount=next_min,
            ts=now_ms,
        )

    def decide_close(self, now_ms: int) -> LotClosed | None:
        """The hammer: a close event once the deadline has passed, else nothing."""
        if self.status != "open" or self.ends_at is None or now_ms < self.ends_at:
            return None
        if self.high_amount is None:
            return LotClosed(self.id, self.seq + 1, "unsold", None, None, now_ms, "no_bids")
        if self.spec.reserve is not None and self.high_amount < self.spec.reserve:
            return LotClosed(self.id, self.seq + 1, "unsold", None, None, now_ms, "reserve_not_met")
        return LotClosed(
            self.id, self.seq + 1, "sold", self.high_bidder, self.high_amount, now_ms, "ended"
        )

    def decide_withdraw(self, now_ms: int, by: str) -> LotClosed | Refusal:
        """An admin takes the lot out of the sale: it closes unsold, whatever its bids."""
        if self.status == "closed":
            return Refusal("lot_not_open", f"{self.spec.title} is already closed")
        return LotClosed(self.id, self.seq + 1, "unsold", None, None, now_ms, "withdrawn", by)

    def decide_pause(self, now_ms: int, by: str) -> LotPaused | None:
        if self.status != "open" or self.ends_at is None:
            return None
        return LotPaused(self.id, self.seq + 1, max(0, self.ends_at - now_ms), by, now_ms)

    def decide_unpause(self, now_ms: int, by: str) -> LotResumed | None:
        """Bidding reopens with the time that was left, and never less than a full window."""
        if self.status != "paused":
            return None
        left = max(self.paused_remaining_ms, self.spec.extend_ms)
        return LotResumed(self.id, self.seq + 1, self._cap(now_ms + left), by, now_ms)

    def decide_resume(self, now_ms: int) -> LotExtended | None:
        """After an outage: an open lot with less than a full window left gets a fresh one, so
        nobody loses a lot because the server was down."""
        if self.status != "open" or self.ends_at is None:
            return None
        fresh = now_ms + self.spec.extend_ms
        if self.ends_at >= fresh:
            return None
        return LotExtended(self.id, self.seq + 1, fresh, "restart", now_ms)

    # -- state -----------------------------------------------------------------------------

    def snapshot(self) -> LotSnapshot:
        """The state now; ``from_snapshot`` and then the later events rebuild this lot."""
        return LotSnapshot(
            self.seq,
            self.status,
            self.opened_at,
            self.ends_at,
            self.high_amount,
            self.high_bidder,
            self.bid_count,
            self.closed_at,
            self.outcome,
            self.paused_remaining_ms,
            list(self.recent),
        )

    @classmethod
    def from_snapshot(cls, spec: LotSpec, sale: str, mode: SaleMode, snapshot: LotSnapshot) -> Lot:
        return cls(
            spec,
            sale,
            mode,
            snapshot.status,
            snapshot.seq,
            snapshot.opened_at,
            snapshot.ends_at,
            snapshot.high_amount,
            snapshot.high_bidder,
            snapshot.bid_count,
            snapshot.closed_at,
            snapshot.outcome,
            snapshot.paused_remaining_ms,
            list(snapshot.recent[:RECENT_BIDS_KEPT]),
        )

    def apply(self, event: LotEvent) -> None:
        if event.lot != self.id or event.seq != self.seq + 1:
            raise ValueError(
                f"event {event.lot}#{event.seq} does not follow lot {self.id}#{self.seq}"
            )
        self.seq = event.seq
        if isinstance(event, BidPlaced):
            self.high_amount = event.amount
            self.high_bidder = event.bidder
            self.ends_at = event.ends_at
            self.bid_count += 1
            self.recent.insert(0, RecentBid(event.amount, event.bidder, event.ts))
            del self.recent[RECENT_BIDS_KEPT:]
        elif isinstance(event, LotOpened):
            self.status = "open"
            self.opened_at = event.ts
            self.ends_at = event.ends_at
        elif isinstance(event, LotExtended):
            self.ends_at = event.ends_at
        elif isinstance(event, LotClosed):
            self.status = "closed"
            self.closed_at = event.ts
            self.outcome = event.outcome
        elif isinstance(event, LotPaused):
            self.status = "paused"
            self.paused_remaining_ms = event.remaining_ms
        elif isinstance(event, LotResumed):
            self.status = "open"
            self.ends_at = event.ends_at


# -- the bid rules, in the order they are checked ----------------------------------------------

BidCheck = Callable[[Lot, str, int, int], Refusal | None]


def _must_be_open(lot: Lot, bidder: str, amount: int, now: int) -> Refusal | None:
    if lot.status == "scheduled":
        return Refusal("lot_not_open", f"{lot.spec.title} is not open for bidding yet")
    if lot.status == "closed":
        return Refusal("lot_not_open", f"{lot.spec.title} is closed")
    if lot.status == "paused":
        return Refusal("lot_not_open", f"bidding on {lot.spec.title} is paused")
    return None


def _before_deadline(lot: Lot, bidder: str, amount: int, now: int) -> Refusal | None:
    if lot.ends_at is not None and now >= lot.ends_at:
        return Refusal("lot_not_open", f"too late: bidding on {lot.spec.title} has ended")
    return None


def _valid_amount(lot: Lot, bidder: str, amount: int, now: int) -> Refusal | None:
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        return Refusal("bad_amount", "amount must be a positive whole number of minor units")
    return None


def _not_leading(lot: Lot, bidder: str, amount: int, now: int) -> Refusal | None:
    if lot.high_bidder == bidder:
        return Refusal("already_leading", "you already hold the high bid", lot.min_amount())
    return None


def _high_enough(lot: Lot, bidder: str, amount: int, now: int) -> Refusal | None:
    least = lot.min_amount()
    if amount < least:
        what = "the starting price" if lot.high_amount is None else "the high bid plus increment"
        return Refusal(
            "too_low",
            f"bid at least {format_amount(least, lot.spec.currency)} ({what})",
            least,
        )
    return None


BID_CHECKS: tuple[BidCheck, ...] = (
    _must_be_open,
    _before_deadline,
    _valid_amount,
    _not_leading,
    _high_enough,
)
