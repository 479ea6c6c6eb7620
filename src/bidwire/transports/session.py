"""One Session per connection, whatever the transport: the protocol's behaviour lives here.

A transport hands in lines (TCP) or frames (WebSocket) and gives the session an Outlet to write
to. Writes never block: when a peer stops reading, its outlet reports ``backed_up``, the session
drops the backlog, and when the peer drains it gets a fresh snapshot instead (conflation), so a
slow client never delays anyone else.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from bidwire.accounts.records import UserRecord
from bidwire.accounts.service import Accounts
from bidwire.clock import Clock
from bidwire.domain.commands import Accepted, Actor
from bidwire.domain.events import LotClosed, SaleEvent, SaleStarted
from bidwire.domain.lot import Lot, Refusal
from bidwire.domain.money import format_amount, parse_units
from bidwire.engine.activity import Activity
from bidwire.engine.gate import GUEST_IDLE_MS, Gate
from bidwire.engine.house import AuctionHouse
from bidwire.engine.integrity import DEFAULT_THRESHOLD, Integrity, IntegrityPolicy
from bidwire.engine.live_report import LiveFacts
from bidwire.engine.queries import Queries
from bidwire.engine.views import Snapshot
from bidwire.errors import BidwireError, ClientError, Forbidden, NotAuthenticated, NotReading
from bidwire.node import Node
from bidwire.transports import activity as mine
from bidwire.transports import history as bid_history
from bidwire.transports.broadcast import Feed
from bidwire.transports.integrity import on_integrity
from bidwire.wire import codec, text
from bidwire.wire.batch import Batch

log = logging.getLogger("bidwire.session")

MAX_INBOX = 256
"""Messages queued from one peer before we stop reading from it (backpressure, not loss)."""
MAX_SUBSCRIBED_LOTS = 1_000
GUEST_KEPT_DAYS = GUEST_IDLE_MS // 86_400_000  # how long a guest who bid keeps its name


class Outlet(Protocol):
    """What a transport offers a session. Every method returns at once."""

    @property
    def backed_up(self) -> bool: ...

    def send_message(self, data: bytes) -> None:
        """One encoded JSON message (no line end)."""

    def send_batch(self, batch: Batch) -> None:
        """Events as JSON; the transport frames them (one write for TCP)."""

    def send_text(self, data: bytes) -> None:
        """Text-mode lines, already ending in newlines."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class SessionContext:
    house: AuctionHouse
    feed: Feed
    clock: Clock
    gate: Gate
    """Who may act and bid: every transport asks it (names, accounts, the bid rate)."""
    auth_timeout: float = 30.0
    max_connections_per_address: int = 5_000
    confirm_above: int | None = None
    """The house limit (minor units) above which clients confirm a bid: told in ``welcome``."""
    sessions: set[Session] = field(default_factory=set)
    per_address: dict[str, int] = field(default_factory=dict)
    _release_waiters: list[asyncio.Future[str]] = field(
        default_factory=list, init=False, repr=False
    )
    activity: Activity = field(init=False, repr=False)
    """My activity, watch lists and notices (engine/activity.py), told to ``notices``."""
    notices: mine.NoticeDesk = field(init=False, repr=False)
    live_integrity: bool = True
    integrity_threshold: float = DEFAULT_THRESHOLD
    integrity: Integrity = field(init=False, repr=False)
    """Shill-bidding signals per sale (engine/integrity.py), followed live unless off."""
    live_report: LiveFacts | None = field(init=False, default=None, repr=False)
    """The open lots' report facts, followed as bids arrive unless off (engine/live_report.py)."""
    node: Node = field(default_factory=Node)
    """This node's name and the hooks /readyz and /metrics read (bidwire/metrics.py)."""

    def __post_init__(self) -> None:
        self.notices = mine.NoticeDesk(
            lambda who: self.activity.knows_account(who.name, who.account)
        )
        self.activity = Activity(
            self.house,
            self.gate.names.holder,
            self.notices.deliver,
            reachable=self.notices.reachable,
        )
        if self.house is not None:  # some tests build a context with no house
            self.activity.listen(self.house.bus)
        self.integrity = Integrity(
            self.house, IntegrityPolicy(self.integrity_threshold), live=self.live_integrity
        )
        if self.house is not None:
            self.integrity.listen(self.house.bus)
        if self.house is not None and self.live_integrity:
            self.live_report = LiveFacts.of_house(self.house)
            running = [i for i, lot in self.house.lots.items() if lot.status in ("open", "paused")]
            self.live_report.listen(self.house.bus, running)
        self.feed.sale_listeners.append(self._on_sale_event)

    def _on_sale_event(self, event: SaleEvent) -> None:
        """Right after an anonymous sale's ``sale_started``: each identified connection
        learns its own pseudonym there (a direct message, never in the shared bytes)."""
        if isinstance(event, SaleStarted) and event.sale in self.feed.salts:
            for session in list(self.sessions):  # a peer that does not read may close
                session.tell_alias(event.sale)

    @property
    def accounts(self) -> Accounts | None:
        return self.gate.accounts

    @property
    def guests_allowed(self) -> bool:
        return self.gate.guests_allowed

    @property
    def queries(self) -> Queries:
        """The read layer over this context's house (cheap: two references)."""
        return Queries(self.house)

    def disconnect(self, *, username: str | None = None, token: str | None = None) -> int:
        """Close the live connections of a blocked user or a revoked token: what a token
        allowed must end when the token does. Each is told why (``Session.end``): blocked
        when the user is named, logged out when the token is. Returns how many were closed."""
        reason: EndReason = "blocked" if username is not None else "logged_out"
        doomed = [
            session
            for session in self.sessions
            if (token is not None and session.token == token)
            or (
                username is not None
                and session.actor is not None
                and session.actor.role != "guest"
                and session.actor.name.casefold() == username.casefold()
            )
        ]
        for session in doomed:
            session.end(reason)
        return len(doomed)

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False if it is over its cap."""
        count = self.per_address.get(address, 0)
        if count >= self.max_connections_per_address:
            return False
        self.per_address[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self.per_address.get(address, 0) - 1
        if count > 0:
            self.per_address[address] = count
        else:
            self.per_address.pop(address, None)
        if self._release_waiters:  # empty unless someone awaits ``next_release``
            waiters, self._release_waiters = self._release_waiters, []
            for future in waiters:
                if not future.done():
                    future.set_result(address)

    def next_release(self) -> asyncio.Future[str]:
        """Done with the address at the next ``release``: once the server has noticed that a
        connection closed (what tests await instead of sleeping)."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._release_waiters.append(future)
        return future


