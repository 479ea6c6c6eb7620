"""Who is acting, and what they ask of the house: built by the gate, trusted by the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

Role = Literal["guest", "bidder", "admin"]


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role = "guest"


class PlaceBid(msgspec.Struct, frozen=True):
    """A bid as the house takes it, from every transport alike (the gate admitted it).

    ``request_id`` is the bidder's idempotency key: the same key again is the same bid, so it
    must name the same lot, amount and maximum. A Struct, not a dataclass: one is built per
    bid, and a frozen dataclass's ``__init__`` costs several times as much."""

    actor: Actor
    lot: str
    amount: int | None
    """Where the bid stands at least; None with ``max_amount``: the least that leads."""
    max_amount: int | None = None
    request_id: str | None = None


class BuyNow(msgspec.Struct, frozen=True):
    """A buyer takes the lot at its buy-now price (the gate admitted them)."""

    actor: Actor
    lot: str


class Accepted(msgspec.Struct, frozen=True):
    """What the house answers a bid it stored: where the bidder's own bid stands (``amount``,
    at ``seq``), their maximum (theirs alone to hear) and whether they lead after it (False
    when a rival maximum answered at once)."""

    lot: str
    seq: int
    amount: int
    max_amount: int | None
    leading: bool
    ts: int
