"""A maximum reaches nobody but its owner and admins, on every wire path (issue 11).

Every byte each connection receives is kept, and searched for the secret maximums' digits
(nine of them, which no amount, seq or timestamp here contains) and their rendered forms:
TCP JSON lines, WebSocket frames, text mode, resync from the ring and its snapshot fallback,
a slow reader's conflated snapshot, subscribe snapshots and welcome snapshots; in a plain and
an anonymous sale. HTTP is tested apart (tests/web)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from tests.engine.test_house import settle
from web_helpers import in_process, serving

from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import LotSpec
from bidwire.domain.money import format_amount
from bidwire.domain.sale import SaleSpec
from bidwire.transports.session import Session
from bidwire.wire.batch import Batch

pytestmark = pytest.mark.timeout(60)

SECRET = 739_173_917
"""Ann's maximum on both lots."""
RAISED = 852_638_526
"""What she raises it to on lot p."""
SECRETS = [str(SECRET).encode(), str(RAISED).encode()]
SECRETS += [format_amount(n, "USD").encode() for n in (SECRET, RAISED)]
SECRETS += [format_amount(n, "USD").replace(" USD", "").encode() for n in (SECRET, RAISED)]


class Raw:
    """A connection that keeps every byte it receives: TCP (JSON or text) or WebSocket."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._grew = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ws: Any = None

    @classmethod
    async def tcp(cls, port: int) -> Raw:
        raw = cls()
        reader, raw._writer = await asyncio.open_connection("127.0.0.1", port)

        async def read() -> None:
            while chunk := await reader.read(1 << 16):
                raw._got(chunk)

        raw._task = asyncio.ensure_future(read())
        return raw

    @classmethod
    async def ws(cls, port: int) -> Raw:
        from websockets.asyncio.client import connect

        raw = cls()
        raw._ws = await connect(f"ws://127.0.0.1:{port}/ws", compression=None, max_size=None)

        async def read() -> None:
            from websockets.exceptions import ConnectionClosed

            with contextlib.suppress(ConnectionClosed):
                async for frame in raw._ws:
                    raw._got((frame if isinstance(frame, bytes) else frame.encode()) + b"\n")

        raw._task = asyncio.ensure_future(read())
        return raw

    def _got(self, chunk: bytes) -> None:
        self.data += chunk
        self._grew.set()

    async def send(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        if self._ws is not None:
            await self._ws.send(data.decode().rstrip("\n"))
        else:
            assert self._writer is not None
            self._writer.write(data)
            await self._writer.drain()

    async def until(self, marker: bytes, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while marker not in self.data:
                self._grew.clear()
                await self._grew.wait()

    async def sync(self, tag: str) -> None:
        """Until everything sent to it before now has arrived (a pong comes after it)."""
        await self.send({"type": "ping", "id": tag})
        await self.until(f'"id":"{tag}"'.encode())

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.data.splitlines() if line.startswith(b"{")]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


class Outlet:
    """A slow reader's outlet: backed up until the test says it drained."""

    backed_up = True
    direct_target = None

    def __init__(self) -> None:
        self.data = bytearray()

    def send_message(self, data: bytes) -> None:
        self.data += data + b"\n"

    def send_batch(self, batch: Batch) -> None:
        self.data += batch.json_lines

    def send_text(self, data: bytes) -> None:
        self.data += data

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self) -> None: ...


def leaks(data: bytes | bytearray) -> list[bytes]:
    return [s for s in SECRETS if s in data]


async def joined(raw: Raw, hello: dict[str, Any], tag: str) -> Raw:
    await raw.send(hello)
    await raw.until(b'"welcome"')
    await raw.sync(tag)
    return raw


