"""A lot and its rules: the sans-I/O core of the auction.

Principles (every rule below follows from these):
1. The server clock decides. ``now_ms`` is an argument; a bid at or after ``ends_at`` is late.
2. Every bid is a maximum: a plain bid is a maximum equal to its amount, placed at exactly that
   amount. The leader holds the highest maximum (the earliest among equals), and the price is
   the least that beats the second-highest one: that maximum plus the increment at it, capped
   at the leader's maximum, never below the starting price, and at least the reserve once the
   leader's maximum reaches it. A bid must reach the high bid plus the increment (the starting
   price for the first); the leader may only raise their own maximum.
3. A maximum is its owner's secret: it lives in ``high_max`` and in the private fields of the
   events (``privacy.public_event`` removes them from everything the public receives).
4. Every accepted bid leaves at least ``extend_ms`` on the clock (live sales reset the countdown
   to exactly that; timed sales only ever move it later), unless a hard end says otherwise; a
   bid the house places for a maximum moves it like any bid.
5. A lot closes exactly once: at or after its deadline, to the leader if the price met the
   reserve; at once to a buy-now while no bid stands; or withdrawn by an admin.
6. State changes only by ``apply(event)``, so replaying the log rebuilds the same lot, and so
   does ``from_snapshot(snapshot())`` followed by the events after it. A void carries the
   standing it restores, so replay needs no rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import msgspec

from bidwire.domain.events import (
    BidPlaced,
    BidVoided,
    CloseReason,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotPaused,
    LotResumed,
    MaxRaised,
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
    """A price that closes the lot sold at once, offered while no bid stands."""
    estimate_low: int | None = None
    estimate_high: int | None = None
    """What the house expects the lot to fetch, shown to bidders (either may be left out)."""

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
        if self.buy_now is not None and not self.starting_price <= self.buy_now <= MAX_AMOUNT:
            raise ValueError("a buy-now price must be at least the starting price")
        for estimate in (self.estimate_low, self.estimate_high):
            if estimate is not None and not 0 < estimate <= MAX_AMOUNT:
                raise ValueError("an estimate must be a positive amount")
        if (
            self.estimate_low is not None
            and self.estimate_high is not None
            and self.estimate_low > self.estimate_high
        ):
            raise ValueError("the low estimate must not be above the high estimate")
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
    auto: bool = False
    seq: int = 0
    """The bid's seq (0 in snapshots from before voids existed)."""


class Ask(NamedTuple):
    """What a bidder asks: ``amount`` (where the bid stands at least), ``max_amount`` (the most
    the house may bid for them), or both. A plain bid is a maximum equal to its amount.
    Build one with ``ask()``: ``ceiling`` and ``plain`` are worked out once, not per check
    (a bid runs five checks and the price rule; this is the bid path)."""

    bidder: str
    amount: int | None
    max_amount: int | None
    ceiling: int
    """The most this ask may stand at: the maximum, else the amount (0: neither given)."""
    plain: bool


def ask(bidder: str, amount: int | None, max_amount: int | None = None) -> Ask:
    ceiling = max_amount if max_amount is not None else amount
    plain = max_amount is None or max_amount == amount
    return Ask(bidder, amount, max_amount, 0 if ceiling is None else ceiling, plain)


class Placement(NamedTuple):
    """One bid a decision places: the bidder's own, or the house's for a rival maximum."""

    bidder: str
    amount: int
    ceiling: int
    auto: bool


