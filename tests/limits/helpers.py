"""Limits over every scheme, for tests: memory://, and redis:// wherever the local Redis
answers (conftest.py makes ``nodes_over`` the ``nodes`` fixture).

Each test gets its own random key prefix and deletes what it made under it (nothing else);
with BIDWIRE_REQUIRE_SERVICES=1 (CI) a Redis that does not answer fails the test instead of
skipping it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from bidwire.clock import Clock, FakeClock
from bidwire.limits.base import Limits
from bidwire.limits.memory import MemoryLimits
from bidwire.limits.redis import RedisLimits

REDIS_URL = os.environ.get("BIDWIRE_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def redis_or_skip() -> aioredis.Redis:
    client = aioredis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get("BIDWIRE_REQUIRE_SERVICES"):
            pytest.fail(f"Redis at {REDIS_URL} does not answer: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} does not answer: {exc}")
    return client


async def drop_prefix(client: aioredis.Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


Nodes = Callable[..., Limits]
"""Make a node's limits: ``nodes(clock=..., refresh_ms=...)``; every node made by one
fixture shares one store (one Redis prefix, or one MemoryLimits)."""


@contextlib.asynccontextmanager
async def nodes_over(kind: str) -> AsyncIterator[Nodes]:
    """Nodes sharing one store: one MemoryLimits, or one random prefix of the local Redis
    (skipped, or failed in CI, when it does not answer; its keys deleted at the end)."""
    if kind == "memory":
        shared = MemoryLimits()
        yield lambda clock=None, refresh_ms=None: shared
        return
    probe = await redis_or_skip()
    prefix = f"bidwire-test-{secrets.token_hex(6)}:"
    made: list[RedisLimits] = []

    def make(clock: Clock | None = None, refresh_ms: int | None = None) -> Limits:
        client = aioredis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        limits = RedisLimits(client, prefix, clock or FakeClock(), refresh_ms or 10_000)
        limits.start()
        made.append(limits)
        return limits

    try:
        yield make
    finally:
        for limits in made:
            await limits.close()
        await drop_prefix(probe, prefix)
        await probe.aclose()
