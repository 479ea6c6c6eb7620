"""A follower reading a lot again (a gap its house saw, or the bus reconnecting) brings its own
copy up to the store, and leaves its fan-out alone: the watchers' stream is the fan-out's, which
holds what follows a gap until its own reload (engine/resync.py) fills it. Found by
tests/e2e/test_cluster_outages.py, where a Redis restarted mid-storm left clients on a follower
with a seq missing."""

from __future__ import annotations

import pytest

from bidwire.bus.base import lot_message
from bidwire.domain.commands import Accepted, PlaceBid
from tests.engine.test_cluster import ANN, BOB, World, bids_seen, three_nodes

pytestmark = pytest.mark.timeout(30)


async def n2_misses_a_bid(world: World) -> None:
    """n2's connection to the bus drops while n1 takes a bid (its house and its fan-out miss
    it), then comes back."""
    n1, n2 = world.nodes["n1"], world.nodes["n2"]
    n2.unfollow()
    unsubscribe = n2.feed._unsubscribe
    assert unsubscribe is not None
    unsubscribe()
    assert isinstance(await n1.house.place_bid(PlaceBid(ANN, "a", 100)), Accepted)
    await world.settle()
    world.bus.subscribe(n2.house.follow)
    n2.feed.listen(world.bus)


async def lost_then_back(follow_lost: bool) -> list[tuple[object, object]]:
    world = await three_nodes()
    n1, n2, _ = world.nodes.values()
    await n2_misses_a_bid(world)
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


async def test_a_takeover_does_not_skip_the_new_owners_watchers() -> None:
    """The old owner's last bid never reached n2 (killed before its frame went out); n2 takes
    the sale over: its watchers still get that bid, from the fan-out's reload, before the
    takeover's extension."""
    world = await three_nodes()
    n1, n2, n3 = world.nodes.values()
    n3.unfollow()
    n3.feed.close()
    await n2_misses_a_bid(world)
    await n1.cluster.stop(release=False)  # n1 dies
    await n1.house.stop()
    del world.nodes["n1"], world.nodes["n3"]
    world.hub.cut.add("n1")
    world.clock.advance(20_000)  # past the lease and the lot's deadline
    await world.step()
    assert n2.cluster.held == {"s": 2}
    missed = world.store.lots["a"].events[1]
    n2.feed.hear(lot_message(missed))  # the fan-out's own reload brings seq 2
    await world.settle()
    seen = [(m["seq"], m["type"]) for m in n2.seen.messages if m.get("lot") == "a"]
    assert seen == [(1, "lot_opened"), (2, "bid_placed"), (3, "lot_extended")]
