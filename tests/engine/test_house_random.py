"""Random walks through the engine (seeded, fake clock): what is published is what is stored,
in order and without gaps (the public's stream without the maximums, the admins' stream with
them); replaying the store rebuilds every lot and the sale; each lot closes once, to the bid
standing then. The walks mix plain bids, maximums (with and without an amount), leaders'
raises, buy-nows, voids, pauses and withdrawals, in plain and anonymous sales."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from typing import Any

import msgspec
import pytest

from bidwire.domain.commands import Accepted, Actor, BuyNow, PlaceBid
from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, MaxRaised
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.privacy import public_event
from bidwire.domain.sale import Sale, SaleSpec
from bidwire.engine.queries import Queries
from bidwire.errors import BadRequest
from bidwire.wire.batch import Batch, encode_event
from tests.engine.test_house import Recorder, lot_now, make_house, settle

PEOPLE = [Actor(n) for n in ("ann", "bob", "cy", "di")]
KINDS = (  # (buy-now, reserve)
    (5_000, 800),
    (3_000, None),
    (None, None),
    (2_000, 1_500),
)
LOTS = tuple(
    LotSpec(id=f"l{i}", title=f"Lot {i}", starting_price=100, buy_now=buy, reserve=reserve)
    for i, (buy, reserve) in enumerate(KINDS * 3)
)
LOT_IDS = tuple(spec.id for spec in LOTS)


class AdminRecorder(Recorder):
    """Hears what an admin's connection hears: the private forms."""

    def deliver(self, batch: Batch) -> None:
        super().deliver(batch.for_admins)


def as_sent(event: LotEvent) -> dict[str, Any]:
    return msgspec.json.decode(encode_event(event))  # type: ignore[no-any-return]


async def step(house: Any, clock: Any, rng: random.Random, tally: Counter[str]) -> None:
    """One random move: bids, maximums, raises, buy-nows, voids, time, pauses, withdrawals."""
    closed = [i for i in LOT_IDS if i not in house.lots]  # closed lots live in the store
    if closed and rng.random() < 0.03:
        late = await house.place_bid(PlaceBid(rng.choice(PEOPLE), rng.choice(closed), 10**6))
        assert isinstance(late, Refusal) and late.code == "lot_not_open", late
        return
    known = [i for i in LOT_IDS if i in house.lots]
    if not known:
        clock.advance(10_000)
        house.run_due()
        return
    open_lots = [i for i in known if house.lots[i].status == "open"]
    lot_id = rng.choice(open_lots if open_lots and rng.random() < 0.85 else known)
    lot = house.lots[lot_id]
    roll = rng.random()
    if lot.buy_now_offered() is not None and lot.status == "open" and rng.random() < 0.5:
        roll = 0.6  # a buy-now has only until the first bid: it races that bid often
    if roll < 0.33:  # plain bids racing, some too low
        amount = lot.min_amount() + rng.choice([-1, 0, 0, 5, 100])
        offers = [
            house.place_bid(PlaceBid(rng.choice(PEOPLE), lot_id, amount + k))
            for k in range(rng.randint(1, 4))
        ]
        answers = await asyncio.gather(*offers)
    elif roll < 0.53:  # maximums, with and without an amount, racing plain bids
        least = lot.min_amount()
        offers = []
        for _ in range(rng.randint(1, 3)):
            ceiling = least + rng.choice([-1, 0, 1, 7, 60, 400, 2_500])
            amount = rng.choice([None, least, least + 3])
            offers.append(house.place_bid(PlaceBid(rng.choice(PEOPLE), lot_id, amount, ceiling)))
        answers = await asyncio.gather(*offers)
    elif roll < 0.61 and lot.high_bidder is not None:  # the leader raises (or lowers) theirs
        ceiling = (lot.high_max or 0) + rng.choice([-5, 0, 50, 900])
        command = PlaceBid(Actor(lot.high_bidder), lot_id, None, ceiling)
        answers = [await house.place_bid(command)]
    elif roll < 0.64:
        bought = await house.buy_now(BuyNow(rng.choice(PEOPLE), lot_id))
        tally["buy_now_tried"] += 1
        if isinstance(bought, LotClosed):
            tally["bought"] += 1
        answers = []
    elif roll < 0.74:  # void a random bid of the lot's log (most are refused)
        bids = [e.seq for e in house.store.lots[lot_id].events if isinstance(e, BidPlaced)]
        if bids:
            with contextlib.suppress(BadRequest):
                await house.void_bid(lot_id, rng.choice(bids[-4:]), "root")
                tally["voided"] += 1
        answers = []
    elif roll < 0.86:
        clock.advance(rng.choice([100, 1_000, 3_000, 9_999, 10_000, 11_000]))
        house.run_due()
        answers = []
    elif roll < 0.89:
        with contextlib.suppress(BadRequest):
            await (house.pause_sale if rng.random() < 0.5 else house.resume_sale)("s", "root")
        answers = []
    elif roll < 0.895:
        with contextlib.suppress(BadRequest):
            await house.withdraw_lot(lot_id, "root")
        answers = []
    else:
        answers = []
    for answer in answers:
        if isinstance(answer, Accepted):
            tally["accepted"] += 1
            tally["outbid_at_once"] += not answer.leading
        else:
            assert isinstance(answer, Refusal)


