"""One contract for every limits backend: the same claims over memory:// and redis://."""

from __future__ import annotations

import pytest

from bidwire.limits import limits_url_for, open_limits
from bidwire.limits.base import Recalled
from bidwire.limits.redis import parse_url
from tests.limits.helpers import Nodes

NOW = 1_700_000_000_000


async def test_a_name_is_one_owners_until_released(nodes: Nodes) -> None:
    a, b = nodes(), nodes()
    assert await a.names.claim("bob", "owner-a", "Bob", 30_000, NOW, live=True)
    assert not await b.names.claim("bob", "owner-b", "bob", 30_000, NOW, live=True)
    assert await b.names.holder("bob") == "owner-a"
    assert await a.names.claim("bob", "owner-a", "Bob", 30_000, NOW, live=True)  # again: kept
    b.names.release("bob", "owner-b")  # not its own: nothing happens
    await b.settled()
    assert await a.names.holder("bob") == "owner-a"
    a.names.release("bob", "owner-a")
    await a.settled()
    assert await b.names.holder("bob") is None
    assert await b.names.claim("bob", "owner-b", "bob", 30_000, NOW, live=True)


async def test_a_session_is_recalled_by_its_owner_on_any_node(nodes: Nodes) -> None:
    a, b = nodes(), nodes()
    assert await b.names.recall("owner-a") is None
    assert await a.names.claim("bob", "owner-a", "Bob", 30_000, NOW, live=True)
    assert await b.names.recall("owner-a") == Recalled("Bob", False)
    a.names.extend("bob", "owner-a", "Bob", 60_000, NOW, live=False, kept=True)
    await a.settled()
    assert await b.names.recall("owner-a") == Recalled("Bob", True)
    a.names.release("bob", "owner-a")
    await a.settled()
    assert await b.names.recall("owner-a") is None


async def test_a_release_after_expiry_spares_a_claim_made_longer_since(nodes: Nodes) -> None:
    a, b = nodes(), nodes()
    assert await a.names.claim("bob", "owner", "bob", 60_000, NOW, live=False, kept=True)
    # the same session used on node b later: its name lasts longer than a knows
    b.names.extend("bob", "owner", "bob", 60_000, NOW + 5_000, live=False, kept=True)
    await b.settled()
    a.names.release("bob", "owner", NOW + 60_000)  # a's copy expired
    await a.settled()
    assert await b.names.holder("bob") == "owner"
    b.names.release("bob", "owner", NOW + 65_000)
    await b.settled()
    assert await a.names.holder("bob") is None


async def test_failed_logins_count_together_and_a_release_takes_one_back(nodes: Nodes) -> None:
    a, b = nodes(), nodes()
    ta, tb = a.throttle("t", 3, 1_000), b.throttle("t", 3, 1_000)
    tickets = [await ta.reserve("k", NOW), await tb.reserve("k", NOW + 1)]
    assert None not in tickets
    assert await ta.reserve("k", NOW + 2) is not None
    assert await tb.reserve("k", NOW + 3) is None  # three in the window, from both nodes
    await ta.release("k", tickets[1])
    assert await tb.reserve("k", NOW + 4) is not None
    assert await ta.reserve("k", NOW + 999) is None
    assert await ta.reserve("k", NOW + 1_001) is not None  # the first hit left the window
    await tb.clear("k")
    assert await ta.reserve("k", NOW + 1_002) is not None
    assert await ta.reserve("other", NOW) is not None


async def test_the_bid_rate_is_a_token_bucket(nodes: Nodes) -> None:
    rate = nodes().bid_rate(2.0, 3)
    assert [rate.take("u", NOW) for _ in range(4)] == [True, True, True, False]
    assert rate.take("u", NOW + 500)  # a token every 500 ms
    assert not rate.take("u", NOW + 500)
    assert rate.take("v", NOW)


async def test_urls() -> None:
    async with open_limits("memory://") as limits:
        assert not limits.shared
    with pytest.raises(ValueError, match="unknown limits scheme 'nope'"):
        open_limits("nope://x")
    assert limits_url_for("memory://") == "memory://"
    assert limits_url_for("redis://h:1/0") == "redis://h:1/0"
    assert parse_url("redis://h:1/0?prefix=x:") == ("redis://h:1/0", "x:")
    assert parse_url("redis://h:1/0") == ("redis://h:1/0", "bidwire:")
