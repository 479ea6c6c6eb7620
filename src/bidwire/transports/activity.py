"""My activity on the wire: ``mine``, ``watch`` and ``notices`` asked by a connection, and the
desk that hands each decided ``notice`` to the live JSON connections of its person.

Thin: the engine (``engine/activity.py``) decides what a person sees and who is told what;
this file only knows which connections are whose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec

from bidwire.domain.commands import Actor
from bidwire.engine.activity import Who
from bidwire.errors import BidwireError
from bidwire.wire import codec

if TYPE_CHECKING:
    from bidwire.transports.session import Session


def who_of(actor: Actor) -> Who:
    return Who(actor.name, actor.role != "guest")


class NoticeDesk:
    """The live connections of each person, by who they are now."""

    def __init__(self, on_join: Callable[[Who], None] | None = None) -> None:
        self._by_who: dict[Who, set[Session]] = {}
        self._of: dict[Session, Who] = {}
        self.on_join = on_join
        """Told who each connection is (the engine then need not ask the store)."""

    def join(self, session: Session) -> Who | None:
        """The connection is ``session.actor`` now (after a welcome): notices reach it."""
        self.leave(session)
        if session.actor is None:
            return None
        who = who_of(session.actor)
        self._by_who.setdefault(who, set()).add(session)
        self._of[session] = who
        if self.on_join is not None:
            self.on_join(who)
        return who

    def leave(self, session: Session) -> None:
        who = self._of.pop(session, None)
        if who is not None:
            held = self._by_who[who]
            held.discard(session)
            if not held:
                del self._by_who[who]

    def deliver(self, who: Who, data: bytes) -> None:
        for session in list(self._by_who.get(who, ())):
            if not session.closed and session.mode == "json":
                session.outlet.send_message(data)

    def reachable(self, who: Who) -> bool:
        return who in self._by_who

    def __len__(self) -> int:
        return len(self._of)


async def _answer(
    session: Session,
    request_id: codec.RequestId,
    ask: Callable[[Who], Awaitable[msgspec.Struct]],
) -> None:
    """Who asks, the engine's answer to it echoing the request's id, or the error saying why
    not: the one shape of ``mine``, ``watch`` and ``notices``."""
    if session.actor is None:
        session._error(request_id, "not_authenticated", "say hello or log in first")
        return
    try:
        reply = await ask(who_of(session.actor))
    except BidwireError as err:
        session._error(request_id, err.code, str(err))
        return
    session.outlet.send_message(codec.encode(msgspec.structs.replace(reply, id=request_id)))


async def on_mine(session: Session, msg: codec.Mine) -> None:
    activity = session.ctx.activity
    await _answer(session, msg.id, lambda who: activity.activity(who, msg.before, msg.limit))


async def on_watch(session: Session, msg: codec.Watch) -> None:
    activity = session.ctx.activity
    await _answer(session, msg.id, lambda who: activity.watch(who, msg.lot, msg.on))


async def on_notices(session: Session, msg: codec.Notices) -> None:
    activity = session.ctx.activity
    await _answer(
        session, msg.id, lambda who: activity.inbox(who, msg.limit, mark_read=msg.mark_read)
    )
