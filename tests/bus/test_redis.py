"""The redis:// bus between nodes: two buses on one Redis stand for two nodes.

The contract suite (test_contract.py) runs on one redis bus too; here is what only several
nodes, a Redis that goes away, and the reload from the store can show. Each test has a channel
of its own; those that kill, stop or restart Redis run a redis-server of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from bidwire.bus import Bus, Message, open_bus
from bidwire.bus.redis import Backoff, RedisBus, RedisBusOptions, connect, open_redis_bus
from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.events import LotEvent, SalePaused
from bidwire.domain.lot import Lot, LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.engine.views import Views
from bidwire.errors import BusUnavailable
from bidwire.store.memory import MemoryStore
from bidwire.transports.broadcast import Feed
from bidwire.wire.batch import Batch
from tests.bus.redis_helpers import OwnRedis, channel_url, free_port, require_redis
from tests.bus.test_contract import Listener, bid, opened

WAIT = 5.0
pytestmark = pytest.mark.timeout(30)  # a hang costs 30 s, not the suite's 120


@pytest.fixture
def shared() -> str:
    return require_redis()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.resume_if_paused()
        server.kill()


async def until(condition: object, seconds: float = WAIT) -> None:
    assert callable(condition)
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


# -- two nodes ----------------------------------------------------------------------------


async def test_what_one_node_publishes_the_other_hears_in_order_and_itself_once(
    shared: str,
) -> None:
    url = channel_url(shared)
    async with open_bus(url) as one, open_bus(url) as two:
        here, there = Listener(one), Listener(two)
        sent: list[LotEvent] = [opened("w"), *(bid("w", seq) for seq in range(2, 201))]
        for event in sent:
            one.publish(event)
        one.publish_sale(SalePaused("s", 1, "root", 5))
        await there.until(len(sent) + 1)
        assert [m.event for m in there.passed if m.stream == "lot"] == sent
        assert [(m.stream, m.key, m.seq) for m in there.passed][-1] == ("sale", "s", 1)
        assert there.order.gaps() == {}
        assert isinstance(one, RedisBus) and isinstance(two, RedisBus)
        await one.drained()
        assert one.sent == len(sent) + 1 and one.frames_sent < len(sent)  # many to a frame
        # its own frames come back from Redis too and are dropped: heard once, in publish
        await until(lambda: two.heard == len(sent) + 1)
        assert len(here.raw) == len(sent) + 1 and one.heard == 0
        # /metrics' bus lag: every event heard from the other node, none of its own
        assert two.lag.count == len(sent) + 1 and one.lag.count == 0
        assert 0 <= two.lag.total / two.lag.count < 1.0
        assert one.fault() is None and two.fault() is None


async def test_two_nodes_given_one_url_with_a_node_name_still_hear_each_other(
    shared: str,
) -> None:
    url = channel_url(shared, node="web")  # the cluster's one BIDWIRE_BUS, say
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(one, RedisBus) and isinstance(two, RedisBus)
        assert one.node.startswith("web-") and one.node != two.node
        there = Listener(two)
        one.publish(opened("w"))
        await there.until(1)


async def test_an_event_published_by_a_handler_goes_out_after_the_one_it_heard(
    shared: str,
) -> None:
    url = channel_url(shared)
    async with open_bus(url) as one, open_bus(url) as two:

        def answer(message: Message) -> None:
            if message.seq == 1:
                one.publish(bid("w", 2))  # as a listener might, inside the delivery

        one.subscribe(answer)
        there = Listener(two)
        one.publish(opened("w"))
        await there.until(2)
        assert [m.seq for m in there.raw] == [1, 2]


async def test_a_full_queue_drops_its_oldest_and_never_waits(shared: str) -> None:
    url = channel_url(shared, max_queued="3")
    options = RedisBusOptions.from_url(url)
    client = connect(options)
    one = RedisBus(client, options)  # not started: nothing leaves its queue yet
    try:
        async with open_bus(url) as two:
            there = Listener(two)
            started = time.monotonic()
            one.publish(opened("w"))
            for seq in range(2, 6):
                one.publish(bid("w", seq))
            assert time.monotonic() - started < 0.1
            assert one.dropped == 2
            one.start()
            await there.until(3)
            assert [m.seq for m in there.raw] == [3, 4, 5]
            assert there.order.gaps() == {("lot", "w"): range(1, 3)}  # the reload's cue
    finally:
        await one.close()
        await client.aclose()


async def test_a_frame_that_is_not_ours_is_counted_and_skipped(shared: str) -> None:
    url = channel_url(shared)
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(two, RedisBus)
        there = Listener(two)
        liar = msgspec.json.encode(["other", 0.0, [["lot", "v", 9, opened("w")]]])
        await two.client.publish(two.channel, b"not json")
        await two.client.publish(two.channel, liar)
        one.publish(opened("w"))
        await there.until(1)
        assert [(m.key, m.seq) for m in there.raw] == [("w", 1)]
        assert two.bad_frames == 2


async def test_an_idle_subscription_does_not_spin(shared: str) -> None:
    """redis-py's get_message polling burned a core (redis-py #3208): listen() blocks."""
    async with open_bus(channel_url(shared)):
        await asyncio.sleep(0.1)
        # the loop's thread only: a thread another test left behind must not count here
        cpu, wall = time.thread_time(), time.monotonic()
        await asyncio.sleep(2.0)
        used = time.thread_time() - cpu
        assert time.monotonic() - wall >= 2.0
        assert used < 0.1, f"{used:.3f}s of CPU in 2s idle"


