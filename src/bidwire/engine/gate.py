"""The gate: who someone is and whether they may bid, decided once for every transport.

TCP, WebSocket, text mode and HTTP all ask here; none of them decides a name or a bid's
admission itself (design.md section 7). Principles:
- A guest's identity is its guest session, not the bare name: one kind of session for every
  transport (a wire hello makes one and its welcome tells the token; HTTP keeps it in the
  ``bidwire_guest`` cookie; a hello with ``guest_token``, or a WebSocket with the cookie,
  resumes it). A name is held by one session at a time, and a name a reader could take for
  another name (``names.skeleton``: case, NFKC, look-alike letters) is the same name.
- A guest that has bid keeps its name while its session lives (GUEST_IDLE_MS idle, stored, so
  across a restart): a newcomer asking for it gets ``bob-2``, and never sees the earlier Bob's
  bids or wins as its own. One that has not bid frees its name when its connection ends (an
  HTTP one, when idle). Sessions kept without a connection are bounded (MAX_IDLE_GUESTS).
- Registered names, and their look-alikes, are never a guest's, on any transport; a blocked
  user cannot come back as a guest under their name either.
- A taken name gets a suffix (``bob-2``) that skips names held now and registered names.
- The bid rate is per identity, whichever transport the bids come by.
- Several nodes: every name held here is also claimed in the shared limits (``limits/``,
  keyed by its skeleton, owned by the session's token hash), so a name held on one node is
  taken on all; a token another node made is recalled from there. The local registry still
  answers first (no round trip for a name held here), and the claim fails closed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from bidwire.accounts.limits import TokenBucket
from bidwire.accounts.records import AccountStore, UserRecord
from bidwire.accounts.service import GUEST_PREFIX, Accounts, token_hash
from bidwire.clock import Clock
from bidwire.domain.commands import Actor, BuyNow, PlaceBid
from bidwire.domain.lot import Refusal
from bidwire.domain.names import guest_name, skeleton, suffixed
from bidwire.errors import BadRequest, Forbidden, LimitsUnavailable, NotAuthenticated
from bidwire.limits.base import BidRate, Limits
from bidwire.limits.memory import MemoryLimits

MAX_SUFFIX_TRIES = 50
"""Suffixes tried in order before a random one: bounds the lookups one hello can cost."""
GUEST_IDLE_MS = 7 * 24 * 3600 * 1000
"""A guest session that has bid, and the name it holds, lives this long without use. It is
stored (its token's SHA-256, never the token), so it outlives a restart."""
HTTP_GUEST_IDLE_MS = 30 * 60 * 1000
"""A guest session made over HTTP that has not bid ends after this long without a request."""
MAX_IDLE_GUESTS = 10_000
"""Guest sessions kept without a live connection, at most; past it the least recently used one
ends (one that never bid first)."""
TOUCH_STORE_MS = 3600 * 1000
"""A stored guest session's last use is written again at most this often (it expires in days)."""
MAX_GUEST_TOKEN = 256
NAME_TTL_MS = 30_000
"""A connected guest's name in the shared limits lasts this long unless renewed (its node
renews it every third of this): a node that dies frees its guests' names this long after."""
KEPT_TTL_MS = GUEST_IDLE_MS + TOUCH_STORE_MS
"""A guest that has bid holds its name in the shared limits this long after its last stored
use, whichever node it used: its stored session lives as long (less an hour of unwritten use)."""

log = logging.getLogger("bidwire.gate")


class NameRegistry:
    """Guest names held now: skeleton -> (holder, name). One holder per name."""

    def __init__(self) -> None:
        self._by_skeleton: dict[str, tuple[object, str]] = {}
        self._skeleton_of: dict[object, str] = {}

    def holder(self, name: str) -> object | None:
        held = self._by_skeleton.get(skeleton(name))
        return held[0] if held is not None else None

    def claim(self, name: str, holder: object) -> bool:
        """Hold ``name`` for ``holder`` (dropping what it held before), unless another holds it."""
        key = skeleton(name)
        held = self._by_skeleton.get(key)
        if held is not None and held[0] is not holder:
            return False
        self.release(holder)
        self._by_skeleton[key] = (holder, name)
        self._skeleton_of[holder] = key
        return True

    def release(self, holder: object) -> None:
        key = self._skeleton_of.pop(holder, None)
        if key is not None:
            del self._by_skeleton[key]

    def __len__(self) -> int:
        return len(self._by_skeleton)


@dataclass(eq=False, slots=True)
class GuestSession:
    """A guest, on every transport: the holder of its name. Its token (the ``bidwire_guest``
    cookie, a bid's or a hello's ``guest_token``) makes a request or a connection that guest
    again. Wire connections attach to it; HTTP requests use it between them."""

    actor: Actor
    token_hash: str
    last_seen: int
    token: str = ""
    """Known once this server has seen it (made here, or presented; "" after a restart until
    it is presented again); never stored."""
    has_bid: bool = False
    """Then its name stays its own (GUEST_IDLE_MS, stored) when no connection uses it."""
    connections: int = 0
    linger_ms: int = 0
    """How long it outlives its last connection before it has bid: 0 (a wire guest: the name is
    free again at once), or HTTP_GUEST_IDLE_MS (made over HTTP)."""
    stored_at: int | None = None
    """``last_seen`` as last written to the store (None: not stored)."""
    shared_until: int = 0
    """Until when this node last made its name last in the shared limits."""
    contested: bool = False
    """A made-up name that another node's guest turned out to hold: it may not bid."""


HttpGuest = GuestSession
"""Its name from when only HTTP had guest sessions."""


@dataclass(slots=True)
class Gate:
    clock: Clock
    accounts: Accounts | None = None
    guests_allowed: bool = True
    bid_limiter: BidRate = field(default_factory=lambda: TokenBucket(20.0, 40))
    rng: random.Random = field(default_factory=random.Random)
    names: NameRegistry = field(default_factory=NameRegistry)
    limits: Limits = field(default_factory=MemoryLimits)
    """Where names are claimed for every node (``memory://``: this one only)."""
    name_ttl_ms: int = NAME_TTL_MS
    _guests: dict[str, GuestSession] = field(default_factory=dict)
    """Every live guest session, by its token's hash."""
    _by_name: dict[str, GuestSession] = field(default_factory=dict)
    _attached: dict[object, GuestSession] = field(default_factory=dict)
    """A wire connection -> the guest session it is."""
    _idle: OrderedDict[str, GuestSession] = field(default_factory=OrderedDict)
    """Sessions made over HTTP, not bid, no connection: least recently used first."""
    _kept: OrderedDict[str, GuestSession] = field(default_factory=OrderedDict)
    """Sessions that have bid, no connection: least recently used first."""
    _writes: set[asyncio.Task[None]] = field(default_factory=set)
    _presets: dict[object, str] = field(default_factory=dict)
    """A connection -> the token its guest session will have (its browser's cookie already)."""
    refused_bids: dict[str, int] = field(default_factory=dict)
    """Bids refused here (no identity, the rate), by wire code: for /metrics."""

    # -- guests ------------------------------------------------------------------------------

    async def guest(self, wanted: str, holder: object, *, suffix: bool = True) -> Actor:
        """Make ``holder`` (a connection) a guest called ``wanted``, or the first free
        ``wanted-N`` (or, with ``suffix`` off, refuse a taken name). A connection that is a
        guest already is renamed, unless its guest has bid: that name stays its session's,
        and the connection becomes a new guest. Raises a ClientError saying why not."""
        current = self._attached.get(holder)
        if current is not None and skeleton(wanted) == skeleton(current.actor.name):
            return current.actor
        if current is not None and not current.has_bid:
            return await self._claim(wanted, current, suffix)
        fresh = self._new_session(token=self._presets.pop(holder, None))
        actor = await self._claim(wanted, fresh, suffix)
        self.leave(holder)
        self._attach(holder, fresh)
        return actor

    def preset_token(self, holder: object, token: str) -> None:
        """The token the guest session ``holder`` (a WebSocket) may become will have: its
        handshake set it as the browser's ``bidwire_guest`` cookie, so a reload or a
        reconnect is that guest again without the page's help."""
        self._presets[holder] = token

    def live_guest(self, token: str | None) -> bool:
        """Whether ``token`` is a live guest session's."""
        return self._live(token) is not None

    async def _claim(self, wanted: str, session: GuestSession, suffix: bool) -> Actor:
        """Give ``session`` the name, or the first free ``wanted-N``."""
        if not self.guests_allowed:
            raise Forbidden("this server does not take guests; log in")
        try:
            name = guest_name(wanted)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        user = await self._registered(name)
        if user is not None and user.username.casefold() == name.casefold():
            raise Forbidden(f"{name!r} is a registered user's name: log in instead")
        if user is not None:
            raise Forbidden(f"{name!r} looks like the registered name {user.username!r}")
        self._expire()  # a name whose session has just ended is free
        for n in range(1, MAX_SUFFIX_TRIES + 1):
            candidate = name if n == 1 else suffixed(name, n)
            if n > 1 and await self._registered(candidate) is not None:
                continue
            if await self._take(candidate, session):
                return session.actor
            if not suffix:
                raise Forbidden(f"another guest is bidding as {name!r}; pick another name")
        return await self._claim(f"{name[:20]}-{self.rng.randrange(10**9)}", session, suffix)

    async def _take(self, name: str, session: GuestSession) -> bool:
        """Hold ``name`` for ``session`` here and on every node, or neither (a held name is
        known here without a round trip; the shared claim raises LimitsUnavailable)."""
        held = self.names.holder(name)
        if held is not None and held is not session:
            return False
        if not await self._share_claim(session, name):
            return False
        if not self.names.claim(name, session):  # taken here while the claim was out
            self.limits.names.release(skeleton(name), session.token_hash)
            return False
        self._named(session, name)
        return True

    async def _share_claim(self, session: GuestSession, name: str) -> bool:
        ttl_ms, live = self._ttl(session)
        now = self.clock.now_ms()
        won = await self.limits.names.claim(
            skeleton(name), session.token_hash, name, ttl_ms, now, live=live, kept=session.has_bid
        )
        if won:
            session.shared_until = max(session.shared_until, now + ttl_ms)
        return won

    def _ttl(self, session: GuestSession) -> tuple[int, bool]:
        """How long its name lasts in the shared limits, and whether this node renews it."""
        if session.connections > 0:
            return (KEPT_TTL_MS if session.has_bid else self.name_ttl_ms), True
        if session.has_bid:
            return KEPT_TTL_MS, False
        return (session.linger_ms or self.name_ttl_ms), False

    def _share(self, session: GuestSession) -> None:
        """Its name's claim in the shared limits, made to fit its state now (in the
        background: it holds the name already)."""
        if not session.actor.name:
            return
        ttl_ms, live = self._ttl(session)
        now = self.clock.now_ms()
        session.shared_until = max(session.shared_until, now + ttl_ms)
        self.limits.names.extend(
            skeleton(session.actor.name),
            session.token_hash,
            session.actor.name,
            ttl_ms,
            now,
            live=live,
            kept=session.has_bid,
        )

    def _named(self, session: GuestSession, name: str) -> None:
        old = session.actor.name
        if self._by_name.get(old) is session:
            del self._by_name[old]
        session.actor = Actor(name, "guest")
        session.contested = False  # a contested made-up name is left for one claimed anew
        self._by_name[name] = session
        if old and skeleton(old) != skeleton(name):  # renamed: the old name is free everywhere
            self.limits.names.release(skeleton(old), session.token_hash)

    def made_up_guest(self, holder: object) -> Actor:
        """A made-up guest name (text mode's greeting): ``guest-1234``. No account can have
        one (``accounts.service.check_username``), so only the names held now are asked."""
        session = self._new_session(token=self._presets.pop(holder, None))
        for attempt in itertools.count():  # four digits while they are mostly free, then more
            digits = 4 + attempt // 20
            name = f"{GUEST_PREFIX}{self.rng.randrange(10 ** (digits - 1), 10**digits)}"
            if self.names.claim(name, session):
                self._named(session, name)
                self.leave(holder)
                self._attach(holder, session)
                if self.limits.shared:
                    self._write(self._contest(session, name))
                return session.actor
        raise AssertionError("unreachable")

    async def _contest(self, session: GuestSession, name: str) -> None:
        """A made-up name is given at once (text mode's greeting cannot wait); its shared
        claim follows, and if another node's guest holds it, this one may not bid under it."""
        try:
            won = await self._share_claim(session, name)
        except LimitsUnavailable:
            won = False
        if not won and session.actor.name == name:
            session.contested = True
            log.warning("the made-up guest name %r is held on another node", name)

    def resume_guest(self, token: str, holder: object) -> Actor | None:
        """Make the connection ``holder`` the guest whose live session ``token`` is (a hello's
        ``guest_token``, the WebSocket's cookie); None if there is none (ended, or unknown)."""
        session = self._live(token)
        if session is None:
            return None
        if self._attached.get(holder) is not session:
            self.leave(holder)
            self._attach(holder, session)
        self._touch_store(session)
        return session.actor

    async def recall_guest(self, token: str | None) -> bool:
        """Whether ``token`` is a live guest session's, here or (then it becomes one here too)
        on another node of the house: a resume works on any node. Raises LimitsUnavailable
        when that cannot be known now."""
        if self._live(token) is not None:
            return True
        if not token or len(token) > MAX_GUEST_TOKEN:
            return False
        key = token_hash(token)
        recalled = await self.limits.names.recall(key)
        if recalled is None or key in self._guests:
            return key in self._guests
        name, has_bid = recalled
        now = self.clock.now_ms()
        linger = GUEST_IDLE_MS if has_bid else HTTP_GUEST_IDLE_MS
        session = GuestSession(Actor("", "guest"), key, now, token, has_bid, linger_ms=linger)
        if not self.names.claim(name, session):
            return False  # a session of this node holds it: this one is stale
        self._named(session, name)
        self._guests[key] = session
        (self._kept if has_bid else self._idle)[key] = session
        self._share(session)
        self._trim()
        return True

    def guest_token(self, holder: object) -> str | None:
        """The token of the guest session a connection is (what its welcome tells it)."""
        session = self._attached.get(holder)
        return session.token or None if session is not None else None

    def leave(self, holder: object) -> None:
        """The connection is gone (closed, or now logged in), or an HTTP guest session became
        an account. A guest that has bid keeps its name while its session lives; otherwise a
        wire guest's name is free again at once, an HTTP one's once it has been idle."""
        if isinstance(holder, GuestSession):
            self._end(holder)
            return
        self._presets.pop(holder, None)
        session = self._attached.pop(holder, None)
        if session is None:
            return
        session.connections -= 1
        if session.connections > 0:
            return
        session.last_seen = self.clock.now_ms()
        if session.has_bid:
            self._kept[session.token_hash] = session
            self._save(session)
        elif session.linger_ms > 0:
            self._idle[session.token_hash] = session
        else:
            self._end(session)
            return
        self._share(session)  # no longer renewed by this node: it lasts as its session does
        self._trim()

    def _new_session(self, linger_ms: int = 0, token: str | None = None) -> GuestSession:
        token = token or secrets.token_urlsafe(24)
        return GuestSession(
            Actor("", "guest"), token_hash(token), self.clock.now_ms(), token, linger_ms=linger_ms
        )

    def _attach(self, holder: object, session: GuestSession) -> None:
        self._guests[session.token_hash] = session
        self._idle.pop(session.token_hash, None)
        self._kept.pop(session.token_hash, None)
        self._attached[holder] = session
        session.connections += 1
        session.last_seen = self.clock.now_ms()
        if session.connections == 1:
            self._share(session)  # renewed by this node while connected

    def _live(self, token: str | None) -> GuestSession | None:
        if not token or len(token) > MAX_GUEST_TOKEN:
            return None
        self._expire()
        session = self._guests.get(token_hash(token))
        if session is not None:
            session.token = token
        return session

    def _end(self, session: GuestSession, *, expired: bool = False) -> None:
        key = session.token_hash
        if self._guests.get(key) is session:
            del self._guests[key]
        self._idle.pop(key, None)
        self._kept.pop(key, None)
        if self._by_name.get(session.actor.name) is session:
            del self._by_name[session.actor.name]
        self.names.release(session)
        if session.actor.name:
            # expired here: freed everywhere unless another node has used it since
            until = session.shared_until if expired else None
            self.limits.names.release(skeleton(session.actor.name), key, until)
        if session.connections:  # ended under live connections (rare): they are guests of none
            for holder in [h for h, s in self._attached.items() if s is session]:
                del self._attached[holder]
            session.connections = 0
        if session.stored_at is not None:
            session.stored_at = None
            store = self._store()
            if store is not None:
                self._write(store.drop_guest(key))

    def _expire(self) -> None:
        now = self.clock.now_ms()
        for queue, idle_ms in ((self._idle, HTTP_GUEST_IDLE_MS), (self._kept, GUEST_IDLE_MS)):
            while queue:
                oldest = next(iter(queue.values()))
                if oldest.last_seen > now - idle_ms:
                    break
                self._end(oldest, expired=True)

    def _trim(self) -> None:
        while len(self._idle) + len(self._kept) > MAX_IDLE_GUESTS:
            queue = self._idle or self._kept
            self._end(next(iter(queue.values())))

    def _pin(self, session: GuestSession) -> None:
        """A guest has bid: its name is now its session's while the session lives."""
        if session.has_bid:
            return
        session.has_bid = True
        session.linger_ms = GUEST_IDLE_MS
        if self._idle.pop(session.token_hash, None) is not None:
            self._kept[session.token_hash] = session
        self._save(session)
        self._share(session)

    # -- guest sessions in the store ---------------------------------------------------------

    def _store(self) -> AccountStore | None:
        return self.accounts.store if self.accounts is not None else None

    async def load_guests(self) -> int:
        """At start: the stored guest sessions that are still alive hold their names again."""
        store = self._store()
        if store is None:
            return 0
        now = self.clock.now_ms()
        rows = await store.kept_guests(now - GUEST_IDLE_MS, MAX_IDLE_GUESTS)
        for key, name, last_seen in sorted(rows, key=lambda row: row[2]):
            session = GuestSession(
                Actor(name, "guest"), key, last_seen, "", True, 0, GUEST_IDLE_MS, last_seen
            )
            if key in self._guests or not self.names.claim(name, session):
                continue
            try:
                ttl_ms = max(1, last_seen + KEPT_TTL_MS - now)
                won = await self.limits.names.claim(
                    skeleton(name), key, name, ttl_ms, now, live=False, kept=True
                )
            except LimitsUnavailable:
                won = True  # the store says it is this guest's; it is shared once used again
                log.warning("guest names are not shared yet: the shared limits do not answer")
            if not won:  # it ended, and another node's guest holds the name now
                self.names.release(session)
                continue
            session.shared_until = last_seen + KEPT_TTL_MS
            self._named(session, name)
            self._guests[key] = session
            self._kept[key] = session
        return len(self._kept)

    def _save(self, session: GuestSession) -> None:
        store = self._store()
        if store is None or not session.has_bid:
            return
        session.stored_at = session.last_seen
        self._write(store.save_guest(session.token_hash, session.actor.name, session.last_seen))

    def _touch_store(self, session: GuestSession) -> None:
        if session.has_bid and (
            session.stored_at is None or session.last_seen - session.stored_at >= TOUCH_STORE_MS
        ):
            self._save(session)

    def _write(self, write: Coroutine[Any, Any, None]) -> None:
        """A store write in the background, in order (the store has one writer)."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a guest session could not be stored: %s", task.exception())

    async def settled(self) -> None:
        """Until every guest session write started so far is done (tests, and shutdown)."""
        while self._writes:
            await asyncio.wait(set(self._writes))

    # -- HTTP guest sessions ------------------------------------------------------------------

    async def http_guest(self, wanted: str, *, suffix: bool = True) -> GuestSession:
        """A new guest session made over HTTP (POST /api/guest, or a first bid naming a
        bidder): it holds its name between requests until it goes idle."""
        session = self._new_session(HTTP_GUEST_IDLE_MS)
        await self._claim(wanted, session, suffix)
        self._guests[session.token_hash] = session
        self._idle[session.token_hash] = session
        self._trim()
        return session

    def http_guest_of(self, token: str | None) -> GuestSession | None:
        """The live guest session behind ``token``; using it keeps it alive."""
        session = self._live(token)
        if session is not None:
            session.last_seen = now = self.clock.now_ms()
            for queue in (self._idle, self._kept):
                if session.token_hash in queue:
                    queue.move_to_end(session.token_hash)
            self._touch_store(session)
            ttl_ms, _ = self._ttl(session)
            if session.shared_until - now < ttl_ms // 2:  # renewed at half its life, not per use
                self._share(session)
        return session

    async def http_bidder(
        self,
        user: UserRecord | None,
        bidder: str | None,
        session: HttpGuest | None,
        *,
        token_sent: bool,
    ) -> tuple[Actor, HttpGuest | None]:
        """Who an HTTP bid is from: the login; else the request's guest session; else a new
        session for exactly ``bidder`` (returned second, so a refused bid can end it). A
        bidder named in the body must be the login's or the session's own name."""
        if user is not None:
            if bidder is not None and bidder.strip().casefold() != user.username.casefold():
                raise Forbidden(f"you are logged in as {user.username}; you cannot bid as another")
            return Actor(user.username, user.role), None
        if (
            session is not None
            and bidder is not None
            and skeleton(bidder) != skeleton(session.actor.name)
        ):
            if token_sent:
                raise Forbidden(
                    f"your guest_token is {session.actor.name}'s; you cannot bid as another"
                )
            session = None  # the cookie's session is another name's: this asks for one
        if session is not None:
            return session.actor, None
        if bidder is None:
            raise BadRequest("bidder: a guest name is required (or log in)")
        if not self.guests_allowed:  # as a wire bid before any hello: who are you?
            raise NotAuthenticated("this server takes bids from accounts only")
        made = await self.http_guest(bidder, suffix=False)
        return made.actor, made

    def end_http_guest(self, token: str) -> None:
        session = self._guests.get(token_hash(token))
        if session is not None:
            self._end(session)

    async def _registered(self, name: str) -> UserRecord | None:
        if self.accounts is None:
            return None
        return await self.accounts.store.user_like(name)

    # -- accounts ----------------------------------------------------------------------------

    def _accounts(self) -> Accounts:
        if self.accounts is None:
            raise BadRequest("this server has no accounts; use hello")
        return self.accounts

    async def register(self, username: str, password: str, holder: object) -> tuple[Actor, str]:
        """A new bidder account, logged in; not a name a guest other than ``holder`` holds.
        A guest taking its own name as an account ends its guest session: the name (and the
        bids made under it) are the account's now, and no guest token can come back as it."""
        other = self.names.holder(username)
        mine = holder if isinstance(holder, GuestSession) else self._attached.get(holder)
        if other is not None and other is not holder and other is not mine:
            raise BadRequest(f"a guest is bidding as {username!r} right now; pick another name")
        elsewhere = await self.limits.names.holder(skeleton(username))
        if (
            other is None
            and elsewhere is not None
            and (mine is None or elsewhere != mine.token_hash)
        ):
            raise BadRequest(f"a guest is bidding as {username!r} right now; pick another name")
        issued = await self._accounts().register(username, password)
        actor = self.signed_in(issued.user, holder)
        if mine is not None and other is mine:
            self._end(mine)
        return actor, issued.token

    async def login(
        self, username: str, password: str, address: str, holder: object
    ) -> tuple[Actor, str]:
        issued = await self._accounts().login(username, password, address)
        return self.signed_in(issued.user, holder), issued.token

    async def resume(self, token: str, holder: object) -> tuple[Actor, UserRecord]:
        """The account behind a token from an earlier login (refused if revoked or blocked)."""
        user = await self._accounts().authenticate(token)
        return self.signed_in(user, holder), user

    def signed_in(self, user: UserRecord, holder: object) -> Actor:
        """``holder`` is now this account; a guest name it held is free again."""
        self.leave(holder)
        return Actor(user.username, user.role)

    # -- bids --------------------------------------------------------------------------------

    def bid(
        self,
        actor: Actor | None,
        lot: str,
        amount: int | None,
        max_amount: int | None = None,
        request_id: str | None = None,
    ) -> PlaceBid | Refusal:
        """The house's command for this bid, or why this bidder may not bid now."""
        refusal = self._may_bid(actor)
        if refusal is not None:
            self.refused_bids[refusal.code] = self.refused_bids.get(refusal.code, 0) + 1
            return refusal
        assert actor is not None
        return PlaceBid(actor, lot, amount, max_amount, request_id)

    def buy_now(self, actor: Actor | None, lot: str) -> BuyNow | Refusal:
        """A buy-now is a bid for these rules: the same identity and the same rate limit."""
        refusal = self._may_bid(actor)
        if refusal is not None:
            return refusal
        assert actor is not None
        return BuyNow(actor, lot)

    def _may_bid(self, actor: Actor | None) -> Refusal | None:
        if actor is None:
            return Refusal("not_authenticated", "say hello or log in first")
        if actor.role == "guest" and not self.guests_allowed:
            return Refusal("not_authenticated", "this server takes bids from accounts only")
        session = self._by_name.get(actor.name) if actor.role == "guest" else None
        if session is not None and session.contested:
            return Refusal(
                "forbidden", f"another guest of this house is {actor.name}; pick a name of your own"
            )
        if not self.bid_limiter.take(actor.name, self.clock.now_ms()):
            return Refusal("rate_limited", "too many bids at once; slow down a little")
        if session is not None:
            self._pin(session)
        return None

    def identified(self, actor: Actor | None) -> bool:
        """Whether a connection has said who it is in a way this server takes."""
        return actor is not None and (actor.role != "guest" or self.guests_allowed)
