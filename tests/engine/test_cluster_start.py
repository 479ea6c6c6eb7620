"""Several nodes starting together on one empty store (issue 14), in one process as in
tests/engine/test_cluster.py: each tries to put the same catalog (or the demo's first run) in
the store; one does, the others learn it and start as usual. And the demo's tidy (only the
latest finished run listed) on the nodes that follow its runs, which never run the end hook."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from bidwire.app import add_catalog
from bidwire.catalog import Defaults
from bidwire.demo import DemoRuns
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.activity import Activity, Who
from bidwire.errors import BadRequest
from tests.engine.test_activity import Told
from tests.engine.test_cluster import World

pytestmark = pytest.mark.timeout(30)

CATALOG = [
    (SaleSpec("s", "Spring", ("a", "b"), gap_ms=2_000), [LotSpec("a", "A"), LotSpec("b", "B")]),
    (SaleSpec("t", "Timed", ("c",), mode="timed"), [LotSpec("c", "C")]),
]
DEFAULTS = Defaults(opening_seconds=4, extend_seconds=2, gap_seconds=1)
PAUSE_MS = 2_000


async def started_together(names: tuple[str, ...] = ("n1", "n2", "n3")) -> World:
    world = World()
    for name in names:  # each loads the store empty, before any has added anything
        await world.start(name)
    return world


async def test_nodes_starting_together_with_one_catalog_add_it_once_and_all_run_it() -> None:
    world = await started_together()
    nodes = list(world.nodes.values())
    await asyncio.gather(*(add_catalog(node.house, CATALOG) for node in nodes))
    assert sorted(world.store.sales) == ["s", "t"]  # once each, whoever was first
    for node in nodes:
        assert set(node.house.sales) == {"s", "t"}
        assert node.house.lot_ids() == {"a", "b", "c"}
    await world.step()
    for sale in ("s", "t"):
        owners = {node.cluster.owner_of(sale) for node in nodes}
        assert len(owners) == 1 and None not in owners, owners
    for lot in ("a", "c"):  # each sale runs, and takes bids at every node
        for i, node in enumerate(nodes):
            placed = await node.house.place_bid(PlaceBid(Actor(f"p{i}"), lot, 100 + 25 * i))
            assert isinstance(placed, Accepted), (lot, node.name, placed)
    await world.settle()
    assert all(node.house.lots["c"].high_bidder == "p2" for node in nodes)


async def test_a_catalog_clash_that_is_not_another_nodes_same_sale_still_stops_the_start() -> None:
    world = await started_together(("n1", "n2"))
    n1, n2 = world.nodes.values()
    await add_catalog(n1.house, CATALOG[:1])
    other = SaleSpec("u", "Other", ("a",))  # a lot id the store has, in another sale
    with pytest.raises(BadRequest, match="taken"):
        await add_catalog(n2.house, [(other, [LotSpec("a", "Not A")])])
    assert "u" not in world.store.sales


async def test_a_catalog_on_one_node_refuses_its_clash_as_before() -> None:
    world = await started_together(("n1",))
    house = world.nodes["n1"].house
    house.owned = None  # one node, no cluster
    await add_catalog(house, CATALOG[:1])
    with pytest.raises((BadRequest, ValueError)):
        await add_catalog(house, CATALOG[:1])


async def run_out(world: World, sale_id: str, *, seen_by: tuple[str, ...] = ()) -> None:
    """Nobody bids: the owner closes each lot as its window runs out, and ends the sale; the
    lease steps go on meanwhile (a lease lasts 3 s). Until every node (``seen_by``) has seen
    it end."""
    nodes = [world.nodes[name] for name in seen_by or world.nodes]
    for _ in range(200):
        if all(node.house.sale_ids() >= {sale_id} for node in nodes) and all(
            (node.house.sales.get(sale_id) or node.house.retired_sales[sale_id]).ended_at
            for node in nodes
        ):
            return
        world.clock.advance(500)
        world.run_due()
        await world.step()
    raise AssertionError(f"{sale_id} did not end on every node")


async def test_the_demo_started_by_several_nodes_and_tidied_on_every_node() -> None:
    world = await started_together()
    nodes = list(world.nodes.values())
    demos = [DemoRuns(node.house, DEFAULTS, PAUSE_MS) for node in nodes]
    await asyncio.gather(*(demo.begin(now=True) for demo in demos))
    assert list(world.store.sales) == ["demo"]
    await world.step()
    await run_out(world, "demo")
    await run_out(world, "demo-2")  # demo-2 was added by the owner, the others learned it
    await run_out(world, "demo-3")
    await world.step()  # the owner's next run, learned
    for node in nodes:  # the owner tidied in its end hook; the followers as they followed
        assert [run.spec.id for run in DemoRuns(node.house, DEFAULTS, 0).runs()] == [
            "demo-3",
            "demo-4",
        ], node.name
        assert set(node.house.retired_sales) == {"demo", "demo-2"}, node.name


async def test_a_follower_that_missed_a_runs_end_tidies_when_it_reads_the_sale_again() -> None:
    world = await started_together()
    for node in world.nodes.values():
        await DemoRuns(node.house, DEFAULTS, PAUSE_MS).begin(now=True)
    await world.step()
    n1, n2, _ = world.nodes.values()
    assert n1.cluster.held.keys() == {"demo"}
    await run_out(world, "demo")
    await world.step()
    n2.unfollow()  # its bus is cut: it hears nothing of demo-2's end
    await run_out(world, "demo-2", seen_by=("n1", "n3"))
    assert n2.house.sales["demo-2"].ended_at is None and "demo" in n2.house.sales
    world.bus.subscribe(n2.house.follow)
    n2.house.follow_lost()  # what the bus's watch_lost calls when it is back
    await world.settle()
    assert n2.house.sales["demo-2"].ended_at is not None
    assert "demo" in n2.house.retired_sales and "demo" not in n2.house.sales


async def test_an_accounts_notice_is_kept_once_in_a_house_of_three_nodes() -> None:
    # every node hears the sale's events and makes the notices (each tells the people
    # connected to it), but only the node deciding the sale keeps them in the inbox
    world = World()
    await world.store.add_sale(*CATALOG[0])
    for name in ("n1", "n2", "n3"):
        await world.start(name)
    await world.step()
    await world.store.create_user("ann", "bidder", "x", world.clock.now_ms())
    told = {name: Told() for name in world.nodes}
    activities = {
        name: Activity(node.house, lambda who: None, told[name])
        for name, node in world.nodes.items()
    }
    for activity in activities.values():
        activity.listen(world.bus)
    n1, n2, n3 = world.nodes.values()
    assert n1.house.owned == {"s"}
    assert isinstance(await n2.house.place_bid(PlaceBid(Actor("ann"), "a", 100)), Accepted)
    assert isinstance(await n3.house.place_bid(PlaceBid(Actor("bob"), "a", 150)), Accepted)
    await world.settle()
    for activity in activities.values():
        await asyncio.wait_for(activity.settled(), 5)
    inbox = await world.store.notices("ann", 10)
    assert [msgspec.json.decode(row.body)["kind"] for row in inbox] == ["outbid"]  # one
    ann = Who("ann", True)
    for name in world.nodes:  # each node told its own connections of ann's, if any
        assert told[name].of(ann) == [("outbid", "a")], name
    kept_id = inbox[0].id
    ids = {name: told[name].notices[0][1].notice_id for name in world.nodes}
    assert ids == {"n1": kept_id, "n2": None, "n3": None}
    for activity in activities.values():
        activity.close()


def test_a_store_shared_by_nodes_has_the_databases_clock_judge_deadlines() -> None:
    from bidwire.app import cluster_store_url

    base = "postgresql://postgres@127.0.0.1:5432/postgres"
    assert cluster_store_url(base) == f"{base}?db_clock=1"
    assert cluster_store_url(f"{base}?schema=x") == f"{base}?schema=x&db_clock=1"
    assert cluster_store_url(f"{base}?db_clock=0") == f"{base}?db_clock=0"  # said otherwise
    assert cluster_store_url("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"