async def test_a_cancel_redis_py_turns_into_an_error_still_ends_the_bus(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that lands as a read times out leaves asyncio.timeout as a TimeoutError, which
    the listen loop takes for a broken connection: close must not wait on the cancel alone."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    class Swallowing:
        async def subscribe(self, channel: str) -> None:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise RedisConnectionError("a cancel turned into an error") from None

        async def aclose(self) -> None:
            pass

    async with open_redis_bus(channel_url(own_redis.url, connect_seconds="1")) as bus:
        monkeypatch.setattr(bus.client, "pubsub", Swallowing)
        own_redis.kill()  # the subscription breaks; the next one is a Swallowing
        await until(lambda: not bus.subscribed.is_set(), 3)
        await asyncio.sleep(0.1)  # in Swallowing.subscribe now
        started = time.monotonic()
    assert time.monotonic() - started < 3


# -- opening --------------------------------------------------------------------------------


async def test_a_redis_that_does_not_answer_is_bus_unavailable_in_bounded_time() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0?connect_seconds=0.5"
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match=r"did not answer within 0.5s"):
        async with open_bus(url):
            pass
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("max_queued=lots", "max_queued must be a positive number, not 'lots'"),
        ("ping_seconds=-1", "ping_seconds must be"),
        ("connect_seconds=inf", "connect_seconds must be"),
        ("channel=", "empty channel"),
    ],
)
def test_bad_bus_options_are_value_errors_without_the_password(query: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        RedisBusOptions.from_url(f"redis://:sekrit@127.0.0.1:6379/0?{query}")
    assert "sekrit" not in str(caught.value)


def test_the_options_leave_redis_its_own_and_take_ours() -> None:
    options = RedisBusOptions.from_url(
        "redis://h:7000/2?channel=house&socket_keepalive=true&max_queued=10&node=n1"
    )
    assert options.server_url == "redis://h:7000/2?socket_keepalive=true"
    assert (options.channel, options.max_queued, options.node) == ("house", 10, "n1")


def test_one_url_serves_the_bus_and_the_shared_limits_each_its_own_options() -> None:
    from urllib.parse import parse_qs, urlsplit

    from bidwire.limits import limits_url_for

    url = "redis://h:7000/2?channel=house&prefix=house:&max_queued=10&socket_keepalive=true"
    bus = RedisBusOptions.from_url(url)
    assert bus.server_url == "redis://h:7000/2?socket_keepalive=true"  # redis-py refuses others
    limits = urlsplit(limits_url_for(url))
    assert limits.netloc == "h:7000" and limits.path == "/2"
    assert parse_qs(limits.query) == {"prefix": ["house:"], "socket_keepalive": ["true"]}


def test_backoff_doubles_to_its_cap_jittered_within_each_step() -> None:
    low, high = Backoff(0.1, 1.0, rand=lambda: 0.0), Backoff(0.1, 1.0, rand=lambda: 0.999999)
    lows = [low.next() for _ in range(6)]
    highs = [high.next() for _ in range(6)]
    assert lows == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5, 0.5])
    assert highs == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    low.reset()
    assert low.next() == pytest.approx(0.05)


# -- a node and its store: nothing lost for good -------------------------------------------


class Recorder:
    """A watcher of the fan-out: the (lot or sale, seq) of every event it was handed."""

    wants_text = False

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def deliver(self, batch: Batch) -> None:
        for item in batch.items:
            body = msgspec.json.decode(item.json)
            self.seen.append((body.get("lot") or body["sale"], body["seq"]))

    def notice(self, line: bytes) -> None:
        pass

    def lot_seqs(self, lot: str = "w") -> list[int]:
        return [seq for key, seq in self.seen if key == lot]


