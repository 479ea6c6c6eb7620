"""A follower reading a lot again (a gap its house saw, or the bus reconnecting) brings its own
copy up to the store, and leaves its fan-out alone: the watchers' stream is the fan-out's, which
holds what follows a gap until its own reload (engine/resync.py) fills it. Found by
tests/e2e/test_cluster_outages.py, where a Redis restarted mid-storm left clients on a follower
with a seq missing."""

from __future__ import annotations

import pytest

from bidwire.bus.base import lot_message
from bidwire.domain.commands import Accepted, PlaceBid
from tests.engine.test_cluster import ANN, BOB, bids_seen, three_nodes

pytestmark = pytest.mark.timeout(30)


async def lost_then_back(follow_lost: bool) -> list[tuple[object, object]]:
    world = await three_nodes()
    n1, n2, _ = world.nodes.values()
    n2.unfollow()  # n2's connection to the bus drops: its house and its fan-out miss a bid
    unsubscribe = n2.feed._unsubscribe
    assert unsubscribe is not None
    unsubscribe()
    assert isinstance(await n1.house.place_bid(PlaceBid(ANN, "a", 100)), Accepted)
    await world.settle()
    world.bus.subscribe(n2.house.follow)
    n2.feed.listen(world.bus)
    if follow_lost:
        n2.house.follow_lost()  # what the bus's watch_lost calls on reconnecting
    assert isinstance(await n1.house.place_bid(PlaceBid(BOB, "a", 125)), Accepted)
    await world.settle()  # seq 3 after 1: the house reads the lot again
    assert n2.house.lots["a"].seq == 3
    missed = world.store.lots["a"].events[1]
    n2.feed.hear(lot_message(missed))  # the fan-out's own reload brings seq 2
    await world.settle()
    return bids_seen(n2)


async def test_a_gap_the_follower_house_saw_does_not_skip_the_watchers() -> None:
    assert await lost_then_back(follow_lost=False) == [(2, 100), (3, 125)]


async def test_a_reconnect_s_reload_does_not_skip_the_watchers() -> None:
    assert await lost_then_back(follow_lost=True) == [(2, 100), (3, 125)]
