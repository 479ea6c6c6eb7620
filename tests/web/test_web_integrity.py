"""GET /api/admin/sales/{id}/integrity and the wire's ``integrity``: admins only (401/403 over
HTTP, not_authenticated/forbidden on the wire), the scripted shill flagged by its real name in
an anonymous sale, the shape in the OpenAPI schema."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
from tests.engine.test_integrity import SHILL_SALE, Plan
from web_helpers import InProcess, TcpJson, in_process, serving

from bidwire.domain.commands import Actor, PlaceBid
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec

pytestmark = pytest.mark.timeout(60)


async def shill_sale(server: InProcess, plan: Plan = SHILL_SALE, until: int = 80_000) -> str:
    """The plan's sale, anonymous and timed, bid through the house up to ``until`` ms."""
    house, clock = server.ctx.house, server.clock
    t0 = clock.now_ms()
    lots = [
        LotSpec(
            id=lot, title=f"Lot {lot}", starting_price=100, opening_ms=120_000, extend_ms=10_000
        )
        for lot in plan
    ]
    await house.add_sale(SaleSpec("s", "Sale", tuple(plan), mode="timed", anonymous=True), lots)
    await house.resume()
    house.start()
    await house.settled()
    bids = sorted((at, lot, who) for lot, row in plan.items() for at, who in row if at <= until)
    for at, lot, who in bids:
        clock.set(t0 + at)
        house.run_due()
        result = await house.place_bid(PlaceBid(Actor(who), lot, house.lots[lot].min_amount()))
        assert not hasattr(result, "code"), result
    await house.settled()
    await server.ctx.integrity.settled()
    return "s"


async def test_the_integrity_route_is_for_admins_and_flags_the_shill() -> None:
    async with in_process(demo=False) as server:
        sale = await shill_sale(server)
        url = f"/api/admin/sales/{sale}/integrity"
        async with (
            server.client() as anonymous,
            server.client(server.bidder_token) as bidder,
            server.client(server.admin_token) as admin,
        ):
            refused = await anonymous.get(url)
            assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
            refused = await bidder.get(url)
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
            reply = await admin.get(url)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["type"] == "integrity" and body["live"] is True
            assert [b["bidder"] for b in body["bidders"] if b["flagged"]] == ["sam"]
            assert body["bidders"][0]["bidder"] == "sam"  # flagged first, by real name
            assert "successive_outbidding" in body["bidders"][0]["raised_by"]
            assert body["flagged"] == 1 and body["threshold"] == 0.65
            assert set(body["bidders"][0]["features"]) == set(body["weights"])
            expected = await server.ctx.integrity.report(sale)
            assert body["bidders"] == msgspec.to_builtins(expected.bidders)
            assert body["bidders_total"] == len(body["bidders"])
            first = (await admin.get(url, params={"limit": 1})).json()
            assert [b["bidder"] for b in first["bidders"]] == ["sam"]
            assert first["bidders_total"] == body["bidders_total"] and first["flagged"] == 1
            for bad in (0, 10_001, "x"):
                refused = await admin.get(url, params={"limit": bad})
                assert (refused.status_code, refused.json()["code"]) == (422, "bad_request")
            missing = await admin.get("/api/admin/sales/nothing/integrity")
            assert (missing.status_code, missing.json()["code"]) == (404, "unknown_sale")
            schema = (await admin.get("/openapi.json")).json()
            assert "IntegrityReport" in schema["components"]["schemas"]
            assert "/api/admin/sales/{sale_id}/integrity" in schema["paths"]


async def reply_to(client: TcpJson, request_id: str) -> dict[str, Any]:
    for _ in range(200):
        raw = await client.recv_raw()
        assert raw is not None, "the server closed the connection"
        message = json.loads(raw)
        if message.get("id") == request_id:
            return message  # type: ignore[no-any-return]
    raise AssertionError(f"no reply to {request_id}")


async def next_push(client: TcpJson) -> dict[str, Any]:
    """The next ``integrity`` no request asked for (other messages, such as bids, pass)."""
    for _ in range(200):
        raw = await client.recv_raw()
        assert raw is not None, "the server closed the connection"
        message = json.loads(raw)
        if message["type"] == "integrity" and "id" not in message:
            return message  # type: ignore[no-any-return]
    raise AssertionError("no integrity pushed")


