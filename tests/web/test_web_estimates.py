"""A lot's estimate on every way out: lot_opened, snapshots, /api/sales, /api/lots (issue 12)."""

from __future__ import annotations

import asyncio

import pytest
from web_helpers import WsJson, hello, in_process, recv_until, serving

pytestmark = pytest.mark.timeout(30)

WATCH = (15_000, 25_000)  # the demo's Vintage Watch: $150-$250
VASE = (8_000, 12_000)


async def test_the_estimate_is_in_lot_opened_snapshots_and_the_http_listings() -> None:
    async with in_process() as server, serving(server.ctx) as ports:
        ann = await WsJson.connect(ports.http)
        await hello(ann, "ann")
        server.ctx.house.start()
        opened, _ = await recv_until(ann, "lot_opened")
        assert (opened["lot"], opened["estimate_low"], opened["estimate_high"]) == (
            "vintage-watch",
            *WATCH,
        )
        await asyncio.wait_for(server.ctx.house.settled(), 5)
        await asyncio.wait_for(server.ctx.feed.flushed(), 5)
        bob = await WsJson.connect(ports.http)
        (snapshot,) = await hello(bob, "bob")
        assert (snapshot["estimate_low"], snapshot["estimate_high"]) == WATCH
        async with server.client() as http:
            (sale,) = (await http.get("/api/sales")).json()["sales"]
            assert [(lot["estimate_low"], lot["estimate_high"]) for lot in sale["lots"]][:2] == [
                WATCH,
                VASE,
            ]
            lots = (await http.get("/api/lots")).json()["lots"]
            assert (lots[1]["estimate_low"], lots[1]["estimate_high"]) == VASE
            vase = (await http.get("/api/lots/antique-vase")).json()
            assert (vase["state"], vase["estimate_low"], vase["estimate_high"]) == (
                "scheduled",
                *VASE,
            )
        await ann.close()
        await bob.close()


async def test_a_lot_without_an_estimate_says_null_not_nothing() -> None:
    from bidwire.domain.lot import LotSpec
    from bidwire.domain.sale import SaleSpec

    async with in_process(demo=False) as server:
        await server.ctx.house.add_sale(SaleSpec("s", "Sale", ("plain",)), [LotSpec("plain", "P")])
        async with server.client() as http:
            lot = (await http.get("/api/lots/plain")).json()
            assert lot["estimate_low"] is None and lot["estimate_high"] is None
            assert "estimate_low" in lot and "estimate_high" in lot
