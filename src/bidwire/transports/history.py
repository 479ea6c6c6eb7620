"""Bid histories on the wire (``history``) and in the text mode (``history``, ``history
LOT``, ``history SALE``, ``history mine``, ``history more``). Thin: engine/history.py decides
what a reader sees; this parses and renders, and keeps per text connection where its last
history ended, so ``history more`` goes on from there."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from bidwire.engine.history import Histories, History, ask
from bidwire.errors import BidwireError
from bidwire.wire import codec
from bidwire.wire.history_text import TEXT_PAGE, history_lines

if TYPE_CHECKING:
    from bidwire.transports.session import Session


@dataclass(frozen=True, slots=True)
class _Asked:
    lot: str | None
    sale: str | None
    mine: bool
    before: str | None


_more: weakref.WeakKeyDictionary[Session, _Asked] = weakref.WeakKeyDictionary()
"""Per text connection: what ``history more`` asks next (gone with the connection)."""


def _admin(session: Session) -> bool:
    return session.actor is not None and session.actor.role == "admin"


async def _ask(session: Session, asked: _Asked, limit: int, bidder: str | None = None) -> History:
    return await ask(
        Histories(session.ctx.queries),
        lot=asked.lot,
        sale=asked.sale,
        mine=asked.mine,
        bidder=bidder,
        before=asked.before,
        limit=limit,
        reader=session.actor.name if session.actor is not None else None,
        admin=_admin(session),
    )


async def on_history(session: Session, msg: codec.HistoryRequest) -> None:
    asked = _Asked(msg.lot, msg.sale, msg.mine, msg.before)
    try:
        reply = await _ask(session, asked, msg.limit, msg.bidder)
    except BidwireError as err:
        session._error(msg.id, err.code, str(err))
        return
    session.outlet.send_message(codec.encode(msgspec.structs.replace(reply, id=msg.id)))


def _what(session: Session, arg: str) -> _Asked | str:
    """What ``history ARG`` asks for, or why not in words."""
    word = arg.strip()
    house = session.ctx.house
    if word.lower() in ("mine", "me", "my"):
        if session.actor is None:
            return "Type 'login NAME' or bid first: your history is of your name."
        return _Asked(None, None, True, None)
    if not word:
        lot = session.current_lot or house.lot_on_the_block()
        if lot is None:
            return "Nothing is on the block; type 'history SALE', 'history LOT' or 'history mine'."
        return _Asked(lot, None, False, None)
    if house.knows(word):
        return _Asked(word, None, False, None)
    if word in house.sales:
        return _Asked(None, word, False, None)
    return f"There is no lot or sale {word[:64]!r}; type 'lots' to list the lots."


async def on_text(session: Session, arg: str) -> None:
    """``history [mine|LOT|SALE|more]`` typed at the text mode."""
    continued = arg.strip().lower() in ("more", "older", "next")
    asked: _Asked | str
    if continued:
        kept = _more.get(session)
        asked = kept if kept is not None else "There is no earlier history to go on with."
    else:
        asked = _what(session, arg)
    if isinstance(asked, str):
        session._say(asked)
        return
    try:
        page = await _ask(session, asked, TEXT_PAGE)
    except BidwireError as err:
        session._say(f"Sorry, {err}. [{err.code}]")
        return
    if page.next_before is None:
        _more.pop(session, None)
    else:
        _more[session] = _Asked(asked.lot, asked.sale, asked.mine, page.next_before)
    for line in history_lines(page, own=asked.mine, continued=continued):
        session._say(line)
