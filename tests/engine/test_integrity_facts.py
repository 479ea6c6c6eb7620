"""A sale's integrity sums as the store counts them (``Store.integrity_facts``: window
functions in SQLite, store/memory.py's reference in Python) equal those the live listener
keeps event by event (``SaleTrack.apply`` over the log), and so score the same: seeded
random sales with maximums, extensions, a void and a withdrawal, read running and ended."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from bidwire.clock import FakeClock
from bidwire.domain.events import BidPlaced
from bidwire.engine.integrity import SaleTrack, score_sale, track_of_facts
from bidwire.store import Store
from bidwire.store.base import EVENT_DECODER
from tests.engine.test_house import settle
from tests.engine.test_live_report import LOTS, T0, bid_at_random, running_sale
from tests.store.any_store import KINDS, store_of

pytestmark = pytest.mark.timeout(60)


async def replayed(store: Store) -> SaleTrack:
    track = SaleTrack("s")
    for lot in LOTS:
        for body in await store.events_since(lot, 0, 100_000):
            track.apply(EVENT_DECODER.decode(body))
    return track


def sums(track: SaleTrack) -> dict[str, object]:
    """What scoring reads of each lot (not the bids a live track keeps for a void)."""
    return {
        lot_id: (
            lot.opened_at,
            lot.closed_at,
            lot.ends_at,
            lot.winner,
            lot.withdrawn,
            lot.count,
            lot.leader if lot.closed_at is None else None,
            {who: msgspec.to_builtins(p) for who, p in sorted(lot.parts.items())},
        )
        for lot_id, lot in sorted(track.lots.items())
        if lot.parts or lot.opened_at is not None
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [11, 12])
async def test_the_stores_counted_sums_equal_the_live_ones(
    kind: str, seed: int, tmp_path: Path
) -> None:
    clock, rng = FakeClock(T0), random.Random(seed)
    async with store_of(kind, tmp_path) as store:
        house, feed, live = await running_sale(store, clock)
        live.close()
        await bid_at_random(house, feed, clock, rng, 25)
        # an admin voids the last bid of an open lot, then withdraws another open lot
        open_lots = [lot for lot in LOTS if lot in house.lots]
        assert open_lots, "the storm closed every lot before the void"
        history = [
            msgspec.json.decode(body, type=BidPlaced)
            for body in await store.bid_history(open_lots[-1], None, 50)
        ]
        placed = [bid for bid in history if not bid.auto]  # an automatic one is not voided
        assert placed, "no bid of its own to void"
        await house.void_bid(open_lots[-1], placed[0].seq, "root")
        for moment in ("running", "ended"):
            await settle(house, feed)
            now = clock.now_ms()
            runs, parts = await store.integrity_facts(LOTS, 3_000)
            counted = track_of_facts("s", runs, parts)
            from_the_log = await replayed(store)
            assert sums(counted) == sums(from_the_log), moment
            assert score_sale(counted, now) == score_sale(from_the_log, now), moment
            assert (
                len(parts) >= 4
                and any(p.quick for p in parts)
                and any(p.placed < p.bids for p in parts)
            ), "too small a storm to prove anything"
            if moment == "running":
                await bid_at_random(house, feed, clock, rng, 10)
                if "c" in house.lots:
                    await house.withdraw_lot("c", "root")
                clock.advance(20 * 60_000)
                house.run_due()
        await house.stop()
