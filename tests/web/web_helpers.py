"""Clients and a server process for the web tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import pytest

from bidwire.app import serve
from bidwire.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # without these, Chromium's own calls home are refused by this closed network, many a time
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("BIDWIRE_REQUIRE_SERVICES"),
    reason="chromium is not installed (apt-get install -y chromium); CI requires it",
)
BIDWIRE = Path(sys.executable).parent / "bidwire"
LISTENING = re.compile(r"bidwire listening: tcp [\d.]+:(\d+) http [\d.]+:(\d+)")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


@dataclass
class Ports:
    tcp: int
    http: int


# -- JSON clients on both transports -----------------------------------------------------------


@contextlib.asynccontextmanager
async def running_server(**overrides: Any) -> AsyncIterator[Ports]:
    """The demo sale on a memory store; the first lot stays open for a minute. ``limits_url``
    (not a setting): ``serve``'s shared limits, e.g. a Redis prefix another server uses too."""
    limits_url: str | None = overrides.pop("limits_url", None)
    settings = Settings(
        **{
            "tcp_port": 0,
            "http_port": 0,
            "store": "memory://",
            "demo": True,
            "opening_seconds": 60,
            "extend_seconds": 60,
            **overrides,
        }
    )
    stop = asyncio.Event()
    ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(settings, stop=stop, on_ready=ready.set_result, limits_url=limits_url)
    )
    started: set[asyncio.Future[Any]] = {task, ready}
    done, _ = await asyncio.wait(
        started, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    if ready not in done:
        stop.set()
        if task in done:
            task.result()
        raise TimeoutError("the server did not start")
    ports = ready.result()
    try:
        yield Ports(ports["tcp"], ports["http"])
    finally:
        stop.set()
        await asyncio.wait_for(task, STOP_TIMEOUT)


@contextlib.asynccontextmanager
async def serving(ctx: Any) -> AsyncIterator[Ports]:
    """TCP and HTTP (with the WebSocket) on port 0 over ``ctx``, e.g. ``in_process``'s: the
    whole server, with its engine in the test's hands (events to await, a clock to move)."""
    from bidwire.transports.http import start_http
    from bidwire.transports.tcp import start_tcp

    tcp = await start_tcp(ctx, "127.0.0.1", 0)
    try:
        http = await start_http(ctx, "127.0.0.1", 0)
        try:
            yield Ports(tcp.sockets[0].getsockname()[1], http.port)
        finally:
            await http.stop()
    finally:
        tcp.close()


class TcpJson:
    """A JSON-lines client over TCP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> TcpJson:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def send_raw(self, data: str) -> None:
        self.writer.write(data.encode() + b"\n")
        await self.writer.drain()

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(message))

    async def recv_raw(self, timeout: float = 5.0) -> str | None:
        """One message as sent, or None once the server has closed the connection."""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                return None
            text = line.decode().rstrip("\r\n")
            if text.lstrip().startswith("{"):  # a JSON client ignores anything else
                return text

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class WsJson:
    """A JSON client over the WebSocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, port: int) -> WsJson:
        from websockets.asyncio.client import connect

        ws = await asyncio.wait_for(
            connect(f"ws://127.0.0.1:{port}/ws", compression=None, max_size=None), 5
        )
        return cls(ws)

    async def send_raw(self, data: str) -> None:
        await self.ws.send(data)

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(message))

    async def recv_raw(self, timeout: float = 5.0) -> str | None:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed:
            return None
        return frame if isinstance(frame, str) else frame.decode()

    async def close(self) -> None:
        await self.ws.close()


Client = TcpJson | WsJson


async def recv(client: Client, timeout: float = 5.0) -> dict[str, Any] | None:
    raw = await client.recv_raw(timeout)
    return None if raw is None else json.loads(raw)


