"""My activity over the wire (``mine``, ``watch``, ``notices``, pushed ``notice``) on TCP and
the WebSocket, and over HTTP (/api/me/...), with its OpenAPI models."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.engine.test_house import settle
from web_helpers import TcpJson, WsJson, in_process, recv_until, serving

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec

LOTS = [
    LotSpec(id="p", title="Painting", opening_ms=600_000),
    LotSpec(id="q", title="Quilt", opening_ms=600_000),
]


async def open_sale(server: Any, *, anonymous: bool = False) -> None:
    house = server.ctx.house
    await house.add_sale(SaleSpec("s", "Sale", ("p", "q"), "timed", anonymous=anonymous), LOTS)
    held = SaleSpec("later", "Later", ("r",), "timed", held=True)
    await house.add_sale(held, [LotSpec(id="r", title="Rug", opening_ms=600_000)])
    house.run_due()
    await settle(house, server.ctx.feed)


async def joined(client: Any, first: dict[str, Any]) -> Any:
    await client.send(first)
    await recv_until(client, "welcome")
    return client


async def ask(client: Any, message: dict[str, Any], reply: str) -> dict[str, Any]:
    await client.send(message)
    found, _ = await recv_until(client, reply)
    assert found.get("id") == message.get("id"), found
    return found


async def test_mine_watch_and_notices_over_tcp_and_the_websocket() -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        await open_sale(server, anonymous=True)
        bea = await joined(
            await WsJson.connect(ports.http), {"type": "auth", "token": server.bidder_token}
        )
        cy = await joined(await TcpJson.connect(ports.tcp), {"type": "hello", "name": "cy"})
        bea_tcp = await joined(
            await TcpJson.connect(ports.tcp), {"type": "auth", "token": server.bidder_token}
        )
        await ask(bea, {"type": "bid", "id": "b1", "lot": "p", "amount": 500}, "bid_accepted")
        watched = await ask(bea, {"type": "watch", "id": "w1", "lot": "r", "on": True}, "watched")
        assert watched["watching"] == ["r"] and watched["on"] is True
        await ask(cy, {"type": "bid", "id": "c1", "lot": "p", "amount": 900}, "bid_accepted")

        # bea is told on both of her connections, and the notice never names cy
        for conn in (bea, bea_tcp):
            notice, _ = await recv_until(conn, "notice")
            assert notice["kind"] == "outbid" and notice["lot"] == "p"
            assert notice["amount"] == 900 and notice["notice_id"] is not None
            assert "cy" not in notice["message"]
        mine = await ask(bea, {"type": "mine", "id": "m1"}, "activity")
        assert mine["user"] == "bea"
        assert [(b["lot"], b["amount"]) for b in mine["bids"]] == [("p", 500)]
        assert [o["lot"] for o in mine["outbid"]] == ["p"] and mine["leading"] == []
        assert [w["lot"] for w in mine["watching"]] == ["r"]
        assert mine["owed"] == {} and mine["won"] == []
        theirs = await ask(cy, {"type": "mine", "id": "m2"}, "activity")
        assert [m["lot"] for m in theirs["leading"]] == ["p"]
        assert "bea" not in str(theirs)

        await server.ctx.house.start_sale("later", by="root")
        notice, _ = await recv_until(bea, "notice")
        assert notice["kind"] == "watched_opened" and notice["lot"] == "r"
        inbox = await ask(bea, {"type": "notices", "id": "n1"}, "inbox")
        assert [n["kind"] for n in inbox["notices"]] == ["watched_opened", "outbid"]
        assert inbox["unread"] == 2 and inbox["kept"] is True
        read = await ask(bea, {"type": "notices", "id": "n2", "mark_read": True}, "inbox")
        assert read["unread"] == 0
        guest = await ask(cy, {"type": "notices", "id": "n3"}, "inbox")
        assert guest["kept"] is False and guest["notices"] == []

        for conn in (bea, cy, bea_tcp):
            await conn.close()


async def test_bad_activity_requests_are_told_in_words() -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        await open_sale(server)
        raw = await TcpJson.connect(ports.tcp)
        early = await ask(raw, {"type": "mine", "id": 1}, "error")
        assert early["code"] == "not_authenticated"
        await joined(raw, {"type": "hello", "name": "dee"})
        unknown = await ask(raw, {"type": "watch", "id": 2, "lot": "nope"}, "error")
        assert unknown["code"] == "unknown_lot" and "nope" in unknown["message"]
        cursor = await ask(raw, {"type": "mine", "id": 3, "before": "x"}, "error")
        assert cursor["code"] == "bad_request" and "next_before" in cursor["message"]
        shape = await ask(raw, {"type": "watch", "id": 4, "lot": "p", "on": "yes"}, "error")
        assert shape["code"] == "bad_request"
        await raw.close()


async def test_my_activity_over_http_for_accounts_and_guests() -> None:
    async with in_process(demo=False) as server:
        await open_sale(server)
        async with server.client(server.bidder_token) as bea, server.client() as anon:
            assert (await anon.get("/api/me/activity")).json()["code"] == "not_authenticated"
            assert (await anon.get("/api/me/activity")).status_code == 401
            placed = await bea.post("/api/lots/p/bids", json={"amount": 500, "max_amount": 800})
            assert placed.status_code == 200, placed.text
            put = await bea.put("/api/me/watch/q")
            assert put.status_code == 200 and put.json()["watching"] == ["q"]
            assert (await bea.put("/api/me/watch/nope")).status_code == 404
            page = (await bea.get("/api/me/activity")).json()
            assert page["type"] == "activity" and page["user"] == "bea"
            assert [(b["amount"], b["max_amount"]) for b in page["bids"]] == [(500, 800)]
            assert [(m["lot"], m["max_amount"]) for m in page["leading"]] == [("p", 800)]
            bad = await bea.get("/api/me/activity", params={"limit": 0})
            assert bad.status_code == 422 and bad.json()["code"] == "bad_request"

            guest = await anon.post("/api/lots/p/bids", json={"amount": 1_000, "bidder": "gus"})
            assert guest.status_code == 200, guest.text
            await asyncio.wait_for(server.ctx.activity.settled(), 5)
            gus = (await anon.get("/api/me/activity")).json()  # the guest cookie is gus
            assert gus["user"] == "gus" and [m["lot"] for m in gus["leading"]] == ["p"]
            assert (await anon.get("/api/me/notices")).json()["kept"] is False
            await anon.put("/api/me/watch/q")
            assert (await anon.get("/api/me/activity")).json()["watching"][0]["lot"] == "q"

            # bea's maximum answered gus's 1,000? no: 800 < 1,000, so she was outbid
            inbox = (await bea.get("/api/me/notices")).json()
            assert [(n["kind"], n["read"]) for n in inbox["notices"]] == [("outbid", False)]
            assert inbox["unread"] == 1
            marked = await bea.post("/api/me/notices/read", json={})
            assert marked.status_code == 200 and marked.json() == {"unread": 0}
            assert (await bea.get("/api/me/notices")).json()["notices"][0]["read"] is True
            gone = await bea.delete("/api/me/watch/q")
            assert gone.status_code == 200 and gone.json()["watching"] == []

            schema = (await anon.get("/openapi.json")).json()
            for name in ("ActivityPage", "MyBid", "MyLot", "Won", "Inbox", "Notice", "Watched"):
                assert name in schema["components"]["schemas"], name
            for path in ("/api/me/activity", "/api/me/watch/{lot_id}", "/api/me/notices"):
                assert path in schema["paths"], path