class Node:
    """What a second node has of a lot: its views and fan-out, fed by the bus and the store."""

    def __init__(self, store: MemoryStore, sale: SaleSpec, spec: LotSpec) -> None:
        self.views = Views()
        self.views.track_sale(sale)
        self.views.track(Lot(spec, sale.id))
        self.feed = Feed(FakeClock(), self.views)
        self.recorder = Recorder()
        self.feed.subscribe_house(self.recorder)
        self.store = store

    def listen(self, bus: Bus) -> None:
        self.feed.listen(bus, self.store)


async def store_with_lot() -> tuple[MemoryStore, SaleSpec, LotSpec]:
    store = MemoryStore()
    sale, spec = SaleSpec("s", "Sale", ("w",)), LotSpec("w", "W")
    await store.add_sale(sale, [spec])
    return store, sale, spec


async def commit(store: MemoryStore, event: LotEvent) -> None:
    await store.append([event])


async def test_a_redis_restart_mid_stream_costs_the_other_node_nothing(
    own_redis: OwnRedis,
) -> None:
    store, sale, spec = await store_with_lot()
    node = Node(store, sale, spec)
    url = channel_url(own_redis.url, connect_seconds="1")
    lost: list[int] = []
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(two, RedisBus)
        two.watch_lost(lambda: lost.append(1))
        node.listen(two)
        total = 300
        for seq in range(1, total + 1):
            event: LotEvent = opened("w") if seq == 1 else bid("w", seq)
            await commit(store, event)
            one.publish(event)
            if seq == 100:
                own_redis.kill()
            elif seq == 150:
                own_redis.start()
            await asyncio.sleep(0.003)
        await until(lambda: len(node.recorder.seen) >= total, 10)
        await asyncio.sleep(0.2)  # anything heard twice would show by now
        assert node.recorder.lot_seqs() == list(range(1, total + 1))  # all, once, in order
        assert two.reconnects >= 1 and lost, "the subscriber was told it may have lost some"
        node.feed.close()


async def test_a_lost_last_event_is_found_by_the_check_within_a_second(shared: str) -> None:
    store, sale, spec = await store_with_lot()
    node = Node(store, sale, spec)
    url = channel_url(shared)
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(two, RedisBus)
        node.listen(two)
        for seq in range(1, 6):
            event: LotEvent = opened("w") if seq == 1 else bid("w", seq)
            await commit(store, event)
            one.publish(event)
        await until(lambda: len(node.recorder.seen) == 5)
        await commit(store, bid("w", 6))  # committed, and its message lost: nothing follows
        started = time.monotonic()
        await until(lambda: node.recorder.lot_seqs()[-1:] == [6], 3)
        took = time.monotonic() - started
        assert took < 1.3, f"found after {took:.2f}s"
        assert node.recorder.lot_seqs() == [1, 2, 3, 4, 5, 6]
        node.feed.close()


async def test_a_gap_is_filled_from_the_store_at_once(shared: str) -> None:
    store, sale, spec = await store_with_lot()
    node = Node(store, sale, spec)
    url = channel_url(shared)
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(two, RedisBus)
        node.listen(two)
        assert node.feed.resync is not None
        node.feed.resync.every = 60.0  # only the gap may start this reload
        await asyncio.sleep(0.05)  # the first round (at start) is over
        for seq in range(1, 4):
            event: LotEvent = opened("w") if seq == 1 else bid("w", seq)
            await commit(store, event)
            if seq != 2:  # seq 2's message lost on the way
                one.publish(event)
        started = time.monotonic()
        await until(lambda: len(node.recorder.seen) == 3, 3)
        assert time.monotonic() - started < 0.5
        assert node.recorder.lot_seqs() == [1, 2, 3]
        node.feed.close()


async def test_a_lost_sale_event_is_reloaded_too(shared: str) -> None:
    store, sale, spec = await store_with_lot()
    node = Node(store, sale, spec)
    url = channel_url(shared)
    async with open_bus(url) as two:
        assert isinstance(two, RedisBus)
        node.listen(two)
        assert node.feed.resync is not None
        await store.append([SalePaused("s", 1, "root", 5)])  # never published
        await until(lambda: ("s", 1) in node.recorder.seen, 3)
        node.feed.close()


