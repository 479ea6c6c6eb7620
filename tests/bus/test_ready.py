"""Every bus says whether it can carry events (``fault``), for /readyz: part of the contract,
over the contract's URLs."""

from __future__ import annotations

import pytest

from bidwire.bus import open_bus
from bidwire.bus.memory import MemoryBus
from tests.bus.test_contract import BUS_URLS, bus_url


@pytest.mark.parametrize("url", BUS_URLS)
async def test_an_open_bus_is_ready_and_has_a_lag_histogram(url: str) -> None:
    async with open_bus(bus_url(url)) as bus:
        assert bus.fault() is None
        assert bus.lag.count >= 0


async def test_the_memory_bus_says_so_once_closed() -> None:
    async with open_bus("memory://") as bus:
        assert isinstance(bus, MemoryBus)
    assert bus.fault() == "the bus is closed"
