"""Integrity signals on the wire: ``{"type": "integrity", "sale": S}`` from an admin's
connection, answered ``integrity`` (engine/integrity.py's report); with ``"follow": true`` a
fresh ``integrity`` is pushed as bids change it while the sale runs (``false`` stops). Anyone
else is refused (``not_authenticated`` before an identity, ``forbidden`` after). Thin: the
engine decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from bidwire.errors import BidwireError
from bidwire.wire import codec

if TYPE_CHECKING:
    from bidwire.transports.session import Session


async def on_integrity(session: Session, msg: codec.IntegrityAsk) -> None:
    if session.actor is None:
        session._error(msg.id, "not_authenticated", "log in as an administrator first")
        return
    if session.actor.role != "admin":
        session._error(msg.id, "forbidden", "integrity signals are for administrators only")
        return
    integrity = session.ctx.integrity
    try:
        if msg.follow:
            integrity.follow(msg.sale, session, lambda data: _push(session, data))
        elif msg.follow is False:
            integrity.unfollow(session)
        report = await integrity.report(msg.sale, msg.limit)
    except BidwireError as err:
        session._error(msg.id, err.code, str(err))
        return
    session.outlet.send_message(codec.encode(msgspec.structs.replace(report, id=msg.id)))


def _push(session: Session, data: bytes) -> bool:
    """A pushed report to a following connection (JSON mode); one that cannot take it now
    misses this one (the next is whole again); False once it has closed."""
    if session.closed:
        return False
    if session.mode == "json" and not session.outlet.backed_up:
        session.outlet.send_message(data)
    return True
