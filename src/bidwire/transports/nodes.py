"""Node to node: a bid on a sale another node decides goes to that node, and its answer back.

Principles:
- The owner decides as for its own clients (``offer_bid(..., forwarded=True)``): its request
  keys make a repeat the same bid, whichever node it came through; the gate of the node the
  client reached has already admitted it (identity, rate), and the owner trusts that node (the
  nodes' channel is the cluster's own: a private Redis).
- Nothing waits forever: an ask not answered within ``timeout_ms`` is answered ``unavailable``
  (the owner may have died, or the bus lost the ask or its answer). The bid may still have been
  placed: the bidder sees it in the lot's stream, and sending it again with its request_id
  cannot place it twice.
- A forwarded bid is never forwarded again: while a sale changes hands, it is refused.
- An admin's change to a sale (start, pause, resume, cancel; void a bid; withdraw, edit a lot;
  add lots) goes to the owner the same way, so an auctioneer behind a load balancer need not
  reach the node that decides the sale. The owner makes it as its own (audited under the
  admin's name) and answers done, or the error's code and words, raised again at the asker
  (``errors.error_from_code``). Not answered within ``admin_timeout_ms``: ``unavailable``,
  saying the change may have been made (a pause asked again is refused "already paused",
  never made twice).
- The mailbox carries bytes to a node by name (``MemoryHub`` in one process, Redis pub/sub
  across machines: bus/redis_mailbox.py); what is in them is this module's.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple, Protocol

import msgspec

from bidwire.domain.commands import Accepted, BuyNow, PlaceBid
from bidwire.domain.events import BidVoided, LotClosed
from bidwire.domain.lot import Refusal
from bidwire.engine.house import NO_OWNER, AdminKind, AdminOp, Answer, AuctionHouse
from bidwire.errors import BidwireError, NotOwner, error_from_code
from bidwire.store.base import lot_spec_from_record, lot_spec_to_record

log = logging.getLogger("bidwire.nodes")

ASK_TIMEOUT_MS = 2_000
ADMIN_TIMEOUT_MS = 5_000
"""An admin's change may read a lot's whole log (a void) or write specs: more time than a bid."""
MAX_PENDING = 100_000
"""Asks waiting for an answer at most; past it a new one is refused at once."""

LATE = Refusal(
    "unavailable",
    "the server running this sale did not answer in time; bid again (the same request_id"
    " cannot place it twice)",
)
MOVED = Refusal(
    "unavailable",
    "the sale moved to another server of this house while this bid waited; bid again (the"
    " same request_id cannot place it twice)",
)


ADMIN_LATE = (
    "the server running this sale did not answer in time; the change may have been made:"
    " look at the sale before asking again"
)


FAILED = (
    "the server running this sale could not make the change; look at the sale before asking again"
)
NO_ONE = (
    "no server runs this sale at this moment (one is taking it over); nothing was changed:"
    " ask again in a moment"
)


class AdminAsk(msgspec.Struct, array_like=True, frozen=True):
    """An ``AdminOp`` in a letter: its lots as the store keeps specs (msgpack has no union of
    the increment rules' two shapes)."""

    kind: AdminKind
    by: str
    target: str
    at_ms: int | None = None
    seq: int = 0
    lots: tuple[dict[str, Any], ...] = ()


class Ask(msgspec.Struct, array_like=True, frozen=True):
    id: int
    sender: str
    bid: PlaceBid | None = None
    buy: BuyNow | None = None
    admin: AdminAsk | None = None


class Reply(msgspec.Struct, array_like=True, frozen=True):
    id: int
    accepted: Accepted | None = None
    closed: LotClosed | None = None
    refused: tuple[str, str, int | None] | None = None
    done: bool = False
    """An admin's change was made (with ``voided``, a void's event)."""
    voided: BidVoided | None = None
    failed: tuple[str, str] | None = None
    """An admin's change refused or failed: the error's code and words."""


class Letter(msgspec.Struct, array_like=True, frozen=True):
    ask: Ask | None = None
    reply: Reply | None = None


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Letter).decode


