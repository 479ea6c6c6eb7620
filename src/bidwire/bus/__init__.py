"""Buses by URL: ``open_bus("memory://")`` (one node), ``open_bus("redis://host:6379/0")``
(several nodes: ``bus/redis.py``, with ``?channel=NAME`` for the cluster's channel).

Like ``open_store``: scheme dispatch, drivers imported lazily, an unknown scheme is a ValueError
that names it. ``OPENERS`` is the hatch for tests: add a scheme that yields a bus of your own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import urlsplit

from bidwire.bus.base import Bus, Handler, Message, lot_message, sale_message
from bidwire.bus.order import InOrder

__all__ = [
    "OPENERS",
    "Bus",
    "Handler",
    "InOrder",
    "Message",
    "lot_message",
    "open_bus",
    "sale_message",
]


@asynccontextmanager
async def _open_memory(url: str) -> AsyncIterator[Bus]:
    from bidwire.bus.memory import MemoryBus

    bus = MemoryBus()
    try:
        yield bus
    finally:
        bus.close()


@asynccontextmanager
async def _open_redis(url: str) -> AsyncIterator[Bus]:
    from bidwire.bus.redis import open_redis_bus

    async with open_redis_bus(url) as bus:
        yield bus


OPENERS: dict[str, Callable[[str], AbstractAsyncContextManager[Bus]]] = {
    "memory": _open_memory,
    "redis": _open_redis,
    "rediss": _open_redis,
}


def open_bus(url: str) -> AbstractAsyncContextManager[Bus]:
    scheme = urlsplit(url).scheme
    opener = OPENERS.get(scheme)
    if opener is None:
        known = " or ".join(f"{name}://" for name in OPENERS)
        raise ValueError(f"unknown bus scheme {scheme!r} in {url!r}: use {known}")
    return opener(url)
