"""Issue 14, shared limits on the wire: two servers (each its own store, house and gate) on one
shared limits store are two nodes of one house. A guest name held through one is taken
through the other, and a guest token made on one is that guest on the other, on TCP, on the
WebSocket (its cookie) and over HTTP."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from tests.limits.helpers import REDIS_URL, Nodes, drop_prefix, nodes_over, redis_or_skip
from web_helpers import TcpJson, WsJson, in_process, recv_until, running_server, serving

from bidwire.limits.redis import RedisLimits

pytestmark = pytest.mark.timeout(60)
LOT = "vintage-watch"


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    async with nodes_over(request.param) as make:
        yield make


async def ask(client: TcpJson | WsJson, message: dict[str, Any], wanted: str) -> dict[str, Any]:
    await client.send({**message, "id": "q"})
    while True:
        reply, _ = await recv_until(client, wanted)
        if reply.get("id") == "q":
            return reply


async def ws_with_cookie(port: int, cookie: str) -> WsJson:
    from websockets.asyncio.client import connect

    headers = {"Cookie": f"bidwire_guest={cookie}"}
    ws = await asyncio.wait_for(
        connect(f"ws://127.0.0.1:{port}/ws", compression=None, additional_headers=headers), 5
    )
    return WsJson(ws)


async def test_a_name_and_its_token_hold_on_both_nodes(nodes: Nodes) -> None:
    async with (
        in_process(limits=nodes()) as node_a,
        in_process(limits=nodes()) as node_b,
        serving(node_a.ctx) as a,
        serving(node_b.ctx) as b,
    ):
        node_a.ctx.house.start()
        gil = await TcpJson.connect(a.tcp)
        welcome = await ask(gil, {"type": "hello", "name": "Gil"}, "welcome")
        assert welcome["user"] == "Gil"
        other = await WsJson.connect(b.http)
        assert (await ask(other, {"type": "hello", "name": "gil"}, "welcome"))["user"] == "gil-2"

        # Gil's token, on node b: the same guest, by hello and by the WebSocket's cookie
        token = welcome["guest_token"]
        back = await TcpJson.connect(b.tcp)
        again = await ask(back, {"type": "hello", "guest_token": token}, "welcome")
        assert (again["user"], again["guest_token"]) == ("Gil", token)
        browser = await ws_with_cookie(b.http, token)
        unasked, _ = await recv_until(browser, "welcome")
        assert (unasked["user"], unasked["guest_token"]) == ("Gil", token)

        # an HTTP guest made on node a bids as itself on node b
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{a.http}") as http_a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{b.http}") as http_b,
        ):
            hal = (await http_a.post("/api/guest", json={"name": "hal"})).json()
            assert (await http_b.post("/api/guest", json={"name": "hal"})).json()["user"] == (
                "hal-2"
            )
            node_b.ctx.house.start()
            least = (await http_b.get(f"/api/lots/{LOT}")).json()["min_amount"]
            reply = await http_b.post(
                f"/api/lots/{LOT}/bids", json={"amount": least, "guest_token": hal["guest_token"]}
            )
            assert (reply.status_code, reply.json()["bidder"]) == (200, "hal")
        for client in (gil, other, back, browser):
            await client.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_with_the_shared_names_down_a_hello_is_told_unavailable() -> None:
    await (await redis_or_skip()).aclose()
    client = aioredis.from_url(
        f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout=1, socket_connect_timeout=1
    )
    limits = RedisLimits(client, "bidwire-test-down:")
    try:
        async with in_process(limits=limits) as node, serving(node.ctx) as ports:
            tcp = await TcpJson.connect(ports.tcp)
            refused = await ask(tcp, {"type": "hello", "name": "ivy"}, "error")
            assert refused["code"] == "unavailable" and "try again" in refused["message"]
            # a token this server does not know may be another's: not known now, not "ended"
            token = {"type": "hello", "guest_token": "t" * 32}
            assert (await ask(tcp, token, "error"))["code"] == "unavailable"
            # nor is a browser's cookie replaced by a new guest's while that cannot be known
            from websockets.asyncio.client import connect

            async with connect(
                f"ws://127.0.0.1:{ports.http}/ws",
                compression=None,
                additional_headers={"Cookie": "bidwire_guest=" + "t" * 32},
            ) as ws:
                assert ws.response is not None
                assert "set-cookie" not in ws.response.headers
            # accounts do not need the shared names: bea logs in and bids
            welcome = await ask(
                tcp, {"type": "login", "username": "bea", "password": "bea-password"}, "welcome"
            )
            assert welcome["user"] == "bea"
            await tcp.close()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http:
                reply = await http.post("/api/guest", json={"name": "ivy"})
                assert reply.status_code == 503 and reply.json()["code"] == "unavailable"
    finally:
        await limits.close()


async def test_serve_shares_names_through_the_limits_it_is_given() -> None:
    """``app.serve``'s wiring: two whole servers on one limits URL (a Redis prefix)."""
    probe = await redis_or_skip()
    prefix = f"bidwire-test-{secrets.token_hex(6)}:"
    url = f"{REDIS_URL}?prefix={prefix}"
    try:
        async with running_server(limits_url=url) as a, running_server(limits_url=url) as b:
            joy = await TcpJson.connect(a.tcp)
            assert (await ask(joy, {"type": "hello", "name": "joy"}, "welcome"))["user"] == "joy"
            other = await TcpJson.connect(b.tcp)
            assert (await ask(other, {"type": "hello", "name": "joy"}, "welcome"))["user"] == (
                "joy-2"
            )
            await joy.close()
            await other.close()
    finally:
        await drop_prefix(probe, prefix)
        await probe.aclose()
