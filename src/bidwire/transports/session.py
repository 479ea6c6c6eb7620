"""One Session per connection, whatever the transport: the protocol's behaviour lives here.

A transport hands in lines (TCP) or frames (WebSocket) and gives the session an Outlet to write
to. Writes never block: when a peer stops reading, its outlet reports ``backed_up``, the session
drops the backlog, and when the peer drains it gets a fresh snapshot instead (conflation), so a
slow client never delays anyone else.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from bidwire.clock import Clock
from bidwire.domain.commands import Actor
from bidwire.domain.lot import Refusal
from bidwire.domain.money import format_amount, parse_units
from bidwire.engine.feed import Batch, Feed
from bidwire.engine.house import AuctionHouse
from bidwire.errors import ClientError
from bidwire.wire import codec, text

log = logging.getLogger("bidwire.session")

MAX_INBOX = 256
"""Messages queued from one peer before we stop reading from it (backpressure, not loss)."""
MAX_SUBSCRIBED_LOTS = 1_000
_NAME = re.compile(r"^[\w][\w .\-]{0,31}$")


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
    guests_allowed: bool = True
    names: dict[str, Session] = field(default_factory=dict)
    sessions: set[Session] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)

    def unique_name(self, wanted: str) -> str:
        if wanted.casefold() not in self._taken():
            return wanted
        for n in range(2, 10_000):
            candidate = f"{wanted[:26]}-{n}"
            if candidate.casefold() not in self._taken():
                return candidate
        return f"{wanted[:20]}-{self.rng.randrange(10**9)}"

    def guest_name(self) -> str:
        return self.unique_name(f"guest-{self.rng.randrange(1000, 10_000)}")

    def _taken(self) -> set[str]:
        return {name.casefold() for name in self.names}


Mode = Literal["pending", "text", "json"]


class Session:
    def __init__(self, ctx: SessionContext, outlet: Outlet, *, text_allowed: bool = True) -> None:
        self.ctx = ctx
        self.outlet = outlet
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
        self._paused = False
        ctx.sessions.add(self)

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
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._drain())

    def on_too_large(self) -> None:
        message = "message larger than 64 KiB; closing the connection"
        if self.mode == "text":
            self._say(f"Line too long: {message}. [too_large]")
        else:
            self._error(None, "too_large", message)
        self.close()

    def on_writable(self) -> None:
        """The peer drained its backlog: send a fresh picture of what it missed."""
        if self._stale and not self.closed:
            self._stale = False
            lots = self._watched_open_lots()
            if self.mode == "text":
                now = self.ctx.clock.now_ms()
                for lot_id in lots:
                    self._say(text.describe_lot(self.ctx.feed.views[lot_id], now))
            else:
                for lot_id in lots:
                    self.outlet.send_message(codec.encode(self.ctx.feed.snapshot(lot_id)))

    def on_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.ctx.feed.remove(self, self.lots)
        self.ctx.sessions.discard(self)
        if self.actor is not None and self.ctx.names.get(self.actor.name) is self:
            del self.ctx.names[self.actor.name]
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()

    def close(self) -> None:
        self.outlet.close()
        self.on_close()

    def goodbye(self, message: str) -> None:
        if self.mode == "text":
            self._say(message)
        elif self.mode == "json":
            self.outlet.send_message(
                codec.encode(codec.ServerClosing(message, self.ctx.clock.now_ms()))
            )
        self.close()

    # -- from the feed -----------------------------------------------------------------------

    def deliver(self, batch: Batch) -> None:
        if self.outlet.backed_up:
            self._stale = True
            return
        if self.mode == "text":
            if batch.text_lines:
                self.outlet.send_text(batch.text_lines)
        else:
            self.outlet.send_batch(batch)

    def notice(self, line: bytes) -> None:
        if self.mode == "text" and not self.outlet.backed_up:
            self.outlet.send_text(line)

    # -- handling ----------------------------------------------------------------------------

    async def _drain(self) -> None:
        try:
            while self._inbox and not self.closed:
                data = self._inbox.popleft()
                if self._paused and len(self._inbox) < MAX_INBOX // 2:
                    self._paused = False
                    self.outlet.resume_reading()
                await self._handle(data)
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
        if self.actor is not None:
            self._error(msg.id, "bad_request", f"you are already {self.actor.name}")
            return
        if not self.ctx.guests_allowed:
            self._error(msg.id, "forbidden", "this server does not take guests; log in")
            return
        name = msg.name.strip()
        if not _NAME.match(name):
            self._error(
                msg.id,
                "bad_request",
                "a name is 1 to 32 letters, digits, spaces, dots, dashes or underscores",
            )
            return
        self._become(self.ctx.unique_name(name))
        self._welcome(msg.id, token=None)

    async def _on_account(self, msg: codec.Register | codec.Login | codec.Auth) -> None:
        self._error(msg.id, "bad_request", "accounts are not enabled on this server yet; use hello")

    async def _on_bid(self, msg: codec.Bid) -> None:
        if self.actor is None:
            self._reject(msg.id, msg.lot, Refusal("not_authenticated", "say hello first"))
            return
        if msg.max_amount is not None:
            self._reject(msg.id, msg.lot, Refusal("bad_request", "proxy bids are not offered yet"))
            return
        result = await self.ctx.house.place_bid(self.actor, msg.lot, msg.amount, msg.request_id)
        if isinstance(result, Refusal):
            self._reject(msg.id, msg.lot, result)
        else:
            self.outlet.send_message(
                codec.encode(
                    codec.BidAccepted(
                        result.lot, result.amount, result.seq, self.ctx.clock.now_ms(), msg.id
                    )
                )
            )

    async def _on_subscribe(self, msg: codec.Subscribe) -> None:
        if not self._known_lots(msg.id, msg.lots):
            return
        if len(self.lots | set(msg.lots)) > MAX_SUBSCRIBED_LOTS:
            self._error(msg.id, "bad_request", f"at most {MAX_SUBSCRIBED_LOTS} lots at once")
            return
        if self.house_feed:
            self.ctx.feed.leave_house(self)
            self.house_feed = False
        fresh = [lot for lot in dict.fromkeys(msg.lots) if lot not in self.lots]
        self.lots.update(fresh)
        self.ctx.feed.subscribe_lots(self, fresh)
        self._send_subscribed(msg.id)
        for lot_id in fresh:
            self.outlet.send_message(codec.encode(self.ctx.feed.snapshot(lot_id)))

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
        missed = self.ctx.feed.events_since(msg.lot, msg.since_seq)
        if missed is None:
            self.outlet.send_message(codec.encode(self.ctx.feed.snapshot(msg.lot)))
        else:
            for body in missed:
                self.outlet.send_message(body)

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
        codec.Subscribe: _on_subscribe,  # type: ignore[dict-item]
        codec.Unsubscribe: _on_unsubscribe,  # type: ignore[dict-item]
        codec.Resync: _on_resync,  # type: ignore[dict-item]
        codec.Ping: _on_ping,  # type: ignore[dict-item]
    }

    def _known_lots(self, request_id: codec.RequestId, lots: list[str]) -> bool:
        if self.actor is None:
            self._error(request_id, "not_authenticated", "say hello first")
            return False
        unknown = [lot for lot in lots if lot not in self.ctx.feed.views]
        if unknown:
            shown = ", ".join(repr(lot[:64]) for lot in unknown[:5])
            self._error(request_id, "unknown_lot", f"no such lot: {shown}")
            return False
        return True

    def _become(self, name: str) -> None:
        self.actor = Actor(name, "guest")
        self.ctx.names[name] = self

    def _welcome(self, request_id: codec.RequestId, token: str | None) -> None:
        assert self.actor is not None
        now = self.ctx.clock.now_ms()
        self.outlet.send_message(
            codec.encode(codec.Welcome(self.actor.name, self.actor.role, token, now, id=request_id))
        )
        for lot_id in self._open_lots():
            self.outlet.send_message(codec.encode(self.ctx.feed.snapshot(lot_id)))
        if not self.lots:
            self.house_feed = True
            self.ctx.feed.subscribe_house(self)

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

    def _enter_text_mode(self) -> None:
        self.mode = "text"
        if self.actor is None:
            self._become(self.ctx.guest_name())
        assert self.actor is not None
        now = self.ctx.clock.now_ms()
        self._say(f"Welcome to bidwire, {self.actor.name}! {text.HELP}")
        open_lots = self._open_lots()
        for lot_id in open_lots:
            self._say(text.describe_lot(self.ctx.feed.views[lot_id], now))
        if not open_lots:
            self._say("Nothing is on the block right now; the next lot will be announced here.")
        self.house_feed = True
        self.ctx.feed.subscribe_house(self)

    async def _handle_text(self, line: str) -> None:
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
            listed = [text.describe_lot(lot, now) for lot in views if lot.status != "closed"]
            for entry in listed or ["No open or coming lots."]:
                self._say(entry)
        elif command.verb == "lot":
            if command.arg not in self.ctx.feed.views:
                self._say(f"There is no lot {command.arg[:64]!r}; type 'lots' to list them.")
            else:
                self.current_lot = command.arg
                self._say(f"Your bids now go to {self.ctx.feed.views[command.arg].spec.title}.")
        elif command.verb == "name":
            self._rename(command.arg)
        elif command.verb == "bid":
            await self._text_bid(command.arg)
        else:
            self._say(f"I did not understand {command.arg!r}. {text.HELP}")

    def _rename(self, wanted: str) -> None:
        assert self.actor is not None
        if not _NAME.match(wanted):
            self._say("A name is 1 to 32 letters, digits, spaces, dots, dashes or underscores.")
            return
        del self.ctx.names[self.actor.name]
        self._become(self.ctx.unique_name(wanted))
        self._say(f"You are now {self.actor.name}.")

    async def _text_bid(self, amount_text: str) -> None:
        assert self.actor is not None
        lot_id = self.current_lot or self.ctx.house.lot_on_the_block()
        if lot_id is None:
            self._say("Nothing is on the block right now. [lot_not_open]")
            return
        view = self.ctx.feed.views[lot_id]
        try:
            amount = parse_units(amount_text, view.spec.currency)
            if amount == 0:
                raise ValueError("a bid must be more than zero")
        except ValueError as exc:
            self._say(f"Bid refused: {exc}. Type a number such as 150 or 150.50. [bad_amount]")
            return
        result = await self.ctx.house.place_bid(self.actor, lot_id, amount)
        if isinstance(result, Refusal):
            hint = ""
            if result.code == "lot_not_open" and self.current_lot is not None:
                self.current_lot = None  # a chosen lot that closed: back to the block
                hint = " Your next bid goes to the lot on the block."
            self._say(f"Bid refused: {result.message}.{hint} [{result.code}]")
        else:
            shown = format_amount(result.amount, view.spec.currency)
            self._say(f"Bid accepted: {shown} on {view.spec.title}. You are leading.")
