"""One contract for every bus, parametrized over every URL scheme we ship.

A bus that several nodes share (redis://) must pass this suite too: add its URL to BUS_URLS.
Nothing here assumes delivery happens inside ``publish``; each test waits, time-bounded, for
what it expects to hear.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bidwire.bus import OPENERS, Bus, InOrder, Message, open_bus
from bidwire.bus.memory import MemoryBus
from bidwire.domain.events import (
    BidPlaced,
    LotEvent,
    LotOpened,
    SalePaused,
    SaleResumed,
    SaleStarted,
)
from tests.bus.redis_helpers import channel_url, require_redis

BUS_URLS = ["memory://", "redis://"]
"""``redis://`` stands for the machine's Redis (tests/bus/redis_helpers.py), on a channel of the
test's own."""
WAIT_SECONDS = 2.0


def bus_url(param: str) -> str:
    """The URL a test opens for one of BUS_URLS (skipped, or failed in CI, without Redis)."""
    return channel_url(require_redis()) if param == "redis://" else param


@pytest.fixture(params=BUS_URLS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    async with open_bus(bus_url(request.param)) as opened:
        yield opened


def opened(lot: str) -> LotOpened:
    return LotOpened(lot, 1, "s", lot.title(), "", "USD", 100, 100, 40_000, 10_000)


def bid(lot: str, seq: int) -> BidPlaced:
    return BidPlaced(lot, seq, 100 * seq, "ann", 50_000, 100 * seq + 10, 20_000 + seq)


class Listener:
    """A subscriber as the fan-out is one: every message through its own seq check."""

    def __init__(self, bus: Bus) -> None:
        self.order = InOrder()
        self.raw: list[Message] = []
        self.passed: list[Message] = []
        self._heard = asyncio.Event()
        self.stop = bus.subscribe(self.hear)

    def hear(self, message: Message) -> None:
        self.raw.append(message)
        self.passed += self.order.accept(message)
        self._heard.set()

    async def until(self, raw_count: int) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.raw) < raw_count:
                self._heard.clear()
                await self._heard.wait()


async def test_every_subscriber_hears_each_lot_in_order(bus: Bus) -> None:
    one, two = Listener(bus), Listener(bus)
    sent: list[LotEvent] = [
        opened("w"),
        opened("v"),
        bid("w", 2),
        bid("v", 2),
        bid("w", 3),
        bid("w", 4),
    ]
    for event in sent:
        bus.publish(event)
    for listener in (one, two):
        await listener.until(len(sent))
        assert [m.event for m in listener.passed if m.key == "w"] == [sent[0], sent[2], *sent[4:]]
        assert [m.event for m in listener.passed if m.key == "v"] == [sent[1], sent[3]]
        for m in listener.passed:
            assert m.stream == "lot" and isinstance(m.event, LotEvent) and m.seq == m.event.seq
        assert listener.order.gaps() == {}


async def test_sale_events_go_out_with_their_own_sale_and_seq(bus: Bus) -> None:
    listener = Listener(bus)
    listener.order.expect("sale", "s", 3)  # a sale with two events before this node started
    paused = SalePaused("s", 3, "root", 2_000)
    bus.publish_sale(paused)
    bus.publish_sale(SaleResumed("s", 4, "root", 2_500))
    bus.publish_sale(SaleStarted("t", 1, "Other", "timed", ["v"], 3_000))
    await listener.until(3)
    assert [(m.stream, m.key, m.seq) for m in listener.passed] == [
        ("sale", "s", 3),
        ("sale", "s", 4),
        ("sale", "t", 1),
    ]
    assert listener.passed[0].event == paused


async def test_a_gap_is_seen_and_what_follows_waits_for_it(bus: Bus) -> None:
    listener = Listener(bus)
    bus.publish(opened("w"))
    bus.publish(bid("w", 3))  # seq 2 lost on the way
    await listener.until(2)
    assert [m.seq for m in listener.passed] == [1]
    assert listener.order.gaps() == {("lot", "w"): range(2, 3)}
    bus.publish(bid("w", 2))  # reloaded from the store and handed on
    await listener.until(3)
    assert [m.seq for m in listener.passed] == [1, 2, 3]
    assert listener.order.gaps() == {}


async def test_a_message_heard_twice_is_passed_on_once(bus: Bus) -> None:
    listener = Listener(bus)
    bus.publish(opened("w"))
    bus.publish(opened("w"))
    bus.publish(bid("w", 2))
    await listener.until(3)
    assert [m.seq for m in listener.passed] == [1, 2]
    assert listener.order.gaps() == {}  # nothing left waiting: the repeat was let go


async def test_a_subscriber_that_stops_hears_nothing_more(bus: Bus) -> None:
    leaving, staying = Listener(bus), Listener(bus)
    bus.publish(opened("w"))
    await leaving.until(1)
    leaving.stop()
    bus.publish(bid("w", 2))
    bus.publish(bid("w", 3))
    await staying.until(3)
    assert [m.seq for m in leaving.raw] == [1]


async def test_a_failing_subscriber_costs_the_others_nothing(bus: Bus) -> None:
    def broken(message: Message) -> None:
        raise RuntimeError("a bug in one subscriber")

    bus.subscribe(broken)
    listener = Listener(bus)
    bus.publish(opened("w"))
    bus.publish(bid("w", 2))
    await listener.until(2)
    assert [m.seq for m in listener.passed] == [1, 2]


async def test_an_unknown_scheme_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"'ftp'.*memory://.*redis://"):
        async with open_bus("ftp://x"):
            pass


async def test_a_test_can_bring_a_bus_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = MemoryBus()

    class Opened:
        async def __aenter__(self) -> Bus:
            return mine

        async def __aexit__(self, *exc: object) -> None:
            mine.close()

    monkeypatch.setitem(OPENERS, "fake", lambda url: Opened())
    async with open_bus("fake://anything") as bus:
        assert bus is mine


async def test_the_memory_bus_delivers_inside_publish() -> None:
    """One node keeps its latency: no hop between the commit and the fan-out."""
    async with open_bus("memory://") as bus:
        heard: list[Message] = []
        bus.subscribe(heard.append)
        bus.publish(opened("w"))
        assert [m.seq for m in heard] == [1]  # no await in between
