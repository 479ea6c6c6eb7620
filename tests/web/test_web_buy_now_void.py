"""Issue 11 over HTTP: buy-now prices set by an admin and taken by bidders, and voided bids."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from web_helpers import InProcess, in_process

from bidwire.catalog import Defaults

pytestmark = pytest.mark.timeout(30)
LOT = "vintage-watch"  # the demo's first lot: starting price 100.00 (10000 minor units)
NEXT = "antique-vase"


async def settled(server: InProcess) -> None:
    """Every commit made and published: what the next request reads."""
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


async def test_an_admin_sets_and_clears_a_buy_now_price_and_the_edit_keeps_the_rest() -> None:
    async with (
        in_process() as server,
        server.client(server.admin_token) as admin,
        server.client() as anyone,
    ):
        edit = await admin.put(f"/api/admin/lots/{LOT}", json={"reserve": 150})
        assert edit.status_code == 200, edit.text
        edit = await admin.put(f"/api/admin/lots/{LOT}", json={"buy_now": 500})
        assert edit.status_code == 200, edit.text
        lot = (await anyone.get(f"/api/lots/{LOT}")).json()
        assert (lot["buy_now"], lot["title"], lot["starting_price"]) == (
            50_000,
            "Vintage Watch",
            10_000,
        )
        # Fields left out stay: the reserve set before is still there.
        assert lot["reserve"] is True
        assert server.ctx.house.lots[LOT].spec.reserve == 15_000
        # In currency units like every price of the edit, validated as a lot is: never below
        # the starting price, never more decimals than the currency has.
        for bad in ("99.99", "1.555", "abc", 0, -1):
            refused = await admin.put(f"/api/admin/lots/{LOT}", json={"buy_now": bad})
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["code"] in ("bad_request", "bad_amount"), refused.text
        below = await admin.put(f"/api/admin/lots/{LOT}", json={"buy_now": "99.99"})
        assert "starting price" in below.json()["message"]
        # Raising the starting price above the buy-now price is refused too.
        over = await admin.put(f"/api/admin/lots/{LOT}", json={"starting_price": 600})
        assert (over.status_code, over.json()["code"]) == (422, "bad_request")
        assert (await anyone.get(f"/api/lots/{LOT}")).json()["buy_now"] == 50_000
        cleared = await admin.put(f"/api/admin/lots/{LOT}", json={"buy_now": None})
        assert cleared.status_code == 200, cleared.text
        assert (await anyone.get(f"/api/lots/{LOT}")).json()["buy_now"] is None
        unknown = await admin.put("/api/admin/lots/nope", json={"buy_now": 500})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_lot")
        # Once open, a lot is not edited.
        server.ctx.house.start()
        await settled(server)
        late = await admin.put(f"/api/admin/lots/{LOT}", json={"buy_now": 500})
        assert (late.status_code, late.json()["code"]) == (422, "bad_request")


async def test_a_bidder_buys_now_and_the_lot_closes_sold_to_them() -> None:
    async with (
        in_process() as server,
        server.client(server.admin_token) as admin,
        server.client(server.bidder_token) as bea,
        server.client() as guest,
    ):
        for lot in (LOT, NEXT):
            reply = await admin.put(f"/api/admin/lots/{lot}", json={"buy_now": 500})
            assert reply.status_code == 200, reply.text
        early = await bea.post(f"/api/lots/{LOT}/buy-now")
        assert (early.status_code, early.json()["code"]) == (409, "lot_not_open")
        server.ctx.house.start()
        await settled(server)
        nameless = await guest.post(f"/api/lots/{LOT}/buy-now", json={})
        assert (nameless.status_code, nameless.json()["code"]) == (422, "bad_request")
        unknown = await bea.post("/api/lots/nope/buy-now")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_lot")
        bought = await bea.post(f"/api/lots/{LOT}/buy-now")
        assert bought.status_code == 200, bought.text
        body = bought.json()
        assert {k: body[k] for k in ("type", "lot", "amount", "bidder")} == {
            "type": "bought",
            "lot": LOT,
            "amount": 50_000,
            "bidder": "bea",
        }
        await settled(server)
        lot = (await guest.get(f"/api/lots/{LOT}")).json()
        assert (lot["state"], lot["outcome"], lot["seq"]) == ("closed", "sold", body["seq"])
        again = await guest.post(f"/api/lots/{LOT}/buy-now", json={"bidder": "gus"})
        assert (again.status_code, again.json()["code"]) == (409, "lot_not_open")
        # After the sale's gap the next lot opens: a guest buys it by naming themselves.
        server.clock.advance(round(Defaults().gap_seconds * 1000))
        server.ctx.house.run_due()
        await settled(server)
        assert (await guest.get(f"/api/lots/{NEXT}")).json()["state"] == "open"
        by_guest = await guest.post(f"/api/lots/{NEXT}/buy-now", json={"bidder": "gus"})
        assert by_guest.status_code == 200, by_guest.text
        assert by_guest.json()["bidder"] == "gus" and by_guest.json()["guest_token"]


async def test_buy_now_is_not_offered_once_a_bid_stands_or_when_the_lot_has_none() -> None:
    async with (
        in_process() as server,
        server.client(server.bidder_token) as bea,
        server.client() as guest,
    ):
        server.ctx.house.start()
        await settled(server)
        none = await bea.post(f"/api/lots/{LOT}/buy-now")
        assert (none.status_code, none.json()["code"]) == (409, "not_offered")
        assert "has none" in none.json()["message"]
        # A refused first buy leaves no guest session holding the name.
        refused = await guest.post(f"/api/lots/{LOT}/buy-now", json={"bidder": "gus"})
        assert (refused.status_code, refused.json()["code"]) == (409, "not_offered")
        assert "guest_token" not in refused.json()
        assert server.ctx.gate.names.holder("gus") is None


async def test_buy_now_needs_an_account_where_guests_are_not_taken() -> None:
    async with in_process(guests_allowed=False) as server, server.client() as guest:
        server.ctx.house.start()
        await settled(server)
        reply = await guest.post(f"/api/lots/{LOT}/buy-now", json={"bidder": "gus"})
        assert (reply.status_code, reply.json()["code"]) == (401, "not_authenticated")


async def bid(http: Any, amount: int, **more: Any) -> dict[str, Any]:
    reply = await http.post(f"/api/lots/{LOT}/bids", json={"amount": amount, **more})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_an_admin_voids_a_bid_and_the_lot_stands_as_without_it() -> None:
    async with (
        in_process() as server,
        server.client(server.admin_token) as admin,
        server.client(server.bidder_token) as bea,
        server.client() as guest,
    ):
        server.ctx.house.start()
        await settled(server)
        first = await bid(bea, 10_000)
        typo = await bid(guest, 1_000_000, bidder="gus")
        await settled(server)
        voided = await admin.post(f"/api/admin/lots/{LOT}/void", json={"seq": typo["seq"]})
        assert voided.status_code == 200, voided.text
        event = voided.json()
        assert event["type"] == "bid_voided" and event["voided"] == [typo["seq"]]
        assert (event["amount"], event["bidder"], event["by"]) == (10_000, "bea", "root")
        await settled(server)
        lot = (await guest.get(f"/api/lots/{LOT}")).json()
        assert lot["high_bid"] == {"amount": 10_000, "bidder": "bea"}
        assert lot["seq"] == event["seq"] > first["seq"]
        audit = (await admin.get("/api/admin/audit")).json()["entries"]
        assert audit[0]["action"] == "void-bid" and audit[0]["actor"] == "root"
        # A void of what is not a standing bid is a bad request, said so.
        for seq in (typo["seq"], event["seq"], 10**6):
            again = await admin.post(f"/api/admin/lots/{LOT}/void", json={"seq": seq})
            assert (again.status_code, again.json()["code"]) == (422, "bad_request"), seq
        for body in ({}, {"seq": "3"}, {"seq": 0}):
            bad = await admin.post(f"/api/admin/lots/{LOT}/void", json=body)
            assert (bad.status_code, bad.json()["code"]) == (422, "bad_request"), body
        unknown = await admin.post("/api/admin/lots/nope/void", json={"seq": 1})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_lot")
        scheduled = await admin.post(f"/api/admin/lots/{NEXT}/void", json={"seq": 1})
        assert (scheduled.status_code, scheduled.json()["code"]) == (422, "bad_request")
