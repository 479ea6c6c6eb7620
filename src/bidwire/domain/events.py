"""Events: every change to a lot or a sale, each in its own stream's order (``seq``).

They are the log, the bid history and the wire messages at once: a stored event is sent as is.
Structs are frozen; ``type`` is the tag.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class LotOpened(msgspec.Struct, frozen=True, tag="lot_opened", tag_field="type"):
    lot: str
    seq: int
    sale: str
    title: str
    description: str
    currency: str
    starting_price: int
    min_amount: int
    ends_at: int
    ts: int
    reserve: bool = False
    """Whether the lot has a reserve; its amount is never published."""
    reserve_met: bool = False
    buy_now: int | None = None
    """The buy-now price while it is offered (until the first bid)."""
    estimate_low: int | None = None
    estimate_high: int | None = None
    """The catalog's estimate (either may be absent); events stored before it have none."""


class BidPlaced(
    msgspec.Struct, frozen=True, omit_defaults=True, tag="bid_placed", tag_field="type"
):
    """A bid standing at ``amount``. Defaults are left out of the encoding: a plain bid on a lot
    without a reserve is the same bytes as before maximums existed."""

    lot: str
    seq: int
    amount: int
    bidder: str
    ends_at: int
    min_amount: int
    ts: int
    auto: bool = False
    """Placed by the house for the bidder's maximum, answering someone else's bid."""
    max_amount: int | None = None
    """PRIVATE: the bidder's maximum behind this bid (None: a plain bid, its own maximum).
    Kept in the log, shown to admins; ``privacy.public_event`` removes it for everyone else."""
    reserve_met: bool | None = None
    """Whether the lot now meets its reserve (None: it has none)."""


class MaxRaised(
    msgspec.Struct, frozen=True, omit_defaults=True, tag="max_raised", tag_field="type"
):
    """The leader raised their maximum and the price did not move. The public sees only that
    the lot's seq moved (``bidder`` and ``max_amount`` are removed for them)."""

    lot: str
    seq: int
    ts: int
    bidder: str = ""
    max_amount: int | None = None


class BidVoided(
    msgspec.Struct, frozen=True, omit_defaults=True, tag="bid_voided", tag_field="type"
):
    """An admin voided a bid: the lot stands where the log without it (and the automatic bids
    it caused) decides. Carries that standing so replay needs no rules."""

    lot: str
    seq: int
    voided: list[int]
    """The voided bid's seq and those of the automatic bids it caused."""
    amount: int | None
    """The price now (None: no bid stands)."""
    bidder: str | None
    min_amount: int
    bid_count: int
    ends_at: int
    by: str
    ts: int
    reserve_met: bool | None = None
    max_amount: int | None = None
    """PRIVATE, as in ``BidPlaced``: the new leader's maximum."""


KeyedEvent = BidPlaced | MaxRaised
"""What a bid's request key is stored with: the bid's own event, the first of its commit."""
KEYED_EVENT_TYPES = (BidPlaced, MaxRaised)
"""For ``isinstance`` on the append path: a tuple, not ``BidPlaced | MaxRaised``, which would
build a union object on every call."""


class LotExtended(msgspec.Struct, frozen=True, tag="lot_extended", tag_field="type"):
    """The deadline moved without a bid: after an outage every open lot gets a fresh window."""

    lot: str
    seq: int
    ends_at: int
    reason: str
    ts: int


CloseReason = Literal["hammer", "buy_now", "reserve_not_met", "no_bids", "withdrawn"]


class LotClosed(msgspec.Struct, frozen=True, tag="lot_closed", tag_field="type"):
    lot: str
    seq: int
    outcome: Literal["sold", "unsold"]
    winner: str | None
    amount: int | None
    ts: int
    reason: CloseReason = "hammer"
    """``hammer`` (the countdown ran out on a bid that met any reserve), ``buy_now``,
    ``reserve_not_met``, ``no_bids`` or ``withdrawn``."""
    by: str | None = None
    """Who closed it, when a person did (an admin withdrawing the lot)."""


class LotPaused(msgspec.Struct, frozen=True, tag="lot_paused", tag_field="type"):
    """Bidding stops; the time that was left is kept for the resume."""

    lot: str
    seq: int
    remaining_ms: int
    by: str
    ts: int


class LotResumed(msgspec.Struct, frozen=True, tag="lot_resumed", tag_field="type"):
    lot: str
    seq: int
    ends_at: int
    by: str
    ts: int


LotEvent = (
    LotOpened | BidPlaced | MaxRaised | BidVoided | LotExtended | LotClosed | LotPaused | LotResumed
)


class SaleStarted(msgspec.Struct, frozen=True, tag="sale_started", tag_field="type"):
    sale: str
    seq: int
    title: str
    mode: str
    lots: list[str]
    ts: int


class SaleEnded(msgspec.Struct, frozen=True, tag="sale_ended", tag_field="type"):
    sale: str
    seq: int
    ts: int
    reason: str = "done"
    """``done`` (every lot closed) or ``cancelled``."""


class SalePaused(msgspec.Struct, frozen=True, tag="sale_paused", tag_field="type"):
    sale: str
    seq: int
    by: str
    ts: int


class SaleResumed(msgspec.Struct, frozen=True, tag="sale_resumed", tag_field="type"):
    sale: str
    seq: int
    by: str
    ts: int


SaleEvent = SaleStarted | SaleEnded | SalePaused | SaleResumed
SALE_EVENT_TYPES = (SaleStarted, SaleEnded, SalePaused, SaleResumed)
"""What tells a sale's stream from a lot's (``isinstance`` narrows on this tuple)."""
