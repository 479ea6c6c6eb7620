"""Defect 7 (issue 12): a user blocked (or logged out) mid-session is told so, in words, on
every transport, and the connection is closed; never "the server is restarting", which made
clients reconnect into a refusal. JSON: ``error`` ``forbidden`` with ``reason``; WebSocket:
close code 1008; text mode: a sentence."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from web_helpers import TcpJson, WsJson, recv, recv_until, running_server

pytestmark = pytest.mark.timeout(60)
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "victim-password-1"


async def as_admin(port: int) -> httpx.AsyncClient:
    admin = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    reply = await admin.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert reply.status_code == 200, reply.text
    return admin


async def logged_in(client: TcpJson | WsJson, username: str) -> None:
    await client.send({"type": "register", "id": "r", "username": username, "password": PASSWORD})
    welcome, _ = await recv_until(client, "welcome")
    assert welcome["user"] == username


async def ended(client: TcpJson | WsJson) -> dict[str, Any]:
    """The message that ends the session, after which the server closes the connection."""
    message, _ = await recv_until(client, "error")
    assert await recv(client) is None, "the connection stays open after the session ended"
    return message


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_blocked_user_is_told_so_and_disconnected(transport: str) -> None:
    async with running_server(admin_password=ADMIN_PASSWORD) as ports:
        connect = TcpJson.connect(ports.tcp) if transport == "tcp" else WsJson.connect(ports.http)
        victim = await connect
        await logged_in(victim, "trent")
        bystander = await TcpJson.connect(ports.tcp)
        await bystander.send({"type": "hello", "name": "onlooker"})
        await recv_until(bystander, "welcome")
        admin = await as_admin(ports.http)
        assert (await admin.post("/api/admin/users/trent/block")).status_code == 200
        message = await ended(victim)
        assert message["code"] == "forbidden"
        assert message["reason"] == "blocked"
        assert "blocked your account" in message["message"]
        assert "restart" not in message["message"]
        assert isinstance(message["ts"], int)
        if isinstance(victim, WsJson):
            assert victim.ws.close_code == 1008  # policy: a browser does not loop reconnecting
        await bystander.send({"type": "ping", "id": "p"})  # the others are untouched
        pong, _ = await recv_until(bystander, "pong")
        assert pong["id"] == "p"
        await admin.aclose()
        await victim.close()
        await bystander.close()


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_token_logged_out_ends_its_connections_with_the_reason(transport: str) -> None:
    async with (
        running_server() as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}", timeout=10) as http,
    ):
        reply = await http.post("/api/register", json={"username": "uma", "password": PASSWORD})
        token = reply.json()["token"]
        connect = TcpJson.connect(ports.tcp) if transport == "tcp" else WsJson.connect(ports.http)
        client = await connect
        await client.send({"type": "auth", "token": token})
        await recv_until(client, "welcome")
        out = await http.post("/api/logout", headers={"authorization": f"Bearer {token}"})
        assert out.status_code == 200
        message = await ended(client)
        assert (message["code"], message["reason"]) == ("forbidden", "logged_out")
        assert "log in again" in message["message"]
        if isinstance(client, WsJson):
            assert client.ws.close_code == 1008
        await client.close()


async def test_text_mode_says_it_in_words() -> None:
    async with running_server(admin_password=ADMIN_PASSWORD) as ports:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http:
            reply = await http.post("/api/register", json={"username": "vic", "password": PASSWORD})
            assert reply.status_code == 200
        reader, writer = await asyncio.open_connection("127.0.0.1", ports.tcp)

        async def line() -> str:
            return (await asyncio.wait_for(reader.readline(), 5)).decode()

        while not (await line()).startswith("Welcome to bidwire"):
            pass
        writer.write(b"login vic\n" + PASSWORD.encode() + b"\n")
        while not (await line()).startswith("Welcome back, vic"):
            pass
        admin = await as_admin(ports.http)
        assert (await admin.post("/api/admin/users/vic/block")).status_code == 200
        said = []
        while text := await line():
            said.append(text.strip())
        assert said[-1] == (
            "The auctioneer has blocked your account; you can no longer bid here. [forbidden]"
        ), said
        assert not any("restart" in text or "shutting" in text for text in said)
        await admin.aclose()
        writer.close()
