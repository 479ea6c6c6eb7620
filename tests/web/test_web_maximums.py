"""A maximum is its owner's secret on every HTTP path (issue 11): only the owner's own replies
and views, and admins, ever carry it; in a plain and in an anonymous sale. The JSON text is
searched for the maximum's number itself, not for a field name."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
from web_helpers import InProcess, in_process

from bidwire.catalog import Defaults, parse_catalog
from bidwire.engine.queries import BidHistory

pytestmark = pytest.mark.timeout(30)

SECRET = 987_654_321
"""Bea's maximum: nine digits no id, seq or clock reading of a test contains by chance."""
CATALOG = {
    "sales": [
        {
            "id": "plain",
            "title": "Plain",
            "lots": [{"id": "p1", "title": "P1", "starting_price": 100}],
        },
        {
            "id": "anon",
            "title": "Anonymous",
            "anonymous": True,
            "lots": [{"id": "a1", "title": "A1", "starting_price": 100}],
        },
    ]
}
LOTS = ("p1", "a1")
READS = ("/api/lots", "/api/lots/{lot}", "/api/sales", "/api/lots/{lot}/bids")


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


async def two_sales(server: InProcess) -> None:
    for sale, lots in parse_catalog(json.dumps(CATALOG), "json", Defaults()):
        await server.ctx.house.add_sale(sale, lots)


def texts(replies: dict[str, Any]) -> dict[str, str]:
    return {path: reply.text for path, reply in replies.items()}


async def read_all(http: Any, lot: str) -> dict[str, Any]:
    replies = {}
    for path in READS:
        url = path.format(lot=lot)
        reply = await http.get(url)
        assert reply.status_code == 200, (url, reply.text)
        replies[url] = reply
    return replies


async def test_no_maximum_reaches_anyone_but_its_owner_and_admins() -> None:
    async with (
        in_process(demo=False) as server,
        server.client(server.admin_token) as admin,
        server.client(server.bidder_token) as bea,
        server.client() as gus,
        server.client() as anyone,
        server.client() as cy,
    ):
        await two_sales(server)
        assert server.ctx.house.views.salts.get("anon") and not server.ctx.house.views.salts.get(
            "plain"
        )
        for lot in LOTS:
            reply = await admin.put(f"/api/admin/lots/{lot}", json={"buy_now": 10**7})
            assert reply.status_code == 200, reply.text
        server.ctx.house.start()
        await settled(server)
        registered = await cy.post(
            "/api/register", json={"username": "cyd", "password": "cyd-secret-1"}
        )
        assert registered.status_code == 200, registered.text
        for lot in LOTS:
            mine = await bea.post(f"/api/lots/{lot}/bids", json={"max_amount": SECRET})
            assert mine.status_code == 200, mine.text
            # The owner's own reply carries their maximum.
            assert (mine.json()["max_amount"], mine.json()["amount"]) == (SECRET, 10_000)
            challenge = await gus.post(
                f"/api/lots/{lot}/bids", json={"amount": 20_000, "bidder": "gus"}
            )
            assert challenge.status_code == 200, challenge.text
            assert challenge.json()["leading"] is False
            replies = {"gus's bid": challenge}
            # A buy-now, refused now a bid stands, says nothing of the maximum either.
            replies["gus's buy-now"] = await gus.post(f"/api/lots/{lot}/buy-now", json={})
            assert replies["gus's buy-now"].json()["code"] == "not_offered"
            too_low = await gus.post(f"/api/lots/{lot}/bids", json={"amount": 20_001})
            assert too_low.json()["code"] == "too_low"
            replies["gus's refused bid"] = too_low
            replies["cy's buy-now"] = await cy.post(f"/api/lots/{lot}/buy-now")
            await settled(server)
            for who, http in (("anonymous", anyone), ("gus (guest)", gus), ("cy", cy)):
                for path, reply in (await read_all(http, lot)).items():
                    replies[f"{who} {path}"] = reply
            for where, text in texts(replies).items():
                assert str(SECRET) not in text, (lot, where, text)
            # The public still sees the automatic bid that answered gus, and who leads.
            snapshot = (await anyone.get(f"/api/lots/{lot}")).json()
            assert snapshot["high_bid"]["amount"] > 20_000 and snapshot["bids"][0]["auto"]
            history = (await anyone.get(f"/api/lots/{lot}/bids")).json()["bids"]
            assert history[0]["auto"] is True and "max_amount" not in history[0]

            # The leader sees their own maximum in their own views, never in the history.
            own = await read_all(bea, lot)
            assert own[f"/api/lots/{lot}"].json()["high_bid"]["max_amount"] == SECRET
            for path in ("/api/lots", "/api/sales"):
                assert str(SECRET) in own[path].text, path
            assert str(SECRET) not in own[f"/api/lots/{lot}/bids"].text
            # Admins see every maximum: on the public reads and in the admin history.
            seen = await read_all(admin, lot)
            assert seen[f"/api/lots/{lot}"].json()["high_bid"]["max_amount"] == SECRET
            for path, reply in seen.items():
                assert str(SECRET) in reply.text, path
            every = (await admin.get(f"/api/admin/lots/{lot}/bids")).json()["bids"]
            assert [b.get("max_amount") for b in every][-1] == SECRET
        # In the anonymous sale nobody but admins sees bea's name, her own view included.
        anon = (await anyone.get("/api/lots/a1")).json()["high_bid"]
        assert anon["bidder"].startswith("Bidder ")
        assert (await bea.get("/api/lots/a1")).json()["high_bid"]["bidder"] == anon["bidder"]