@pytest.mark.parametrize("anonymous", [False, True], ids=["plain", "anonymous"])
async def test_no_maximum_reaches_anyone_but_its_owner_and_admins(anonymous: bool) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        ctx, house, feed = server.ctx, server.ctx.house, server.ctx.feed
        lots = [LotSpec(id=i, title=f"Lot {i}", starting_price=100) for i in ("p", "q")]
        await house.add_sale(SaleSpec("s", "Sale", ("p", "q"), "timed", anonymous=anonymous), lots)
        house.run_due()
        await settle(house, feed)
        admin = {"type": "auth", "token": server.admin_token}
        ann = await joined(await Raw.tcp(ports.tcp), {"type": "hello", "name": "ann"}, "a")
        bob = await joined(await Raw.tcp(ports.tcp), {"type": "hello", "name": "bob"}, "b")
        root = await joined(await Raw.tcp(ports.tcp), admin, "r")
        root_ws = await joined(await Raw.ws(ports.http), admin, "rw")
        cy = await joined(await Raw.tcp(ports.tcp), {"type": "hello", "name": "cy"}, "c")
        di = await joined(await Raw.ws(ports.http), {"type": "hello", "name": "di"}, "d")
        ed = await joined(await Raw.tcp(ports.tcp), {"type": "hello", "name": "ed"}, "e")
        await ed.send({"type": "subscribe", "id": "sub", "lots": ["p", "q"]})
        await ed.until(b'"subscribed"')
        text = await Raw.tcp(ports.tcp)
        await text.send(b"help\n")
        await text.until(b"\n")
        slow_outlet = Outlet()
        slow_outlet.backed_up = False
        slow = Session(ctx, slow_outlet)
        slow.on_message(b'{"type":"hello","name":"slow"}')
        await settle(house, feed)
        assert b'"welcome"' in slow_outlet.data
        slow_outlet.backed_up = True  # from here it reads nothing: its backlog is dropped

        async def bid(who: Raw, tag: str, **fields: Any) -> dict[str, Any]:
            await who.send({"type": "bid", "id": tag, **fields})
            await who.until(f'"id":"{tag}"'.encode())
            return next(m for m in who.messages() if m.get("id") == tag)

        assert (await bid(bob, "b1", lot="p", amount=20_000))["type"] == "bid_accepted"
        mine = await bid(ann, "a1", lot="p", max_amount=SECRET)
        assert (mine["max_amount"], mine["leading"]) == (SECRET, True)
        rival = await bid(bob, "b2", lot="p", max_amount=48_629)
        assert rival["type"] == "bid_accepted" and rival["leading"] is False
        raised = await bid(ann, "a2", lot="p", max_amount=RAISED)
        assert raised["type"] == "bid_accepted" and raised["max_amount"] == RAISED
        for n in range(300):  # more than the resync ring keeps
            least = house.lots["q"].min_amount()
            placed = await house.place_bid(PlaceBid(Actor(f"x{n % 2}"), "q", least))
            assert isinstance(placed, Accepted)
        assert (await bid(ann, "a3", lot="q", max_amount=SECRET))["leading"] is True
        await settle(house, feed)
        slow_outlet.backed_up = False
        slow.on_writable()  # the slow reader drained: a fresh snapshot of each lot instead
        late = await joined(await Raw.tcp(ports.tcp), {"type": "hello", "name": "fy"}, "f")
        late_ws = await joined(await Raw.ws(ports.http), {"type": "hello", "name": "gy"}, "g")
        root_late = await joined(await Raw.ws(ports.http), admin, "rl")
        for who in (cy, root):  # resync: from the ring (p) and past it, a snapshot (q)
            await who.send({"type": "resync", "id": "rp", "lot": "p", "since_seq": 0})
            await who.send({"type": "resync", "id": "rq", "lot": "q", "since_seq": 0})
        await ann.send({"type": "subscribe", "id": "own", "lots": ["p", "q"]})
        await ann.until(b'"subscribed"')
        everyone = (ann, bob, root, root_ws, cy, di, ed, late, late_ws, root_late)
        for n, who in enumerate(everyone):
            await who.sync(f"end{n}")
        await text.send(b"lots\n")
        await text.until(b"Lot q")
        await settle(house, feed)

        # the public: nothing of Ann's maximums, on any path
        for who in (bob, cy, di, ed, late, late_ws, text):
            assert leaks(who.data) == [], who.data[-400:]
        assert leaks(slow_outlet.data) == []
        # ... though they did hear the bids (else the search proves nothing)
        for who in (cy, di):
            auto = [m for m in who.messages() if m["type"] == "bid_placed" and m.get("auto")]
            assert auto and all("max_amount" not in m for m in auto)
            assert any(m["type"] == "max_raised" for m in who.messages())
        seen = cy.messages()
        resynced = [m for m in seen if m["type"] == "snapshot" and m["lot"] == "q"]
        assert resynced and resynced[-1]["seq"] == house.lots["q"].seq
        assert resynced[-1]["high_bid"]["amount"] == house.lots["q"].high_amount
        assert "max_amount" not in resynced[-1]["high_bid"]
        ring = [m for m in seen if m.get("lot") == "p" and m["type"] == "bid_placed"]
        assert len(ring) >= 2 * 4  # the house feed and the resync both carried p's bids
        snapshots = [json.loads(line) for line in slow_outlet.data.splitlines()]
        assert {m["lot"] for m in snapshots if m["type"] == "snapshot"} == {"p", "q"}
        assert b"Lot p" in text.data and b"bid" in text.data.lower()
        for who in (ed, late, late_ws):
            shown = [m for m in who.messages() if m["type"] == "snapshot"]
            assert {m["lot"] for m in shown} == {"p", "q"}
        # the owner: her maximum in her replies and her own snapshots
        own = {m["lot"]: m for m in ann.messages() if m["type"] == "snapshot"}
        assert own["p"]["high_bid"]["max_amount"] == RAISED
        assert own["q"]["high_bid"]["max_amount"] == SECRET
        # admins: in events, resyncs (ring and snapshot) and welcome snapshots
        for who in (root, root_ws):
            placed = [m for m in who.messages() if m["type"] == "bid_placed"]
            assert SECRET in {m.get("max_amount") for m in placed}
            assert {"type": "max_raised", "max_amount": RAISED}.items() <= next(
                m for m in who.messages() if m["type"] == "max_raised"
            ).items()
        admin_q = [m for m in root.messages() if m["type"] == "snapshot" and m["lot"] == "q"]
        assert admin_q[-1]["high_bid"]["max_amount"] == SECRET
        welcome = {m["lot"]: m for m in root_late.messages() if m["type"] == "snapshot"}
        assert welcome["p"]["high_bid"]["max_amount"] == RAISED
        assert welcome["q"]["high_bid"]["max_amount"] == SECRET
        slow.close()
        for who in (*everyone, text):
            await who.close()