class Bidding(NamedTuple):
    """What an accepted bid decides: its events in order, the bidder's own first (a rival
    maximum's answer after it, in the same commit), and whether the bidder leads after them."""

    events: list[BidPlaced | MaxRaised]
    leading: bool

    @property
    def own(self) -> BidPlaced | MaxRaised:
        return self.events[0]


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
    high_max: int | None = None
    """PRIVATE: the leader's maximum (None in snapshots from before maximums: the price)."""
    close_reason: CloseReason | None = None
    """Why it closed (None in snapshots from before reasons were kept)."""


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
    high_max: int | None = None
    """PRIVATE: the leader's maximum, never published (principle 3)."""
    close_reason: CloseReason | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    # -- derived ---------------------------------------------------------------------------

    def min_amount(self) -> int:
        """The least amount the next bid may be."""
        if self.high_amount is None:
            return self.spec.starting_price
        return min(self.high_amount + self.spec.increment.after(self.high_amount), MAX_AMOUNT)

    def reserve_met(self) -> bool:
        """Whether the lot would sell if the hammer fell now."""
        if self.high_amount is None:
            return False
        return self.spec.reserve is None or self.high_amount >= self.spec.reserve

    def _reserve_flag(self, price: int | None) -> bool | None:
        """An event's ``reserve_met``: None for a lot with no reserve."""
        if self.spec.reserve is None:
            return None
        return price is not None and price >= self.spec.reserve

    def buy_now_offered(self) -> int | None:
        """The buy-now price, while it is offered: the lot is not closed and no bid stands."""
        if self.status == "closed" or self.high_amount is not None:
            return None
        return self.spec.buy_now

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
            reserve=spec.reserve is not None,
            reserve_met=False,
            buy_now=spec.buy_now,
            estimate_low=spec.estimate_low,
            estimate_high=spec.estimate_high,
        )

    def decide_bid(
        self, bidder: str, amount: int | None, now_ms: int, max_amount: int | None = None
    ) -> Bidding | Refusal:
        """A bid, a maximum, or both (principle 2); the checks are ``BID_CHECKS``."""
        if max_amount is None:  # ask(), inlined: this is the bid path
            asked = Ask(bidder, amount, None, 0 if amount is None else amount, True)
        else:
            asked = ask(bidder, amount, max_amount)
        for check in BID_CHECKS:
            refusal = check(self, asked, now_ms)
            if refusal is not None:
                return refusal
        spec = self.spec
        if (
            max_amount is None
            and amount is not None
            and (self.high_max is None or amount > self.high_max)
        ):
            # most bids: a plain bid over every maximum stands at exactly its amount, as
            # contest() would say, without its branches (the hypothesis oracle checks both)
            placements = [Placement(bidder, amount, amount, False)]
        else:
            placements = contest(spec, self.high_amount, self.high_bidder, self.high_max, asked)
        if not placements:  # the leader raised their maximum; the price stays
            raised = MaxRaised(spec.id, self.seq + 1, now_ms, bidder, asked.ceiling)
            return Bidding([raised], True)
        ends_at = self._extended(now_ms)
        seq = self.seq
        events: list[BidPlaced | MaxRaised] = []
        for placed in placements:
            seq += 1
            price = placed.amount
            events.append(  # positional: one is built per bid (field order of BidPlaced)
                BidPlaced(
                    spec.id,
                    seq,
                    price,
                    placed.bidder,
                    ends_at,
                    _step(spec, price),
                    now_ms,
                    placed.auto,
                    _private_max(placed, asked),
                    None if spec.reserve is None else price >= spec.reserve,
                )
            )
        return Bidding(events, placements[-1].bidder == bidder)

    def _extended(self, now_ms: int) -> int:
        assert self.ends_at is not None  # an open lot always has a deadline
        extended = now_ms + self.spec.extend_ms
        ends_at = extended if self.mode == "live" else max(self.ends_at, extended)
        return self._cap(ends_at)

    def decide_buy_now(self, buyer: str, now_ms: int) -> LotClosed | Refusal:
        """Buy-now closes the lot sold at its price, while it is offered (principle 5)."""
        buying = ask(buyer, None)
        refusal = _must_be_open(self, buying, now_ms) or _before_deadline(self, buying, now_ms)
        if refusal is not None:
            return refusal
        price = self.buy_now_offered()
        if price is None:
            why = "it has none" if self.spec.buy_now is None else "a bid has been placed"
            return Refusal("not_offered", f"{self.spec.title} cannot be bought now: {why}")
        return LotClosed(self.id, self.seq + 1, "sold", buyer, price, now_ms, "buy_now")

    def decide_void(
        self, history: list[LotEvent], bid_seq: int, now_ms: int, by: str
    ) -> BidVoided | Refusal:
        """An admin voids a bid of an open lot: it stands where the log without that bid, and
        the automatic bids it caused, decides. ``history`` is the lot's whole log so far."""
        if self.status not in ("open", "paused"):
            return Refusal("lot_not_open", f"{self.spec.title} is not open: its bids stand")
        if not history or history[-1].seq != self.seq:
            raise ValueError("the history does not reach the lot's seq")
        voided = _voided(history, bid_seq)
        if isinstance(voided, Refusal):
            return voided
        price, leader, ceiling, count = rerun(self.spec, history, voided)
        least = self.spec.starting_price if price is None else _step(self.spec, price)
        ends_at = self.ends_at if self.status == "paused" else self._extended(now_ms)
        assert ends_at is not None
        return BidVoided(
            lot=self.id,
            seq=self.seq + 1,
            voided=sorted(voided - _already_voided(history)),
            amount=price,
            bidder=leader,
            min_amount=least,
            bid_count=count,
            ends_at=ends_at,
            by=by,
            ts=now_ms,
            reserve_met=self._reserve_flag(price),
            max_amount=None if ceiling == price else ceiling,
        )

    def decide_close(self, now_ms: int) -> LotClosed | None:
        """The hammer: a close event once the deadline has passed, else nothing."""
        if self.status != "open" or self.ends_at is None or now_ms < self.ends_at:
            return None
        if self.high_amount is None:
            return LotClosed(self.id, self.seq + 1, "unsold", None, None, now_ms, "no_bids")
        if not self.reserve_met():
            return LotClosed(self.id, self.seq + 1, "unsold", None, None, now_ms, "reserve_not_met")
        return LotClosed(
            self.id, self.seq + 1, "sold", self.high_bidder, self.high_amount, now_ms, "hammer"
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
            self.high_max,
            self.close_reason,
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
            snapshot.high_amount if snapshot.high_max is None else snapshot.high_max,
            snapshot.close_reason,
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
            self.high_max = event.amount if event.max_amount is None else event.max_amount
            self.ends_at = event.ends_at
            self.bid_count += 1
            bid = RecentBid(event.amount, event.bidder, event.ts, event.auto, event.seq)
            self.recent.insert(0, bid)
            del self.recent[RECENT_BIDS_KEPT:]
        elif isinstance(event, MaxRaised):
            self.high_max = event.max_amount
        elif isinstance(event, BidVoided):
            self.high_amount = event.amount
            self.high_bidder = event.bidder
            self.high_max = event.amount if event.max_amount is None else event.max_amount
            self.bid_count = event.bid_count
            self.ends_at = event.ends_at
            gone = set(event.voided)
            self.recent = [bid for bid in self.recent if bid.seq not in gone]
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
            self.close_reason = event.reason
            if event.reason == "buy_now":
                self.high_amount, self.high_bidder = event.amount, event.winner
                self.high_max = event.amount
        elif isinstance(event, LotPaused):
            self.status = "paused"
            self.paused_remaining_ms = event.remaining_ms
        elif isinstance(event, LotResumed):
            self.status = "open"
            self.ends_at = event.ends_at


# -- the bid rules, in the order they are checked ----------------------------------------------

BidCheck = Callable[[Lot, Ask, int], Refusal | None]


def _must_be_open(lot: Lot, ask: Ask, now: int) -> Refusal | None:
    if lot.status == "scheduled":
        return Refusal("lot_not_open", f"{lot.spec.title} is not open for bidding yet")
    if lot.status == "closed":
        return Refusal("lot_not_open", f"{lot.spec.title} is closed")
    if lot.status == "paused":
        return Refusal("lot_not_open", f"bidding on {lot.spec.title} is paused")
    return None


def _before_deadline(lot: Lot, ask: Ask, now: int) -> Refusal | None:
    if lot.ends_at is not None and now >= lot.ends_at:
        return Refusal("lot_not_open", f"too late: bidding on {lot.spec.title} has ended")
    return None


def _is_amount(value: object) -> bool:
    return type(value) is int and 0 < value <= MAX_AMOUNT


def _valid_amounts(lot: Lot, ask: Ask, now: int) -> Refusal | None:
    amount, top = ask.amount, ask.max_amount
    if top is None:  # a plain bid, most bids: one test
        if type(amount) is int and 0 < amount <= MAX_AMOUNT:
            return None
        if amount is None:
            return Refusal("bad_amount", "give an amount, a maximum, or both")
        return Refusal("bad_amount", "amounts must be positive whole numbers of minor units")
    if not _is_amount(top) or (amount is not None and not _is_amount(amount)):
        return Refusal("bad_amount", "amounts must be positive whole numbers of minor units")
    if amount is not None and top < amount:
        return Refusal("bad_amount", "a maximum cannot be below the bid it comes with")
    return None


def _leader_only_raises(lot: Lot, ask: Ask, now: int) -> Refusal | None:
    if lot.high_bidder != ask.bidder:
        return None
    if ask.max_amount is None:
        return Refusal("already_leading", "you already hold the high bid", lot.min_amount())
    mine = lot.high_max if lot.high_max is not None else lot.high_amount
    assert mine is not None
    if ask.max_amount <= mine:
        shown = format_amount(mine, lot.spec.currency)
        return Refusal(
            "already_leading",
            f"you already lead with a maximum of {shown}; a new maximum must be higher",
            lot.min_amount(),
        )
    return None


def _high_enough(lot: Lot, ask: Ask, now: int) -> Refusal | None:
    if lot.high_bidder == ask.bidder:
        return None  # a leader's raise: checked above
    least = lot.min_amount()
    if ask.ceiling < least:
        what = "the starting price" if lot.high_amount is None else "the high bid plus increment"
        return Refusal(
            "too_low",
            f"bid at least {format_amount(least, lot.spec.currency)} ({what})",
            least,
        )
    return None


STANDING_CHECKS: tuple[BidCheck, ...] = (_valid_amounts, _leader_only_raises, _high_enough)
"""What a bid must be against the standing, whenever it comes (a void decides them again)."""

BID_CHECKS: tuple[BidCheck, ...] = (_must_be_open, _before_deadline, *STANDING_CHECKS)


# -- the price (principle 2): pure arithmetic on the standing, no time -------------------------


def _private_max(placed: Placement, ask: Ask) -> int | None:
    """What a placed bid's event keeps of its maximum: the ask's own unless it was a plain bid
    (a void decides it again as what it was); for the house's bid, the leader's."""
    if not placed.auto:
        return None if ask.plain else ask.ceiling
    return None if placed.ceiling == placed.amount else placed.ceiling


def _step(spec: LotSpec, amount: int) -> int:
    """The least bid that beats ``amount``."""
    return min(amount + spec.increment.after(amount), MAX_AMOUNT)


def _with_reserve(spec: LotSpec, price: int, ceiling: int) -> int:
    """Once a maximum reaches the reserve, the price rises to at least the reserve."""
    if spec.reserve is not None and ceiling >= spec.reserve:
        price = max(price, spec.reserve)
    return min(price, ceiling)


def contest(
    spec: LotSpec, price: int | None, leader: str | None, leader_max: int | None, ask: Ask
) -> list[Placement]:
    """The bids an ask places against the standing (price, leader, leader's maximum), which
    ``BID_CHECKS`` has admitted it to; empty when a leader only raised their maximum.

    - no bid yet: at the least the ask allows (a plain bid: exactly its amount);
    - above the leader's maximum: the challenger leads at that maximum plus its increment
      (a plain bid: exactly its amount);
    - up to the leader's maximum: the challenger is recorded at its maximum, then the house
      answers for the leader at that plus its increment, capped at the leader's maximum
      (equal maximums: the earlier leads, at that amount)."""
    ceiling = ask.ceiling
    floor = ask.amount or 0
    if leader == ask.bidder:  # a raise: only the reserve moves the price, never the leader
        assert price is not None
        raised = _with_reserve(spec, price, ceiling)
        return [Placement(ask.bidder, raised, ceiling, False)] if raised > price else []
    if price is None or leader is None:
        if ask.plain:
            return [Placement(ask.bidder, ceiling, ceiling, False)]
        start = _with_reserve(spec, max(spec.starting_price, floor), ceiling)
        return [Placement(ask.bidder, start, ceiling, False)]
    held = price if leader_max is None else leader_max
    if ceiling > held:
        if ask.plain:
            return [Placement(ask.bidder, ceiling, ceiling, False)]
        beat = max(min(_step(spec, held), ceiling), floor, _step(spec, price))
        return [Placement(ask.bidder, _with_reserve(spec, beat, ceiling), ceiling, False)]
    answer = _with_reserve(spec, min(_step(spec, ceiling), held), held)
    return [Placement(ask.bidder, ceiling, ceiling, False), Placement(leader, answer, held, True)]


# -- voids: which bids go, and where the rest leaves the lot -----------------------------------


def _already_voided(history: list[LotEvent]) -> set[int]:
    return {seq for e in history if isinstance(e, BidVoided) for seq in e.voided}


def _voided(history: list[LotEvent], bid_seq: int) -> set[int] | Refusal:
    """The bid at ``bid_seq`` and the automatic bids it caused: its immediate answer (the next
    event, automatic, in the same commit) and the house's later bids for its maximum (its
    bidder's automatic bids until their next own bid or raise). Every void so far included."""
    gone = _already_voided(history)
    target = next((e for e in history if e.seq == bid_seq), None)
    if not isinstance(target, BidPlaced) or bid_seq in gone:
        return Refusal("bad_request", f"there is no standing bid #{bid_seq} on this lot")
    if target.auto:
        return Refusal(
            "bad_request",
            f"bid #{bid_seq} was placed by the house for a maximum; void the bid that left it",
        )
    gone.add(bid_seq)
    for e in history:
        if e.seq <= bid_seq:
            continue
        if e.seq == bid_seq + 1 and isinstance(e, BidPlaced) and e.auto and e.ts == target.ts:
            gone.add(e.seq)  # the rival maximum's answer to it
        elif isinstance(e, BidPlaced) and e.bidder == target.bidder:
            if not e.auto:
                break
            gone.add(e.seq)
        elif isinstance(e, MaxRaised) and e.bidder == target.bidder:
            break
    return gone


def rerun(
    spec: LotSpec, history: list[LotEvent], voided: set[int]
) -> tuple[int | None, str | None, int | None, int]:
    """The standing (price, leader, leader's maximum, bids placed) that the bidders' own bids
    and raises in ``history``, but those in ``voided``, decide under ``STANDING_CHECKS`` (time
    aside): the house's answers are decided again, not copied, and a bid the rules would now
    refuse (a leader's plain bid) is left out."""
    scratch = Lot(spec, "", status="open")
    for e in history:
        if e.seq in voided:
            continue
        if isinstance(e, BidPlaced) and not e.auto:
            asked = ask(e.bidder, e.amount if e.max_amount is None else None, e.max_amount)
        elif isinstance(e, MaxRaised) and e.max_amount is not None:
            asked = ask(e.bidder, None, e.max_amount)
        else:
            continue
        if any(check(scratch, asked, 0) is not None for check in STANDING_CHECKS):
            continue
        placed = contest(spec, scratch.high_amount, scratch.high_bidder, scratch.high_max, asked)
        if not placed:
            scratch.high_max = asked.ceiling
            continue
        scratch.bid_count += len(placed)
        last = placed[-1]
        scratch.high_amount, scratch.high_bidder, scratch.high_max = (
            last.amount,
            last.bidder,
            last.ceiling,
        )
    return scratch.high_amount, scratch.high_bidder, scratch.high_max, scratch.bid_count
