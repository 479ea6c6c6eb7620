"""What several nodes need of Redis beyond the bus contract: the bus's lag and fault for
/metrics and /readyz, and the mailbox that carries forwarded bids (bus/redis_mailbox.py)."""

from __future__ import annotations

import asyncio

import pytest

from bidwire.bus.redis import open_redis_bus
from bidwire.bus.redis_mailbox import open_redis_mailbox
from tests.bus.redis_helpers import channel_url, require_redis
from tests.bus.test_contract import Listener, opened

pytestmark = pytest.mark.timeout(20)


async def test_the_bus_measures_its_lag_and_says_when_it_is_not_subscribed() -> None:
    url = channel_url(require_redis())
    async with open_redis_bus(url) as one, open_redis_bus(url) as two:
        assert one.fault() is None and two.fault() is None
        heard = Listener(two)
        one.publish(opened("w"))
        await heard.until(1)
        assert sum(two.lag.counts) == 1 and 0 <= two.lag.total < 5
        assert sum(one.lag.counts) == 0  # its own echo is not a lag
    assert one.fault() == "the bus is closed"


async def test_letters_reach_the_node_named_and_no_other() -> None:
    url = channel_url(require_redis())
    got: dict[str, list[bytes]] = {"a": [], "b": []}
    async with (
        open_redis_mailbox(url, "a") as a,
        open_redis_mailbox(url, "b") as b,
        open_redis_mailbox(channel_url(require_redis()), "b") as other_cluster,
    ):
        a.handler = got["a"].append
        b.handler = got["b"].append
        other_cluster.handler = lambda data: pytest.fail("another cluster heard a letter")
        for i in range(50):
            a.send("b", b"to b %d" % i)
        b.send("a", b"to a")
        b.send("nobody", b"lost")  # a node that is not there: at most once, no error
        async with asyncio.timeout(5):
            while len(got["b"]) < 50 or not got["a"]:
                await asyncio.sleep(0.01)
        assert got["b"] == [b"to b %d" % i for i in range(50)]  # in order, once each
        assert got["a"] == [b"to a"]
        assert a.sent == 50 and b.sent == 2
        assert a.messages < 50  # queued together, they went in fewer messages (bundles)
        b._hear(b"B\xc1 not a bundle", got["b"].append)  # dropped in words, nothing heard
        assert len(got["b"]) == 50
