"""One node's limits: today's objects (``TokenBucket``, ``SlidingWindow``) behind the seam.

Why names are kept here too, though the gate's ``NameRegistry`` is already one node's whole
truth: so the contract suite runs the same claims over ``memory://`` and ``redis://``, and two
gates on one ``MemoryLimits`` behave as two nodes on one Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from bidwire.accounts.limits import SlidingWindow, TokenBucket
from bidwire.limits.base import BidRate, Recalled, Throttle


@dataclass(slots=True)
class _Claim:
    owner: str
    name: str
    until: int | None
    """None while live: one process holds it, and it dies with the process."""
    has_bid: bool = False


class MemoryNames:
    def __init__(self) -> None:
        self._claims: dict[str, _Claim] = {}
        self._key_of: dict[str, str] = {}
        self._now = 0
        """The latest ``now_ms`` a caller gave: what expiries are read against."""

    def _held(self, key: str) -> _Claim | None:
        claim = self._claims.get(key)
        if claim is not None and claim.until is not None and claim.until <= self._now:
            self._drop(key, claim)
            return None
        return claim

    def _drop(self, key: str, claim: _Claim) -> None:
        del self._claims[key]
        if self._key_of.get(claim.owner) == key:
            del self._key_of[claim.owner]

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
        return self._put(key, owner, name, ttl_ms, now_ms, live, kept)

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
        self._put(key, owner, name, ttl_ms, now_ms, live, kept)

    def _put(
        self, key: str, owner: str, name: str, ttl_ms: int, now_ms: int, live: bool, kept: bool
    ) -> bool:
        self._now = max(self._now, now_ms)
        held = self._held(key)
        if held is not None and held.owner != owner:
            return False
        until = None if live else now_ms + ttl_ms
        if held is not None and held.until is not None and until is not None:
            until = max(until, held.until)  # a claim never shortens one already made
        old = self._key_of.get(owner)
        if old is not None and old != key:
            self._claims.pop(old, None)
        kept = kept or (held is not None and held.has_bid)
        self._claims[key] = _Claim(owner, name, until, kept)
        self._key_of[owner] = key
        return True

    def release(self, key: str, owner: str, until_ms: int | None = None) -> None:
        held = self._claims.get(key)
        if held is None or held.owner != owner:
            return
        if until_ms is not None and (held.until is None or held.until > until_ms):
            return
        self._drop(key, held)

    async def holder(self, key: str) -> str | None:
        held = self._held(key)
        return held.owner if held is not None else None

    async def recall(self, owner: str) -> Recalled | None:
        key = self._key_of.get(owner)
        held = self._held(key) if key is not None else None
        if held is None or held.owner != owner:
            return None
        return Recalled(held.name, held.has_bid)

    def __len__(self) -> int:
        return len(self._claims)


class MemoryThrottle:
    def __init__(self, limit: int, window_ms: int) -> None:
        self.window = SlidingWindow(limit, window_ms)

    async def reserve(self, key: str, now_ms: int) -> object | None:
        if self.window.blocked(key, now_ms):
            return None
        self.window.hit(key, now_ms)
        return now_ms

    async def release(self, key: str, ticket: object) -> None:
        if isinstance(ticket, int):
            self.window.release(key, ticket)

    async def clear(self, key: str) -> None:
        self.window.clear(key)


class MemoryLimits:
    shared = False

    def __init__(self) -> None:
        self.names = MemoryNames()
        self._throttles: dict[str, MemoryThrottle] = {}
        self._rates: dict[tuple[float, int], TokenBucket] = {}

    def bid_rate(self, rate: float, burst: int) -> BidRate:
        """One bucket per rate, so two gates on one limits object share it (two nodes)."""
        bucket = self._rates.get((rate, burst))
        if bucket is None:
            bucket = self._rates[rate, burst] = TokenBucket(rate, burst)
        return bucket

    def throttle(self, name: str, limit: int, window_ms: int) -> Throttle:
        """One per name, so two services on one limits object count together (two nodes)."""
        throttle = self._throttles.get(name)
        if throttle is None:
            throttle = self._throttles[name] = MemoryThrottle(limit, window_ms)
        return throttle

    async def settled(self) -> None:
        return None
