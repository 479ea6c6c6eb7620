"""Three real nodes on the local PostgreSQL and Redis (issue 14, "Show"): a bid storm through
all of them, and nodes that die or freeze mid-storm (tests/e2e/cluster_nodes.py)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from bidwire.engine.cluster import LEASE_MS, RENEW_EVERY_MS
from tests.e2e.cluster_nodes import (
    bidders_on,
    check_acked_stored,
    check_client_stream,
    check_closed_once_not_early,
    check_consecutive,
    cluster_env,
    storm,
    wait_closed,
    write_sale,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LOT = "hot"
SALE = "storm"
EXTEND_S = 3


def one_lot(tmp: Path) -> str:
    return write_sale(
        tmp,
        [
            {
                "id": LOT,
                "title": "Hot lot",
                "starting_price": 1,
                "extend_seconds": EXTEND_S,
                "opening_seconds": 20,
            }
        ],
        sale_id=SALE,
    )


async def test_three_nodes_one_stream_every_ack_stored_one_close(tmp_path: Path) -> None:
    async with cluster_env(tmp_path) as env:
        nodes = env.start(3, one_lot(tmp_path))
        bidders = await bidders_on(nodes, 3, ws=True)
        watchers = await bidders_on(nodes, 1, tag="w")
        owner = await env.owner(SALE)
        records = await storm(bidders, LOT, max_bids=600, seconds=6)
        clients = [b.client for b in bidders + watchers]
        await wait_closed(clients, LOT, EXTEND_S + 10)
        events = await env.events(LOT)
        check_consecutive(events)
        acked = check_acked_stored(records, events)
        close = check_closed_once_not_early(events, EXTEND_S * 1000)
        for client in clients:
            check_client_stream(client, LOT, events)
        per_node = {
            n.name: sum(1 for r in records if r.accepted and r.node == n.name) for n in nodes
        }
        print(
            f"owner {owner.name}; {len(records)} bids sent, {acked} acknowledged"
            f" {per_node}; {len(events)} events; closed {close.body['outcome']}"
        )
        assert all(count > 0 for count in per_node.values()), per_node
        assert acked == sum(1 for e in events if e.type == "bid_placed")
        for node in nodes:
            assert "Traceback" not in node.log, node.log


LEASE_S = LEASE_MS / 1000
"""A dead owner's sales are free this long after its last renewal at most."""
RESUME_MARGIN_S = 0.35
"""Allowed on top of the lease and one lease step: the storm's 0.2 s pause before it sends an
``unavailable`` bid again, and 0.15 s for the new owner's reads of the sale (adopt: a few ms
here) on a machine of 2 shared cores. Measured 3.0-3.2 s after a kill or a freeze; 4.4-4.5 s
before asks waiting on a dead owner were answered at the takeover (they waited their 2 s
timeout), which this bound refuses."""


@pytest.mark.parametrize("fault", ["kill_owner", "kill_follower", "freeze_owner", "stop_owner"])
async def test_a_node_dies_or_freezes_mid_storm(tmp_path: Path, fault: str) -> None:
    async with cluster_env(tmp_path) as env:
        nodes = env.start(3, one_lot(tmp_path))
        bidders = await bidders_on(nodes, 3)
        watchers = await bidders_on(nodes, 1, tag="w")
        owner = await env.owner(SALE)
        before = await env.lease(SALE)
        victim = owner if fault != "kill_follower" else next(n for n in nodes if n is not owner)
        survivors = [n for n in nodes if n is not victim]
        running = asyncio.ensure_future(storm(bidders, LOT, max_bids=3_000, seconds=14, pace=0.05))
        await asyncio.sleep(3)
        hit = time.monotonic()
        if fault == "freeze_owner":
            victim.stop()
            await asyncio.sleep(LEASE_S + 2)  # past its lease: another node takes the sale
            victim.cont()
        elif fault == "stop_owner":
            await asyncio.to_thread(victim.terminate)  # SIGTERM: its leases handed back
        else:
            victim.kill9()
        records = await running
        after = await env.lease(SALE)  # the sale ends with its lot: read its holder before
        alive = [b for b in bidders + watchers if fault == "freeze_owner" or b.node != victim.name]
        await wait_closed([b.client for b in alive], LOT, EXTEND_S + 15)
        events = await env.events(LOT)
        check_consecutive(events)
        acked = check_acked_stored(records, events)
        check_closed_once_not_early(events, EXTEND_S * 1000)
        for b in alive:
            check_client_stream(b.client, LOT, events, f"{b.name} on {b.node}")
        resumed = [
            r.answered - hit
            for r in records
            if r.accepted
            and r.answered is not None
            and r.sent > hit
            and r.node in {n.name for n in survivors}
        ]
        assert resumed, "no bid accepted at a survivor after the fault"
        assert before is not None and after is not None
        print(
            f"{fault}: owner {owner.name} -> {after.holder}; {len(records)} bids sent,"
            f" {acked} acknowledged; first accepted at a survivor {min(resumed):.2f} s after;"
            f" answers {Counter(r.code for r in records)}"
        )
        if fault != "kill_follower":
            assert after.holder != victim.name and after.epoch > before.epoch
            assert min(resumed) <= LEASE_S + 1 + RESUME_MARGIN_S
        if fault == "stop_owner":  # released at once: taken at a survivor's next step
            assert min(resumed) <= RENEW_EVERY_MS / 1000 + RESUME_MARGIN_S
        for node in survivors:
            assert "Traceback" not in node.log, node.log
        if fault == "freeze_owner":
            # woken, it learned it lost the sale; what it tried to store meanwhile (its lot's
            # deadline passed while it slept) the fence refused: the store closed it once
            assert f"sale {SALE} lost" in victim.log, victim.log
            fenced = victim.log.count(f"no longer held by {victim.name}")
            print(f"the woken owner's writes refused by the fence (logged): {fenced}")


