"""A store of each scheme for the suites that run over every store: in memory, SQLite in a
temporary file, and PostgreSQL in a schema of its own (tests/store/pg.py: skipped where the
server does not answer, failed then in CI), dropped after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bidwire.store import Store, open_store
from tests.store.pg import fresh_schema

KINDS = ("memory", "sqlite", "postgres")


@asynccontextmanager
async def store_url(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh, empty store of ``kind``."""
    if kind == "postgres":
        async with fresh_schema() as url:
            yield url
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
    else:
        yield "memory://"


@asynccontextmanager
async def store_of(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of ``kind``, opened."""
    async with store_url(kind, tmp_path) as url, open_store(url) as store:
        yield store
