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
    (StoreInUse) instead of running beside it on the same file. PostgreSQL is shared by
    design (several nodes): ``synchronous`` and ``exclusive`` are SQLite's; its own options
    are in the URL (store/postgres.py: ``?schema=``, ``?db_clock=1``, ``?pool=``)."""
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
    elif scheme in ("postgresql", "postgres"):
        from bidwire.store.postgres import PostgresOptions, PostgresStore

        async with PostgresStore(PostgresOptions.from_url(url)) as store:
            yield store
    else:
        raise ValueError(
            f"unknown store scheme {scheme!r} in {url!r}: use sqlite:///PATH,"
            " postgresql://USER@HOST:PORT/DB or memory://"
        )
