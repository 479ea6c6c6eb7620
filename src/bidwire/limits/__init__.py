"""Shared limits by URL: ``open_limits("memory://")`` (one node, today's behaviour) or
``open_limits("redis://host:6379/0")`` (several nodes; ``?prefix=`` keeps apart several houses
on one Redis). Like ``open_bus``: scheme dispatch, the Redis driver imported lazily, an unknown
scheme is a ValueError that names it. ``OPENERS`` is the hatch for tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bidwire.clock import Clock
from bidwire.limits.base import BidRate, Limits, NameClaims, Recalled, Throttle

__all__ = [
    "OPENERS",
    "BidRate",
    "Limits",
    "NameClaims",
    "Recalled",
    "Throttle",
    "limits_url_for",
    "open_limits",
]


@asynccontextmanager
async def _open_memory(url: str, clock: Clock | None) -> AsyncIterator[Limits]:
    from bidwire.limits.memory import MemoryLimits

    yield MemoryLimits()


@asynccontextmanager
async def _open_redis(url: str, clock: Clock | None) -> AsyncIterator[Limits]:
    from bidwire.limits.redis import open_redis_limits

    async with open_redis_limits(url, clock) as limits:
        yield limits


OPENERS: dict[str, Callable[[str, Clock | None], AbstractAsyncContextManager[Limits]]] = {
    "memory": _open_memory,
    "redis": _open_redis,
    "rediss": _open_redis,
}


def open_limits(url: str, clock: Clock | None = None) -> AbstractAsyncContextManager[Limits]:
    scheme = urlsplit(url).scheme
    opener = OPENERS.get(scheme)
    if opener is None:
        known = " or ".join(f"{name}://" for name in OPENERS)
        raise ValueError(f"unknown limits scheme {scheme!r} in {url!r}: use {known}")
    return opener(url, clock)


def limits_url_for(bus_url: str) -> str:
    """The limits that go with a bus: the bus's Redis when it has one (without the bus's own
    options, which redis-py would refuse), else one node's."""
    parts = urlsplit(bus_url)
    if parts.scheme not in ("redis", "rediss"):
        return "memory://"
    from bidwire.bus.redis import BUS_OPTIONS

    kept = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in BUS_OPTIONS
    ]
    return urlunsplit(parts._replace(query=urlencode(kept)))
