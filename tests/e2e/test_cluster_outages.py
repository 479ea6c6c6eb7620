"""A cluster of real node processes through outages of what it stands on (issue 14): Redis
killed and started again mid-storm, PostgreSQL stopped and started again mid-storm, and the
owner of a sale with its clock 5 s off. What must hold each time: every client on every node
ends with the store's stream, every acknowledged bid is in the store at its seq, no seq twice,
the lot closes once, and never before its deadline in the database's time.

Each test has its own Redis channel (or redis-server) and PostgreSQL schema (or postgres), and
ends only the processes it started, by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.bus.redis_helpers import OwnRedis, delete_keys, fresh_channel, require_redis
from tests.e2e.conftest import JsonClient, ServerProcess, check_stream, write_catalog
from tests.store.pg import drop_schema, fresh_schema, why_not, with_query
from tests.store.pg_server import OwnPostgres

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

LOT = "prize"
EXTEND_S = 2
"""Each bid resets the lot's countdown to this: short, so a test's lot closes soon after its
storm, long enough that a storm of a few bids a second keeps it open through an outage."""


class Node(ServerProcess):
    """A node process whose output is read to the end in a thread: a node logging through an
    outage would otherwise fill its pipe and stop in the middle of a write."""

    def __init__(self, tmp: Path, name: str, *args: str, store: str) -> None:
        super().__init__(tmp, "--node-name", name, *args, store=store)
        self.name = name
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, timeout: float = 30.0) -> Node:
        super().start(timeout)
        self._reader = threading.Thread(target=self._read_rest, daemon=True)
        self._reader.start()
        return self

    def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.output += line

    def text(self) -> str:
        with self._lock:
            return self.output.decode(errors="replace")

    def _end(self, how: signal.Signals, timeout: float) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(how)
            try:
                self.proc.wait(timeout)
            except Exception:
                self.proc.kill()
                self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)

    def terminate(self, timeout: float = 15.0) -> str:
        self._end(signal.SIGTERM, timeout)
        return self.text()

    def kill(self) -> None:
        self._end(signal.SIGKILL, 10)


@dataclass
class Nodes:
    tmp: Path
    store: str
    bus: str
    started: list[Node] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Node:
        node = Node(self.tmp, name, "--bus", self.bus, *args, store=self.store)
        self.started.append(node)
        return node.start()

    def kill_all(self) -> None:
        for node in self.started:
            node.kill()


@contextlib.contextmanager
def nodes_on(tmp: Path, store: str, bus: str) -> Iterator[Nodes]:
    nodes = Nodes(tmp, store, bus)
    try:
        yield nodes
    finally:
        nodes.kill_all()


def catalog(tmp: Path) -> str:
    return write_catalog(
        tmp, [{"id": LOT, "title": "Prize", "starting_price": 1, "increment": 0.01}]
    )


def node_args(tmp: Path, *more: str) -> tuple[str, ...]:
    return ("--catalog", catalog(tmp), "--extend-seconds", str(EXTEND_S), *more)


class StoreReader:
    """What the store holds, read with asyncpg in the test's schema."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(
            self.dsn, timeout=5, server_settings={"search_path": self.schema}
        )

    async def lot_events(self, lot: str) -> list[dict[str, Any]]:
        conn = await self._connect()
        try:
            rows = await conn.fetch(
                "SELECT seq, event_doc(body)::text AS doc FROM events"
                " WHERE stream = 'lot' AND lot_id = $1 ORDER BY seq",
                lot,
            )
        finally:
            await conn.close()
        return [json.loads(row["doc"]) for row in rows]

    async def holder(self, sale_id: str | None = None) -> str | None:
        conn = await self._connect()
        try:
            row = await conn.fetchrow(
                "SELECT holder FROM leases WHERE expires_at > clock_ms()"
                + (" AND sale_id = $1" if sale_id else ""),
                *((sale_id,) if sale_id else ()),
            )
        finally:
            await conn.close()
        return None if row is None else str(row["holder"])

    async def db_now_ms(self) -> int:
        conn = await self._connect()
        try:
            return int(await conn.fetchval("SELECT clock_ms()"))
        finally:
            await conn.close()


