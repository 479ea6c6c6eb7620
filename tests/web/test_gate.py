"""One gate for every transport (issue 10): the same script of hellos and bids over TCP,
WebSocket and HTTP gets the same answers, codes included; and the holes in who may bid under
which name (hole 3) are closed on every path, text mode included."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from web_helpers import TcpJson, WsJson, hello, recv, running_server

pytestmark = pytest.mark.timeout(60)
PASSWORD = "correct-horse-battery"
Answer = tuple[str, object]
LOT = "vintage-watch"


async def register(http: httpx.AsyncClient, username: str) -> None:
    reply = await http.post("/api/register", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text


class Wire:
    """Each actor is one JSON connection (TCP or WebSocket); answers are read by their id."""

    def __init__(self, connect: Callable[[], Awaitable[Any]]) -> None:
        self.connect = connect
        self.clients: dict[str, Any] = {}
        self.ids = itertools.count()

    async def ask(self, who: str, message: dict[str, Any]) -> dict[str, Any]:
        if who not in self.clients:
            self.clients[who] = await self.connect()
        client = self.clients[who]
        message = {**message, "id": f"m{next(self.ids)}"}
        await client.send(message)
        while True:
            reply = await recv(client)
            assert reply is not None, f"closed while waiting for the answer to {message}"
            if reply.get("id") == message["id"]:
                return reply

    async def hello(self, who: str, name: str) -> Answer:
        reply = await self.ask(who, {"type": "hello", "name": name})
        return (
            ("welcome", reply["user"]) if reply["type"] == "welcome" else ("error", reply["code"])
        )

    async def bid(self, who: str, **fields: Any) -> Answer:
        reply = await self.ask(who, {"type": "bid", "lot": LOT, **fields})
        if reply["type"] == "bid_accepted":
            return ("accepted", reply["amount"])
        return ("rejected", reply["code"])

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


class Http:
    """Each actor is one HTTP client with its own cookies: a guest is its guest session."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.clients: dict[str, httpx.AsyncClient] = {}

    def client(self, who: str) -> httpx.AsyncClient:
        if who not in self.clients:
            self.clients[who] = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}")
        return self.clients[who]

    async def hello(self, who: str, name: str) -> Answer:
        reply = await self.client(who).post("/api/guest", json={"name": name})
        if reply.status_code == 200:
            return ("welcome", reply.json()["user"])
        return ("error", reply.json()["code"])

    async def bid(self, who: str, **fields: Any) -> Answer:
        lot = fields.pop("lot", LOT)
        reply = await self.client(who).post(f"/api/lots/{lot}/bids", json=fields)
        if reply.status_code == 200:
            return ("accepted", reply.json()["amount"])
        return ("rejected", reply.json()["code"])

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


async def play(driver: Wire | Http, least: int) -> list[Answer]:
    """The script: who says what, in order; the answers are what the transports must agree on."""
    return [
        await driver.hello("a", "bea"),  # a registered name
        await driver.hello("a", "Bеa"),  # the same with a Cyrillic е
        await driver.hello("a", "ｂｅａ"),  # and in full-width letters
        await driver.hello("a", "zoe"),
        await driver.hello("b", "ZOE"),  # taken (case aside): a suffix
        await driver.hello("c", "zoe-3"),
        await driver.hello("d", "zoe"),  # zoe-2 and zoe-3 are taken: the next free one
        await driver.bid("a", amount=least),
        await driver.bid("a", amount=least * 2),  # already leading
        await driver.bid("b", amount=least),  # too low now
        await driver.bid("b", amount=least * 3, max_amount=least * 2),  # a maximum below it
        await driver.bid("b", amount=least * 2, request_id="r"),
        await driver.bid("b", amount=least * 2, request_id="r"),  # the same answer again
        await driver.bid("b", amount=least * 3, request_id="r"),  # reused for another bid
        await driver.bid("c", amount=1.5),
        await driver.bid("c", amount=least * 9, lot="no-such-lot"),
    ]


EXPECTED: list[Answer] = [
    ("error", "forbidden"),
    ("error", "forbidden"),
    ("error", "forbidden"),
    ("welcome", "zoe"),
    ("welcome", "ZOE-2"),
    ("welcome", "zoe-3"),
    ("welcome", "zoe-4"),
    ("accepted", "least"),
    ("rejected", "already_leading"),
    ("rejected", "too_low"),
    ("rejected", "bad_amount"),
    ("accepted", "least*2"),
    ("accepted", "least*2"),
    ("rejected", "bad_request"),
    ("rejected", "bad_amount"),
    ("rejected", "unknown_lot"),
]