async def test_the_wire_answers_admins_and_refuses_everyone_else() -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        sale = await shill_sale(server)
        nobody = await TcpJson.connect(ports.tcp)
        guest = await TcpJson.connect(ports.tcp)
        bidder = await TcpJson.connect(ports.tcp)
        admin = await TcpJson.connect(ports.tcp)
        try:
            await nobody.send({"type": "integrity", "sale": sale, "id": "n"})
            assert (await reply_to(nobody, "n"))["code"] == "not_authenticated"
            await guest.send({"type": "hello", "name": "gus", "id": "h"})
            await reply_to(guest, "h")
            await guest.send({"type": "integrity", "sale": sale, "id": "g"})
            assert (await reply_to(guest, "g"))["code"] == "forbidden"
            await bidder.send({"type": "auth", "token": server.bidder_token, "id": "a"})
            assert (await reply_to(bidder, "a"))["type"] == "welcome"
            await bidder.send({"type": "integrity", "sale": sale, "id": "b"})
            refused = await reply_to(bidder, "b")
            assert (refused["type"], refused["code"]) == ("error", "forbidden")
            await admin.send({"type": "auth", "token": server.admin_token, "id": "a"})
            assert (await reply_to(admin, "a"))["type"] == "welcome"
            await admin.send({"type": "integrity", "sale": sale, "id": "i"})
            answer = await reply_to(admin, "i")
            assert answer["type"] == "integrity"
            assert [b["bidder"] for b in answer["bidders"] if b["flagged"]] == ["sam"]
            await admin.send({"type": "integrity", "sale": sale, "limit": 1, "id": "l"})
            first = await reply_to(admin, "l")
            assert [b["bidder"] for b in first["bidders"]] == ["sam"]
            assert first["bidders_total"] == len(answer["bidders"]) > 1
            await admin.send({"type": "integrity", "sale": sale, "limit": 0, "id": "z"})
            assert (await reply_to(admin, "z"))["code"] == "bad_request"
            await admin.send({"type": "integrity", "sale": "nothing", "id": "x"})
            assert (await reply_to(admin, "x"))["code"] == "unknown_sale"
            await admin.send({"type": "integrity", "id": "y"})
            assert (await reply_to(admin, "y"))["code"] == "bad_request"
        finally:
            for client in (nobody, guest, bidder, admin):
                await client.close()


async def test_an_admin_who_follows_a_sale_is_pushed_its_signals_as_bids_come() -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        sale = await shill_sale(server, until=20_000)
        integrity, house = server.ctx.integrity, server.ctx.house
        admin = await TcpJson.connect(ports.tcp)
        bidder = await TcpJson.connect(ports.tcp)
        try:
            await bidder.send({"type": "auth", "token": server.bidder_token, "id": "a"})
            await reply_to(bidder, "a")
            await bidder.send({"type": "integrity", "sale": sale, "follow": True, "id": "f"})
            assert (await reply_to(bidder, "f"))["code"] == "forbidden"
            assert integrity._followers == {}  # refused: not following
            await admin.send({"type": "auth", "token": server.admin_token, "id": "a"})
            await reply_to(admin, "a")
            await admin.send({"type": "integrity", "sale": sale, "follow": True, "id": "f"})
            first = await reply_to(admin, "f")
            bids_then = sum(b["bids"] for b in first["bidders"])
            server.clock.advance(1_000)
            for who in ("kim", "sam"):
                placed = await house.place_bid(
                    PlaceBid(Actor(who), "a", house.lots["a"].min_amount())
                )
                assert not hasattr(placed, "code"), placed
            pushed = await next_push(admin)
            assert "id" not in pushed
            assert sum(b["bids"] for b in pushed["bidders"]) == bids_then + 2
            assert "kim" in {b["bidder"] for b in pushed["bidders"]}
            await admin.send({"type": "integrity", "sale": sale, "follow": False, "id": "u"})
            await reply_to(admin, "u")
            assert integrity._followers == {}
            # a follower that goes away is dropped at the next push
            await admin.send({"type": "integrity", "sale": sale, "follow": True, "id": "g"})
            await reply_to(admin, "g")
            assert len(integrity._followers[sale]) == 1
            await admin.close()
            for _ in range(100):  # until the server has seen the connection close
                if not any(s.actor and s.actor.role == "admin" for s in server.ctx.sessions):
                    break
                await asyncio.sleep(0.01)
            least = house.lots["b"].min_amount()
            placed = await house.place_bid(PlaceBid(Actor("kim"), "b", least))
            assert not hasattr(placed, "code"), placed
            for _ in range(200):
                if not integrity._followers:
                    break
                await asyncio.sleep(0.01)
            assert integrity._followers == {}
        finally:
            await admin.close()
            await bidder.close()
