"""Scheme dispatch for stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from bidwire.store.base import Store


@asynccontextmanager
async def open_store(
    url: str, *, synchronous: str = "FULL", exclusive: bool = False
) -> AsyncIterator[Store]:
    """``exclusive``: this process serves the store; a second such opener is refused
    (StoreInUse) instead of running beside it on the same file."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from bidwire.store.memory import MemoryStore

        yield MemoryStore()
    elif scheme == "sqlite":
        from bidwire.store.sqlite import SqliteStore, sqlite_path

        async with SqliteStore(
            sqlite_path(url), synchronous=synchronous, exclusive=exclusive
        ) as store:
            yield store
    else:
        raise ValueError(
            f"unknown store scheme {scheme!r} in {url!r}: use sqlite:///PATH or memory://"
        )
