"""The admin's HTTP routes on a node that does not decide the sale (issue 14): three houses
of one cluster in this process (tests/engine/test_cluster.py's), the HTTP app over the second;
each change is made by the owner, its refusals come back in its words, and an owner that does
not answer is 503 unavailable in words, in time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher
from tests.engine.test_cluster import World, three_nodes, types
from web_helpers import FAST_HASH

from bidwire.accounts.service import Accounts
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.engine.gate import Gate
from bidwire.transports.http import create_app
from bidwire.transports.session import SessionContext

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def world() -> World:
    return await three_nodes()


@pytest.fixture
async def admin_at_n2(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's HTTP client on node n2 (n1 decides sale ``s``)."""
    n2 = world.nodes["n2"]
    clock = n2.house.clock
    accounts = Accounts(world.store, clock, PasswordHasher(**FAST_HASH))
    await accounts.create_user("root", "root-password", "admin")
    admin = await accounts.login("root", "root-password", "test")
    ctx = SessionContext(n2.house, n2.feed, clock, Gate(clock, accounts))
    app = create_app(ctx, None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"authorization": f"Bearer {admin.token}"},
        timeout=10,
    ) as client:
        yield client


async def test_the_admin_routes_work_on_a_node_that_does_not_decide_the_sale(
    world: World, admin_at_n2: httpx.AsyncClient
) -> None:
    http = admin_at_n2
    n1, n2, _ = world.nodes.values()
    assert n1.house.owned == {"s"} and n2.house.owned == set()
    reply = await http.post("/api/admin/sales/s/pause")
    assert reply.status_code == 200, reply.text
    await world.settle()
    assert types(world.store.sales["s"].events) == ["SaleStarted", "SalePaused"]
    reply = await http.post("/api/admin/sales/s/pause")  # the owner's refusal, in its words
    assert (reply.status_code, reply.json()["code"]) == (422, "bad_request"), reply.text
    assert "not running" in reply.json()["message"]
    reply = await http.post("/api/admin/sales/s/resume")
    assert reply.status_code == 200, reply.text
    assert isinstance(await n2.house.place_bid(PlaceBid(Actor("ann"), "a", 100)), Accepted)
    await world.settle()
    reply = await http.post("/api/admin/lots/a/void", json={"seq": 4})
    assert reply.status_code == 200, reply.text
    assert reply.json()["type"] == "bid_voided" and reply.json()["voided"] == [4]
    reply = await http.put("/api/admin/lots/b", json={"title": "B, cleaned", "reserve": 5})
    assert reply.status_code == 200, reply.text
    assert n1.house.lots["b"].spec.title == "B, cleaned"  # edited where the sale is decided
    reply = await http.post(
        "/api/admin/sales/s/lots", json={"lots": [{"title": "Extra", "starting_price": 1}]}
    )
    assert reply.status_code == 200, reply.text
    added = reply.json()["lots"]
    assert n1.house.sales["s"].spec.lot_ids[-1] == added[0]
    reply = await http.post("/api/admin/lots/a/withdraw")
    assert reply.status_code == 200, reply.text
    reply = await http.post("/api/admin/sales/s/cancel")
    assert reply.status_code == 200, reply.text
    await world.settle()
    assert types(world.store.sales["s"].events)[-1] == "SaleEnded"
    actions = [action for _, _, action, _ in world.store.audit_entries]
    assert actions[-7:] == [
        "pause-sale",
        "resume-sale",
        "void-bid",
        "update-lot",
        "add-lots",
        "withdraw-lot",
        "cancel-sale",
    ]


async def test_an_owner_that_does_not_answer_is_unavailable_in_words(
    world: World, admin_at_n2: httpx.AsyncClient
) -> None:
    world.hub.cut.add("n1")
    reply = await admin_at_n2.post("/api/admin/sales/s/pause")
    assert (reply.status_code, reply.json()["code"]) == (503, "unavailable"), reply.text
    assert "did not answer in time" in reply.json()["message"]
    assert types(world.store.sales["s"].events) == ["SaleStarted"]
