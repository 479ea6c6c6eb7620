"""Three real nodes on the local PostgreSQL and Redis (issue 14, "Show"): a bid storm through
all of them, and nodes that die or freeze mid-storm (tests/e2e/cluster_nodes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
