"""bench/limits_cost.py, small: its cases check every bid and name every guest, on memory://
and, where Redis answers, redis:// (the write-behind's round trips counted). No timing is
asserted here; speed is what the benchmark prints."""

from __future__ import annotations

import pytest

from tests.bench.test_loadgen import load
from tests.limits.helpers import nodes_over

limits_cost = load("limits_cost")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_the_limits_bench_counts_the_bid_path_and_the_round_trips(kind: str) -> None:
    async with nodes_over(kind) as nodes:
        limits = nodes()
        figures = await limits_cost.bid_case(limits, bids=400, users=20, batch=10)
        assert figures["path_us"] > 0 and figures["cpu_us"] > 0
        if kind == "memory":
            assert figures["trips_per_bid"] == 0
        else:  # written behind, many users a round trip: at least one, fewer than the bids
            assert 0 < figures["trips_per_bid"] * 400 < 400
        hello = await limits_cost.hello_case(limits, guests=20)
        assert hello["hello_us"] > 0
        assert await limits.names.holder("g") is None  # every guest left: no name stays