async def test_three_nodes_started_at_once_on_an_empty_store_run_one_sale(
    tmp_path: Path,
) -> None:
    async with cluster_env(tmp_path) as env:
        nodes = env.start_together(3, one_lot(tmp_path))
        bidders = await bidders_on(nodes, 1)
        records = await storm(bidders, LOT, max_bids=30, seconds=5, pace=0.05)
        await wait_closed([b.client for b in bidders], LOT, EXTEND_S + 10)
        events = await env.events(LOT)
        check_consecutive(events)
        check_acked_stored(records, events)
        check_closed_once_not_early(events, EXTEND_S * 1000)
        sales = await env.events(SALE, stream="sale")
        assert [e.type for e in sales].count("sale_started") == 1, sales
        for node in nodes:
            assert "Traceback" not in node.log, node.log


async def test_the_owner_killed_just_before_a_close_the_sale_goes_on_once(
    tmp_path: Path,
) -> None:
    """Its lot's deadline passes while no node decides: the new owner gives a fresh window
    (announced), closes it once and runs the next lot; the sale ends once."""
    lots = [
        {"id": LOT, "title": "Hot lot", "starting_price": 1, "extend_seconds": EXTEND_S},
        {"id": "next", "title": "Next lot", "starting_price": 1, "opening_seconds": 3},
    ]
    async with cluster_env(tmp_path) as env:
        nodes = env.start(3, write_sale(tmp_path, lots, sale_id=SALE))
        owner = await env.owner(SALE)
        survivors = [n for n in nodes if n is not owner]
        bidders = await bidders_on(survivors, 1)
        records = await storm(bidders, LOT, max_bids=6, seconds=5, pace=0.1)
        assert any(r.accepted for r in records), records
        await asyncio.sleep(EXTEND_S - 1)  # a second before the hammer
        owner.kill9()
        clients = [b.client for b in bidders]
        await wait_closed(clients, LOT, LEASE_S + EXTEND_S + 10)
        await wait_closed(clients, "next", LEASE_S + 15)
        events = await env.events(LOT)
        check_consecutive(events)
        check_acked_stored(records, events)
        check_closed_once_not_early(events, EXTEND_S * 1000)
        restarts = [e for e in events if e.type == "lot_extended"]
        assert [e.body["reason"] for e in restarts] == ["restart"], events
        following = await env.events("next")
        check_consecutive(following)
        assert [e.type for e in following] == ["lot_opened", "lot_closed"], following
        assert following[0].ts >= events[-1].ts
        for _ in range(50):  # the sale's end follows its last lot's close
            sale = [e.type for e in await env.events(SALE, stream="sale")]
            if "sale_ended" in sale:
                break
            await asyncio.sleep(0.1)
        assert sale.count("sale_started") == 1 and sale.count("sale_ended") == 1, sale
        for b in bidders:
            check_client_stream(b.client, LOT, events, f"{b.name} on {b.node}")
        for node in survivors:
            assert "Traceback" not in node.log, node.log
