"""The gate: who someone is and whether they may bid, decided once for every transport.

TCP, WebSocket, text mode and HTTP all ask here; none of them decides a name or a bid's
admission itself (design.md section 7). Principles:
- A guest's identity is its holder (a connection, or an HTTP guest session), not the bare name:
  a name is held by one holder at a time, and a name a reader could take for another name
  (``names.skeleton``: case, NFKC, look-alike letters) is the same name.
- Registered names, and their look-alikes, are never a guest's, on any transport; a blocked
  user cannot come back as a guest under their name either.
- A taken name gets a suffix (``bob-2``) that skips names held now and registered names.
- The bid rate is per identity, whichever transport the bids come by.
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from bidwire.accounts.limits import TokenBucket
from bidwire.accounts.records import UserRecord
from bidwire.accounts.service import GUEST_PREFIX, Accounts
from bidwire.clock import Clock
from bidwire.domain.commands import Actor, BuyNow, PlaceBid
from bidwire.domain.lot import Refusal
from bidwire.domain.names import guest_name, skeleton, suffixed
from bidwire.errors import BadRequest, Forbidden, NotAuthenticated

MAX_SUFFIX_TRIES = 50
"""Suffixes tried in order before a random one: bounds the lookups one hello can cost."""
HTTP_GUEST_IDLE_MS = 30 * 60 * 1000
"""An HTTP guest session (and the name it holds) ends after this long without a request."""
MAX_HTTP_GUESTS = 10_000
"""HTTP guest sessions kept at most; past it the least recently used one ends."""


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
class HttpGuest:
    """A guest over HTTP: the holder of its name between requests (cookie or token)."""

    actor: Actor
    token: str
    last_seen: int


@dataclass(slots=True)
class Gate:
    clock: Clock
    accounts: Accounts | None = None
    guests_allowed: bool = True
    bid_limiter: TokenBucket = field(default_factory=lambda: TokenBucket(20.0, 40))
    rng: random.Random = field(default_factory=random.Random)
    names: NameRegistry = field(default_factory=NameRegistry)
    _http_guests: OrderedDict[str, HttpGuest] = field(default_factory=OrderedDict)

    # -- guests ------------------------------------------------------------------------------

    async def guest(self, wanted: str, holder: object, *, suffix: bool = True) -> Actor:
        """Make ``holder`` a guest called ``wanted``, or the first free ``wanted-N`` (or, with
        ``suffix`` off, refuse a taken name). Raises a ClientError saying why not."""
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
        for n in range(1, MAX_SUFFIX_TRIES + 1):
            candidate = name if n == 1 else suffixed(name, n)
            if n > 1 and await self._registered(candidate) is not None:
                continue
            if self.names.claim(candidate, holder):
                return Actor(candidate, "guest")
            if not suffix:
                raise Forbidden(f"another guest is bidding as {name!r}; pick another name")
        return await self.guest(f"{name[:20]}-{self.rng.randrange(10**9)}", holder)

    def made_up_guest(self, holder: object) -> Actor:
        """A made-up guest name (text mode's greeting): ``guest-1234``. No account can have
        one (``accounts.service.check_username``), so only the names held now are asked."""
        for attempt in itertools.count():  # four digits while they are mostly free, then more
            digits = 4 + attempt // 20
            name = f"{GUEST_PREFIX}{self.rng.randrange(10 ** (digits - 1), 10**digits)}"
            if self.names.claim(name, holder):
                return Actor(name, "guest")
        raise AssertionError("unreachable")

    def leave(self, holder: object) -> None:
        """The holder is gone (closed, or now logged in): its guest name is free again."""
        self.names.release(holder)

    async def http_guest(self, wanted: str, *, suffix: bool = True) -> HttpGuest:
        """A new HTTP guest session holding its name until it goes idle."""
        self._expire_http_guests()
        session = HttpGuest(Actor("", "guest"), secrets.token_urlsafe(24), self.clock.now_ms())
        session.actor = await self.guest(wanted, session, suffix=suffix)
        self._http_guests[session.token] = session
        if len(self._http_guests) > MAX_HTTP_GUESTS:
            _, oldest = self._http_guests.popitem(last=False)
            self.leave(oldest)
        return session

    def http_guest_of(self, token: str | None) -> HttpGuest | None:
        """The live HTTP guest session behind ``token``; using it keeps it alive."""
        self._expire_http_guests()
        session = self._http_guests.get(token or "")
        if session is not None:
            session.last_seen = self.clock.now_ms()
            self._http_guests.move_to_end(session.token)
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
        session = self._http_guests.pop(token, None)
        if session is not None:
            self.leave(session)

    def _expire_http_guests(self) -> None:
        idle_since = self.clock.now_ms() - HTTP_GUEST_IDLE_MS
        while self._http_guests:
            oldest = next(iter(self._http_guests.values()))
            if oldest.last_seen > idle_since:
                return
            del self._http_guests[oldest.token]
            self.leave(oldest)

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
        """A new bidder account, logged in; not a name a guest other than ``holder`` holds."""
        other = self.names.holder(username)
        if other is not None and other is not holder:
            raise BadRequest(f"a guest is bidding as {username!r} right now; pick another name")
        issued = await self._accounts().register(username, password)
        return self.signed_in(issued.user, holder), issued.token

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
        if not self.bid_limiter.take(actor.name, self.clock.now_ms()):
            return Refusal("rate_limited", "too many bids at once; slow down a little")
        return None

    def identified(self, actor: Actor | None) -> bool:
        """Whether a connection has said who it is in a way this server takes."""
        return actor is not None and (actor.role != "guest" or self.guests_allowed)
