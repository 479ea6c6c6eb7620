"""What the public may see of an event: never a maximum, and in an anonymous sale no name.

- A maximum is its owner's secret (``max_amount`` of ``BidPlaced``, ``MaxRaised`` and
  ``BidVoided``): removed from every event anyone but admins receives, in every sale.
- Anonymous sales: the public sees a stable pseudonym per bidder and sale; admins see who.
  The pseudonym is keyed by a secret salt per sale, so nobody can work out which pseudonym a
  known username has; the same bidder keeps the same pseudonym throughout the sale.
"""

from __future__ import annotations

import hashlib

import msgspec

from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, MaxRaised


def pseudonym(salt: str, bidder: str) -> str:
    digest = hashlib.sha256(f"{salt}\x00{bidder}".encode()).hexdigest()
    return f"Bidder {digest[:6].upper()}"


def public_event(event: LotEvent, salt: str | None) -> LotEvent:
    """The event as the public sees it (``salt``: the sale is anonymous). The event itself
    when nothing in it is private: most are, and the fan-out then encodes it once."""
    if isinstance(event, BidPlaced):
        if salt is None and event.max_amount is None:
            return event
        bidder = event.bidder if salt is None else pseudonym(salt, event.bidder)
        return msgspec.structs.replace(event, bidder=bidder, max_amount=None)
    if isinstance(event, MaxRaised):
        return msgspec.structs.replace(event, bidder="", max_amount=None)
    if isinstance(event, BidVoided):
        leader = event.bidder
        if salt is not None and leader is not None:
            leader = pseudonym(salt, leader)
        return msgspec.structs.replace(event, bidder=leader, max_amount=None)
    if salt is not None and isinstance(event, LotClosed) and event.winner is not None:
        return msgspec.structs.replace(event, winner=pseudonym(salt, event.winner))
    return event