async def test_a_stale_token_reads_what_the_public_reads() -> None:
    async with in_process() as server, server.client("forged-token") as stale:
        for path in ("/api/lots", "/api/sales", "/api/lots/vintage-watch"):
            reply = await stale.get(path)
            assert reply.status_code == 200, (path, reply.text)


async def test_the_history_marks_automatic_and_voided_bids() -> None:
    async with (
        in_process() as server,
        server.client(server.admin_token) as admin,
        server.client(server.bidder_token) as bea,
        server.client() as gus,
    ):
        lot = "vintage-watch"
        server.ctx.house.start()
        await settled(server)
        mine = (await bea.post(f"/api/lots/{lot}/bids", json={"max_amount": SECRET})).json()
        typo = await gus.post(f"/api/lots/{lot}/bids", json={"amount": 50_000, "bidder": "gus"})
        assert typo.status_code == 200, typo.text
        await settled(server)
        before = (await gus.get(f"/api/lots/{lot}/bids")).json()["bids"]
        answer, challenge = before[0], before[1]
        assert (answer["auto"], answer["bidder"]) == (True, "bea")
        assert challenge["seq"] == typo.json()["seq"] and "auto" not in challenge
        voided = await admin.post(f"/api/admin/lots/{lot}/void", json={"seq": challenge["seq"]})
        assert voided.status_code == 200, voided.text
        assert sorted(voided.json()["voided"]) == [challenge["seq"], answer["seq"]]
        await settled(server)
        reply = await gus.get(f"/api/lots/{lot}/bids")
        page = msgspec.json.decode(reply.content, type=BidHistory, strict=True)
        flags = {bid.seq: bid.voided for bid in page.bids}
        assert flags == {answer["seq"]: True, challenge["seq"]: True, mine["seq"]: False}
        assert str(SECRET) not in reply.text
        for bid in reply.json()["bids"]:
            assert "max_amount" not in bid
        every = (await admin.get(f"/api/admin/lots/{lot}/bids")).json()["bids"]
        assert [(b["seq"], b.get("max_amount"), b.get("voided", False)) for b in every] == [
            (answer["seq"], SECRET, True),
            (challenge["seq"], None, True),
            (mine["seq"], SECRET, False),
        ]
