"""Two nodes' gates, each on its own limits object over one store (a Redis prefix): guest
names, the bid rate and failed logins hold for the house, not per node. Over memory:// the two
gates share one MemoryLimits, the same promises within one process."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from bidwire.accounts.service import LOGIN_FAILURES_PER_ACCOUNT, Accounts
from bidwire.clock import FakeClock, SystemClock
from bidwire.domain.commands import Actor, PlaceBid
from bidwire.engine.gate import Gate
from bidwire.errors import LimitsUnavailable, NotAuthenticated, RateLimited
from bidwire.limits.base import Limits
from bidwire.limits.redis import RedisLimits
from bidwire.store import open_store
from tests.limits.helpers import Nodes, redis_or_skip

FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def gate(
    limits: Limits, clock: FakeClock | SystemClock, rate: float = 20.0, burst: int = 40
) -> Gate:
    return Gate(clock, bid_limiter=limits.bid_rate(rate, burst), limits=limits)


async def test_a_name_taken_on_one_node_is_suffixed_on_the_other(nodes: Nodes) -> None:
    clock = FakeClock()
    a, b = gate(nodes(clock), clock), gate(nodes(clock), clock)
    assert (await a.guest("bob", "conn-a")).name == "bob"
    assert (await b.guest("Bob", "conn-b")).name == "Bob-2"  # a look-alike is the same name
    assert (await b.guest("b0b", "conn-c")).name == "b0b-3"
    a.leave("conn-a")  # a guest that never bid frees its name everywhere when it leaves
    await a.limits.settled()
    assert (await b.guest("bob", "conn-d")).name == "bob"


async def test_a_guest_resumes_by_its_token_on_the_other_node(nodes: Nodes) -> None:
    clock = FakeClock()
    a, b = gate(nodes(clock), clock), gate(nodes(clock), clock)
    await a.guest("carol", "conn-a")
    token = a.guest_token("conn-a")
    assert token is not None
    assert isinstance(a.bid(Actor("carol", "guest"), "lot", 100), PlaceBid)  # carol has bid
    a.leave("conn-a")
    await a.limits.settled()
    assert await b.recall_guest(token)
    actor = b.resume_guest(token, "conn-b")
    assert actor == Actor("carol", "guest")
    assert (await b.guest("carol", "conn-c")).name == "carol-2"
    assert not await b.recall_guest("not-a-token")


async def test_the_bid_rate_holds_across_both_nodes(nodes: Nodes) -> None:
    clock = FakeClock()
    a, b = gate(nodes(clock), clock), gate(nodes(clock), clock)
    alice = Actor("alice", "bidder")
    accepted = 0
    for i in range(100):  # one bid after another, alternating nodes: the burst is the house's
        node = (a, b)[i % 2]
        accepted += isinstance(node.bid(alice, "lot", 100 + i), PlaceBid)
        await node.limits.settled()
    # a node's share is as old as its own last answer: one bid of the other node's at most
    # passes over, and is owed
    assert 40 <= accepted <= 41
    clock.advance(1_000)  # 20 more a second, for both nodes together
    for i in range(100):
        node = (a, b)[i % 2]
        accepted += isinstance(node.bid(alice, "lot", 100 + i), PlaceBid)
        await node.limits.settled()
    assert 60 <= accepted <= 61


async def test_a_storm_on_both_nodes_gets_the_rate_over_time(nodes: Nodes) -> None:
    """Bids at once on both nodes may pass a little over the bucket (each node's share is a
    round trip old); the excess is paid back, so over 10 s the user gets the house's rate."""
    clock = FakeClock()
    a, b = gate(nodes(clock), clock), gate(nodes(clock), clock)
    alice = Actor("alice", "bidder")
    accepted = 0
    for _tick in range(1_000):  # 10 ms apart for 10 s, five bids at once on each node
        for node in (a, b):
            accepted += sum(isinstance(node.bid(alice, "lot", 100), PlaceBid) for _ in range(5))
        await asyncio.gather(a.limits.settled(), b.limits.settled())
        clock.advance(10)
    assert 40 + 20 * 10 - 2 <= accepted <= 40 + 20 * 10 + 5  # the burst, then 20 a second


async def test_failed_logins_on_both_nodes_are_counted_together(nodes: Nodes) -> None:
    clock = FakeClock()
    async with open_store("memory://") as store:
        node_a = Accounts(store, clock, FAST, limits=nodes(clock))
        node_b = Accounts(store, clock, FAST, limits=nodes(clock))
        await node_a.create_user("dave", "right password", "bidder")
        for i in range(LOGIN_FAILURES_PER_ACCOUNT):
            with pytest.raises(NotAuthenticated):
                await (node_a, node_b)[i % 2].login("dave", "wrong guess", f"10.0.0.{i}")
        for node in (node_a, node_b):
            with pytest.raises(RateLimited):
                await node.login("dave", "right password", "10.0.1.1")
        clock.advance(60_001)  # the window has passed, on both
        assert (await node_b.login("dave", "right password", "10.0.1.1")).user.username == "dave"


