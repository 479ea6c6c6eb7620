"""One contract for every store, parametrized over every URL scheme we ship."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.events import BidPlaced, LotOpened
from bidwire.domain.lot import LotSpec
from bidwire.domain.money import FixedIncrement
from bidwire.domain.sale import SaleSpec
from bidwire.errors import SeqConflict
from bidwire.store import Store, open_store

LOTS = [
    LotSpec(id="w", title="Watch", increment=FixedIncrement(7), reserve=900),
    LotSpec(id="v", title="Vase"),
]
SALE = SaleSpec("s", "Sale", ("w", "v"), mode="live", gap_ms=1_500)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/t.db"
    async with open_store(url) as opened:
        await opened.add_sale(SALE, LOTS)
        yield opened


def opened(seq: int = 1) -> LotOpened:
    return LotOpened("w", seq, "s", "Watch", "", "USD", 100, 100, 40_000, 10_000)


def bid(seq: int, amount: int) -> BidPlaced:
    return BidPlaced("w", seq, amount, "ann", 50_000, amount + 7, 20_000 + seq)


async def test_catalog_round_trips(store: Store) -> None:
    house = await store.load()
    assert [s.spec for s in house.sales] == [SALE]
    assert [lot.spec for lot in house.lots] == LOTS


async def test_append_in_order_and_read_back(store: Store) -> None:
    await store.append([opened()])
    await store.append([bid(2, 100)], request_key="ann\x00k")
    await store.append([bid(3, 200)])
    house = await store.load()
    events = next(lot.events for lot in house.lots if lot.spec.id == "w")
    assert events == [opened(), bid(2, 100), bid(3, 200)]
    assert house.request_keys == {"ann\x00k": ("w", 2)}
    since = await store.events_since("w", 1, 10)
    assert [msgspec.json.decode(b)["seq"] for b in since] == [2, 3]
    history = await store.bid_history("w", None, 10)
    assert [msgspec.json.decode(b)["amount"] for b in history] == [200, 100]
    older = await store.bid_history("w", 3, 10)
    assert [msgspec.json.decode(b)["amount"] for b in older] == [100]


async def test_a_seq_that_does_not_follow_conflicts_and_writes_nothing(store: Store) -> None:
    await store.append([opened()])
    with pytest.raises(SeqConflict):
        await store.append([bid(3, 100)])
    with pytest.raises(SeqConflict):
        await store.append([opened(1)])
    house = await store.load()
    assert [e.seq for e in house.lots[0].events] == [1]


async def test_concurrent_appends_commit_in_submission_order(store: Store) -> None:
    await store.append([opened()])
    futures = [store.append([bid(seq, seq * 10)]) for seq in range(2, 502)]
    await asyncio.gather(*futures)
    house = await store.load()
    assert [e.seq for e in house.lots[0].events] == list(range(1, 502))


async def test_sale_progress_is_kept(store: Store) -> None:
    await store.mark_sale("s", started_at=123)
    await store.mark_sale("s", ended_at=456)
    house = await store.load()
    assert (house.sales[0].started_at, house.sales[0].ended_at) == (123, 456)


async def test_unknown_scheme_is_named() -> None:
    with pytest.raises(ValueError, match="ftp"):
        async with open_store("ftp://x"):
            pass