async def wait_for_owner(reader: StoreReader, timeout: float = 15.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(Exception):
                holder = await reader.holder()
                if holder is not None:
                    return holder
            await asyncio.sleep(0.1)


@dataclass
class Answer:
    node: str
    client: int
    request_id: str
    amount: int
    reply: dict[str, Any]
    sent_ms: int
    answered_ms: int


class Storm:
    """Clients bidding on one lot through every node, each bid with a request_id, each answer
    kept. Bounded by a count and a time; each client waits for its answer before its next."""

    def __init__(self, clients: list[tuple[str, JsonClient]], seed: int = 7) -> None:
        self.clients = clients
        self.answers: list[Answer] = []
        self.rng = random.Random(seed)
        self._ids = itertools.count()
        self.stop = asyncio.Event()

    def least(self, client: JsonClient) -> int:
        seen = [m for m in client.lot_events(LOT) if "min_amount" in m]
        return int(seen[-1]["min_amount"]) if seen else 100

    async def one(self, index: int, node: str, client: JsonClient, pause: float) -> None:
        for _ in range(400):  # bounded: a client's bids at most
            if self.stop.is_set():
                return
            n = next(self._ids)
            amount = self.least(client) + self.rng.randrange(5)
            key = f"k{n}-{secrets.token_hex(3)}"
            request: dict[str, Any] = {
                "type": "bid",
                "id": f"b{n}",
                "lot": LOT,
                "amount": amount,
                "request_id": key,
            }
            sent = now_ms()
            try:
                reply = await client.request(request, timeout=10)
            except (TimeoutError, ConnectionError) as exc:
                reply = {"type": "no_answer", "why": repr(exc)}
            self.answers.append(Answer(node, index, key, amount, reply, sent, now_ms()))
            await asyncio.sleep(pause * (0.5 + self.rng.random()))

    async def run(self, seconds: float, pause: float = 0.05) -> None:
        tasks = [
            asyncio.ensure_future(self.one(i, node, client, pause))
            for i, (node, client) in enumerate(self.clients)
        ]
        try:
            await asyncio.wait(tasks, timeout=seconds)
        finally:
            self.stop.set()
            await asyncio.wait(tasks, timeout=15)
            for task in tasks:
                task.cancel()

    async def bid(self, client: tuple[str, JsonClient]) -> Answer:
        """One bid at the least the client was told, answered (a probe at a chosen moment)."""
        node, conn = client
        n = next(self._ids)
        amount = self.least(conn)
        request = {"type": "bid", "id": f"p{n}", "lot": LOT, "amount": amount}
        sent = now_ms()
        reply = await conn.request(request, timeout=10)
        answer = Answer(node, -1, "", amount, reply, sent, now_ms())
        self.answers.append(answer)
        return answer

    def accepted(self) -> list[Answer]:
        return [a for a in self.answers if a.reply.get("type") == "bid_accepted"]

    def timeline(self, start_ms: int, step_ms: int = 500) -> str:
        """The answers by when they were sent, a line a step: what a failing run shows."""
        buckets: dict[int, dict[str, int]] = {}
        for a in self.answers:
            key = a.reply.get("code") or a.reply["type"]
            row = buckets.setdefault((a.sent_ms - start_ms) // step_ms, {})
            row[key] = row.get(key, 0) + 1
        return "\n".join(
            f"{k * step_ms / 1000:6.1f}s {dict(sorted(v.items()))}"
            for k, v in sorted(buckets.items())
        )

    def codes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in self.answers:
            key = a.reply.get("code") or a.reply["type"]
            counts[key] = counts.get(key, 0) + 1
        return counts


def no_traceback(node: Node) -> None:
    """A clean stop, and no traceback in all the node printed."""
    printed = node.terminate()
    assert "bidwire stopped" in printed, printed[-3000:]
    at = printed.find("Traceback")
    assert at < 0, f"{node.name}: {printed[max(0, at - 1500) : at + 3000]}"


async def sleep_until(at_ms: int) -> None:
    await asyncio.sleep(max(0, at_ms - now_ms()) / 1000)


async def wait_until(predicate: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def last_seq(storm: Storm) -> int:
    return max(int(a.reply["seq"]) for a in storm.accepted())


def now_ms() -> int:
    """The test's clock: the same machine's as PostgreSQL's, so the database's time."""
    return time.time_ns() // 1_000_000


async def connect_clients(nodes: list[Node], each: int) -> list[tuple[str, JsonClient]]:
    clients = []
    for node in nodes:
        for i in range(each):
            clients.append((node.name, await JsonClient.connect(node.port, f"{node.name}-c{i}")))
    return clients


async def wait_closed(clients: list[tuple[str, JsonClient]], timeout: float = 30) -> None:
    await asyncio.gather(
        *(
            c.wait_for(lambda m: m.get("type") == "lot_closed" and m.get("lot") == LOT, timeout)
            for _, c in clients
        )
    )


STREAM_KINDS = ("snapshot", "lot_opened", "bid_placed", "lot_extended", "lot_closed", "bid_voided")


def lot_stream(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    kinds = STREAM_KINDS[1:]
    return [
        (m["seq"], m["type"], m.get("amount"), m.get("bidder"))
        for m in messages
        if m.get("lot") == LOT and m.get("type") in kinds
    ]


def check_against_store(
    stored: list[dict[str, Any]], clients: list[tuple[str, JsonClient]], accepted: list[Answer]
) -> None:
    """The invariants every outage must keep, against what the store committed."""
    seqs = [e["seq"] for e in stored]
    assert seqs == list(range(1, len(seqs) + 1)), f"the stored seqs are not 1..n: {seqs}"
    by_seq = {e["seq"]: e for e in stored}
    for answer in accepted:
        event = by_seq.get(answer.reply["seq"])
        assert event is not None, f"acknowledged bid not stored: {answer}"
        assert event["type"] == "bid_placed" and event["amount"] == answer.reply["amount"], (
            answer,
            event,
        )
    closes = [e for e in stored if e["type"] == "lot_closed"]
    assert len(closes) == 1, f"the lot closed {len(closes)} times in the store"
    truth = lot_stream([e for e in stored if e["type"] != "lot_closed"]) + lot_stream(closes)
    truth = sorted(truth)
    dump = Path(os.environ.get("BIDWIRE_OUTAGE_DUMP", "/nonexistent"))
    if dump.parent.exists():
        dump.write_text(
            json.dumps(
                {"stored": stored, "clients": {client_name(c): c.messages for _, c in clients}}
            )
        )
    for name, client in clients:
        messages = client.messages
        stream = [m for m in messages if m.get("type") in STREAM_KINDS]
        check_stream(b"\n".join(json.dumps(m).encode() for m in stream), LOT)  # in order
        snapshot = next(m for m in messages if m.get("type") == "snapshot" and m["lot"] == LOT)
        seen = lot_stream(messages)
        expected = [t for t in truth if t[0] > snapshot["seq"]]
        assert seen == expected, (
            f"client {client_name(client)} on {name} saw another stream than the store's:"
            f" {first_difference(seen, expected)}"
        )
        assert sum(1 for m in messages if m.get("type") == "lot_closed") == 1


def client_name(client: JsonClient) -> str:
    welcome = next((m for m in client.messages if m.get("type") == "welcome"), {})
    return str(welcome.get("user", "?"))


def first_difference(seen: list[Any], expected: list[Any]) -> str:
    for i, (a, b) in enumerate(zip(seen, expected, strict=False)):
        if a != b:
            return f"at {i}: saw {a}, the store has {b}"
    return f"lengths {len(seen)} seen, {len(expected)} stored"


@contextlib.asynccontextmanager
async def shared_bus() -> AsyncIterator[str]:
    """A bus on the shared Redis on a channel of its own; the shared limits the nodes keep
    under that channel's prefix (limits_url_for) are deleted after, and nothing else."""
    base = require_redis()
    channel = fresh_channel()
    try:
        yield f"{base}?channel={channel}"
    finally:
        await delete_keys(base, f"{channel}:*")


@contextlib.asynccontextmanager
async def schema_on(dsn: str) -> AsyncIterator[tuple[str, str]]:
    """A store URL in a fresh schema of ``dsn`` with the database's clock on, and the schema."""
    async with fresh_schema(dsn) as url:
        schema = url.rsplit("schema=", 1)[1]
        yield with_query(url, "db_clock=1"), schema


# -- 1. Redis restarted mid-storm -----------------------------------------------------------


@dataclass
class OnOwnRedis:
    """Three nodes (n1 the owner) on a Redis of the test's own, clients on each."""

    redis: OwnRedis
    reader: StoreReader
    nodes: list[Node]
    clients: list[tuple[str, JsonClient]]

    async def stop(self) -> None:
        """Every client closed, every node stopped in order with no traceback printed."""
        for _, client in self.clients:
            await client.close()
        for node in self.nodes:
            no_traceback(node)


@contextlib.asynccontextmanager
async def on_own_redis(tmp_path: Path, clients_each: int) -> AsyncIterator[OnOwnRedis]:
    from tests.store.pg import SERVER

    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        async with schema_on(SERVER) as (store, schema):
            reader = StoreReader(SERVER, schema)
            bus = f"{redis.url}?channel={fresh_channel()}"
            with nodes_on(tmp_path, store, bus) as nodes:
                first = nodes.start("n1", *node_args(tmp_path))
                assert await wait_for_owner(reader) == "n1"
                every = [first, *(nodes.start(f"n{i}") for i in (2, 3))]
                clients = await connect_clients(every, clients_each)
                yield OnOwnRedis(redis, reader, every, clients)
    finally:
        redis.kill()


async def test_a_redis_restarted_mid_storm_loses_nothing_a_client_sees(tmp_path: Path) -> None:
    async with on_own_redis(tmp_path, 3) as room:
        storm = Storm(room.clients)
        running = asyncio.ensure_future(storm.run(12))
        await asyncio.sleep(3)
        room.redis.kill()
        killed_at = len(storm.answers)
        await asyncio.sleep(2)
        room.redis.start()
        await running
        await wait_closed(room.clients)
        await asyncio.sleep(1.5)  # a reload round after the close reaches everyone
        stored = await room.reader.lot_events(LOT)
        print("answers", storm.codes(), "killed at", killed_at, "stored", len(stored))
        check_against_store(stored, room.clients, storm.accepted())
        assert len(storm.accepted()) >= 20
        after = [a for a in storm.answers[killed_at:] if a.node != "n1"]
        assert any(a.reply.get("type") == "bid_accepted" for a in after[-20:]), (
            "bidding through the other nodes did not come back after Redis did"
        )
        await room.stop()


async def test_a_lot_that_closes_while_redis_is_down_is_seen_closed_once_by_everyone(
    tmp_path: Path,
) -> None:
    """The hammer falls while the bus is down: the owner commits the close to the store (the
    truth) and cannot tell the other nodes; once Redis is back they read it, so every client on
    every node sees the lot close once, after its last bid's window, and nothing is lost."""
    async with on_own_redis(tmp_path, 2) as room:
        storm = Storm(room.clients)
        await storm.run(3)
        assert storm.accepted(), storm.codes()
        room.redis.kill()  # the last bid's window (EXTEND_S) runs out with the bus down
        await asyncio.sleep(EXTEND_S + 1.5)
        stored = await room.reader.lot_events(LOT)
        assert stored[-1]["type"] == "lot_closed", "the owner did not close it"
        room.redis.start()
        await wait_closed(room.clients)
        await asyncio.sleep(1.5)  # a later reload would show a second close
        stored = await room.reader.lot_events(LOT)
        check_against_store(stored, room.clients, storm.accepted())
        last_bid = max(e["ts"] for e in stored if e["type"] == "bid_placed")
        assert stored[-1]["ts"] >= last_bid + EXTEND_S * 1000, "closed early"
        await room.stop()


# -- 2. PostgreSQL restarted mid-storm ------------------------------------------------------


@pytest.mark.parametrize("down_s", [2.5, 5.0])
async def test_a_postgres_restarted_mid_storm_answers_unavailable_then_recovers(
    tmp_path: Path, own_postgres: OwnPostgres, down_s: float
) -> None:
    """Down for less than a lease (the owner keeps the sale) and for longer (it lets go, and
    a node takes the sale when the store is back: a takeover right after an outage)."""
    reason = await why_not(own_postgres.dsn)
    assert reason is None, reason
    schema = f"bw_test_{secrets.token_hex(6)}"
    store = with_query(own_postgres.dsn, f"schema={schema}&db_clock=1")
    reader = StoreReader(own_postgres.dsn, schema)
    async with shared_bus() as bus:
        await postgres_restarted(tmp_path, own_postgres, store, bus, reader, down_s)
    with contextlib.suppress(Exception):
        await drop_schema(own_postgres.dsn, schema)


async def postgres_restarted(
    tmp_path: Path,
    own_postgres: OwnPostgres,
    store: str,
    bus: str,
    reader: StoreReader,
    down_s: float,
) -> None:
    with nodes_on(tmp_path, store, bus) as nodes:
        first = nodes.start("n1", *node_args(tmp_path))
        assert await wait_for_owner(reader) == "n1"
        others = [nodes.start(f"n{i}") for i in (2, 3)]
        every = [first, *others]
        clients = await connect_clients(every, 3)
        storm = Storm(clients)
        began = now_ms()
        running = asyncio.ensure_future(storm.run(3 + down_s + 8.5))
        await asyncio.sleep(3)
        own_postgres.stop()
        down_from = now_ms()
        await asyncio.sleep(down_s)
        own_postgres.start()
        up_at = now_ms()
        await running
        print(f"down {down_from - began} ms, up {up_at - began} ms\n" + storm.timeline(began))
        await wait_closed(clients, 40)
        await asyncio.sleep(1.5)
        stored = await reader.lot_events(LOT)
        print("answers", storm.codes(), "stored", len(stored))
        check_against_store(stored, clients, storm.accepted())
        # while it was down (a bid sent and answered inside the outage) nothing is acknowledged
        inside = [a for a in storm.answers if down_from + 200 < a.sent_ms and a.answered_ms < up_at]
        assert inside, "no bid was answered while PostgreSQL was down"
        assert all(a.reply.get("type") != "bid_accepted" for a in inside), [
            a for a in inside if a.reply.get("type") == "bid_accepted"
        ]
        assert any(a.reply.get("code") == "unavailable" for a in inside)
        back = [a.answered_ms - up_at for a in storm.accepted() if a.sent_ms >= up_at]
        assert back, "no bid was accepted after PostgreSQL came back"
        print(f"down {down_s:g} s: the first bid accepted {min(back)} ms after it answered")
        later = [a for a in storm.answers if a.sent_ms > up_at + 5_000]
        assert any(a.reply.get("type") == "bid_accepted" for a in later), (
            "bidding did not recover without restarting the nodes"
        )
        for _, client in clients:
            await client.close()
        for node in every:
            # a stop in order, and the outage said in words, without a traceback: bidwire's
            # own lines, and asyncpg's pool's failed reconnects in one line each (logs.py)
            no_traceback(node)


# -- 3. The owner's clock 5 s off -----------------------------------------------------------


@pytest.mark.parametrize("skew_ms", [5_000, -5_000])
async def test_an_owner_with_a_skewed_clock_neither_closes_early_nor_takes_a_late_bid(
    tmp_path: Path, skew_ms: int
) -> None:
    from tests.store.pg import SERVER

    async with shared_bus() as bus, schema_on(SERVER) as (store, schema):
        reader = StoreReader(SERVER, schema)
        with nodes_on(tmp_path, store, bus) as nodes:
            owner = nodes.start("skewed", *node_args(tmp_path, "--clock-skew-ms", str(skew_ms)))
            assert await wait_for_owner(reader) == "skewed"
            other = nodes.start("n2")
            clients = await connect_clients([owner, other], 2)
            storm = Storm(clients)
            await storm.run(3, pause=0.1)
            watcher = clients[0][1]

            def deadline() -> int:
                told = [m for m in watcher.lot_events(LOT) if "ends_at" in m]
                return int(max(told, key=lambda m: m["seq"])["ends_at"])

            await wait_until(lambda: watcher.lot_events(LOT)[-1]["seq"] >= last_seq(storm))
            probe = Storm(clients, seed=11)
            # just before the deadline, through the other node: taken, and the lot goes on
            await sleep_until(deadline() - 300)
            leader = max(watcher.lot_events(LOT), key=lambda m: m["seq"]).get("bidder")
            outbidder = next(c for c in clients[2:] if client_name(c[1]) != leader)
            early = await probe.bid(outbidder)
            assert early.reply.get("type") == "bid_accepted", early
            await wait_until(lambda: deadline() > early.sent_ms + 1_000)
            final = deadline()
            # just after it, at both nodes: refused, whatever the owner's own clock says
            await sleep_until(final + 50)
            late = await asyncio.gather(probe.bid(clients[0]), probe.bid(clients[-1]))
            for answer in late:
                assert answer.reply.get("type") != "bid_accepted", answer
            await wait_closed(clients, 20)
            heard_close = now_ms()
            stored = await reader.lot_events(LOT)
            bids = [e for e in stored if e["type"] == "bid_placed"]
            close = next(e for e in stored if e["type"] == "lot_closed")
            assert bids[-1]["ends_at"] == final == bids[-1]["ts"] + EXTEND_S * 1000
            assert close["ts"] >= final and heard_close >= final, (close, bids[-1])
            # each bid taken before the deadline the one before it set, in the database's
            # time: a bid's ts is that clock's when it was taken, not the owner's own
            for before, after in itertools.pairwise(bids):
                assert after["ts"] < before["ends_at"], (before, after)
            for answer in [*storm.accepted(), *probe.accepted()]:
                placed = next(e for e in bids if e["seq"] == answer.reply["seq"])
                assert answer.sent_ms - 250 <= placed["ts"] <= answer.answered_ms + 250, (
                    answer,
                    placed,
                )
            check_against_store(stored, clients, [*storm.accepted(), *probe.accepted()])
            for _, client in clients:
                await client.close()
            for node in (owner, other):
                no_traceback(node)