async def test_a_house_on_one_node_and_another_node_s_fan_out_show_one_stream(
    shared: str,
) -> None:
    """The house publishes as it does on one node; the other node's watchers get the same
    events in the same order, heard through Redis."""
    url = channel_url(shared)
    store, clock = MemoryStore(), FakeClock()
    sale, spec = SaleSpec("s", "Sale", ("a",), mode="timed"), LotSpec("a", "A", opening_ms=60_000)
    async with open_bus(url) as bus_a, open_bus(url) as bus_b:
        feed_a = Feed(clock)
        feed_a.listen(bus_a)
        house = AuctionHouse(store, bus_a, feed_a.published, clock)
        await house.load()
        await house.add_sale(sale, [spec])
        here = Recorder()
        feed_a.subscribe_house(here)
        there = Node(store, sale, spec)
        there.listen(bus_b)
        await house.resume()
        house.start()
        await until(lambda: ("a", 1) in here.seen)
        for n in range(30):
            clock.advance(100)
            bidder = Actor(("ann", "bob")[n % 2])
            placed = await house.place_bid(PlaceBid(bidder, "a", 100 + 100 * n))
            assert isinstance(placed, Accepted)
        await until(lambda: len(there.recorder.seen) >= len(here.seen) == 32)
        assert there.recorder.seen == here.seen  # sale_started, lot_opened, 30 bids
        assert here.lot_seqs("a") == list(range(1, 32))
        await house.stop()
        feed_a.close()
        there.feed.close()


# -- a Redis that goes away ------------------------------------------------------------------


async def test_a_restarted_redis_is_subscribed_again_and_the_loss_told(
    own_redis: OwnRedis,
) -> None:
    url = channel_url(own_redis.url, connect_seconds="1")
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(two, RedisBus)
        lost: list[float] = []
        two.watch_lost(lambda: lost.append(time.monotonic()))
        there = Listener(two)
        one.publish(opened("w"))
        await there.until(1)
        own_redis.kill()
        await until(lambda: not two.subscribed.is_set(), 3)
        down = two.fault()
        assert down is not None and down.startswith("the bus's subscription to Redis is down")
        own_redis.start()
        await asyncio.wait_for(two.subscribed.wait(), 5)
        assert len(lost) == 1 and two.reconnects == 1
        assert two.fault() is None  # /readyz is ready again
        one.publish(bid("w", 2))
        await there.until(2)
        assert [m.seq for m in there.passed] == [1, 2]


async def test_a_redis_that_stops_answering_is_left_and_found_again(
    own_redis: OwnRedis,
) -> None:
    """A stopped server keeps its sockets open: only the ping shows that nobody answers."""
    url = channel_url(own_redis.url, connect_seconds="0.5", ping_seconds="0.2")
    async with open_redis_bus(url) as bus:
        lost: list[int] = []
        bus.watch_lost(lambda: lost.append(1))
        own_redis.pause()
        started = time.monotonic()
        await until(lambda: not bus.subscribed.is_set(), 3)
        assert time.monotonic() - started < 1.5
        own_redis.resume()
        await asyncio.wait_for(bus.subscribed.wait(), 5)
        assert lost == [1]


async def test_publishing_while_redis_is_down_neither_waits_nor_loses_order(
    own_redis: OwnRedis,
) -> None:
    url = channel_url(own_redis.url, connect_seconds="1")
    async with open_bus(url) as one, open_bus(url) as two:
        assert isinstance(one, RedisBus) and isinstance(two, RedisBus)
        there = Listener(two)
        one.publish(opened("w"))
        await there.until(1)
        own_redis.kill()
        started = time.monotonic()
        for seq in range(2, 50):
            one.publish(bid("w", seq))
        assert time.monotonic() - started < 0.1
        await asyncio.sleep(0.3)
        assert one.fault() is not None and one.send_failures >= 1
        own_redis.start()
        await asyncio.wait_for(two.subscribed.wait(), 5)
        one.publish(bid("w", 50))
        await until(lambda: any(m.seq == 50 for m in there.raw))
        # the kept ones went out again once Redis answered, in order and before the new one;
        # those sent before the other node had subscribed again are lost to it, and the gap
        # in front of what it holds says so (its cue to reload: the tests with a store above)
        heard = [m.seq for m in there.raw]
        assert heard == sorted(heard) and heard[-1] == 50
        passed = [m.seq for m in there.passed]
        assert passed == list(range(1, len(passed) + 1))
        if passed[-1] != 50:
            assert there.order.gaps()[("lot", "w")].start == passed[-1] + 1
        assert one.send_failures >= 1 and one.sent == 50
        await until(lambda: one.fault() is None)  # its own subscription back, sends pass
