"""Random walks through the engine (seeded, fake clock): what is published is what is stored,
in order and without gaps; replaying the store rebuilds every lot and the sale; each lot
closes once, to its highest bid."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from bidwire.domain.commands import Actor, PlaceBid
from bidwire.domain.events import BidPlaced
from bidwire.domain.lot import Lot, Refusal
from bidwire.domain.sale import Sale
from bidwire.engine.queries import Queries
from bidwire.errors import BadRequest
from tests.engine.test_house import lot_now, make_house, settle

PEOPLE = [Actor(n) for n in ("ann", "bob", "cy", "di")]


@pytest.mark.parametrize("seed", range(12))
async def test_random_walk(seed: int) -> None:
    rng = random.Random(seed)
    house, rec, clock, store = await make_house()
    for _ in range(300):
        roll = rng.random()
        lot_id = rng.choice(["a", "b"])
        if roll < 0.55:
            lot = house.lots.get(lot_id)  # None once closed: the store has it
            amount = (lot.min_amount() if lot else 100) + rng.choice([-1, 0, 0, 5, 100])
            offers = [
                house.place_bid(PlaceBid(rng.choice(PEOPLE), lot_id, amount + k))
                for k in range(rng.randint(1, 4))
            ]
            answers = await asyncio.gather(*offers)
            if lot is None:
                assert all(isinstance(a, Refusal) and a.code == "lot_not_open" for a in answers)
        elif roll < 0.85:
            clock.advance(rng.choice([100, 1_000, 3_000, 9_999, 10_000, 11_000]))
            house.run_due()
        elif roll < 0.92:
            with contextlib.suppress(BadRequest):
                await (house.pause_sale if rng.random() < 0.5 else house.resume_sale)("s", "root")
        elif roll < 0.94:
            with contextlib.suppress(BadRequest):
                await house.withdraw_lot(lot_id, "root")
        await settle(house, rec.feed)
    await settle(house, rec.feed)
    for lot_id in ("a", "b"):
        stored = store.lots[lot_id].events
        published = [m for m in rec.messages if m.get("lot") == lot_id]
        assert [m["seq"] for m in published] == [e.seq for e in stored]
        assert [m["seq"] for m in published] == list(range(1, len(stored) + 1))
        replayed = Lot(store.lots[lot_id].spec, "s", "live")
        for event in stored:
            replayed.apply(event)
        if replayed.status == "closed":  # out of the views and the house: read back
            assert lot_id not in house.lots and lot_id not in house.views.lots
            shown = (await Queries(house).snapshot(lot_id, admin=True)).bids
            assert [(b.amount, b.bidder, b.ts) for b in shown] == [
                (b.amount, b.bidder, b.ts) for b in replayed.recent
            ]
        assert replayed == await lot_now(house, lot_id)
        closes = [m for m in published if m["type"] == "lot_closed"]
        assert len(closes) <= 1
        bids = [e for e in stored if isinstance(e, BidPlaced)]
        assert [b.amount for b in bids] == sorted({b.amount for b in bids})
        if closes and closes[0]["outcome"] == "sold":
            assert closes[0]["amount"] == bids[-1].amount and closes[0]["winner"] == bids[-1].bidder
    sale_log = store.sales["s"].events
    published_sale = [m for m in rec.messages if m.get("sale") == "s" and "lot" not in m]
    assert [m["seq"] for m in published_sale] == [e.seq for e in sale_log]
    assert [m["type"] for m in published_sale] == [type(e).__struct_config__.tag for e in sale_log]
    assert [e.seq for e in sale_log] == list(range(1, len(sale_log) + 1))
    replayed_sale = Sale(store.sales["s"].spec)
    for sale_event in sale_log:
        replayed_sale.apply(sale_event)
    assert replayed_sale == house.sales["s"]
    assert len(sale_log) >= 2, "a walk whose sale never started and ended proves little"