def check_standing(spec: LotSpec, stored: list[LotEvent]) -> None:
    """The price never falls but by a void; an automatic bid may equal the challenger's it
    answers; a close sells to what stands then (buy-now: only while nothing stands)."""
    amount: int | None = None
    bidder: str | None = None
    for event in stored:
        if isinstance(event, BidPlaced):
            assert (
                amount is None or event.amount > amount or (event.amount == amount and event.auto)
            ), event
            amount, bidder = event.amount, event.bidder
        elif isinstance(event, BidVoided):
            amount, bidder = event.amount, event.bidder
        elif isinstance(event, LotClosed):
            if event.reason == "hammer":
                assert (event.outcome, event.amount, event.winner) == ("sold", amount, bidder)
            elif event.reason == "buy_now":
                assert amount is None and (event.outcome, event.amount) == ("sold", spec.buy_now)
            else:
                assert event.outcome == "unsold", event
        if isinstance(event, BidPlaced | BidVoided) and spec.reserve is not None:
            assert event.reserve_met == (event.amount is not None and event.amount >= spec.reserve)


@pytest.mark.parametrize("seed", range(12))
async def test_random_walk(seed: int) -> None:
    rng = random.Random(seed)
    anonymous = seed % 2 == 1
    house, rec, clock, store = await make_house(add=False)
    admin = AdminRecorder()
    assert rec.feed is not None
    rec.feed.subscribe_house(admin)
    await house.add_sale(SaleSpec("s", "Sale", LOT_IDS, gap_ms=2_000, anonymous=anonymous), LOTS)
    house.run_due()
    await settle(house, rec.feed)
    salt = house.sales["s"].spec.pseudonym_salt if anonymous else None
    tally: Counter[str] = Counter()
    for _ in range(800):
        await step(house, clock, rng, tally)
        await settle(house, rec.feed)
    with contextlib.suppress(BadRequest):
        await house.resume_sale("s", "root")
    for _ in LOTS:  # whatever is still open closes, and what waits opens and closes
        clock.advance(3_600_000)
        house.run_due()
        await settle(house, rec.feed)
    stored_everywhere: list[LotEvent] = []
    for lot_id, spec in zip(LOT_IDS, LOTS, strict=True):
        stored = store.lots[lot_id].events
        stored_everywhere += stored
        published = [m for m in rec.messages if m.get("lot") == lot_id]
        assert published == [as_sent(public_event(e, salt)) for e in stored]
        assert [m for m in admin.messages if m.get("lot") == lot_id] == [as_sent(e) for e in stored]
        assert [m["seq"] for m in published] == list(range(1, len(stored) + 1))
        assert not any("max_amount" in m for m in published)
        replayed = Lot(store.lots[lot_id].spec, "s", "live")
        for event in stored:
            replayed.apply(event)
        assert replayed.status == "closed"
        # out of the views and the house: read back from the store
        assert lot_id not in house.lots and lot_id not in house.views.lots
        shown = (await Queries(house).snapshot(lot_id, admin=True)).bids
        assert [(b.amount, b.bidder, b.ts, b.auto) for b in shown] == [
            (b.amount, b.bidder, b.ts, b.auto) for b in replayed.recent
        ]
        assert replayed == await lot_now(house, lot_id)
        assert sum(isinstance(e, LotClosed) for e in stored) == 1
        check_standing(spec, stored)
    sale_log = store.sales["s"].events
    published_sale = [m for m in rec.messages if m.get("sale") == "s" and "lot" not in m]
    assert [m["seq"] for m in published_sale] == [e.seq for e in sale_log]
    assert [m["type"] for m in published_sale] == [type(e).__struct_config__.tag for e in sale_log]
    assert [e.seq for e in sale_log] == list(range(1, len(sale_log) + 1))
    replayed_sale = Sale(store.sales["s"].spec)
    for sale_event in sale_log:
        replayed_sale.apply(sale_event)
    assert replayed_sale == house.sales["s"]
    # a storm too small proves nothing: the walk must have reached each kind of move
    assert len(sale_log) >= 2, "a walk whose sale never started and ended proves little"
    placed = [e for e in stored_everywhere if isinstance(e, BidPlaced)]
    assert tally["accepted"] >= 20, tally
    assert sum(e.auto for e in placed) >= 3, "no maximum ever answered a rival"
    assert tally["outbid_at_once"] >= 1, tally
    assert sum(e.max_amount is not None and not e.auto for e in placed) >= 3, "few maximums"
    assert any(isinstance(e, MaxRaised) for e in stored_everywhere), "no leader raised"
    assert tally["bought"] >= 1 and tally["buy_now_tried"] > tally["bought"], tally
    assert tally["voided"] >= 1 and any(isinstance(e, BidVoided) for e in stored_everywhere)