Mode = Literal["pending", "text", "json"]
ALIAS_STATUSES = ("scheduled", "running", "paused")
"""A sale in these is told to each connection as its ``alias`` (a held one waits its start)."""
EndReason = Literal["blocked", "logged_out"]
ENDED: dict[EndReason, str] = {
    "blocked": "the auctioneer has blocked your account; you can no longer bid here",
    "logged_out": "your login has ended (you logged out, here or in another window);"
    " log in again to bid",
}
"""Why a live session was ended, in words (``error`` ``forbidden`` with this ``reason``)."""


class Session:
    def __init__(
        self,
        ctx: SessionContext,
        outlet: Outlet,
        *,
        text_allowed: bool = True,
        address: str = "",
    ) -> None:
        self.ctx = ctx
        self.outlet = outlet
        self.address = address
        self.token: str | None = None
        self.text_allowed = text_allowed
        self.mode: Mode = "pending" if text_allowed else "json"
        self.actor: Actor | None = None
        self.house_feed = False
        self.lots: set[str] = set()
        self.current_lot: str | None = None
        self.closed = False
        self._stale = False
        self._inbox: deque[bytes | str] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._bid_pending = False
        """A bid taken straight from the inbox waits for its commit; messages queue behind it."""
        self._pumping = False
        self._paused = False
        self._password_for: str | None = None
        self._told_code: str | None = None  # the guest token text mode gave for 'resume'
        self._text_leading: set[str] = set()
        """Text mode: the lots this person led after the last batch (to say when that ends)."""
        ctx.sessions.add(self)
        self._auth_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            ctx.auth_timeout, self._check_identified
        )

    @property
    def wants_text(self) -> bool:
        return self.mode == "text"

    # -- from the transport ------------------------------------------------------------------

    def on_idle(self) -> None:
        """The peer said nothing for a moment: greet it in text mode, as the original did."""
        if self.mode == "pending" and not self.closed:
            self._enter_text_mode()

    def on_message(self, data: bytes | str) -> None:
        if self.closed:
            return
        self._inbox.append(data)
        if len(self._inbox) >= MAX_INBOX and not self._paused:
            self._paused = True
            self.outlet.pause_reading()
        if self._worker is None and not self._bid_pending:
            self._pump()

    def on_too_large(self) -> None:
        message = "message larger than 64 KiB; closing the connection"
        if self.mode == "text":
            self._say(f"Line too long: {message}. [too_large]")
        else:
            self._error(None, "too_large", message)
        self.close()

    def on_not_reading(self) -> None:
        """The peer keeps asking but does not read the replies: tell it (best effort), close."""
        message = "replies are piling up unread; closing the connection"
        if self.mode == "text":
            self._say(f"You are not reading: {message}. [{NotReading.code}]")
        else:
            self._error(None, NotReading.code, message)
        self.close()

    @property
    def stale(self) -> bool:
        """Events were dropped for this peer; it gets a snapshot once its outlet drains."""
        return self._stale

    def on_writable(self) -> None:
        """The peer drained its backlog: send a fresh picture of what it missed."""
        if self._stale and not self.closed:
            self._stale = False
            lots = self._watched_open_lots()
            if self.mode == "text":
                now = self.ctx.clock.now_ms()
                for lot_id in lots:
                    self._say(
                        text.describe_lot(
                            self.ctx.feed.views[lot_id], now, self.ctx.house.public_name
                        )
                    )
            else:
                for lot_id in lots:
                    self.outlet.send_message(codec.encode(self._snapshot(lot_id)))
            self.ctx.feed.redirect(self)  # events may go straight again, after these

    def on_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.ctx.feed.remove(self, self.lots)
        self.ctx.sessions.discard(self)
        self.ctx.notices.leave(self)
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.ctx.gate.leave(self)
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()

    def close(self) -> None:
        self.outlet.close()
        self.on_close()

    def end(self, reason: EndReason) -> None:
        """The account was blocked or its token logged out: say so (never "the server is
        restarting": a client would reconnect and be refused), then close. A WebSocket is
        closed with 1008 (policy violation), which browsers do not retry on their own."""
        message = ENDED[reason]
        if self.mode == "text":
            self._say(f"{message[0].upper()}{message[1:]}. [{Forbidden.code}]")
        else:
            self.outlet.send_message(
                codec.encode(
                    codec.SessionEnded(Forbidden.code, reason, message, self.ctx.clock.now_ms())
                )
            )
        refuse = getattr(self.outlet, "close_for_policy", None)
        if refuse is not None:
            refuse()
            self.on_close()
        else:
            self.close()

    def goodbye(self, message: str) -> None:
        if self.mode == "text":
            self._say(message)
        elif self.mode == "json":
            self.outlet.send_message(
                codec.encode(codec.ServerClosing(message, self.ctx.clock.now_ms()))
            )
        self.close()

    # -- from the feed -----------------------------------------------------------------------

    @property
    def sees_everyone(self) -> bool:
        """Admins see who bids, even in anonymous sales."""
        return self.actor is not None and self.actor.role == "admin"

    @property
    def viewer(self) -> str | None:
        """Who sees their own maximum in the snapshots this connection gets."""
        return self.actor.name if self.actor is not None else None

    def _snapshot(self, lot_id: str) -> Snapshot:
        """The lot as this connection may see it: its own maximum when it leads; all, if admin."""
        return self.ctx.feed.snapshot(lot_id, admin=self.sees_everyone, viewer=self.viewer)

    def deliver(self, batch: Batch) -> None:
        if self._stale or self.outlet.backed_up:
            self._stale = True  # nothing more until the outlet drains: then a snapshot
            return
        if self.mode == "text":
            if batch.text_lines:
                self.outlet.send_text(batch.text_lines)
            if self.actor is not None:
                self._say_lead_lost(batch)
        else:
            self.outlet.send_batch(batch.for_admins if self.sees_everyone else batch)

    def notice(self, line: bytes) -> None:
        if self.mode == "text" and not self._stale and not self.outlet.backed_up:
            self.outlet.send_text(line)

    # -- handling ----------------------------------------------------------------------------

    def _pump(self) -> None:
        """Handle the inbox in order: JSON bids here and now, anything else in a worker task.

        Why: a bid needs no task. It is decided at once and answered from its commit's done
        callback; a task per message was ~15% of the loop's time at 10,000 bids/s
        (bench/README.md). Like the worker, this handles one message at a time: what follows
        a bid waits for its answer.
        """
        if self._pumping:  # an answer given at once, from inside this loop: it goes on
            return
        self._pumping = True
        try:
            while self._inbox and not self.closed and not self._bid_pending:
                bid = self._bid_in(self._inbox[0])
                if bid is None:
                    self._worker = asyncio.ensure_future(self._drain())
                    return
                self._next_message()
                self._bid_pending = True
                self._offer_bid(bid, self._answer_pumped_bid)
        except Exception:  # as the worker does: a bug ends this connection, not the server
            log.exception("session failed; closing it")
            self.close()
        finally:
            self._pumping = False

    def _bid_in(self, data: bytes | str) -> codec.Bid | None:
        """The message as a bid the fast path can take, else None (the worker decides)."""
        if self.mode != "json":
            return None
        try:
            msg = codec.decode(data)
        except ClientError:
            return None
        return msg if isinstance(msg, codec.Bid) else None

    def _answer_pumped_bid(self, msg: codec.Bid, result: Accepted | Refusal) -> None:
        self._answer_bid(msg, result)
        self._bid_pending = False
        if self._worker is None:
            self._pump()

    def _next_message(self) -> bytes | str:
        data = self._inbox.popleft()
        if self._paused and len(self._inbox) < MAX_INBOX // 2:
            self._paused = False
            self.outlet.resume_reading()
        return data

    async def _drain(self) -> None:
        try:
            while self._inbox and not self.closed:
                await self._handle(self._next_message())
        except Exception:
            log.exception("session failed; closing it")
            self.close()
        finally:
            self._worker = None

    async def _handle(self, data: bytes | str) -> None:
        stripped = data.lstrip()
        is_json = stripped[:1] in ("{", b"{")
        if self.mode == "json" or is_json:
            if self.mode != "json":
                self._enter_json_mode()
            if not is_json:
                if stripped:
                    self._error(None, "bad_json", "expected a JSON object on each line")
                return
            await self._handle_json(data)
        else:
            if self.mode == "pending":
                self._enter_text_mode()
            if isinstance(data, bytes):
                try:
                    line = data.decode("utf-8")
                except UnicodeDecodeError:
                    self._say("Sorry, that was not readable text; please type UTF-8. [bad_request]")
                    return
            else:
                line = data
            if any(ord(c) < 32 and c not in "\t\r\n" for c in line):
                self._say("Sorry, that line has control characters I cannot read. [bad_request]")
                return
            await self._handle_text(line)

    # -- JSON mode ---------------------------------------------------------------------------

    def _enter_json_mode(self) -> None:
        if self.mode == "text" and self.house_feed:
            self.ctx.feed.leave_house(self)
            self.house_feed = False
        self.mode = "json"
        if self.actor is not None:  # a greeted text guest turns JSON: welcome it properly
            self._welcome(None, token=None)

    async def _handle_json(self, data: bytes | str) -> None:
        try:
            msg = codec.decode(data)
        except ClientError as err:
            request_id = getattr(err, "request_id", None)
            if err.code == "bad_amount":
                self._reject(request_id, getattr(err, "lot", None), Refusal(err.code, str(err)))
            else:
                self._error(request_id, err.code, str(err))
            return
        handler = self._json_handlers.get(type(msg))
        assert handler is not None
        await handler(self, msg)

    async def _on_hello(self, msg: codec.Hello) -> None:
        """Be a guest: the session of a live ``guest_token``, else a new one with the name (or
        ``name-N``). A guest saying hello again (its page, after the WebSocket's cookie made it
        that guest already) is welcomed again, or renamed: as text mode's ``name``."""
        again = self.actor is not None
        if self.actor is not None and self.actor.role != "guest":
            self._error(msg.id, "bad_request", f"you are already {self.actor.name}")
            return
        gate = self.ctx.gate
        # a guest session another node of the house made is this node's too from here on
        actor = None
        if msg.guest_token:
            try:
                if await gate.recall_guest(msg.guest_token):
                    actor = gate.resume_guest(msg.guest_token, self)
            except BidwireError as err:
                self._error(msg.id, err.code, str(err))
                return
        if actor is None:
            if msg.guest_token and not msg.name.strip():
                message = "your guest session has ended; say hello with a name"
                self._error(msg.id, NotAuthenticated.code, message)
                return
            try:
                actor = await gate.guest(msg.name, self)
            except BidwireError as err:  # a client's fault, or the shared names are down
                self._error(msg.id, err.code, str(err))
                return
        self.actor = actor
        self._welcome(msg.id, token=None, again=again)

    def adopt_guest(self, token: str) -> bool:
        """Start as the guest of a live guest session (the WebSocket's ``bidwire_guest``
        cookie); False, and nothing said, if it has ended."""
        actor = self.ctx.gate.resume_guest(token, self)
        if actor is None:
            return False
        self.actor = actor
        self._welcome(None, token=None)
        return True

    async def _on_account(self, msg: codec.Register | codec.Login | codec.Auth) -> None:
        gate = self.ctx.gate
        try:
            if isinstance(msg, codec.Register):
                actor, token = await gate.register(msg.username, msg.password, self)
            elif isinstance(msg, codec.Login):
                actor, token = await gate.login(msg.username, msg.password, self.address, self)
            else:
                actor, _ = await gate.resume(msg.token, self)
                token = msg.token
        except ClientError as err:
            self._error(msg.id, err.code, str(err))
            return
        self.actor = actor
        self.token = token
        self._welcome(msg.id, token=token)

    async def _on_bid(self, msg: codec.Bid) -> None:
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def answer(msg: codec.Bid, result: Accepted | Refusal) -> None:
            self._answer_bid(msg, result)
            if not answered.done():
                answered.set_result(None)

        self._offer_bid(msg, answer)
        await answered

    def _offer_bid(
        self, msg: codec.Bid, answer: Callable[[codec.Bid, Accepted | Refusal], None]
    ) -> None:
        command = self.ctx.gate.bid(self.actor, msg.lot, msg.amount, msg.max_amount, msg.request_id)
        if isinstance(command, Refusal):
            answer(msg, command)
        else:
            self.ctx.house.offer_bid(command, functools.partial(answer, msg))

    def _answer_bid(self, msg: codec.Bid, result: Accepted | Refusal) -> None:
        if self.closed:  # it stands, committed; there is nobody left to tell
            return
        if isinstance(result, Refusal):
            self._reject(msg.id, msg.lot, result)
        else:
            self.outlet.send_message(
                codec.encode(
                    codec.BidAccepted(
                        result.lot,
                        result.amount,
                        result.seq,
                        self.ctx.clock.now_ms(),
                        msg.id,
                        result.max_amount,
                        result.leading,
                        self._public_me(result.lot),
                    )
                )
            )

    async def _on_subscribe(self, msg: codec.Subscribe) -> None:
        if not self._known_lots(msg.id, msg.lots):
            return
        if len(self.lots | set(msg.lots)) > MAX_SUBSCRIBED_LOTS:
            self._error(msg.id, "bad_request", f"at most {MAX_SUBSCRIBED_LOTS} lots at once")
            return
        fresh = [lot for lot in dict.fromkeys(msg.lots) if lot not in self.lots]
        try:  # a closed lot's is read from the store: first, so nothing slips in after
            snapshots = await self.ctx.queries.snapshots(
                fresh, admin=self.sees_everyone, viewer=self.viewer
            )
        except BidwireError as err:
            self._error(msg.id, err.code, str(err))
            return
        if self.closed:
            return
        if self.house_feed:
            self.ctx.feed.leave_house(self)
            self.house_feed = False
        self.lots.update(fresh)
        self.ctx.feed.subscribe_lots(self, fresh)
        self._send_subscribed(msg.id)
        for snapshot in snapshots:
            self.outlet.send_message(codec.encode(snapshot))

    async def _on_unsubscribe(self, msg: codec.Unsubscribe) -> None:
        if not self._known_lots(msg.id, msg.lots):
            return
        gone = self.lots & set(msg.lots)
        self.lots -= gone
        self.ctx.feed.unsubscribe_lots(self, gone)
        self._send_subscribed(msg.id)

    async def _on_resync(self, msg: codec.Resync) -> None:
        if not self._known_lots(msg.id, [msg.lot]):
            return
        if msg.since_seq < 0:
            self._error(msg.id, "bad_request", "since_seq cannot be negative")
            return
        view = self.ctx.feed.views.get(msg.lot)
        if view is None:  # closed: nothing follows its last seq
            await self._resync_closed(msg)
            return
        latest = view.seq
        if msg.since_seq > latest:
            # A seq this server never published (another server's, or a made-up one): silence
            # would leave the client waiting for events that will never come.
            self._error(
                msg.id,
                "bad_request",
                f"lot {msg.lot[:64]!r} is only at seq {latest}; resync from {latest} or less",
            )
            return
        missed = self.ctx.feed.events_since(msg.lot, msg.since_seq, admin=self.sees_everyone)
        if missed is None:
            self.outlet.send_message(codec.encode(self._snapshot(msg.lot)))
        else:
            for body in missed:
                self.outlet.send_message(body)

    async def _on_buy_now(self, msg: codec.BuyNow) -> None:
        result = await self._buy_now(msg.lot)
        if isinstance(result, Refusal):
            self._reject(msg.id, msg.lot, result)
            return
        assert result.amount is not None
        self.outlet.send_message(
            codec.encode(
                codec.Bought(
                    result.lot,
                    result.amount,
                    result.seq,
                    self.ctx.clock.now_ms(),
                    msg.id,
                    self._public_me(result.lot),
                )
            )
        )

    def _public_me(self, lot_id: str) -> str | None:
        """How the public sees this connection on ``lot_id`` (its pseudonym if anonymous)."""
        if self.actor is None:
            return None
        return self.ctx.queries.public_bidder(lot_id, self.actor.name)

    async def _buy_now(self, lot_id: str) -> LotClosed | Refusal:
        command = self.ctx.gate.buy_now(self.actor, lot_id)
        if isinstance(command, Refusal):
            return command
        return await self.ctx.house.buy_now(command)

    async def _resync_closed(self, msg: codec.Resync) -> None:
        try:
            snapshot = await self.ctx.queries.snapshot(
                msg.lot, admin=self.sees_everyone, viewer=self.viewer
            )
        except BidwireError as err:
            self._error(msg.id, err.code, str(err))
            return
        if msg.since_seq > snapshot.seq:
            self._error(
                msg.id,
                "bad_request",
                f"lot {msg.lot[:64]!r} is only at seq {snapshot.seq};"
                f" resync from {snapshot.seq} or less",
            )
        elif msg.since_seq < snapshot.seq:
            self.outlet.send_message(codec.encode(snapshot))

    async def _on_ping(self, msg: codec.Ping) -> None:
        self.outlet.send_message(codec.encode(codec.Pong(self.ctx.clock.now_ms(), msg.id)))

    _json_handlers: ClassVar[
        dict[type, Callable[[Session, codec.ClientMessage], Awaitable[None]]]
    ] = {
        codec.Hello: _on_hello,  # type: ignore[dict-item]
        codec.Register: _on_account,  # type: ignore[dict-item]
        codec.Login: _on_account,  # type: ignore[dict-item]
        codec.Auth: _on_account,  # type: ignore[dict-item]
        codec.Bid: _on_bid,  # type: ignore[dict-item]
        codec.BuyNow: _on_buy_now,  # type: ignore[dict-item]
        codec.Subscribe: _on_subscribe,  # type: ignore[dict-item]
        codec.Unsubscribe: _on_unsubscribe,  # type: ignore[dict-item]
        codec.Resync: _on_resync,  # type: ignore[dict-item]
        codec.Ping: _on_ping,  # type: ignore[dict-item]
        codec.Mine: mine.on_mine,  # type: ignore[dict-item]
        codec.Watch: mine.on_watch,  # type: ignore[dict-item]
        codec.Notices: mine.on_notices,  # type: ignore[dict-item]
        codec.IntegrityAsk: on_integrity,  # type: ignore[dict-item]
        codec.HistoryRequest: bid_history.on_history,  # type: ignore[dict-item]
    }

    def _known_lots(self, request_id: codec.RequestId, lots: list[str]) -> bool:
        if self.actor is None:
            self._error(request_id, "not_authenticated", "say hello first")
            return False
        unknown = [lot for lot in lots if not self.ctx.house.knows(lot)]
        if unknown:
            shown = ", ".join(repr(lot[:64]) for lot in unknown[:5])
            self._error(request_id, "unknown_lot", f"no such lot: {shown}")
            return False
        return True

    def adopt(self, user: UserRecord, token: str) -> None:
        """Start as an account the transport already authenticated (the web client's cookie)."""
        self.actor = self.ctx.gate.signed_in(user, self)
        self.token = token
        self._welcome(None, token=None)  # the page's script never sees the HttpOnly cookie's token

    def _check_identified(self) -> None:
        """Connections that never say who they are do not get to hold a socket forever."""
        self._auth_timer = None
        if not self.ctx.gate.identified(self.actor) and not self.closed:
            message = f"no hello or login within {self.ctx.auth_timeout:g} s; closing"
            if self.mode == "text":
                self._say(f"{message}. [not_authenticated]")
            else:
                self._error(None, "not_authenticated", message)
            self.close()

    def _welcome(self, request_id: codec.RequestId, token: str | None, again: bool = False) -> None:
        """Who the connection is now, then (``again`` aside: it has them) a snapshot of each
        open lot, then its aliases in the anonymous sales."""
        assert self.actor is not None
        now = self.ctx.clock.now_ms()
        guest_token = self.ctx.gate.guest_token(self) if self.actor.role == "guest" else None
        self.outlet.send_message(
            codec.encode(
                codec.Welcome(
                    self.actor.name,
                    self.actor.role,
                    token,
                    now,
                    id=request_id,
                    confirm_above=self.ctx.confirm_above,
                    guest_token=guest_token,
                )
            )
        )
        self.ctx.notices.join(self)
        if not again:
            for lot_id in self._open_lots():
                self.outlet.send_message(codec.encode(self._snapshot(lot_id)))
        for sale_id in self._alias_sales():
            self.tell_alias(sale_id)
        if not self.lots and not self.house_feed:
            self.house_feed = True
            self.ctx.feed.subscribe_house(self)

    def _alias_sales(self) -> list[str]:
        """The anonymous sales running or to come: where this connection has a pseudonym.
        Read from the anonymous ones only (``feed.salts``): a long-lived store holds many
        ended sales, and every welcome asks this."""
        sales = self.ctx.house.sales
        return [
            sale_id
            for sale_id in self.ctx.feed.salts
            if (sale := sales.get(sale_id)) is not None and sale.status in ALIAS_STATUSES
        ]

    def tell_alias(self, sale_id: str) -> None:
        """Tell this connection alone how the public sees it in an anonymous sale."""
        if self.actor is None or self.closed:
            return
        house = self.ctx.house
        alias = house.public_name(sale_id, self.actor.name)
        if self.mode == "text":
            sale = house.sales.get(sale_id)
            title = sale.spec.title if sale is not None else sale_id
            self._say(f"In {title} (an anonymous sale) the others see you as {alias}.")
        elif self.mode == "json":
            self.outlet.send_message(
                codec.encode(codec.Alias(sale_id, alias, self.ctx.clock.now_ms()))
            )

    def _send_subscribed(self, request_id: codec.RequestId) -> None:
        self.outlet.send_message(
            codec.encode(
                codec.Subscribed(
                    sorted(self.lots), self.house_feed, self.ctx.clock.now_ms(), request_id
                )
            )
        )

    def _error(self, request_id: codec.RequestId, code: str, message: str) -> None:
        self.outlet.send_message(
            codec.encode(codec.Error(code, message, self.ctx.clock.now_ms(), request_id))
        )

    def _reject(self, request_id: codec.RequestId, lot: str | None, refusal: Refusal) -> None:
        self.outlet.send_message(
            codec.encode(
                codec.BidRejected(
                    lot[:64] if lot else lot,
                    refusal.code,
                    refusal.message,
                    self.ctx.clock.now_ms(),
                    refusal.min_amount,
                    request_id,
                )
            )
        )

    def _open_lots(self) -> list[str]:
        return [lot.id for lot in self.ctx.feed.views.values() if lot.status == "open"]

    def _watched_open_lots(self) -> list[str]:
        return [lot for lot in self._open_lots() if self.house_feed or lot in self.lots]

    # -- text mode ---------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        self.outlet.send_text((line + "\n").encode())

    def _say_lead_lost(self, batch: Batch) -> None:
        """Tell this person alone when a batch ends their lead: the shared lines only say who
        bids. Read from the views after the batch, so a rival's bid and the answer of this
        person's maximum, one commit, are no lead lost."""
        assert self.actor is not None
        me = self.actor.name
        views = self.ctx.feed.views
        for lot_id in {item.lot for item in batch.items if item.lot is not None}:
            # a lot that has just closed has left the views; the house keeps it a while
            view = views.get(lot_id) or self.ctx.house.closed.cached(lot_id)
            if view is None:
                self._text_leading.discard(lot_id)
                continue
            leads = view.status != "closed" and view.high_bidder == me
            if leads:
                self._text_leading.add(lot_id)
            elif lot_id in self._text_leading:
                self._text_leading.discard(lot_id)
                if view.status == "closed" and view.outcome == "sold" and view.high_bidder == me:
                    self._say(f"Congratulations, {view.spec.title} is yours!")
                if view.status == "closed" or view.high_amount is None:
                    continue  # the close, or a void leaving no bid, says it all
                high = format_amount(view.high_amount, view.spec.currency)
                who = self.ctx.house.public_name(view.sale, view.high_bidder or "")
                self._say(
                    f"You no longer lead on {view.spec.title}: the high bid is {high} by {who}."
                )

    def _enter_text_mode(self) -> None:
        self.mode = "text"
        if self.actor is None and self.ctx.guests_allowed:
            self.actor = self.ctx.gate.made_up_guest(self)
        now = self.ctx.clock.now_ms()
        if self.actor is None:
            self._say(f"Welcome to bidwire! Type 'login NAME' to take part. {text.HELP}")
        else:
            self._say(f"Welcome to bidwire, {self.actor.name}! {text.HELP}")
            for sale_id in self._alias_sales():
                self.tell_alias(sale_id)
        open_lots = self._open_lots()
        for lot_id in open_lots:
            self._say(
                text.describe_lot(self.ctx.feed.views[lot_id], now, self.ctx.house.public_name)
            )
        if not open_lots:
            self._say("Nothing is on the block right now; the next lot will be announced here.")
        self.house_feed = True
        self.ctx.feed.subscribe_house(self)

    async def _handle_text(self, line: str) -> None:
        if self._password_for is not None:
            username, self._password_for = self._password_for, None
            await self._text_login(username, line.strip("\r\n"))
            return
        command = text.parse_line(line)
        now = self.ctx.clock.now_ms()
        if command.verb == "empty":
            return
        if command.verb == "quit":
            self._say("Goodbye!")
            self.close()
        elif command.verb == "help":
            self._say(text.HELP)
        elif command.verb == "lots":
            views = self.ctx.feed.views.values()
            listed = [
                text.describe_lot(lot, now, self.ctx.house.public_name)
                for lot in views
                if lot.status != "closed"
            ]
            for entry in listed or ["No open or coming lots."]:
                self._say(entry)
        elif command.verb == "lot":
            if not self.ctx.house.knows(command.arg):
                self._say(f"There is no lot {command.arg[:64]!r}; type 'lots' to list them.")
            else:
                chosen = await self._text_lot(command.arg)
                if chosen is not None:
                    self.current_lot = command.arg
                    self._say(f"Your bids now go to {chosen.spec.title}.")
        elif command.verb == "name":
            await self._rename(command.arg)
        elif command.verb == "resume":
            await self._text_resume(command.arg)
        elif command.verb == "login":
            if self.ctx.accounts is None:
                self._say("This server has no accounts. [bad_request]")
            elif not command.arg:
                self._say("Type 'login NAME', then your password on the next line.")
            else:
                self._password_for = command.arg
                self._say(f"Password for {command.arg}:")
        elif command.verb == "bid":
            await self._text_bid(command.arg)
        elif command.verb == "max":
            await self._text_bid(command.arg, maximum=True)
        elif command.verb == "buy":
            await self._text_buy()
        elif command.verb == "history":
            await bid_history.on_text(self, command.arg)
        else:
            self._say(f"I did not understand {command.arg!r}. {text.HELP}")

    async def _text_lot(self, lot_id: str) -> Lot | None:
        """The lot as published (a closed one read from the store); None, said, if unreadable."""
        try:
            return await self.ctx.queries.published(lot_id)
        except BidwireError as err:
            self._say(f"Sorry, {err}. [{err.code}]")
            return None

    async def _rename(self, wanted: str) -> None:
        if self.actor is None or self.actor.role != "guest":
            self._say("Only guests pick their names; accounts keep theirs.")
            return
        try:
            self.actor = await self.ctx.gate.guest(wanted, self)
        except BidwireError as err:
            self._say(f"You keep the name {self.actor.name}: {err}. [{err.code}]")
            return
        self._say(f"You are now {self.actor.name}.")
        for sale_id in self._alias_sales():
            self.tell_alias(sale_id)

    def _tell_resume_code(self) -> None:
        """A text-mode guest who has bid keeps the name for days: say, once per guest session,
        how to come back as it after a lost connection (a web page keeps its code in a cookie;
        a terminal has only what it was told)."""
        if self.mode != "text" or self.actor is None or self.actor.role != "guest":
            return
        token = self.ctx.gate.guest_token(self)
        if token is None or token == self._told_code:
            return
        self._told_code = token
        self._say(
            f"Your name {self.actor.name} is kept for you for {GUEST_KEPT_DAYS} days. If the"
            f" connection drops, connect again and type: resume {token}"
        )

    async def _text_resume(self, code: str) -> None:
        """``resume CODE``: be again the guest the code was given for, with its bids and lead."""
        if self.actor is not None and self.actor.role != "guest":
            self._say(
                f"You are {self.actor.name}, logged in; 'resume' is for guests. [bad_request]"
            )
            return
        if not code:
            self._say("Type resume and the code you were given after your first bid. [bad_request]")
            return
        gate = self.ctx.gate
        try:
            actor = gate.resume_guest(code, self) if await gate.recall_guest(code) else None
        except BidwireError as err:  # the shared names cannot be asked now
            self._say(f"Cannot resume now: {err}. [{err.code}]")
            return
        if actor is None:
            self._say(
                "That code is no guest's here: it may be mistyped, or the guest has ended"
                f" (a guest who bid is kept {GUEST_KEPT_DAYS} days). [{NotAuthenticated.code}]"
            )
            return
        self.actor = actor
        self._told_code = code
        self._say(f"Welcome back, {actor.name}!")
        for view in self.ctx.feed.views.values():
            if view.status != "closed" and view.high_bidder == actor.name:
                high = format_amount(view.high_amount or 0, view.spec.currency)
                self._say(f"You lead on {view.spec.title} at {high}.")
        for sale_id in self._alias_sales():
            self.tell_alias(sale_id)

    async def _text_login(self, username: str, password: str) -> None:
        try:
            self.actor, self.token = await self.ctx.gate.login(
                username, password, self.address, self
            )
        except ClientError as err:
            self._say(f"Login failed: {err}. [{err.code}]")
            return
        self._say(f"Welcome back, {self.actor.name} ({self.actor.role}).")
        for sale_id in self._alias_sales():
            self.tell_alias(sale_id)

    def _target_lot(self) -> str | None:
        """Where a typed bid, maximum or buy goes: the chosen lot, else the one on the block."""
        lot_id = self.current_lot or self.ctx.house.lot_on_the_block()
        if lot_id is None:
            self._say("Nothing is on the block right now. [lot_not_open]")
        return lot_id

    def _text_refused(self, what: str, refusal: Refusal) -> None:
        hint = ""
        if refusal.code == "lot_not_open" and self.current_lot is not None:
            self.current_lot = None  # a chosen lot that closed: back to the block
            hint = " Your next bid goes to the lot on the block."
        self._say(f"{what} refused: {refusal.message}.{hint} [{refusal.code}]")

    async def _text_bid(self, amount_text: str, *, maximum: bool = False) -> None:
        """A bare number (or ``bid N``) bids N; ``max N`` leaves a maximum of N."""
        what = "Maximum" if maximum else "Bid"
        if maximum and not amount_text:
            self._say("Type max and the most you would pay, such as: max 400. [bad_amount]")
            return
        lot_id = self._target_lot()
        if lot_id is None:
            return
        view = await self._text_lot(lot_id)
        if view is None:
            return
        currency = view.spec.currency
        try:
            amount = parse_units(amount_text, currency)
            if amount == 0:
                raise ValueError(f"{'a maximum' if maximum else 'a bid'} must be more than zero")
        except ValueError as exc:
            example = "max 400 or max 400.50" if maximum else "150 or 150.50"
            self._say(f"{what} refused: {exc}. Type a number such as {example}. [bad_amount]")
            return
        if maximum:
            command = self.ctx.gate.bid(self.actor, lot_id, None, amount)
        else:
            command = self.ctx.gate.bid(self.actor, lot_id, amount)
        result = (
            command if isinstance(command, Refusal) else await self.ctx.house.place_bid(command)
        )
        if isinstance(result, Refusal):
            self._text_refused(what, result)
            return
        title = view.spec.title
        shown = format_amount(result.amount, currency)
        if maximum:
            left = f"Maximum of {format_amount(amount, currency)} left on {title}"
            if result.leading:
                self._say(f"{left}: you lead at {shown}. Only you see your maximum.")
            else:
                self._say(
                    f"{left}, but another bidder's maximum is higher: you have been outbid"
                    f" at {shown}."
                )
        elif result.leading:
            self._say(f"Bid accepted: {shown} on {title}. You are leading.")
        else:
            self._say(
                f"Bid placed: {shown} on {title}, but another bidder's maximum"
                " is higher: you have been outbid."
            )
        self._tell_resume_code()

    async def _text_buy(self) -> None:
        lot_id = self._target_lot()
        if lot_id is None:
            return
        view = await self._text_lot(lot_id)  # before the buy: a closed lot leaves the views
        if view is None:
            return
        result = await self._buy_now(lot_id)
        if isinstance(result, Refusal):
            self._text_refused("Buy-now", result)
            return
        assert result.amount is not None
        self._say(
            f"Bought now: {view.spec.title} is yours for"
            f" {format_amount(result.amount, view.spec.currency)}."
        )
        self._tell_resume_code()