class _Waiting(NamedTuple):
    back: Callable[[Reply | None], None]
    sale_id: str
    owner: str
    """The node the ask went to."""


class Mailbox(Protocol):
    def send(self, node: str, data: bytes) -> None:
        """Queue ``data`` for ``node`` (at most once: it may be lost)."""
        ...


class Owners(Protocol):
    def owner_of(self, sale_id: str) -> str | None: ...


class Forwarder:
    """This node's asks to other nodes and its answers to theirs (``received``)."""

    def __init__(
        self,
        node: str,
        owners: Owners,
        house: AuctionHouse,
        mailbox: Mailbox | None = None,
        *,
        timeout_ms: int = ASK_TIMEOUT_MS,
        admin_timeout_ms: int = ADMIN_TIMEOUT_MS,
    ) -> None:
        self.node = node
        self.owners = owners
        self.house = house
        self.mailbox = mailbox
        """Set once the node's mailbox is open (it needs ``received`` as its handler)."""
        self.timeout_ms = timeout_ms
        self.admin_timeout_ms = admin_timeout_ms
        self._ids = itertools.count(1)
        self._pending: dict[int, _Waiting] = {}
        """Ask -> who hears its answer, its sale and the node it went to (``owners_changed``)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.asked = 0
        self.late = 0
        """Asks answered ``unavailable`` because no answer came in time."""
        self.moved = 0
        """Asks answered ``unavailable`` because their sale changed hands while they waited."""

    # -- asking ----------------------------------------------------------------------------

    def _ask(
        self,
        sale_id: str,
        ask: Callable[[int], Ask],
        back: Callable[[Reply | None], None],
        timeout_ms: int | None = None,
    ) -> bool:
        owner = self.owners.owner_of(sale_id)
        if owner is None or owner == self.node or self.mailbox is None:
            return False
        if len(self._pending) >= MAX_PENDING:
            return False
        ask_id = next(self._ids)
        self._pending[ask_id] = _Waiting(back, sale_id, owner)
        self.asked += 1
        self.mailbox.send(owner, _encode(Letter(ask=ask(ask_id))))
        wait_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        asyncio.get_running_loop().call_later(wait_ms / 1000, self._expire, ask_id)
        return True

    def bid(self, sale_id: str, command: PlaceBid, answer: Answer) -> None:
        def back(reply: Reply | None) -> None:
            if reply is None:
                answer(LATE)
            elif reply.accepted is not None:
                answer(reply.accepted)
            else:
                answer(_refusal(reply))

        if not self._ask(sale_id, lambda i: Ask(i, self.node, bid=command), back):
            answer(NO_OWNER)

    async def buy_now(self, sale_id: str, command: BuyNow) -> LotClosed | Refusal:
        done: asyncio.Future[LotClosed | Refusal] = asyncio.get_running_loop().create_future()

        def back(reply: Reply | None) -> None:
            if done.done():
                return
            if reply is None:
                done.set_result(LATE)
            elif reply.closed is not None:
                done.set_result(reply.closed)
            else:
                done.set_result(_refusal(reply))

        if not self._ask(sale_id, lambda i: Ask(i, self.node, buy=command), back):
            return NO_OWNER
        return await done

    async def admin(self, sale_id: str, op: AdminOp) -> BidVoided | None:
        """Have the sale's owner make ``op``; its error is raised here as its own."""
        done: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()

        def back(reply: Reply | None) -> None:
            if not done.done():
                done.set_result(reply)

        letter = AdminAsk(
            op.kind,
            op.by,
            op.target,
            op.at_ms,
            op.seq,
            tuple(lot_spec_to_record(spec) for spec in op.lots),
        )
        asked = self._ask(
            sale_id, lambda i: Ask(i, self.node, admin=letter), back, self.admin_timeout_ms
        )
        if not asked:
            raise NotOwner(NO_ONE)
        reply = await done
        if reply is None:
            raise NotOwner(ADMIN_LATE)
        if reply.failed is not None:
            raise error_from_code(*reply.failed)
        if not reply.done:
            raise NotOwner("the server running this sale answered something else; look again")
        return reply.voided

    def _expire(self, ask_id: int) -> None:
        waiting = self._pending.pop(ask_id, None)
        if waiting is not None:
            self.late += 1
            waiting.back(None)

    def owners_changed(self) -> None:
        """The lease step found a sale's owner changed: each ask waiting on a node that no
        longer decides its sale is answered now, not at its timeout, so its bidder sends it
        again to the new owner at once (a dead owner's bids waited the whole 2 s: bidding
        resumed 4.4 s after a kill, tests/e2e/test_cluster.py). Its answer, if it comes, is
        dropped as a late one's is."""
        for ask_id, waiting in list(self._pending.items()):
            if self.owners.owner_of(waiting.sale_id) != waiting.owner:
                del self._pending[ask_id]
                self.moved += 1
                waiting.back(Reply(ask_id, refused=(MOVED.code, MOVED.message, None)))

    # -- hearing ---------------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """A letter from another node (the mailbox's handler): an ask to decide, or a reply."""
        try:
            letter = _decode(data)
        except msgspec.DecodeError:
            log.warning("a letter that is not one of ours (%d bytes) was dropped", len(data))
            return
        if letter.reply is not None:
            waiting = self._pending.pop(letter.reply.id, None)
            if waiting is not None:  # else it came after its time: answered unavailable already
                waiting.back(letter.reply)
        elif letter.ask is not None:
            self._answer(letter.ask)

    def _answer(self, ask: Ask) -> None:
        def reply(result: Accepted | LotClosed | Refusal) -> None:
            if isinstance(result, Accepted):
                out = Reply(ask.id, accepted=result)
            elif isinstance(result, LotClosed):
                out = Reply(ask.id, closed=result)
            else:
                out = Reply(ask.id, refused=(result.code, result.message, result.min_amount))
            if self.mailbox is not None:
                self.mailbox.send(ask.sender, _encode(Letter(reply=out)))

        if ask.admin is not None:
            self._spawn(self._run_admin(ask.sender, ask.id, ask.admin))
        elif ask.bid is not None:
            self.house.offer_bid(ask.bid, reply, True)
        elif ask.buy is not None:
            buy = ask.buy

            async def buying() -> None:
                reply(await self.house.buy_now(buy, forwarded=True))

            self._spawn(buying())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # held: a task only the loop refers to may be collected
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def _run_admin(self, sender: str, ask_id: int, admin: AdminAsk) -> None:
        """Make another node's admin change as this node's own; answer done or the error."""
        try:
            op = AdminOp(
                admin.kind,
                admin.by,
                admin.target,
                admin.at_ms,
                admin.seq,
                tuple(lot_spec_from_record(record) for record in admin.lots),
            )
            out = Reply(ask_id, done=True, voided=await self.house.run_admin(op, forwarded=True))
        except BidwireError as exc:
            out = Reply(ask_id, failed=(exc.code, str(exc)))
        except (ValueError, TypeError, KeyError) as exc:  # a lot's spec that is not one
            out = Reply(ask_id, failed=("bad_request", f"a lot sent is not valid: {exc}"))
        except Exception:
            log.exception("an admin change asked by %s failed", sender)
            out = Reply(ask_id, failed=("unavailable", FAILED))
        if self.mailbox is not None:
            self.mailbox.send(sender, _encode(Letter(reply=out)))


def _refusal(reply: Reply) -> Refusal:
    if reply.refused is None:
        return NO_OWNER
    code, message, min_amount = reply.refused
    return Refusal(code, message, min_amount)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a forwarded ask failed", exc_info=task.exception())


class MemoryHub:
    """Mailboxes of the nodes of one process: ``send`` hands the bytes to the node's handler
    in a later loop turn (a hop, as over a network); ``cut`` makes a node unreachable."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[bytes], None]] = {}
        self.cut: set[str] = set()

    def join(self, node: str, handler: Callable[[bytes], None]) -> Mailbox:
        self.handlers[node] = handler
        hub = self

        class Box:
            def send(self, to: str, data: bytes) -> None:
                target = hub.handlers.get(to)
                if target is not None and to not in hub.cut and node not in hub.cut:
                    asyncio.get_running_loop().call_soon(target, data)

        return Box()
