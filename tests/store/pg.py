"""A fresh PostgreSQL store for a test: its own schema in the local server, dropped after.

Why a schema and not a database: measured here (``python -m tests.store.pg``), a schema made,
migrated and dropped costs about 100 ms, a database made from a migrated template, opened and
dropped about 230 ms (DROP DATABASE checkpoints); medians of 5, on a machine shared by others.

The server is ``BIDWIRE_TEST_POSTGRES`` (default the local one, user postgres, trust). Where it
does not answer the tests are skipped, unless ``BIDWIRE_REQUIRE_SERVICES`` is set (CI): then
they fail. Nothing is dropped but the schemas made here (``bw_test_`` and random hex).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

SERVER = os.environ.get("BIDWIRE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
CONNECT_S = 3.0


async def why_not(dsn: str = SERVER) -> str | None:
    """None when the server answers, else why not (in words)."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_S)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {dsn} does not answer: {exc}"
    await conn.close()
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("BIDWIRE_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (BIDWIRE_REQUIRE_SERVICES is set: PostgreSQL is required)")
    pytest.skip(reason)


def with_query(dsn: str, query: str) -> str:
    return dsn + ("&" if "?" in dsn else "?") + query


@asynccontextmanager
async def fresh_schema(dsn: str = SERVER) -> AsyncIterator[str]:
    """The URL of a store in a new schema of ``dsn`` (made by the store's first open), and the
    schema dropped on the way out, whatever happened."""
    reason = await why_not(dsn)
    if reason is not None:
        skip_or_fail(reason)
    schema = f"bw_test_{secrets.token_hex(6)}"
    try:
        yield with_query(dsn, f"schema={schema}")
    finally:
        await drop_schema(dsn, schema)


async def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    assert schema.startswith("bw_test_"), "only a schema made here is dropped"
    conn = await asyncpg.connect(dsn, timeout=CONNECT_S)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _measure(rounds: int = 5) -> None:
    """Print what a fresh schema and a fresh database from a template each cost here."""
    import asyncpg

    from bidwire.store import open_store

    schema_ms = []
    for _ in range(rounds):
        start = time.perf_counter()
        async with fresh_schema() as url, open_store(url):
            pass
        schema_ms.append((time.perf_counter() - start) * 1000)
    admin = await asyncpg.connect(SERVER)
    template = f"bw_test_tpl_{secrets.token_hex(4)}"
    database_ms = []
    try:
        await admin.execute(f'CREATE DATABASE "{template}"')
        base = SERVER.rsplit("/", 1)[0]
        async with open_store(f"{base}/{template}"):
            pass
        for _ in range(rounds):
            name = f"bw_test_db_{secrets.token_hex(4)}"
            start = time.perf_counter()
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            async with open_store(f"{base}/{name}"):
                pass
            await admin.execute(f'DROP DATABASE "{name}"')
            database_ms.append((time.perf_counter() - start) * 1000)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{template}"')
        await admin.close()
    print(f"schema, migration, drop: median {sorted(schema_ms)[rounds // 2]:.0f} ms")
    print(f"database from a template, open, drop: median {sorted(database_ms)[rounds // 2]:.0f} ms")


if __name__ == "__main__":
    asyncio.run(_measure())
