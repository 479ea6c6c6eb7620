"""Limits that hold across nodes: who holds a guest name, the bid rate, the login throttles.

Principles:
- One node's limits (``memory://``) are today's objects, as fast as before; several nodes'
  (``redis://``) keep the same promises for the whole house: a guest name is one session's on
  every node, a user's bid rate is the configured one summed over every node it bids through,
  and failed logins are counted together wherever they arrive.
- Names are identity, so they fail closed: a name that cannot be claimed in the shared store is
  refused (``LimitsUnavailable``, ``unavailable``), never held on one node only. Rates and
  throttles are protection, so they fall back to each node's own count while the shared store
  does not answer (the limit then holds per node, at most N times the house's) and say so in
  the log: a Redis outage must not stop a running sale.
- The bid path stays synchronous: a bid is let through or refused from what this node knows
  now; what it spent reaches the shared bucket right after (``RedisRate``), and the shared
  bucket's answer corrects this node's share.
- Time is the caller's (``now_ms``); names' expiries are the shared store's own timers.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Recalled(NamedTuple):
    """A guest session another node made, as the shared names hold it."""

    name: str
    has_bid: bool


class NameClaims(Protocol):
    """Guest names held across nodes. ``key`` is a name's skeleton (``names.skeleton``: what a
    reader cannot tell apart is one name); ``owner`` the holding guest session's token hash, the
    same on every node, so a guest resuming on another node is still the holder."""

    async def claim(
        self,
        key: str,
        owner: str,
        name: str,
        ttl_ms: int,
        now_ms: int,
        *,
        live: bool,
        kept: bool = False,
    ) -> bool:
        """Hold ``key`` for ``owner`` for at least ``ttl_ms`` from now (a claim never shortens
        one already made), unless another owner holds it. ``live``: this node renews it while
        it lives (a connected guest); otherwise it lasts ``ttl_ms`` unless claimed again.
        ``kept``: the session has bid (it stays so; a resume on another node is told).
        Raises LimitsUnavailable when the shared store does not answer."""
        ...

    def extend(
        self,
        key: str,
        owner: str,
        name: str,
        ttl_ms: int,
        now_ms: int,
        *,
        live: bool,
        kept: bool = False,
    ) -> None:
        """A claim by a holder that holds it already, in the background (a use, a bid)."""
        ...

    def release(self, key: str, owner: str, until_ms: int | None = None) -> None:
        """Free ``key`` if ``owner`` holds it (and, with ``until_ms``, if nobody made it last
        longer than that since: another node using the session since keeps it), in the
        background."""
        ...

    async def holder(self, key: str) -> str | None:
        """The owner holding ``key`` now, if any (None also when the store does not answer:
        a name is only ever taken through ``claim``, which fails closed)."""
        ...

    async def recall(self, owner: str) -> Recalled | None:
        """The name ``owner`` holds now, if it still does (a resume on another node). Raises
        LimitsUnavailable when the shared store does not answer: "not known" would end a
        guest's session for it."""
        ...


class BidRate(Protocol):
    def take(self, key: str, now_ms: int) -> bool:
        """One bid for ``key`` now, if its rate allows it. Synchronous: on the bid path."""
        ...


class Throttle(Protocol):
    """At most a number of hits per key in a sliding window (failed logins)."""

    async def reserve(self, key: str, now_ms: int) -> object | None:
        """Count one hit now and return its ticket, or None (nothing counted) if ``key`` is
        at its limit."""
        ...

    async def release(self, key: str, ticket: object) -> None:
        """Take back the hit ``ticket`` counted (it did not count after all)."""
        ...

    async def clear(self, key: str) -> None: ...


class Limits(Protocol):
    @property
    def names(self) -> NameClaims: ...

    @property
    def shared(self) -> bool:
        """Whether these limits hold across nodes (then made-up names are checked too)."""
        ...

    def bid_rate(self, rate: float, burst: int) -> BidRate:
        """``rate`` bids a second per user with bursts of ``burst``."""
        ...

    def throttle(self, name: str, limit: int, window_ms: int) -> Throttle:
        """At most ``limit`` hits per key in any ``window_ms``; ``name`` keeps it apart from
        other throttles in the shared store."""
        ...

    async def settled(self) -> None:
        """Until every background write started so far has been answered (tests, shutdown)."""
        ...
