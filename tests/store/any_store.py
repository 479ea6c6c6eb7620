"""A store of each scheme for the suites that run over every store: in memory, SQLite in a
temporary file, and PostgreSQL in a schema of its own (tests/store/pg.py: skipped where the
server does not answer, failed then in CI), dropped after."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bidwire.store import Store, open_store
from bidwire.store.postgres import PostgresOptions
from tests.store.pg import SERVER, fresh_schema, skip_or_fail, why_not

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


@asynccontextmanager
async def postgres_tables(url: str) -> AsyncIterator[Any]:
    """A connection of its own to the tables of the PostgreSQL store at ``url`` (its schema
    first on the search path), for a test to look at or change what the store keeps."""
    import asyncpg

    options = PostgresOptions.from_url(url)
    settings = {"search_path": options.schema} if options.schema else {}
    conn = await asyncpg.connect(options.dsn, timeout=5, server_settings=settings)
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def icu_database(locale: str = "en") -> AsyncIterator[str]:
    """The URL of a new database whose default collation is ICU's ``locale`` (where "a" sorts
    before "B", unlike code points), dropped after: the only way to give text another default
    order, as a schema cannot."""
    import asyncpg

    reason = await why_not()
    if reason is not None:
        skip_or_fail(reason)
    name = f"bw_test_db_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(SERVER, timeout=5)
    try:
        await admin.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
            f" LOCALE_PROVIDER icu ICU_LOCALE '{locale}' LOCALE 'C.UTF-8'"
        )
        try:
            yield SERVER.rsplit("/", 1)[0] + f"/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
