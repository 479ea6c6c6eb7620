"""While the store cannot be reached, what keeps trying (the house's reload of a lot, the
fan-out's reload, the lease step) says so in words, one line each, without a traceback: an
outage is expected, and a node's log through one is read by people (and collectors). Anything
else that fails still logs its traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bidwire.domain.commands import PlaceBid
from bidwire.errors import StoreUnavailable
from tests.engine.test_cluster import three_nodes
from tests.engine.test_house import ANN, make_house
from tests.engine.test_resync import reloaded_after_one_failure

pytestmark = pytest.mark.timeout(20)

AWAY = "PostgreSQL at 127.0.0.1:5432 cannot be reached: [Errno 111] Connection refused"


def said(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if words in r.getMessage()]


async def test_the_fan_outs_reload_says_the_store_is_away_in_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await reloaded_after_one_failure(StoreUnavailable(AWAY))
    records = said(caplog, AWAY)
    assert records and all(r.exc_info is None and r.levelno == logging.WARNING for r in records)


async def test_the_houses_reload_of_a_lot_says_the_store_is_away_in_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    house, _rec, _clock, store = await make_house()
    real = store.lot_log
    calls = 0

    async def away_once(lot_id: str) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreUnavailable(AWAY)
        return await real(lot_id)

    store.lot_log = away_once  # type: ignore[method-assign,assignment]
    store.fail_appends = True
    await house.place_bid(PlaceBid(ANN, "a", 100))  # its commit fails: the lot is read again
    store.fail_appends = False
    async with asyncio.timeout(5):
        await house.settled()
    assert calls == 2
    records = said(caplog, AWAY)
    reloading = [r for r in records if "reloading lot a" in r.getMessage()]
    assert reloading and all(r.exc_info is None for r in reloading)


async def lease_steps_failing_with(
    caplog: pytest.LogCaptureFixture, error: Exception
) -> list[logging.LogRecord]:
    """n1's lease steps, every one meeting ``error`` from the leases: what they logged."""
    world = await three_nodes()
    n1 = world.nodes["n1"]

    async def failing() -> list[object]:
        raise error

    world.leases.leases = failing  # type: ignore[method-assign,assignment]
    n1.cluster.renew_every_ms = 10
    n1.cluster.start()
    try:
        async with asyncio.timeout(3):
            while not said(caplog, "lease step"):
                await asyncio.sleep(0.01)
    finally:
        await n1.cluster.stop(release=False)
    return said(caplog, "lease step")


async def test_a_lease_step_says_the_store_is_away_in_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = await lease_steps_failing_with(caplog, StoreUnavailable(AWAY))
    assert all(r.exc_info is None and AWAY in r.getMessage() for r in records)


async def test_anything_else_that_fails_a_lease_step_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = await lease_steps_failing_with(caplog, RuntimeError("a bug"))
    assert records[0].exc_info is not None
