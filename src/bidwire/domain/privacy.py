"""Anonymous sales: the public sees a stable pseudonym per bidder and sale; admins see who.

The pseudonym is keyed by a secret salt per sale, so nobody can work out which pseudonym a
known username has; the same bidder keeps the same pseudonym throughout the sale.
"""

from __future__ import annotations

import hashlib

import msgspec

from bidwire.domain.events import BidPlaced, LotClosed, LotEvent


def pseudonym(salt: str, bidder: str) -> str:
    digest = hashlib.sha256(f"{salt}\x00{bidder}".encode()).hexdigest()
    return f"Bidder {digest[:6].upper()}"


def public_event(event: LotEvent, salt: str) -> LotEvent:
    """The event as the public sees it in an anonymous sale."""
    if isinstance(event, BidPlaced):
        return msgspec.structs.replace(event, bidder=pseudonym(salt, event.bidder))
    if isinstance(event, LotClosed) and event.winner is not None:
        return msgspec.structs.replace(event, winner=pseudonym(salt, event.winner))
    return event