async def test_a_node_that_dies_frees_its_guests_names_after_the_ttl(nodes: Nodes) -> None:
    clock = SystemClock()  # the names' TTLs are Redis's own timers: real time, bounded small
    limits_a = nodes(clock, refresh_ms=100)
    a, b = gate(limits_a, clock), gate(nodes(clock, refresh_ms=100), clock)
    a.name_ttl_ms = b.name_ttl_ms = 400
    assert (await a.guest("erin", "conn-a")).name == "erin"
    await asyncio.sleep(0.8)  # past the TTL twice: renewed by a, still a's
    assert (await b.guest("erin", "conn-b")).name == "erin-2"
    if not isinstance(limits_a, RedisLimits):
        return  # one process: nothing dies without taking its memory with it
    limits_a.stop_renewing()  # a dies: nobody renews its claims
    await asyncio.sleep(0.8)
    assert (await b.guest("erin", "conn-c")).name == "erin"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_with_redis_down_names_fail_closed_and_rates_fall_back_to_the_node() -> None:
    await (await redis_or_skip()).aclose()  # the same services as the others need
    clock = FakeClock()
    client = aioredis.from_url(
        f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout=1, socket_connect_timeout=1
    )
    limits = RedisLimits(client, "bidwire-test-down:", clock)
    try:
        node = gate(limits, clock, rate=1.0, burst=3)
        with pytest.raises(LimitsUnavailable) as raised:
            await node.guest("frank", "conn")
        assert raised.value.code == "unavailable"
        assert node.names.holder("frank") is None  # not held here either
        with pytest.raises(LimitsUnavailable):  # a token from elsewhere: not known now
            await node.recall_guest("t" * 32)
        alice = Actor("alice", "bidder")
        results = []
        for _ in range(5):
            results.append(isinstance(node.bid(alice, "lot", 100), PlaceBid))
            await limits.settled()
        assert results == [True, True, True, False, False]  # this node's own bucket
        async with open_store("memory://") as store:
            accounts = Accounts(store, clock, FAST, limits=limits)
            for _ in range(LOGIN_FAILURES_PER_ACCOUNT):
                with pytest.raises(NotAuthenticated):
                    await accounts.login("nobody", "wrong guess", "10.0.0.1")
            with pytest.raises(RateLimited):
                await accounts.login("nobody", "wrong guess", "10.0.0.1")
    finally:
        await limits.close()


class OwnRedis:
    """A redis-server of this test's own (no persistence) on a free loopback port, to stop
    and start again; only its own PID is ever ended."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.port = _closed_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.directory,
            stdout=asyncio.subprocess.DEVNULL,
        )
        probe = aioredis.from_url(self.url, socket_connect_timeout=1)
        try:
            for _ in range(100):
                try:
                    await probe.ping()
                    return
                except (OSError, aioredis.ConnectionError):
                    await asyncio.sleep(0.05)
            raise AssertionError("redis-server did not start")
        finally:
            await probe.aclose()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 10)


@pytest.mark.timeout(30)
async def test_after_a_redis_restart_each_node_claims_its_names_again(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("BIDWIRE_REQUIRE_SERVICES"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(str(tmp_path))
    await server.start()
    clock = SystemClock()
    made = [
        RedisLimits(aioredis.from_url(server.url, socket_timeout=1), "t:", clock, refresh_ms=100)
        for _ in range(2)
    ]
    try:
        for limits in made:
            limits.start()
        a, b = gate(made[0], clock), gate(made[1], clock)
        await a.guest("kim", "conn-kim")  # connected: renewed
        await a.guest("lee", "conn-lee")
        assert isinstance(a.bid(Actor("lee", "guest"), "lot", 100), PlaceBid)
        a.leave("conn-lee")  # has bid: holds the name for a week, not renewed
        await made[0].settled()
        await asyncio.sleep(0.3)  # a renewal has seen this Redis
        await server.stop()  # every key is gone with it
        await server.start()
        await asyncio.sleep(0.6)  # a's next renewals find a new Redis and claim all again
        assert (await b.guest("kim", "conn-b1")).name == "kim-2"
        assert (await b.guest("lee", "conn-b2")).name == "lee-2"
    finally:
        for limits in made:
            await limits.close()
        await server.stop()


@pytest.mark.parametrize("nodes", ["redis"], indirect=True)  # memory's are one node's only
async def test_a_made_up_name_another_node_holds_may_not_bid(nodes: Nodes) -> None:
    clock = FakeClock()
    limits_a, limits_b = nodes(clock), nodes(clock)
    assert limits_b.shared
    a, b = gate(limits_a, clock), gate(limits_b, clock)
    a.rng.seed(7)
    b.rng.seed(7)  # the same draws: b makes up a's name
    mine = a.made_up_guest("conn-a")
    await a.settled()
    theirs = b.made_up_guest("conn-b")
    assert theirs == mine  # given at once (text mode's greeting), claimed just after
    await b.settled()
    refused = b.bid(theirs, "lot", 100)
    assert not isinstance(refused, PlaceBid) and refused.code == "forbidden"
    assert isinstance(a.bid(mine, "lot", 100), PlaceBid)
    renamed = await b.guest("ken", "conn-b")  # text mode's `name ken`
    assert isinstance(b.bid(renamed, "lot", 100), PlaceBid)