@asynccontextmanager
async def server_with_bea() -> AsyncIterator[tuple[Any, int]]:
    async with (
        running_server() as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        await register(http, "bea")
        least = (await http.get(f"/api/lots/{LOT}")).json()["min_amount"]
        yield ports, least


@pytest.mark.parametrize("transport", ["tcp", "ws", "http"])
async def test_the_same_script_gets_the_same_answers_on_every_transport(transport: str) -> None:
    async with server_with_bea() as (ports, least), AsyncExitStack() as stack:
        if transport == "tcp":
            driver: Wire | Http = Wire(lambda: TcpJson.connect(ports.tcp))
        elif transport == "ws":
            driver = Wire(lambda: WsJson.connect(ports.http))
        else:
            driver = Http(ports.http)
        stack.push_async_callback(driver.close)
        answers = await play(driver, least)
    named = {least: "least", least * 2: "least*2"}
    shown = [(kind, named.get(value, value)) for kind, value in answers]  # type: ignore[call-overload]
    assert shown == EXPECTED


class Text:
    """A person in text mode (nc): lines in, lines out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Text:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self = cls(reader, writer)
        await self.until("Welcome to bidwire")
        return self

    async def say(self, line: str, answer_starts: str) -> str:
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        return await self.until(answer_starts)

    async def until(self, starts: str) -> str:
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 5)).decode()
            assert line, f"closed while waiting for {starts!r}"
            if line.startswith(starts):
                return line.strip()

    async def close(self) -> None:
        self.writer.close()


async def test_text_mode_names_follow_the_same_rules() -> None:
    async with (
        running_server(admin_password="admin-password-1") as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        await register(http, "bob-2")
        await register(http, "mallory")
        admin = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}")
        reply = await admin.post(
            "/api/login", json={"username": "admin", "password": "admin-password-1"}
        )
        assert reply.status_code == 200
        assert (await admin.post("/api/admin/users/mallory/block")).status_code == 200
        await admin.aclose()

        person = await Text.connect(ports.tcp)
        for taken in ("admin", "ADMIN", "аdmin", "mallory", "ｍａｌｌｏｒｙ"):
            answer = await person.say(f"name {taken}", "You ")
            assert answer.startswith("You keep the name guest-"), (taken, answer)
            assert "[forbidden]" in answer
        assert (await person.say("name bob", "You ")) == "You are now bob."
        other = await Text.connect(ports.tcp)
        # bob is held and bob-2 is a registered account: the suffix skips both
        assert (await other.say("name bob", "You ")) == "You are now bob-3."
        await person.close()
        await other.close()


async def test_an_http_guest_cannot_take_a_wire_guests_name() -> None:
    async with (
        running_server() as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        alice = await TcpJson.connect(ports.tcp)
        (snapshot,) = [s for s in await hello(alice, "alice") if s["lot"] == LOT]
        least = snapshot["min_amount"]
        for name in ("alice", "ALICE", "аlice"):
            reply = await http.post(f"/api/lots/{LOT}/bids", json={"amount": least, "bidder": name})
            assert (reply.status_code, reply.json()["code"]) == (403, "forbidden"), name
        # so alice is not refused already_leading for a bid she never placed
        await alice.send({"type": "bid", "id": "b", "lot": LOT, "amount": least})
        while (answer := await recv(alice)) is not None and answer.get("id") != "b":
            pass
        assert answer is not None and answer["type"] == "bid_accepted", answer
        await alice.close()


async def test_a_name_held_by_a_guest_cannot_be_registered_meanwhile() -> None:
    async with (
        running_server() as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        carol = await TcpJson.connect(ports.tcp)
        await hello(carol, "carol")
        reply = await http.post("/api/register", json={"username": "Carol", "password": PASSWORD})
        assert (reply.status_code, reply.json()["code"]) == (422, "bad_request")
        await register(http, "dave")
        reply = await http.post("/api/register", json={"username": "dav3", "password": PASSWORD})
        assert reply.status_code == 200  # 3 is not a look-alike of e
        reply = await http.post("/api/register", json={"username": "DAVE", "password": PASSWORD})
        assert (reply.status_code, reply.json()["code"]) == (422, "bad_request")
        await carol.close()
