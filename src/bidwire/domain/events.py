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


class BidPlaced(msgspec.Struct, frozen=True, tag="bid_placed", tag_field="type"):
    lot: str
    seq: int
    amount: int
    bidder: str
    ends_at: int
    min_amount: int
    ts: int


class LotExtended(msgspec.Struct, frozen=True, tag="lot_extended", tag_field="type"):
    """The deadline moved without a bid: after an outage every open lot gets a fresh window."""

    lot: str
    seq: int
    ends_at: int
    reason: str
    ts: int


class LotClosed(msgspec.Struct, frozen=True, tag="lot_closed", tag_field="type"):
    lot: str
    seq: int
    outcome: Literal["sold", "unsold"]
    winner: str | None
    amount: int | None
    ts: int
    reason: str = "ended"
    """``ended`` (the countdown ran out), ``reserve_not_met``, ``no_bids`` or ``withdrawn``."""
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


LotEvent = LotOpened | BidPlaced | LotExtended | LotClosed | LotPaused | LotResumed


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
