"""Several real nodes on the local PostgreSQL and Redis, for the cluster's end-to-end tests.

What a test gets (``async with cluster_env(tmp_path) as env``):
- a store in a PostgreSQL schema of its own (``tests/store/pg.py``: skipped where PostgreSQL does
  not answer, failed under ``BIDWIRE_REQUIRE_SERVICES``), with the database's clock on, and a
  Redis channel and key prefix of its own (``tests/bus/redis_helpers.py``), all removed after;
- ``env.start(n, catalog, extra={"n2": (...)})``: ``n`` ``bidwire serve`` processes on free
  ports, named n1..nN, each with extra arguments of its own; ``Node.kill9``, ``stop`` (SIGSTOP),
  ``cont`` (SIGCONT), ``terminate``; each node's output read all along (a full pipe would block
  a node), in ``Node.log``;
- clients: ``JsonClient`` on a node's TCP port (tests/e2e/conftest.py), ``WsClient`` on its
  WebSocket, both keeping every message;
- ``storm``: bidders on any nodes bidding on one lot, bounded in bids and seconds, each bid with
  a request id, every answer recorded (``BidRecord``);
- what was committed: ``env.events(lot)`` reads the store's ``events`` rows, ``env.lease(sale)``
  the ``leases`` row; ``check_*`` hold what the issue promises.

Only processes started here are ended, by their PID; only the schema and keys made here are
dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.bus.redis_helpers import delete_keys, fresh_channel, require_redis
from tests.e2e.conftest import JsonClient, Received, ServerProcess
from tests.store.pg import SERVER, fresh_schema

LOT_KINDS = ("lot_opened", "bid_placed", "lot_extended", "lot_closed", "lot_paused", "lot_resumed")


def write_sale(
    tmp: Path,
    lots: Sequence[Mapping[str, Any]],
    *,
    sale_id: str = "storm",
    mode: str = "live",
    gap_seconds: float = 0.5,
) -> str:
    """A catalog of one sale with a known id (a lease is a sale's), its lots as given."""
    path = tmp / "catalog.json"
    sale = {"id": sale_id, "title": "Storm sale", "mode": mode, "gap_seconds": gap_seconds}
    path.write_text(json.dumps({"sales": [{**sale, "lots": list(lots)}]}))
    return str(path)


# -- nodes ---------------------------------------------------------------------------------------


class Node:
    """One ``bidwire serve`` of the cluster; signals go to its PID only."""

    def __init__(self, name: str, server: ServerProcess) -> None:
        self.name = name
        self.server = server
        self._lock = threading.Lock()
        self._drain: threading.Thread | None = None
        self.stopped = False
        self.failed: Exception | None = None

    def start(self, timeout: float = 30.0) -> Node:
        self.server.start(timeout)
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()
        return self

    def start_quietly(self) -> None:
        """``start`` in a thread: what failed is kept in ``failed``."""
        try:
            self.start()
        except Exception as exc:
            self.failed = exc

    def _read(self) -> None:
        proc = self.server.proc
        assert proc is not None and proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            with self._lock:
                self.server.output += line

    @property
    def pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def http_port(self) -> int:
        return self.server.http_port

    @property
    def alive(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None

    @property
    def log(self) -> str:
        with self._lock:
            return self.server.output.decode(errors="replace")

    def kill9(self) -> None:
        """kill -9: no lease released, no commit finished."""
        if self.alive:
            assert self.server.proc is not None
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.proc.wait(10)
        self._join()

    def stop(self) -> None:
        """SIGSTOP: frozen, its leases running out while it cannot know."""
        assert self.alive
        assert self.server.proc is not None
        self.server.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def cont(self) -> None:
        assert self.server.proc is not None
        self.server.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def terminate(self, timeout: float = 20.0) -> str:
        """SIGTERM and wait: the clean stop (its leases handed back). Returns its output."""
        if self.stopped:
            self.cont()
        assert self.server.proc is not None
        if self.alive:
            self.server.proc.send_signal(signal.SIGTERM)
            self.server.proc.wait(timeout)
        self._join()
        return self.log

    def _join(self) -> None:
        if self._drain is not None:
            self._drain.join(5)

    def cleanup(self) -> None:
        if self.alive:
            self.kill9()  # SIGKILL ends a stopped process too


@dataclass
class ClusterEnv:
    tmp: Path
    store_url: str
    bus_url: str
    schema: str
    nodes: list[Node] = field(default_factory=list)

    def start(
        self,
        n: int,
        catalog: str | None = None,
        *,
        extra: Mapping[str, Sequence[str]] | None = None,
        common: Sequence[str] = ("--bid-rate", "1000", "--bid-burst", "1000"),
    ) -> list[Node]:
        """Nodes n1..nN, one after another (the first loads the catalog into the fresh store,
        the others find it there), each with ``common`` and its own ``extra`` arguments."""
        started = []
        for i in range(len(self.nodes) + 1, len(self.nodes) + n + 1):
            own = (extra or {}).get(f"n{i}", ())
            started.append(self.start_node(f"n{i}", catalog, *own, common=common))
        return started

    def start_together(
        self,
        n: int,
        catalog: str | None = None,
        *,
        common: Sequence[str] = ("--bid-rate", "1000", "--bid-burst", "1000"),
    ) -> list[Node]:
        """Nodes n1..nN started at the same moment, as a deployment starts them: each may find
        the store empty and load the catalog."""
        first = len(self.nodes) + 1
        nodes = [self._node(f"n{i}", catalog, common=common) for i in range(first, first + n)]
        threads = [threading.Thread(target=node.start_quietly) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for node in nodes:
            if node.failed is not None:
                raise node.failed
        return nodes

    def start_node(
        self,
        name: str,
        catalog: str | None,
        *args: str,
        common: Sequence[str] = ("--bid-rate", "1000", "--bid-burst", "1000"),
    ) -> Node:
        return self._node(name, catalog, *args, common=common).start()

    def _node(
        self,
        name: str,
        catalog: str | None,
        *args: str,
        common: Sequence[str] = ("--bid-rate", "1000", "--bid-burst", "1000"),
    ) -> Node:
        directory = self.tmp / name
        directory.mkdir(exist_ok=True)
        cat = ("--catalog", catalog) if catalog else ()
        server = ServerProcess(
            directory,
            "--bus",
            self.bus_url,
            "--node-name",
            name,
            *cat,
            *common,
            *args,
            store=self.store_url,
        )
        node = Node(name, server)
        self.nodes.append(node)
        return node

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    # -- the store, read directly ----------------------------------------------------------

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(
            SERVER, timeout=5, server_settings={"search_path": self.schema}
        )

    async def events(self, lot: str, stream: str = "lot") -> list[StoredEvent]:
        """Every committed event of ``lot`` (or a sale's, ``stream="sale"``), by seq."""
        conn = await self._connect()
        try:
            rows = await conn.fetch(
                "SELECT stream, lot_id, seq, type, ts, body FROM events"
                " WHERE stream = $1 AND lot_id = $2 ORDER BY seq",
                stream,
                lot,
            )
        finally:
            await conn.close()
        return [
            StoredEvent(
                r["stream"], r["lot_id"], r["seq"], r["type"], r["ts"], json.loads(r["body"])
            )
            for r in rows
        ]

    async def lease(self, sale: str) -> Lease | None:
        conn = await self._connect()
        try:
            row = await conn.fetchrow(
                "SELECT holder, epoch, expires_at, clock_ms() AS now FROM leases"
                " WHERE sale_id = $1",
                sale,
            )
        finally:
            await conn.close()
        if row is None:
            return None
        return Lease(row["holder"], row["epoch"], row["expires_at"], row["now"])

    async def owner(self, sale: str, timeout: float = 10.0) -> Node:
        """The node holding a live lease on ``sale`` (waits for one)."""
        deadline = time.monotonic() + timeout
        while True:
            lease = await self.lease(sale)
            if lease is not None and lease.live:
                found = [n for n in self.nodes if n.name == lease.holder and n.alive]
                if found:
                    return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no live node holds sale {sale}: {lease}")
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class StoredEvent:
    stream: str
    lot_id: str
    seq: int
    type: str
    ts: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Lease:
    holder: str
    epoch: int
    expires_at: int
    now: int

    @property
    def live(self) -> bool:
        return self.expires_at > self.now


@contextlib.asynccontextmanager
async def cluster_env(tmp: Path) -> AsyncIterator[ClusterEnv]:
    """A fresh schema, channel and limits prefix; every node started ended after, then the
    schema dropped and the prefix's keys deleted."""
    redis_url = require_redis()
    prefix = f"bidwire-test-{secrets.token_hex(6)}:"
    async with fresh_schema() as url:
        schema = parse_qs(urlsplit(url).query)["schema"][0]
        bus = f"{redis_url}?channel={fresh_channel()}&prefix={prefix}"
        env = ClusterEnv(tmp, f"{url}&db_clock=1", bus, schema)
        try:
            yield env
        finally:
            for node in env.nodes:
                node.cleanup()
            await delete_keys(redis_url, f"{prefix}*")


# -- clients -------------------------------------------------------------------------------------


class WsClient(Received):
    """The web page's connection: JSON frames on ``/ws``, with JsonClient's interface."""

    LOT_KINDS = LOT_KINDS

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        super().__init__()

    @classmethod
    async def connect(cls, http_port: int, name: str | None = None) -> WsClient:
        from websockets.asyncio.client import connect

        ws = await asyncio.wait_for(
            connect(f"ws://127.0.0.1:{http_port}/ws", compression=None, max_size=None), 5
        )
        client = cls(ws)
        if name is not None:
            await client.send({"type": "hello", "name": name})
            await client.wait_for(lambda m: m["type"] == "welcome")
        return client

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                self.messages.append(json.loads(frame))
                self._arrived.set()
        self._arrived.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)
        self._task.cancel()


Client = JsonClient | WsClient


@dataclass
class Bidder:
    name: str
    node: str
    client: Client


async def bidders_on(
    nodes: Sequence[Node], per_node: int, *, ws: bool = False, tag: str = "b"
) -> list[Bidder]:
    """``per_node`` named JSON clients on each node (and one WebSocket client on the first
    node, if ``ws``)."""
    out = []
    for node in nodes:
        for i in range(per_node):
            name = f"{tag}{node.name}x{i}"
            out.append(Bidder(name, node.name, await JsonClient.connect(node.port, name)))
    if ws:
        name = f"{tag}{nodes[0].name}ws"
        out.append(Bidder(name, nodes[0].name, await WsClient.connect(nodes[0].http_port, name)))
    return out


# -- the storm -----------------------------------------------------------------------------------


@dataclass
class BidRecord:
    bidder: str
    node: str
    request_id: str
    amount: int
    sent: float
    """time.monotonic() when sent."""
    answer: dict[str, Any] | None = None
    """bid_accepted, bid_rejected, an error; None: no answer (timed out, or the node died)."""
    answered: float | None = None

    @property
    def accepted(self) -> bool:
        return self.answer is not None and self.answer.get("type") == "bid_accepted"

    @property
    def code(self) -> str | None:
        if self.answer is None:
            return None
        return str(self.answer.get("code") or self.answer.get("type"))


def min_amount(client: Client, lot: str) -> int | None:
    """The least next bid by what ``client`` last heard of ``lot``."""
    for m in reversed(client.messages):
        if m.get("lot") == lot and isinstance(m.get("min_amount"), int):
            return int(m["min_amount"])
    return None


_ids = itertools.count(1)


async def storm(
    bidders: Sequence[Bidder],
    lot: str,
    *,
    max_bids: int,
    seconds: float,
    answer_timeout: float = 4.0,
    retries: int = 3,
    pace: float = 0.0,
    stop: asyncio.Event | None = None,
    seed: int = 1,
) -> list[BidRecord]:
    """Every bidder bids on ``lot`` at what it last heard as the minimum (now and then a step
    more), one bid in flight each, until ``max_bids`` bids were sent, ``seconds`` passed or
    ``stop`` is set. An ``unavailable`` answer is sent again with the same request id (up to
    ``retries`` times: it may have been placed). A bidder whose node died stops. Every attempt
    is one record."""
    records: list[BidRecord] = []
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    sent = 0

    def over() -> bool:
        return (
            sent >= max_bids or time.monotonic() >= deadline or (stop is not None and stop.is_set())
        )

    async def run(bidder: Bidder) -> None:
        nonlocal sent
        n = 0
        while not over():
            least = min_amount(bidder.client, lot)
            if least is None:
                await asyncio.sleep(0.05)
                continue
            leader = _leader(bidder.client, lot)
            if leader == bidder.name:
                await asyncio.sleep(0.01)
                continue
            n += 1
            request_id = f"{bidder.name}-{n}"
            amount = least + rng.choice((0, 0, 0, 100))
            for _attempt in range(retries + 1):
                if over() and _attempt == 0:
                    return
                sent += 1
                record = BidRecord(bidder.name, bidder.node, request_id, amount, time.monotonic())
                records.append(record)
                message = {
                    "type": "bid",
                    "id": f"q{next(_ids)}",
                    "lot": lot,
                    "amount": amount,
                    "request_id": request_id,
                }
                try:
                    record.answer = await bidder.client.request(message, answer_timeout)
                    record.answered = time.monotonic()
                except (TimeoutError, ConnectionError, OSError):
                    if bidder.client.closed:
                        return  # its node died
                    continue  # unanswered: the same request id again
                if record.code != "unavailable":
                    break
                await asyncio.sleep(0.2)
            if pace:
                await asyncio.sleep(pace)

    await asyncio.gather(*(run(b) for b in bidders))
    return records


def _leader(client: Client, lot: str) -> str | None:
    for m in reversed(client.messages):
        if m.get("lot") != lot:
            continue
        if m["type"] == "bid_placed":
            return str(m["bidder"])
        if m["type"] == "snapshot":
            high = m.get("high_bid")
            return None if high is None else str(high["bidder"])
        if m["type"] == "lot_opened":
            return None
    return None


# -- what must hold ------------------------------------------------------------------------------


def check_consecutive(events: Sequence[StoredEvent]) -> None:
    """The store's seqs of a lot: 1, 2, 3... with no gap and no repeat."""
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"stored seqs not consecutive: {seqs}"


def check_acked_stored(records: Sequence[BidRecord], events: Sequence[StoredEvent]) -> int:
    """Every acknowledged bid is a committed bid_placed at its seq, amount and bidder; one
    request id is one bid. Returns how many were acknowledged."""
    by_seq = {e.seq: e for e in events}
    acked: dict[str, int] = {}
    for r in records:
        if not r.accepted:
            continue
        assert r.answer is not None
        seq, amount = r.answer["seq"], r.answer["amount"]
        stored = by_seq.get(seq)
        assert stored is not None, f"acknowledged bid {r} is not in the store"
        assert stored.type == "bid_placed", f"acknowledged {r} but seq {seq} is {stored}"
        assert stored.body["amount"] == amount == r.amount, f"{r} against {stored}"
        key = f"{r.bidder}/{r.request_id}"
        assert acked.setdefault(key, seq) == seq, f"request {key} acknowledged at two seqs"
    return len(acked)


def check_closed_once_not_early(events: Sequence[StoredEvent], extend_ms: int) -> StoredEvent:
    """One lot_closed, the lot's last event, at or after the deadline the events before it
    set (each bid's ts + extend in a live sale, a restart's fresh window). Returns it."""
    closes = [e for e in events if e.type == "lot_closed"]
    assert len(closes) == 1, f"closed {len(closes)} times: {closes}"
    close = closes[0]
    assert close is events[-1], f"events after the close: {events[events.index(close) + 1 :]}"
    bids = [e for e in events if e.type == "bid_placed"]
    if bids:
        assert close.ts >= bids[-1].ts + extend_ms, (
            f"closed at {close.ts}, before the last bid's {bids[-1].ts} + {extend_ms}"
        )
    deadlines = [e.body["ends_at"] for e in events[:-1] if e.body.get("ends_at") is not None]
    if deadlines:
        assert close.ts >= deadlines[-1], (
            f"closed at {close.ts} before its deadline {deadlines[-1]}"
        )
    ts = [e.ts for e in events]
    assert ts == sorted(ts), f"a lot's ts went backwards: {ts}"
    return close


def check_client_stream(
    client: Client, lot: str, events: Sequence[StoredEvent], who: str = "a client"
) -> list[dict[str, Any]]:
    """What one client heard of ``lot``: from its first snapshot or event on, every stored
    event in order (same seq, type, amount), no gap, no repeat, up to the close. Returns the
    events it heard."""
    heard: list[dict[str, Any]] = []
    next_seq: int | None = None
    for m in client.messages:
        if m.get("lot") != lot:
            continue
        if m["type"] == "snapshot":
            if next_seq is None or m["seq"] >= next_seq - 1:
                next_seq = m["seq"] + 1  # a snapshot starts the stream again (conflation)
            continue
        if m["type"] not in LOT_KINDS:
            continue
        if next_seq is not None:
            assert m["seq"] == next_seq, f"{who}: {m} out of order (expected seq {next_seq})"
        next_seq = m["seq"] + 1
        heard.append(m)
    by_seq = {e.seq: e for e in events}
    for m in heard:
        stored = by_seq.get(m["seq"])
        assert stored is not None and stored.type == m["type"], f"{who} heard {m}, stored {stored}"
        if m["type"] == "bid_placed":
            assert stored.body["amount"] == m["amount"], f"heard {m}, stored {stored}"
    assert next_seq == events[-1].seq + 1, (
        f"{who} stopped at seq {None if next_seq is None else next_seq - 1},"
        f" the store at {events[-1].seq}"
    )
    return heard


async def wait_closed(clients: Sequence[Client], lot: str, timeout: float) -> None:
    """Until every client heard ``lot`` close (a TimeoutError past ``timeout``)."""
    await asyncio.gather(
        *(
            c.wait_for(lambda m: m.get("lot") == lot and m["type"] == "lot_closed", timeout)
            for c in clients
        )
    )
