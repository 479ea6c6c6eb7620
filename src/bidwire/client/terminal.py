"""The terminal client: ``bidwire client [HOST] [PORT]`` (and ``python client.py``).

Three layers, outermost last:

- :class:`ClientState` is sans-I/O. It takes decoded server messages plus the local time and
  returns a :class:`Reaction`: the lines to show and the messages to send back (resyncs).
  It keeps each lot's last ``seq``, ignores duplicates, holds events that arrive after a gap
  until the resync fills it, and estimates the server clock for countdowns.
- :func:`parse_input` turns a typed line into a command, again without I/O.
- :class:`TerminalClient` owns the TCP connection (JSON lines over asyncio streams): hello,
  keep-alive pings, reconnect with backoff, and feeding input lines in. :func:`run` drives it
  with any async iterator of lines; :func:`main` plugs in prompt_toolkit or plain stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from prompt_toolkit import PromptSession
from prompt_toolkit.patch_stdout import patch_stdout

from bidwire.client.history import HistoryAsk, history_lines, parse_history
from bidwire.domain.money import format_amount, parse_units

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 65432

MAX_LINE_BYTES = 4 * 1024 * 1024
"""Longest server line we read; a snapshot with a long bid history can exceed 64 KiB."""

MAX_HELD_EVENTS = 1000
"""Events held per lot while waiting for a resync; past this we drop them and ask again."""

Message = dict[str, Any]


def monotonic_ms() -> int:
    """The local clock for countdowns: monotonic, so a wall-clock jump cannot skew them."""
    return time.monotonic_ns() // 1_000_000


def format_remaining(ms: int) -> str:
    """``65_000`` -> ``"1:05"``; rounds up so "0:00" means the time is really up."""
    seconds = max(0, -(-ms // 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _int(value: object) -> int | None:
    # bool is an int subclass; JSON true is never a count.
    return value if type(value) is int else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _words(code: str) -> str:
    return code.replace("_", " ")


# -- the model -------------------------------------------------------------------------------


@dataclass(slots=True)
class LotView:
    """What the client knows about one lot."""

    lot: str
    title: str = ""
    currency: str = ""
    state: str = "scheduled"
    seq: int = 0
    high_amount: int | None = None
    high_bidder: str | None = None
    min_amount: int | None = None
    ends_at: int | None = None
    sale: str | None = None
    opened: int = 0
    """Order in which the lot was seen to open; the highest open one is on the block."""
    reserve: bool = False
    """The lot has a reserve (its amount is never sent)."""
    reserve_met: bool = False
    buy_now: int | None = None
    """The buy-now price while it is offered."""
    buy_now_price: int | None = None
    """The buy-now price as first offered: offered again if a void leaves no bid."""
    my_max: int | None = None
    """Our own maximum while we lead with it (only our own replies and views carry it)."""
    reason: str | None = None
    """Why a closed lot closed (``hammer``, ``buy_now``, ...)."""
    paused_left: int | None = None
    """While paused: the time left, frozen until the auctioneer resumes the lot."""

    @property
    def name(self) -> str:
        return self.title or self.lot

    def money(self, amount: int) -> str:
        return format_amount(amount, self.currency).strip()


@dataclass(frozen=True, slots=True)
class Reaction:
    """What one server message means to the user: lines to show, messages to send back."""

    lines: tuple[str, ...] = ()
    send: tuple[Message, ...] = ()


_REFUSALS = {
    "too_low": "too low",
    "already_leading": "you are already the highest bidder",
    "lot_not_open": "that lot is not open for bidding",
    "unknown_lot": "there is no such lot",
    "bad_amount": "that amount is not valid",
    "not_authenticated": "you are not signed in",
    "forbidden": "you may not bid on that lot",
    "rate_limited": "too many bids, slow down",
    "unavailable": "the auction house cannot take bids right now, try again",
}

_REPLIES = frozenset({"bid_accepted", "bid_rejected", "bought"})
"""Replies that carry a lot and a seq but are not lot events (the event follows on the feed)."""


class ClientState:
    """The client's picture of the auction house, fed one decoded server message at a time.

    Sans-I/O: every method takes the local time (``now_ms``, any monotonic milliseconds) as an
    argument and nothing here sleeps, reads a clock or touches a socket.

    Ordering: each lot event must carry ``seq == last + 1``. A lower seq is a duplicate and is
    dropped. A higher one is held back, and the first held event of a lot asks for a
    ``resync`` since the last seq applied; held events are applied as soon as the gap fills
    (from the resync reply or a snapshot), so nothing is shown out of order or twice.

    Server clock: ``offset_ms`` estimates ``server time - local time``. Each message gives a
    sample ``ts - now_ms``; transit delay only makes a sample too small, and events replayed
    by a resync carry their original, older ``ts``, so the largest sample since the last
    ``welcome`` is the best estimate. A welcome starts afresh, which follows server clock
    changes across reconnects.
    """

    def __init__(self) -> None:
        self.lots: dict[str, LotView] = {}
        self.user: str | None = None
        self.role: str | None = None
        self.offset_ms: int | None = None
        self._held: dict[str, dict[int, Mapping[str, Any]]] = {}
        self._sales: dict[str, str] = {}
        self._opened_count = 0
        self._welcomes = 0
        self._asked: dict[str, tuple[str, str]] = {}
        """Request id -> what it asked (``bid``, ``max``, ``buy``) and of which lot: how to
        word its answer."""
        self.confirm_above: int | None = None
        """The house limit from the welcome: any bid or maximum above it is asked about."""
        self.token: str | None = None
        """An account's token (after ``login``): reconnects say ``auth`` with it."""
        self.guest_token: str | None = None
        """A guest's session: reconnects give it back, so the guest keeps its name."""
        self.asked_name: str | None = None
        """The guest name we asked for in the last hello (the welcome may give another)."""
        self.ended: str | None = None
        """Why the server ended our session (``blocked``, ``logged_out``): do not reconnect."""
        self.refused: str | None = None
        """Why the server refused who we said we are (a hello or an expired token): ask the
        person for another name or a login rather than saying it again."""
        self._aliases: dict[str, str] = {}
        """Sale -> how the public sees us in it (anonymous sales): that bidder is "you"."""
        self._logins: set[str] = set()
        """Request ids of logins waiting for their welcome (or error)."""
        self._login_count = 0
        self._welcomed_here = False
        """A welcome came on the current connection."""
        self._identifying: str | None = None
        """The id of our hello (or auth) while its answer is awaited."""
        self._greeted = False
        """The server welcomed the connection before our hello came (it greets a silent
        connection as a text-mode guest): the answer to the hello follows."""
        self.history_asked: dict[str, HistoryAsk] = {}
        """Request id -> the ``history`` it asked (client/history.py)."""
        self.history_next: HistoryAsk | None = None
        """What ``history more`` asks: the older page of the last history shown."""

    # -- queries ---------------------------------------------------------------------------

    @property
    def on_block(self) -> LotView | None:
        """The most recently opened lot that is still open (or paused: it stays on the block,
        shown as paused, until it resumes or closes)."""
        live = [view for view in self.lots.values() if view.state in ("open", "paused")]
        return max(live, key=lambda view: view.opened, default=None)

    def is_me(self, view: LotView, bidder: str | None) -> bool:
        """``bidder`` is us: our name, or our pseudonym in the lot's (anonymous) sale."""
        if bidder is None:
            return False
        alias = self._aliases.get(view.sale) if view.sale is not None else None
        return bidder == self.user or (alias is not None and bidder == alias)

    def _leader_words(self, view: LotView, prefix: str = "high bid") -> str:
        assert view.high_amount is not None
        if self.is_me(view, view.high_bidder):
            return f"you lead at {view.money(view.high_amount)}"
        return f"{prefix} {view.money(view.high_amount)} by {view.high_bidder}"

    def server_now(self, now_ms: int) -> int | None:
        return None if self.offset_ms is None else now_ms + self.offset_ms

    def remaining_ms(self, view: LotView, now_ms: int) -> int | None:
        """Time left on ``view`` by the server's clock, or None if unknown."""
        if view.state == "paused":
            return view.paused_left  # the clock is stopped
        server_now = self.server_now(now_ms)
        if view.ends_at is None or server_now is None:
            return None
        return view.ends_at - server_now

    def describe(self, view: LotView, now_ms: int) -> str:
        """One line about a lot, for snapshots and the ``lots`` command."""
        head = f"{view.name} [{view.lot}]"
        if view.state == "closed":
            if view.reason is not None:
                return f"{head}: closed, {self._closed_words(view, view.reason)}"
            if view.high_amount is None:
                return f"{head}: closed"
            return f"{head}: closed at {view.money(view.high_amount)} ({view.high_bidder})"
        if view.state not in ("open", "paused"):
            return f"{head}: {view.state}"
        clauses = ["PAUSED by the auctioneer"] if view.state == "paused" else []
        if view.high_amount is None:
            clauses.append("no bids yet")
        elif self._my_max(view) is not None:
            clauses.append(self._my_max_words(view))
        else:
            clauses.append(self._leader_words(view))
        if view.min_amount is not None:
            clauses.append(f"next bid at least {view.money(view.min_amount)}")
        if view.reserve:
            clauses.append("reserve met" if view.reserve_met else "reserve not met yet")
        if view.buy_now is not None:
            clauses.append(f"buy now for {view.money(view.buy_now)} (type buy)")
        remaining = self.remaining_ms(view, now_ms)
        if remaining is not None and view.state == "paused":
            clauses.append(f"{format_remaining(remaining)} left when it resumes")
        elif remaining is not None:
            clauses.append(f"ends in {format_remaining(remaining)}")
        return f"{head}: " + ", ".join(clauses)

    def status(self, now_ms: int) -> str:
        """The toolbar: the lot on the block, its high bid, the next minimum, the countdown."""
        view = self.on_block
        if view is None:
            return "No lot on the block. Type help for commands."
        parts = [view.name]
        if view.state == "paused":
            parts.append("PAUSED by the auctioneer")
        if view.high_amount is None:
            parts.append("no bids yet")
        elif self._my_max(view) is not None:
            parts.append(self._my_max_words(view))
        else:
            parts.append(self._leader_words(view, "high"))
        if view.min_amount is not None and view.state != "paused":
            parts.append(f"next {view.money(view.min_amount)}")
        if view.reserve:
            parts.append("reserve met" if view.reserve_met else "reserve not met")
        if view.buy_now is not None:
            parts.append(f"buy now {view.money(view.buy_now)}")
        remaining = self.remaining_ms(view, now_ms)
        if remaining is not None and view.state == "paused":
            parts.append(f"{format_remaining(remaining)} left, stopped")
        elif remaining is not None:
            parts.append(f"{format_remaining(remaining)} left" if remaining > 0 else "closing...")
        return " | ".join(parts)

    def _my_max(self, view: LotView) -> int | None:
        """Our maximum, if we lead with one above the price (a plain bid's is its amount)."""
        if not self.is_me(view, view.high_bidder):
            return None
        return view.my_max

    def _my_max_words(self, view: LotView) -> str:
        assert view.my_max is not None and view.high_amount is not None
        return (
            f"your maximum {view.money(view.my_max)} is leading at {view.money(view.high_amount)}"
        )

    def asked(self, request_id: str, what: str, lot: str = "") -> None:
        """A request we sent (``bid``, ``max`` or ``buy``) about ``lot``: its answer is worded
        for it."""
        self._asked[request_id] = (what, lot)

    def _bidding_on(self, lot: str) -> bool:
        """A bid or maximum of ours on ``lot`` still waits for its answer."""
        return any(what != "buy" and on == lot for what, on in self._asked.values())

    def identify(self, name: str) -> Message:
        """What to say first on a new connection: our account's token after a login, else a
        guest hello with our name (and our guest session, so a reconnect keeps the name)."""
        self._welcomed_here = self._greeted = False
        if self.token is not None:
            self._identifying = "auth"
            return {"type": "auth", "id": "auth", "token": self.token}
        self.asked_name = name
        self._identifying = "hello"
        hello: Message = {"type": "hello", "id": "hello", "name": name}
        if self.guest_token is not None:
            hello["guest_token"] = self.guest_token
        return hello

    def login(self, username: str, password: str) -> Message:
        """The ``login`` request; its welcome (or error) is worded as the login's answer."""
        self._login_count += 1
        request_id = f"login{self._login_count}"
        self._logins.add(request_id)
        return {"type": "login", "id": request_id, "username": username, "password": password}

    def rename(self) -> None:
        """Forget the guest session: the next hello asks for a new name afresh."""
        self.guest_token = None
        self.refused = self.ended = None

    def resync_requests(self) -> list[Message]:
        """A resync for every lot that may still change, to catch up after a reconnect."""
        since = {lot: view.seq for lot, view in self.lots.items() if view.state != "closed"}
        for lot in self._held:
            since.setdefault(lot, 0)
        return [_resync(lot, seq) for lot, seq in since.items()]

    # -- updates ---------------------------------------------------------------------------

    def receive(self, msg: Mapping[str, Any], now_ms: int) -> Reaction:
        """Take one decoded server message received at local time ``now_ms``."""
        kind = msg.get("type")
        if kind == "welcome":
            return self._welcome(msg, now_ms)
        ts = _int(msg.get("ts"))
        if ts is not None:
            sample = ts - now_ms
            if self.offset_ms is None or sample > self.offset_ms:
                self.offset_ms = sample
        if kind == "snapshot":
            return self._snapshot(msg, now_ms)
        lot, seq = _str(msg.get("lot")), _int(msg.get("seq"))
        if lot is not None and seq is not None and kind not in _REPLIES:
            return self._lot_event(lot, seq, msg, now_ms)
        handler = _MESSAGE_HANDLERS.get(kind) if isinstance(kind, str) else None
        return Reaction(tuple(handler(self, msg))) if handler is not None else Reaction()

    def _welcome(self, msg: Mapping[str, Any], now_ms: int) -> Reaction:
        before = self.user
        request_id = msg.get("id")
        greeting = request_id is None and self._identifying is not None
        if greeting and self._welcomed_here:
            greeting = False  # a second unasked welcome: take it as who we are now
        if not greeting and self._greeted:
            self._aliases.clear()  # the greeting's guest was someone else
        self._greeted = greeting
        self.user = _str(msg.get("user"))
        self.role = _str(msg.get("role"))
        ts = _int(msg.get("ts"))
        self.offset_ms = None if ts is None else ts - now_ms
        self.confirm_above = _int(msg.get("confirm_above"))
        self.ended = self.refused = None
        self._welcomed_here = True
        who = self.user or "?"
        if greeting:  # say nothing yet: the answer to our hello comes next
            return Reaction(send=tuple(self.resync_requests()))
        if request_id == self._identifying:
            self._identifying = None
        self._welcomes += 1
        logged_in = isinstance(request_id, str) and request_id in self._logins
        token = _str(msg.get("token"))
        if self.role == "guest":
            self.guest_token = _str(msg.get("guest_token")) or self.guest_token
        elif token is not None:
            self.token, self.guest_token = token, None
        if logged_in:
            self._logins.discard(str(request_id))
            self._aliases.clear()  # a new identity: the server tells us our pseudonyms again
            lines = [f"Logged in as {who}" + (f" ({self.role})." if self.role else ".")]
        elif self._welcomes == 1:
            lines = [f"Connected as {who}" + (f" ({self.role})." if self.role else ".")]
        else:
            lines = [f"Reconnected as {who}; catching up."]
        asked = (self.asked_name or "").strip()
        if self.role == "guest" and asked and who != asked and who != before:
            lines.append(f"{asked} is taken by another guest; you bid as {who}.")
        return Reaction(tuple(lines), tuple(self.resync_requests()))

    def _snapshot(self, msg: Mapping[str, Any], now_ms: int) -> Reaction:
        lot, seq = _str(msg.get("lot")), _int(msg.get("seq"))
        if lot is None or seq is None:
            return Reaction()
        view = self.lots.get(lot)
        if view is not None and seq < view.seq:
            return Reaction()  # older than what we have already applied
        changed = view is None or seq > view.seq
        if view is None:
            view = self.lots[lot] = LotView(lot)
        was_live = view.state in ("open", "paused")
        view.seq = seq
        view.state = _str(msg.get("state")) or view.state
        self._fill(view, msg)
        view.reason = _str(msg.get("reason")) or view.reason  # why a closed lot closed
        view.paused_left = _int(msg.get("remaining_ms")) if view.state == "paused" else None
        high = msg.get("high_bid")
        if isinstance(high, Mapping):
            view.high_amount = _int(high.get("amount"))
            view.high_bidder = _str(high.get("bidder"))
            # only the leader's own view (and an admin's) carries the maximum
            mine = self.is_me(view, view.high_bidder)
            view.my_max = _int(high.get("max_amount")) if mine else None
        elif "high_bid" in msg:
            view.high_amount = view.high_bidder = view.my_max = None
        if view.state in ("open", "paused") and not was_live:
            self._mark_opened(view)
        lines = [self.describe(view, now_ms)] if changed else []
        return Reaction(tuple(lines + self._drain(lot, now_ms)))

    def _lot_event(self, lot: str, seq: int, msg: Mapping[str, Any], now_ms: int) -> Reaction:
        view = self.lots.get(lot)
        last = 0 if view is None else view.seq
        if seq <= last:
            return Reaction()  # duplicate
        # A lot we have never seen starts at its lot_opened, whatever seq that carries.
        if seq == last + 1 or (view is None and msg.get("type") == "lot_opened"):
            lines = self._apply(lot, seq, msg, now_ms)
            return Reaction(tuple(lines + self._drain(lot, now_ms)))
        held = self._held.setdefault(lot, {})
        ask = not held
        held[seq] = msg
        if len(held) > MAX_HELD_EVENTS:
            held.clear()  # the resync below brings them all again
            ask = True
        return Reaction(send=(_resync(lot, last),) if ask else ())

    def _apply(self, lot: str, seq: int, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        view = self.lots.get(lot)
        if view is None:
            view = self.lots[lot] = LotView(lot)
        view.seq = seq
        kind = msg.get("type")
        handler = _EVENT_HANDLERS.get(kind) if isinstance(kind, str) else None
        # Unknown event types still advance seq, so they never look like a gap.
        return handler(self, view, msg, now_ms) if handler is not None else []

    def _drain(self, lot: str, now_ms: int) -> list[str]:
        held = self._held.get(lot)
        if held is None:
            return []
        lines: list[str] = []
        view = self.lots.get(lot)
        while view is not None and (msg := held.pop(view.seq + 1, None)) is not None:
            lines += self._apply(lot, view.seq + 1, msg, now_ms)
        last = 0 if view is None else view.seq
        for stale in [seq for seq in held if seq <= last]:
            del held[stale]
        if not held:
            del self._held[lot]
        return lines

    def _fill(self, view: LotView, msg: Mapping[str, Any]) -> None:
        view.title = _str(msg.get("title")) or view.title
        view.currency = _str(msg.get("currency")) or view.currency
        view.sale = _str(msg.get("sale")) or view.sale
        if "min_amount" in msg:
            view.min_amount = _int(msg.get("min_amount"))
        if "ends_at" in msg:
            view.ends_at = _int(msg.get("ends_at"))
        if "reserve" in msg:
            view.reserve = msg.get("reserve") is True
        if "reserve_met" in msg:
            met = msg.get("reserve_met")
            if "reserve" not in msg:  # a bid's or a void's: absent or null for no reserve
                view.reserve = view.reserve or met is not None
            view.reserve_met = met is True
        if "buy_now" in msg:
            view.buy_now = _int(msg.get("buy_now"))
            if view.buy_now is not None:
                view.buy_now_price = view.buy_now

    def _mark_opened(self, view: LotView) -> None:
        self._opened_count += 1
        view.opened = self._opened_count

    # -- lot events (seq already checked) ---------------------------------------------------

    def _on_lot_opened(self, view: LotView, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        self._fill(view, msg)
        view.state = "open"
        view.high_amount = view.high_bidder = view.my_max = None
        self._mark_opened(view)
        line = f"On the block: {view.name} [{view.lot}]"
        if view.min_amount is not None:
            line += f", bids from {view.money(view.min_amount)}"
        remaining = self.remaining_ms(view, now_ms)
        if remaining is not None:
            line += f", ends in {format_remaining(remaining)}"
        if view.reserve:
            line += ", has a reserve"
        lines = [line]
        if view.buy_now is not None:
            lines.append(f"Buy now for {view.money(view.buy_now)}: type buy.")
        return lines

    def _on_bid_placed(self, view: LotView, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        amount, bidder = _int(msg.get("amount")), _str(msg.get("bidder")) or "?"
        previous, was_met = view.high_bidder, view.reserve_met
        self._fill(view, msg)
        if amount is None:
            return []
        view.high_amount, view.high_bidder = amount, bidder
        view.buy_now = None  # offered only while no bid stands
        tags = ["you"] if self.is_me(view, bidder) else []
        if msg.get("auto") is True:
            tags.append("automatic")
        shown = f" ({', '.join(tags)})" if tags else ""
        lines = [f"New high bid {view.money(amount)} by {bidder}{shown} on {view.name}"]
        if view.reserve_met and not was_met:
            lines.append(f"The reserve on {view.name} has been met.")
        if self.is_me(view, previous) and not self.is_me(view, bidder):
            mine = view.my_max
            if mine is not None and amount <= mine:
                return lines  # our maximum answers in the same commit: its bid comes next
            view.my_max = None
            if msg.get("auto") is True and self._bidding_on(view.lot):
                return lines  # a rival maximum answering our bid: our bid's answer says so
            if mine is not None:
                lines.append(
                    f"You have been outbid on {view.name}: a bid went above your maximum"
                    f" of {view.money(mine)}."
                )
            else:
                lines.append(f"You have been outbid on {view.name}.")
        return lines

    def _on_lot_extended(self, view: LotView, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        self._fill(view, msg)
        remaining = self.remaining_ms(view, now_ms)
        line = f"{view.name} extended"
        if remaining is not None:
            line += f": now ends in {format_remaining(remaining)}"
        reason = _str(msg.get("reason"))
        return [line + (f" ({_words(reason)})" if reason else "")]

    def _on_lot_closed(self, view: LotView, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        view.state = "closed"
        view.buy_now = view.my_max = None
        winner, amount = _str(msg.get("winner")), _int(msg.get("amount"))
        sold = msg.get("outcome") == "sold" and winner is not None and amount is not None
        if sold:
            view.high_amount, view.high_bidder = amount, winner
        reason = _str(msg.get("reason")) or ("hammer" if sold else "unsold")
        view.reason = reason
        view.paused_left = None
        words = self._closed_words(view, reason)
        lines = [f"SOLD! {view.name}: {words}" if sold else f"{view.name}: {words}"]
        if sold and self.is_me(view, winner):
            lines.append(f"Congratulations, {view.name} is yours!")
        return lines

    def _closed_words(self, view: LotView, reason: str) -> str:
        """Why a lot closed; a lot we won is won "by you"."""
        words = _closed_words(view, reason)
        if view.high_bidder is not None and self.is_me(view, view.high_bidder):
            if reason == "hammer":
                return f"won by you ({view.high_bidder}) for {view.money(view.high_amount or 0)}"
            if reason == "buy_now":
                return f"bought now by you for {view.money(view.high_amount or 0)}"
        return words

    def _on_lot_paused(self, view: LotView, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        left = _int(msg.get("remaining_ms"))
        if left is None:  # an older server: what the clock said when it stopped
            left = self.remaining_ms(view, now_ms)
        view.state, view.paused_left = "paused", left
        shown = f", {format_remaining(left)} left when it resumes" if left is not None else ""
        return [f"PAUSED by the auctioneer: {view.name}. Bids wait until it resumes{shown}."]

    def _on_lot_resumed(self, view: LotView, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        self._fill(view, msg)  # the new ends_at
        view.state, view.paused_left = "open", None
        remaining = self.remaining_ms(view, now_ms)
        shown = f", ends in {format_remaining(remaining)}" if remaining is not None else ""
        return [f"Resumed: {view.name} is open for bids again{shown}."]

    def _on_bid_voided(self, view: LotView, msg: Mapping[str, Any], now_ms: int) -> list[str]:
        was_met = view.reserve_met
        self._fill(view, msg)
        view.high_amount, view.high_bidder = _int(msg.get("amount")), _str(msg.get("bidder"))
        if not self.is_me(view, view.high_bidder):
            view.my_max = None  # a standing we do not lead: our maximum is spent
        if view.high_amount is None:
            view.buy_now = view.buy_now_price if view.state == "open" else None
            lines = [f"The auctioneer voided a bid on {view.name}: no bids stand."]
        else:
            you = " (you)" if self.is_me(view, view.high_bidder) else ""
            lines = [
                f"The auctioneer voided a bid on {view.name}: the high bid is now"
                f" {view.money(view.high_amount)} by {view.high_bidder}{you}."
            ]
        if was_met and not view.reserve_met:
            lines.append(f"The reserve on {view.name} is no longer met.")
        if view.buy_now is not None:
            lines.append(f"Buy now for {view.money(view.buy_now)}: type buy.")
        return lines

    # -- other messages ---------------------------------------------------------------------

    def _lot_money(self, lot: str | None, amount: int) -> str:
        view = self.lots.get(lot) if lot is not None else None
        return view.money(amount) if view is not None else format_amount(amount, "").strip()

    def _asked_for(self, msg: Mapping[str, Any]) -> str:
        request_id = msg.get("id")
        if not isinstance(request_id, str):
            return "bid"
        return self._asked.pop(request_id, ("bid", ""))[0]

    def _on_bid_accepted(self, msg: Mapping[str, Any]) -> list[str]:
        self._asked_for(msg)
        lot, amount = _str(msg.get("lot")), _int(msg.get("amount"))
        maximum, leading = _int(msg.get("max_amount")), msg.get("leading") is not False
        view = self.lots.get(lot) if lot is not None else None
        bidder = _str(msg.get("bidder"))
        if view is not None and view.sale is not None and bidder and bidder != self.user:
            self._aliases.setdefault(view.sale, bidder)  # how the public sees our bid
        name = view.name if view else lot
        shown = self._lot_money(lot, amount) if amount is not None else "?"
        if maximum is None:
            if view is not None and leading:
                view.my_max = None  # a plain bid is its own maximum
            if not leading:
                return [
                    f"Your bid of {shown} on {name} stands, but another bidder's maximum"
                    " answered it at once: you are outbid."
                ]
            return [f"Your bid of {shown} on {name} was accepted."]
        mine = self._lot_money(lot, maximum)
        if not leading:
            return [
                f"Your maximum of {mine} on {name} was outbid at once: another bidder's"
                f" maximum is higher (your bid stood at {shown})."
            ]
        if view is not None:
            view.my_max = maximum
        return [f"Your maximum of {mine} on {name} is leading at {shown} (only you see it)."]

    def _on_bought(self, msg: Mapping[str, Any]) -> list[str]:
        self._asked_for(msg)
        lot, amount = _str(msg.get("lot")), _int(msg.get("amount"))
        view = self.lots.get(lot) if lot is not None else None
        shown = self._lot_money(lot, amount) if amount is not None else "?"
        return [f"You bought {view.name if view else lot} now, for {shown}."]

    def _on_bid_rejected(self, msg: Mapping[str, Any]) -> list[str]:
        what = self._asked_for(msg)
        code = _str(msg.get("code")) or ""
        message = _str(msg.get("message"))
        if what in ("buy", "max") and message:
            # the server's words name the lot and, for a maximum, what it must beat
            label = "Buy-now" if what == "buy" else "Your maximum"
            return [f"{label} refused: {message}"]
        reason = _REFUSALS.get(code) or message or _words(code) or "refused"
        minimum = _int(msg.get("min_amount"))
        if code == "too_low" and minimum is not None:
            reason += f", bid at least {self._lot_money(_str(msg.get('lot')), minimum)}"
        return [f"Your bid was refused: {reason}"]

    def _on_error(self, msg: Mapping[str, Any]) -> list[str]:
        code = _words(_str(msg.get("code")) or "error")
        message = _str(msg.get("message"))
        reason = _str(msg.get("reason"))
        if reason in _ENDED:
            self.ended = reason
            self.token = self.role = None  # it is dead: a login (or a name) starts afresh
            said = _sentence(message) if message else _ENDED[reason][0]
            return [said, _ENDED[reason][1]]
        request_id = msg.get("id")
        if self._greeted and request_id is not None and request_id == self._identifying:
            # The server greeted us as a guest before our hello came, and kept that name.
            self._identifying, self._greeted = None, False
            self._welcomes += 1
            asked = self.asked_name or ""
            return [
                f"Connected as {self.user} ({self.role}).",
                f"The server named you {self.user} before your name reached it ({message});"
                f" type name {asked} to ask for it again.",
            ]
        if isinstance(request_id, str) and request_id in self._logins:
            self._logins.discard(request_id)
            if self._welcomed_here:
                return [f"Login failed: {message or code}. You are still {self.user}."]
            self.refused = message or code
            return [
                f"Login failed: {self.refused}.",
                "Type login NAME to try again, or name NEW to bid as a guest.",
            ]
        if isinstance(request_id, str) and self._asked.get(request_id, ("", ""))[0] == "mine":
            del self._asked[request_id]
            return [f"Cannot show your activity: {message or code}."]
        if isinstance(request_id, str) and self.history_asked.pop(request_id, None) is not None:
            return [f"Cannot show the history: {message or code}."]
        if not self._welcomed_here:  # who we said we are was refused
            self.refused = message or code
            if self.token is not None:
                self.token = self.role = None  # expired or revoked: log in again
                return [
                    f"Your login is no longer valid ({self.refused}).",
                    "Type login NAME to log in again, or name NEW to bid as a guest.",
                ]
            return [
                f"Cannot join as {self.asked_name!r}: {self.refused}.",
                "Type name NEW to choose another name, or login NAME if it is your account.",
            ]
        return [f"Server error ({code}): {message}" if message else f"Server error ({code})"]

    def _on_alias(self, msg: Mapping[str, Any]) -> list[str]:
        sale, bidder = _str(msg.get("sale")), _str(msg.get("bidder"))
        if sale is None or not bidder or self._greeted:
            return []  # (a greeting's guest's pseudonym: not ours for long)
        known = self._aliases.get(sale) == bidder
        self._aliases[sale] = bidder
        if known:
            return []
        title = self._sales.get(sale)
        if title is None:
            lot = next((v.name for v in self.lots.values() if v.sale == sale), None)
            title = f"The sale of {lot}" if lot else f"Sale {sale}"
        return [f"{title} is anonymous: the others see you as {bidder} (shown here as you)."]

    def _on_sale_paused(self, msg: Mapping[str, Any]) -> list[str]:
        return [f"The auctioneer paused the sale {self._sale_name(msg)}."]

    def _on_sale_resumed(self, msg: Mapping[str, Any]) -> list[str]:
        return [f"The auctioneer resumed the sale {self._sale_name(msg)}."]

    def _sale_name(self, msg: Mapping[str, Any]) -> str:
        sale = _str(msg.get("sale")) or "?"
        return self._sales.get(sale, sale)

    def _on_activity(self, msg: Mapping[str, Any]) -> list[str]:
        request_id = msg.get("id")
        if isinstance(request_id, str):
            self._asked.pop(request_id, None)
        return activity_lines(self, msg)

    def _on_server_closing(self, msg: Mapping[str, Any]) -> list[str]:
        return [f"The server is closing: {_str(msg.get('message')) or 'no reason given'}"]

    def _on_sale_started(self, msg: Mapping[str, Any]) -> list[str]:
        sale, title = _str(msg.get("sale")), _str(msg.get("title"))
        if sale is not None and title:
            self._sales[sale] = title
        lots = msg.get("lots")
        count = f" ({len(lots)} lots)" if isinstance(lots, list) else ""
        return [f"Sale started: {title or sale}{count}"]

    def _on_sale_ended(self, msg: Mapping[str, Any]) -> list[str]:
        if msg.get("reason") == "cancelled":
            return [f"Sale cancelled by the auctioneer: {self._sale_name(msg)}"]
        return [f"Sale ended: {self._sale_name(msg)}"]


_EventHandler = Callable[[ClientState, LotView, Mapping[str, Any], int], list[str]]
_MessageHandler = Callable[[ClientState, Mapping[str, Any]], list[str]]

_EVENT_HANDLERS: dict[str, _EventHandler] = {
    "lot_opened": ClientState._on_lot_opened,
    "bid_placed": ClientState._on_bid_placed,
    "lot_extended": ClientState._on_lot_extended,
    "lot_closed": ClientState._on_lot_closed,
    "bid_voided": ClientState._on_bid_voided,
    "max_raised": lambda state, view, msg, now_ms: [],  # a leader's raise: nothing public
    "lot_paused": ClientState._on_lot_paused,
    "lot_resumed": ClientState._on_lot_resumed,
}

_MESSAGE_HANDLERS: dict[str, _MessageHandler] = {
    "bid_accepted": ClientState._on_bid_accepted,
    "bid_rejected": ClientState._on_bid_rejected,
    "bought": ClientState._on_bought,
    "error": ClientState._on_error,
    "server_closing": ClientState._on_server_closing,
    "sale_started": ClientState._on_sale_started,
    "sale_ended": ClientState._on_sale_ended,
    "sale_paused": ClientState._on_sale_paused,
    "sale_resumed": ClientState._on_sale_resumed,
    "alias": ClientState._on_alias,
    "activity": ClientState._on_activity,
    "history": lambda state, msg: history_lines(
        state, msg, state.history_asked.pop(str(msg.get("id")), None)
    ),
}

_ENDED = {
    "blocked": (
        "The auctioneer has blocked your account; you can no longer bid here.",
        "You are disconnected and will not be reconnected. Type quit to leave.",
    ),
    "logged_out": (
        "You have been logged out; this session has ended.",
        "You are disconnected. Type login NAME to log in again, or quit to leave.",
    ),
}
"""Sessions the server ended, in words, and what the person can do next."""


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def activity_lines(state: ClientState, msg: Mapping[str, Any]) -> list[str]:
    """The ``activity`` reply to ``mine``, in words: where I lead or was outbid, what I won
    and owe, my latest bids. Lots may be ids or objects (lot, title, amount, currency)."""

    def lot_of(item: object) -> tuple[str, str, str]:
        """(name, currency, high bid shown) of a listed lot."""
        if isinstance(item, str):
            view = state.lots.get(item)
            if view is None:
                return item, "", ""
            high = view.money(view.high_amount) if view.high_amount is not None else ""
            return view.name, view.currency, high
        if not isinstance(item, Mapping):
            return "?", "", ""
        lot = _str(item.get("lot")) or "?"
        view = state.lots.get(lot)
        currency = _str(item.get("currency")) or (view.currency if view else "")
        title = _str(item.get("title")) or (view.name if view else lot)
        amount = _int(item.get("amount"))
        high = format_amount(amount, currency).strip() if amount is not None else ""
        return f"{title} [{lot}]", currency, high

    def listed(key: str) -> list[object]:
        items = msg.get(key)
        return list(items) if isinstance(items, list) else []

    lines = [f"My activity ({_str(msg.get('user')) or state.user or '?'}):"]
    leading = listed("leading")
    for item in leading:
        name, _, high = lot_of(item)
        mine = _int(item.get("max_amount")) if isinstance(item, Mapping) else None
        currency = lot_of(item)[1]
        extra = f", your maximum {format_amount(mine, currency).strip()}" if mine else ""
        lines.append(f"  you lead: {name}" + (f" at {high}" if high else "") + extra)
    for item in listed("outbid"):
        name, currency, high = lot_of(item)
        own = _int(item.get("my_amount")) if isinstance(item, Mapping) else None
        was = f" (your bid {format_amount(own, currency).strip()})" if own else ""
        lines.append(f"  you were outbid: {name}" + (f", now {high}" if high else "") + was)
    for item in listed("won"):
        name, _, high = lot_of(item)
        lines.append(f"  won by you: {name}" + (f" for {high}" if high else ""))
    owed = msg.get("owed")
    if isinstance(owed, Mapping) and owed:
        total = ", ".join(
            format_amount(amount, currency).strip()
            for currency, amount in sorted(owed.items())
            if type(amount) is int
        )
        lines.append(f"  you owe: {total}")
    bids = listed("bids")
    if bids:
        lines.append(f"  your latest bids ({len(bids)}):")
    for bid in bids[:10]:
        if not isinstance(bid, Mapping):
            continue
        name, currency, _ = lot_of(bid)
        amount, maximum = _int(bid.get("amount")), _int(bid.get("max_amount"))
        if bid.get("kind") == "max_raised":
            raised = f" to {format_amount(maximum, currency).strip()}" if maximum else ""
            lines.append(f"    raised your maximum{raised} on {name}")
            continue
        shown = format_amount(amount, currency).strip() if amount is not None else "?"
        notes = [
            *(["automatic"] if bid.get("auto") is True else []),
            *(["voided"] if bid.get("voided") is True else []),
        ]
        lines.append(f"    {shown} on {name}" + (f" ({', '.join(notes)})" if notes else ""))
    if len(lines) == 1:
        lines.append("  nothing yet: no bids, no wins.")
    return lines


_CLOSED_WORDS = {
    "buy_now": "bought now by {winner} for {amount}",
    "reserve_not_met": "not sold: the reserve was not met",
    "no_bids": "not sold: no bids",
    "withdrawn": "withdrawn by the auctioneer",
}


def _closed_words(view: LotView, reason: str) -> str:
    """Why a lot closed, in the words every client uses (``view`` holds the sale, if any)."""
    sold = view.high_amount is not None and view.high_bidder is not None
    winner, amount = view.high_bidder, view.money(view.high_amount or 0)
    if reason == "hammer" and sold:
        return f"sold to {winner} for {amount}"
    if reason in _CLOSED_WORDS:
        return _CLOSED_WORDS[reason].format(winner=winner, amount=amount)
    return "not sold" if reason == "unsold" else f"not sold ({_words(reason)})"


def _resync(lot: str, since_seq: int) -> Message:
    return {"type": "resync", "lot": lot, "since_seq": since_seq}


# -- input -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceBid:
    lot: str
    amount: int


@dataclass(frozen=True, slots=True)
class LeaveMax:
    """``max 400``: the house bids for us, as little as keeps us leading, up to ``amount``."""

    lot: str
    amount: int


@dataclass(frozen=True, slots=True)
class BuyNow:
    lot: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class ListLots:
    pass


@dataclass(frozen=True, slots=True)
class Login:
    """``login NAME``: the password is asked next, without echo."""

    username: str


@dataclass(frozen=True, slots=True)
class Rename:
    """``name NEW``: bid as a guest under another name (a new guest session)."""

    name: str


@dataclass(frozen=True, slots=True)
class Mine:
    """``mine``: my bids, where I lead or was outbid, what I won and owe."""


@dataclass(frozen=True, slots=True)
class Confirm:
    """A bid far above the minimum, or any bid or maximum above the house's limit: asked
    again, in words, before it is sent."""

    bid: PlaceBid | LeaveMax
    question: str


CONFIRM_OVER = 3
"""A bid more than this many times the minimum is asked about first (a typo such as 25000
for 250 costs its bidder dearly, and a bid stands once placed)."""


@dataclass(frozen=True, slots=True)
class Invalid:
    message: str
    retry: bool = False
    """True when the line may make sense once the client knows more lots."""


Command = (
    PlaceBid
    | LeaveMax
    | BuyNow
    | Quit
    | Help
    | ListLots
    | Confirm
    | Invalid
    | Login
    | Rename
    | Mine
    | HistoryAsk
)

MAX_NAME = 32

HELP_LINES = (
    "Commands:",
    "  150 or 150.50      bid that amount on the lot on the block",
    "  bid LOT AMOUNT     bid on a particular lot",
    "  max 400            leave a maximum: the house bids for you, as little as keeps",
    "                     you leading, never above it; only you see it (max LOT 400 too)",
    "  buy                buy the lot on the block at its buy-now price, while offered",
    "                     (buy LOT too)",
    "  lots               list the lots open, paused or coming up",
    "  mine               my activity: my bids, where I lead or was outbid, what I won",
    "                     and owe",
    "  history            the bids on the lot on the block (history LOT, history sale SALE,",
    "                     history mine: yours; history more: older ones)",
    "  login NAME         log in to your account (the password is asked, not shown)",
    "  name NEW           bid as a guest under another name",
    "  help               this list",
    "  quit (or exit)     leave",
)


def parse_input(line: str, state: ClientState) -> Command | None:
    """One typed line -> a command; None for a blank line. Amounts become exact minor units."""
    words = line.split()
    if not words:
        return None
    head = words[0].lower()
    if len(words) == 1 and head in ("quit", "exit"):
        return Quit()
    if len(words) == 1 and head in ("help", "?"):
        return Help()
    if len(words) == 1 and head == "lots":
        return ListLots()
    if len(words) == 1 and head in ("mine", "me", "activity"):
        return Mine()
    if head == "history":
        asked = parse_history(words, state)
        return Invalid(asked) if isinstance(asked, str) else asked
    if head == "login":
        if len(words) != 2:
            return Invalid("Usage: login NAME (your account's username; the password is asked).")
        return Login(words[1])
    if head == "name":
        new = line.strip()[len(words[0]) :].strip()
        if not new:
            shown = f" You are {state.user}." if state.user else ""
            return Invalid(f"Usage: name NEW, such as: name Ann.{shown}")
        if len(new) > MAX_NAME:
            return Invalid(f"A name is at most {MAX_NAME} characters.")
        if state.role not in (None, "guest"):
            return Invalid(
                f"You are logged in as {state.user}; a name is for guests"
                " (quit and start again to bid as a guest)."
            )
        return Rename(new)
    if head == "bid":
        if len(words) == 2:
            return _bid(state, None, words[1])
        if len(words) == 3:
            return _bid(state, words[1], words[2])
        return Invalid("Usage: bid LOT AMOUNT (or type just an amount for the lot on the block).")
    if head == "max":
        if len(words) == 2:
            return _bid(state, None, words[1], maximum=True)
        if len(words) == 3:
            return _bid(state, words[1], words[2], maximum=True)
        return Invalid("Usage: max AMOUNT (or max LOT AMOUNT), such as: max 400.")
    if head == "buy" and len(words) <= 2:
        if len(words) == 1 or words[1].lower() == "now":
            lot = _lot_for(state, None)
        else:
            lot = _lot_for(state, words[1])
        if isinstance(lot, Invalid):
            return lot
        return _paused(lot, "buying") or BuyNow(lot.lot)
    if len(words) == 1 and head[0] in "0123456789.+-":
        return _bid(state, None, words[0])
    return Invalid(
        f"Unknown command {line.strip()!r}: type an amount to bid on the lot on the block, or help."
    )


def _lot_for(state: ClientState, lot: str | None) -> LotView | Invalid:
    if lot is None:
        view = state.on_block
        if view is None:
            return Invalid(
                "There is no lot on the block right now (try: lots, bid LOT AMOUNT).", retry=True
            )
        return view
    found = state.lots.get(lot)
    if found is None:
        return Invalid(f"Unknown lot {lot!r}; type lots to see the open lots.", retry=True)
    return found


def _paused(view: LotView, doing: str) -> Invalid | None:
    if view.state != "paused":
        return None
    left = view.paused_left
    shown = f" ({format_remaining(left)} left then)" if left is not None else ""
    return Invalid(
        f"{view.name} is PAUSED by the auctioneer: {doing} waits until it resumes{shown}."
    )


def _bid(state: ClientState, lot: str | None, amount: str, *, maximum: bool = False) -> Command:
    view = _lot_for(state, lot)
    if isinstance(view, Invalid):
        return view
    paused = _paused(view, "bidding")
    if paused is not None:
        return paused
    what = "a maximum" if maximum else "a bid"
    try:
        minor = parse_units(amount, view.currency)
    except ValueError as exc:
        return Invalid(f"Cannot {'leave a maximum of' if maximum else 'bid'} {amount!r}: {exc}.")
    if minor <= 0:
        return Invalid(f"{what.capitalize()} must be more than zero.")
    reasons = []
    least = view.min_amount
    if not maximum and least and minor > CONFIRM_OVER * least:
        times = minor / least
        shown = f"{times:,.0f}" if times >= 10 else f"{times:.1f}"
        reasons.append(f"{shown} times the minimum ({view.money(least)})")
    limit = state.confirm_above
    if limit is not None and minor > limit:
        reasons.append(f"above the house's confirmation limit of {view.money(limit)}")
    if maximum:
        leave = LeaveMax(view.lot, minor)
        if not reasons:
            return leave
        return Confirm(
            leave,
            f"Leave a maximum of {view.money(minor)} on {view.name}? That is {reasons[0]}."
            " Type y to leave it; anything else cancels.",
        )
    if reasons:
        return Confirm(
            PlaceBid(view.lot, minor),
            f"Bid {view.money(minor)} on {view.name}? That is {' and '.join(reasons)}."
            " Type y to place it; anything else cancels.",
        )
    return PlaceBid(view.lot, minor)


# -- the connection --------------------------------------------------------------------------


def _decode(raw: bytes) -> Mapping[str, Any] | None:
    """A JSON object with a string type, or None for anything else (ignored)."""
    if not raw.lstrip().startswith(b"{"):
        return None
    try:
        msg = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if isinstance(msg, dict) and isinstance(msg.get("type"), str):
        return msg
    return None


class _LinkDown(Exception):
    """The connection is unusable: closed, silent too long, or sent an oversized line."""


@dataclass(eq=False)
class TerminalClient:
    """One user's client: a supervised connection plus a stream of typed lines.

    The connection task reconnects forever with jittered exponential backoff; after each
    ``welcome`` the state asks for a resync of every lot it knows. Bids typed while the link
    is down are refused rather than queued: a bid sent late could land at a price the user no
    longer means.
    """

    host: str
    port: int
    name: str
    out: Callable[[str], None]
    clock: Callable[[], int] = monotonic_ms
    rng: random.Random = field(default_factory=random.Random)
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    ping_interval: float = 15.0
    idle_timeout: float = 45.0
    """No line from the server for this long (pings included) means a dead link."""
    ready_timeout: float = 5.0
    """How long the first typed bid waits for the first connection and its snapshots."""
    settle_timeout: float = 2.0
    """How long quitting waits for answers to bids still in flight."""

    state: ClientState = field(default_factory=ClientState, init=False)
    _writer: asyncio.StreamWriter | None = field(default=None, init=False)
    _asked: PlaceBid | LeaveMax | None = field(default=None, init=False)
    """A bid or maximum waiting for its "y" (``Confirm``)."""
    wants_password: str | None = field(default=None, init=False)
    """After ``login NAME``: the next line is NAME's password (the terminal hides it)."""
    _pending_login: tuple[str, str] | None = field(default=None, init=False)
    """A login to send as the first message of the next connection."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    """Set when the person acts (login, name) while the link waits for them."""
    waiting: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    """Set while the link waits for the person instead of reconnecting (blocked, logged
    out, or a name refused)."""
    _switching: bool = field(default=False, init=False)
    """The link is being dropped on purpose (a new name): reconnect at once, quietly."""
    _ready: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _settled: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _linked: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    """Set while ``connected``: what ``until_connected`` waits on."""
    _in_flight: set[str] = field(default_factory=set, init=False)
    _next_id: int = field(default=0, init=False)

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def until_connected(self) -> None:
        """Until a connection has been welcomed (at once if one is up)."""
        await self._linked.wait()

    def toolbar(self) -> str:
        status = self.state.status(self.clock())
        if self.connected:
            return status
        if self.waiting.is_set():
            return f"[disconnected: login NAME or name NEW] {status}"
        return f"[reconnecting] {status}"

    def _offline(self, what: str) -> str:
        if self.waiting.is_set():
            return f"Not connected: {what}. Type login NAME or name NEW to join again."
        return f"Not connected: {what}. Try again once reconnected."

    async def run(self, lines: AsyncIterator[str] | None) -> int:
        """Connect and feed ``lines`` until they end or say quit; with None, run until
        cancelled. Returns the exit code."""
        self._settled.set()
        tasks = {asyncio.create_task(self._connect_forever(), name="bidwire-client-link")}
        if lines is not None:
            tasks.add(asyncio.create_task(self._read_input(lines), name="bidwire-client-input"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failure of either task is a bug: let it surface
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return 0

    # -- input -------------------------------------------------------------------------------

    async def _read_input(self, lines: AsyncIterator[str]) -> None:
        try:
            async for line in lines:
                if not await self.handle_line(line):
                    break
            if self._in_flight:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._settled.wait(), self.settle_timeout)
        finally:
            aclose = getattr(lines, "aclose", None)
            if aclose is not None:
                await aclose()

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        username, self.wants_password = self.wants_password, None
        if username is not None:  # the line is the password asked for
            await self._login(username, line.rstrip("\r\n"))
            return True
        asked, self._asked = self._asked, None
        if asked is not None:  # the line answers "Bid ...? Type y to place it"
            if line.strip().lower() in ("y", "yes"):
                if isinstance(asked, LeaveMax):
                    await self._send_max(asked)
                else:
                    await self._send_bid(asked)
                return True
            self.out("Not placed.")
            if line.strip().lower() in ("n", "no", ""):
                return True
        command = parse_input(line, self.state)
        if isinstance(command, Invalid) and command.retry and not self._ready.is_set():
            # Typed (or piped) before the first snapshots arrived: give them a moment.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self.ready_timeout)
            command = parse_input(line, self.state)
        match command:
            case None:
                pass
            case Quit():
                return False
            case Help():
                for text in HELP_LINES:
                    self.out(text)
            case ListLots():
                now = self.clock()
                listed = [v for v in self.state.lots.values() if v.state != "closed"]
                for view in sorted(listed, key=lambda v: v.opened):
                    self.out(self.state.describe(view, now))
                if not listed:
                    self.out("No lots are open or coming up.")
            case Invalid(message, _):
                self.out(message)
            case Confirm(bid, question):
                self._asked = bid
                self.out(question)
            case PlaceBid():
                await self._send_bid(command)
            case LeaveMax():
                await self._send_max(command)
            case Login(username):
                self.wants_password = username
                self.out(f"Password for {username} (not shown):")
            case Rename(new):
                self._rename(new)
            case Mine():
                await self._mine()
            case HistoryAsk():
                await self._history(command)
            case BuyNow(lot):
                await self._request(
                    "buy",
                    {"type": "buy_now", "lot": lot},
                    f"Buying {self.state.lots[lot].name} now...",
                )
        return True

    async def _send_max(self, leave: LeaveMax) -> None:
        view = self.state.lots[leave.lot]
        await self._request(
            "max",
            {"type": "bid", "lot": leave.lot, "max_amount": leave.amount},
            f"Leaving a maximum of {view.money(leave.amount)} on {view.name}...",
        )

    async def _login(self, username: str, password: str) -> None:
        if not password:
            self.out("No password given: not logged in.")
            return
        writer = self._writer
        if writer is None:  # the next connection starts with it
            self._pending_login = (username, password)
            self.out(f"Logging in as {username}...")
            self._wake.set()
            return
        self.out(f"Logging in as {username}...")
        try:
            await self._send(writer, self.state.login(username, password))
        except (OSError, _LinkDown):
            self.out("The connection dropped: not logged in. Try again once reconnected.")

    def _rename(self, new: str) -> None:
        self.name = new
        self.state.rename()
        self.out(f"Joining as {new}...")
        writer = self._writer
        if writer is not None:  # a new guest needs a new hello: reconnect at once
            self._switching = True
            writer.close()
        self._wake.set()

    async def _mine(self) -> None:
        writer = self._writer
        if writer is None:
            self.out(self._offline("your activity cannot be shown"))
            return
        self._next_id += 1
        request_id = f"m{self._next_id}"
        self.state.asked(request_id, "mine")
        try:
            await self._send(writer, {"type": "mine", "id": request_id})
        except (OSError, _LinkDown):
            self.out("The connection dropped; try mine again once reconnected.")

    async def _history(self, ask: HistoryAsk) -> None:
        writer = self._writer
        if writer is None:
            self.out(self._offline("the history cannot be shown"))
            return
        self._next_id += 1
        request_id = f"h{self._next_id}"
        self.state.history_asked[request_id] = ask
        try:
            await self._send(writer, ask.message(request_id))
        except (OSError, _LinkDown):
            self.out("The connection dropped; try history again once reconnected.")

    async def _send_bid(self, bid: PlaceBid) -> None:
        view = self.state.lots[bid.lot]
        await self._request(
            "bid",
            {"type": "bid", "lot": bid.lot, "amount": bid.amount},
            f"Bidding {view.money(bid.amount)} on {view.name}...",
        )

    async def _request(self, what: str, msg: Message, doing: str) -> None:
        """Send a bid, a maximum or a buy-now; its answer comes back on the feed."""
        writer = self._writer
        noun = {"bid": "your bid", "max": "your maximum", "buy": "your buy-now"}[what]
        if writer is None:
            self.out(self._offline(f"{noun} was not sent"))
            return
        self._next_id += 1
        request_id = f"r{self._next_id}"
        self._in_flight.add(request_id)
        self._settled.clear()
        self.state.asked(request_id, what, msg["lot"])
        self.out(doing)
        try:
            await self._send(writer, {**msg, "id": request_id})
        except (OSError, _LinkDown):
            self._answered(request_id)
            self.out(f"The connection dropped: {noun} was not sent.")

    def _answered(self, request_id: object) -> None:
        if isinstance(request_id, str):
            self._in_flight.discard(request_id)
        if not self._in_flight:
            self._settled.set()

    # -- the link ----------------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        delay = self.backoff_initial
        announced = False  # said that we are offline, since the last welcome
        while True:
            if self._pending_login is None and (self.state.ended or self.state.refused):
                # The server ended or refused who we are: saying it again would only be
                # refused again. Wait for the person (login NAME, name NEW).
                self._wake.clear()
                self.waiting.set()
                try:
                    await self._wake.wait()
                finally:
                    self.waiting.clear()
                delay, announced = self.backoff_initial, False
            welcomed = False
            try:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=MAX_LINE_BYTES
                )
            except OSError as exc:
                if not announced:
                    self.out(f"Cannot reach {self.host}:{self.port} ({exc}); retrying...")
                    announced = True
            else:
                try:
                    welcomed = await self._session(reader, writer)
                except (OSError, _LinkDown):
                    pass
                finally:
                    welcomed = welcomed or self._writer is not None
                    self._writer = None
                    self._linked.clear()
                    writer.close()
                    with contextlib.suppress(OSError, TimeoutError):
                        await asyncio.wait_for(writer.wait_closed(), 1.0)
                if self._switching:  # dropped on purpose for a new name: at once, quietly
                    self._switching = False
                    delay = self.backoff_initial
                    continue
                if self.state.ended or self.state.refused:
                    continue  # said in words already; wait for the person
                if welcomed:
                    self.out("Connection lost, reconnecting...")
                    announced = True
                    delay = self.backoff_initial
                    if self._in_flight:
                        self.out("A bid was not answered before the drop; the catch-up shows it.")
                        self._in_flight.clear()
                        self._settled.set()
            # Equal jitter: at least half the delay, so clients dropped together spread out.
            await asyncio.sleep(delay / 2 + self.rng.uniform(0, delay / 2))
            delay = min(delay * 2, self.backoff_max)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Speak on one connection until it ends; True if it got as far as a welcome."""
        login, self._pending_login = self._pending_login, None
        first = self.state.identify(self.name)
        if login is not None:
            first = self.state.login(*login)
        await self._send(writer, first)
        pinger: asyncio.Task[None] | None = None
        try:
            while True:
                msg = await self._read(reader)
                if msg is None:
                    return pinger is not None
                kind = msg["type"]
                if pinger is None and kind not in ("welcome", "error"):
                    continue  # nothing counts before the welcome
                reaction = self.state.receive(msg, self.clock())
                for text in reaction.lines:
                    self.out(text)
                if kind == "welcome" and pinger is None:
                    self._writer = writer
                    self._linked.set()
                    pinger = asyncio.create_task(self._ping(writer), name="bidwire-client-ping")
                if kind == "welcome" and self._pending_login is not None:
                    # typed while this connection was still being welcomed
                    login, self._pending_login = self._pending_login, None
                    await self._send(writer, self.state.login(*login))
                for reply in reaction.send:
                    await self._send(writer, reply)
                if kind in ("bid_accepted", "bid_rejected", "bought", "error"):
                    self._answered(msg.get("id"))
                if kind == "error" and (self.state.ended or self.state.refused):
                    return pinger is not None  # the server ended or refused the session
                if kind == "pong":
                    self._ready.set()  # the welcome's snapshots came before this pong
                elif kind == "server_closing":
                    return pinger is not None
        finally:
            if pinger is not None:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError, _LinkDown):
                    await pinger

    async def _read(self, reader: asyncio.StreamReader) -> Mapping[str, Any] | None:
        """The next JSON object from the server; None at end of stream."""
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), self.idle_timeout)
            except TimeoutError:
                raise _LinkDown("the server went silent") from None
            except ValueError:  # a line over the limit
                raise _LinkDown("line too long") from None
            if not raw:
                return None
            msg = _decode(raw)
            if msg is not None:
                return msg

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        # The first ping goes at once: its pong tells us the welcome's snapshots are all in.
        count = 0
        while True:
            count += 1
            await self._send(writer, {"type": "ping", "id": f"p{count}"})
            await asyncio.sleep(self.ping_interval)

    async def _send(self, writer: asyncio.StreamWriter, msg: Message) -> None:
        if writer.is_closing():
            raise _LinkDown("connection closed")
        writer.write(msgspec.json.encode(msg) + b"\n")
        await writer.drain()


async def run(
    host: str,
    port: int,
    name: str,
    lines: AsyncIterator[str] | None,
    out: Callable[[str], None],
) -> int:
    """The client without a terminal: read commands from ``lines``, write events to ``out``."""
    return await TerminalClient(host, port, name, out).run(lines)


# -- the terminal ----------------------------------------------------------------------------


async def _stdin_lines() -> AsyncIterator[str]:
    """Lines from a non-TTY stdin (pipe or file). A daemon thread reads, so an open pipe
    never holds up exit."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except (RuntimeError, OSError, ValueError):  # loop closed, or stdin gone
            pass

    threading.Thread(target=pump, name="bidwire-client-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


def _print(line: str) -> None:
    print(line, flush=True)


async def _plain(host: str, port: int, name: str) -> int:
    return await run(host, port, name, _stdin_lines(), _print)


def default_name() -> str:
    return os.environ.get("USER") or "guest"


async def ask_name(ask: Callable[[str], Awaitable[str]], default: str) -> str:
    """The name to bid under, asked on start: Enter takes ``default``."""
    while True:
        typed = (await ask(f"Your name in the room (Enter for {default}): ")).strip()
        if not typed:
            return default
        if len(typed) <= MAX_NAME:
            return typed
        print(f"A name is at most {MAX_NAME} characters.")


async def _interactive(host: str, port: int, name: str | None) -> int:
    if name is None:
        try:
            name = await ask_name(PromptSession[str]().prompt_async, default_name())
        except (EOFError, KeyboardInterrupt):
            return 0
    client = TerminalClient(host, port, name, print)
    session: PromptSession[str] = PromptSession(
        bottom_toolbar=client.toolbar, refresh_interval=0.25
    )

    async def prompts() -> AsyncIterator[str]:
        while True:
            try:
                if client.wants_password is not None:
                    # its own session: a password never goes into the line history
                    secret: PromptSession[str] = PromptSession(is_password=True)
                    yield await secret.prompt_async("password> ")
                else:
                    yield await session.prompt_async("bid> ")
            except KeyboardInterrupt:
                if client.wants_password is not None:
                    client.wants_password = None
                    client.out("Not logged in.")
                    continue
                return
            except EOFError:
                return

    client.out(
        f"bidwire: connecting to {host}:{port} as {name}. Type help for commands"
        " (login NAME for your account)."
    )
    with patch_stdout():
        return await client.run(prompts())


def main(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, name: str | None = None) -> int:
    """Run the terminal client; prompt_toolkit on a terminal (asking a name when none was
    given), plain lines otherwise (the name defaults to $USER)."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        if interactive:
            return asyncio.run(_interactive(host, port, name))
        return asyncio.run(_plain(host, port, name or default_name()))
    except KeyboardInterrupt:
        return 0