async def recv_until(
    client: Client, wanted: str, timeout: float = 5.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read until a message of type ``wanted``; returns it and everything before it."""
    before: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        message = await recv(client, max(0.05, deadline - time.monotonic()))
        if message is None:
            raise ConnectionError(f"closed while waiting for {wanted}; got {before}")
        if message["type"] == wanted:
            return message, before
        before.append(message)


async def hello(client: Client, name: str) -> list[dict[str, Any]]:
    """Say hello; returns the snapshots that follow the welcome (one per open lot)."""
    await client.send({"type": "hello", "name": name})
    await recv_until(client, "welcome")
    ping_id = f"sync-{name}"
    await client.send({"type": "ping", "id": ping_id})
    pong, before = await recv_until(client, "pong")
    assert pong["id"] == ping_id
    return [m for m in before if m["type"] == "snapshot"]


# -- a real server process -----------------------------------------------------------------------


@dataclass
class ServerProcess:
    """``bidwire serve`` as a person runs it; restartable on the same store and ports."""

    store: str
    extra: list[str] = field(default_factory=list)
    tcp_port: int = 0
    http_port: int = 0
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    def start(self) -> None:
        args = [
            str(BIDWIRE),
            "serve",
            "--tcp-port",
            str(self.tcp_port),
            "--http-port",
            str(self.http_port),
            "--store",
            self.store,
            *self.extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )
        found = threading.Event()

        def pump(stream: Any) -> None:
            # Drain the pipe for the process's whole life, so its writes never block.
            for line in stream:
                self.output.append(line)
                match = LISTENING.search(line)
                if match and not found.is_set():
                    self.tcp_port, self.http_port = int(match[1]), int(match[2])
                    found.set()

        pumping = threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True)
        pumping.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
        if not found.is_set():
            self.stop()
            pumping.join(5)  # the pump reads the last words, up to the end of the pipe
            raise TimeoutError("bidwire serve did not start:\n" + "".join(self.output))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise AssertionError(
                "bidwire serve ignored SIGTERM:\n" + "".join(self.output)
            ) from None
        # SIGTERM is the clean stop: commits finished, clients told, exit status 0.
        assert proc.returncode == 0, "bidwire serve did not stop cleanly:\n" + "".join(self.output)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


# -- an app in the test's own process, no sockets ----------------------------------------------


@dataclass
class InProcess:
    """The HTTP app over httpx's ASGI transport, on a memory store and a clock the test moves."""

    app: Any
    ctx: Any
    clock: Any
    admin_token: str
    bidder_token: str

    def client(self, token: str | None = None, *, cookie: bool = False) -> Any:
        import httpx

        headers = {}
        cookies = {}
        if token is not None and cookie:
            cookies["bidwire_token"] = token
        elif token is not None:
            headers["authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            headers=headers,
            cookies=cookies,
            timeout=10,
        )


class HashCost(TypedDict):
    time_cost: int
    memory_cost: int
    parallelism: int


# Fast hashing for tests that make many accounts; the server itself uses the library defaults.
FAST_HASH: HashCost = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


GATE_OPTIONS = ("guests_allowed", "bid_limiter", "limits")
"""Options of ``in_process`` that are the gate's, not the session context's."""


@contextlib.asynccontextmanager
async def in_process(
    *, demo: bool = True, catalog_defaults: Any = None, store: Any = None, **ctx_options: Any
) -> AsyncIterator[InProcess]:
    """The demo sale (unless ``demo`` is False) with an admin ``root`` and a bidder ``bea``;
    ``catalog_defaults`` is what an imported catalog's lots get (``create_app``'s); ``store``
    an open store to use instead of a fresh memory one."""
    from argon2 import PasswordHasher

    from bidwire.accounts.service import Accounts
    from bidwire.bus.memory import MemoryBus
    from bidwire.catalog import Defaults, demo_catalog
    from bidwire.clock import FakeClock
    from bidwire.engine.gate import Gate
    from bidwire.engine.house import AuctionHouse
    from bidwire.store.memory import MemoryStore
    from bidwire.transports.broadcast import Feed
    from bidwire.transports.http import create_app
    from bidwire.transports.session import SessionContext

    clock = FakeClock(int(time.time() * 1000))
    store = MemoryStore() if store is None else store
    bus = MemoryBus()
    feed = Feed(clock)
    feed.listen(bus)
    house = AuctionHouse(store, bus, feed.published, clock)
    for sale, lots in demo_catalog(Defaults()) if demo else ():
        await house.add_sale(sale, lots)
    gate_options = {k: ctx_options.pop(k) for k in GATE_OPTIONS if k in ctx_options}
    accounts = Accounts(
        store, clock, PasswordHasher(**FAST_HASH), limits=gate_options.get("limits")
    )
    await accounts.create_user("root", "root-password", "admin")
    admin = await accounts.login("root", "root-password", "test")
    bidder = await accounts.register("bea", "bea-password")
    ctx = SessionContext(house, feed, clock, Gate(clock, accounts, **gate_options), **ctx_options)
    app = create_app(ctx, catalog_defaults)
    try:
        yield InProcess(app, ctx, clock, admin.token, bidder.token)
    finally:
        await house.stop()
        feed.close()


async def login(http: Any, username: str, password: str) -> dict[str, Any]:
    reply = await http.post("/api/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


Reply = TypeVar("Reply")


class GuestTokens:
    """How an HTTP client that bids for several guests keeps each one's guest session: a
    guest is its session, so the same name again needs the token its first bid was given."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    def body(self, body: dict[str, Any]) -> dict[str, Any]:
        token = self.tokens.get(str(body.get("bidder")))
        return body if token is None else {**body, "guest_token": token}

    def keep(self, body: dict[str, Any], reply: Reply) -> Reply:
        answer: Any = reply  # an httpx or a TestClient response
        if answer.status_code == 200 and answer.json().get("guest_token"):
            self.tokens[str(body["bidder"])] = answer.json()["guest_token"]
        return reply
